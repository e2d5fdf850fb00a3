package jobs

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// The benchmarks run on SQLite (synchronous=FULL: every commit is an
// fsync). Per-op numbers are per job.

func benchQueue(b *testing.B) (*store.DB, *Queue) {
	db := dbtest.SQLite(b)
	return db, New(db, Options{Logger: slog.New(slog.DiscardHandler)})
}

// BenchmarkInsert inserts one job per transaction, as an API send does.
func BenchmarkInsert(b *testing.B) {
	db, q := benchQueue(b)
	ctx := context.Background()
	for b.Loop() {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			return q.Insert(ctx, tx, InsertParams{Kind: "send", Args: map[string]string{"message_id": "m"}})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertBatch inserts 1,000 jobs per transaction, as a campaign
// does.
func BenchmarkInsertBatch(b *testing.B) {
	db, q := benchQueue(b)
	ctx := context.Background()
	const batch = 1000
	params := make([]InsertParams, batch)
	for i := range params {
		params[i] = InsertParams{Kind: "send", Args: map[string]int{"recipient": i}}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		if err := db.InTx(ctx, func(tx *store.Tx) error { return q.Insert(ctx, tx, params[:n]...) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimComplete claims and completes jobs one at a time: the
// database cost of a job, without the fetch loop.
func BenchmarkClaimComplete(b *testing.B) {
	db, q := benchQueue(b)
	ctx := context.Background()
	params := make([]InsertParams, b.N)
	for i := range params {
		params[i] = InsertParams{Kind: "send"}
	}
	if err := q.Insert(ctx, db.Writer(), params...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		jobs, err := q.claim(ctx, DefaultQueue, 1, time.Minute)
		if err != nil || len(jobs) != 1 {
			b.Fatalf("claim = %d jobs, %v", len(jobs), err)
		}
		if err := q.update(ctx, completeSQL, jobs[0], millis(q.now())); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThroughput runs b.N no-op jobs through started workers.
func BenchmarkThroughput(b *testing.B) {
	db, q := benchQueue(b)
	ctx := context.Background()
	var done atomic.Int64
	finished := make(chan struct{})
	total := int64(b.N)
	q.Handle("noop", func(context.Context, *Job) error {
		if done.Add(1) == total {
			close(finished)
		}
		return nil
	}, HandlerOptions{})
	params := make([]InsertParams, b.N)
	for i := range params {
		params[i] = InsertParams{Kind: "noop"}
	}
	if err := q.Insert(ctx, db.Writer(), params...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := q.Start(ctx, Config{Queues: map[string]int{DefaultQueue: 16}}); err != nil {
		b.Fatal(err)
	}
	<-finished
	b.StopTimer()
	if err := q.Stop(ctx); err != nil {
		b.Fatal(err)
	}
}
