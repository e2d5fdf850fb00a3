package jobs_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
)

// A message row and the job that sends it commit together; the worker
// hears of the job at commit and runs it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "parley-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, filepath.Join(dir, "parley.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		panic(err)
	}

	type sendArgs struct {
		MessageID string `json:"message_id"`
	}
	q := jobs.New(db, jobs.Options{})
	sent := make(chan string)
	q.Handle("send_message", func(ctx context.Context, job *jobs.Job) error {
		var args sendArgs
		if err := job.DecodeArgs(&args); err != nil {
			return jobs.Cancel(err) // retrying cannot fix bad arguments
		}
		sent <- args.MessageID // a real handler calls the WhatsApp API here
		return nil
	}, jobs.HandlerOptions{Timeout: 30 * time.Second})
	if err := q.Start(ctx, jobs.Config{Queues: map[string]int{"default": 4}}); err != nil {
		panic(err)
	}

	err = db.InTx(ctx, func(tx *store.Tx) error {
		// ... insert the message row with tx, then:
		return q.Insert(ctx, tx, jobs.InsertParams{
			Kind:      "send_message",
			Args:      sendArgs{MessageID: "msg_1"},
			UniqueKey: "send:msg_1",
		})
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("sent", <-sent)

	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := q.Stop(stopCtx); err != nil {
		panic(err)
	}
	n, _ := q.Count(ctx, jobs.StateCompleted)
	fmt.Println("completed:", n)
	// Output:
	// sent msg_1
	// completed: 1
}
