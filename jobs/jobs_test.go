package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

var ctx = context.Background()

func TestInsertFollowsTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		ran := make(chan *Job, 1)
		q.Handle("send", func(ctx context.Context, job *Job) error {
			ran <- job
			return nil
		}, HandlerOptions{})

		errRollback := errors.New("rollback")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := q.Insert(ctx, tx, InsertParams{Kind: "send"}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("InTx = %v", err)
		}
		if got := ids(t, db); len(got) != 0 {
			t.Fatalf("rolled-back insert left jobs %v", got)
		}

		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		type args struct {
			MessageID string `json:"message_id"`
		}
		insert(t, db, q, InsertParams{Kind: "send", Args: args{"m1"}, TenantID: "t1"})
		job := receive(t, ran, "job to run")
		var a args
		if err := job.DecodeArgs(&a); err != nil || a.MessageID != "m1" {
			t.Errorf("args = %+v, %v", a, err)
		}
		if job.Attempt != 1 || job.MaxAttempts != DefaultMaxAttempts || job.TenantID != "t1" || job.Queue != DefaultQueue {
			t.Errorf("job = %+v", job)
		}
		done := waitState(t, q, job.ID, StateCompleted)
		if done.FinalizedAt.IsZero() || !done.LeaseUntil.IsZero() {
			t.Errorf("completed job = %+v", done)
		}
	})
}

func TestUniqueKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		p := InsertParams{Kind: "sync", UniqueKey: "sync:t1"}
		insert(t, db, q, p, p) // twice in one statement
		insert(t, db, q, p)    // and again later
		if got := ids(t, db); len(got) != 1 {
			t.Fatalf("jobs = %v, want one", got)
		}

		claimed, err := q.claim(ctx, DefaultQueue, 10, time.Minute)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		insert(t, db, q, p) // running still counts
		if got := ids(t, db); len(got) != 1 {
			t.Fatalf("jobs = %v, want one while running", got)
		}

		q.finish(ctx, claimed[0], HandlerOptions{}, nil)
		insert(t, db, q, p)
		all := ids(t, db)
		if len(all) != 2 {
			t.Fatalf("jobs = %v, want a new one after completion", all)
		}
		if j := get(t, q, all[1]); j.State != StateAvailable || j.UniqueKey != "sync:t1" {
			t.Errorf("new job = %+v", j)
		}
	})
}

func TestRetryThenSucceed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, logs := newQueue(t, db, Options{})
		var mu sync.Mutex
		var lastErrors []string
		q.Handle("flaky", func(ctx context.Context, job *Job) error {
			mu.Lock()
			defer mu.Unlock()
			lastErrors = append(lastErrors, job.LastError)
			if job.Attempt < 3 {
				return fmt.Errorf("fail %d", job.Attempt)
			}
			return nil
		}, HandlerOptions{})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		insert(t, db, q, InsertParams{Kind: "flaky", Args: map[string]string{"phone": "+15550001111"}})

		j := waitState(t, q, lastID(t, db), StateCompleted)
		if j.Attempt != 3 || j.LastError != "fail 2" {
			t.Errorf("job = %+v", j)
		}
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"", "fail 1", "fail 2"}; fmt.Sprint(lastErrors) != fmt.Sprint(want) {
			t.Errorf("handler saw last errors %q, want %q", lastErrors, want)
		}
		eventually(t, "completed count", func() bool { return q.Stats().Completed == 1 })
		if s := q.Stats(); s.Retried != 2 || s.Claimed != 3 {
			t.Errorf("stats = %+v", s)
		}
		if strings.Contains(logs.String(), "+15550001111") {
			t.Error("args leaked into the log")
		}
	})
}

func TestDiscardAfterMaxAttempts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		type discard struct {
			job     *Job
			err     error
			stateTx string
		}
		discards := make(chan discard, 10)
		q.Handle("doomed", func(ctx context.Context, job *Job) error {
			return errors.New("boom")
		}, HandlerOptions{OnDiscard: func(ctx context.Context, tx *store.Tx, job *Job, err error) error {
			var state string // the discard is visible inside tx
			if err := tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = $1`, job.ID).Scan(&state); err != nil {
				return err
			}
			discards <- discard{job, err, state}
			return nil
		}})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 2}})
		insert(t, db, q, InsertParams{Kind: "doomed", MaxAttempts: 3})

		d := receive(t, discards, "OnDiscard")
		if d.job.Attempt != 3 || d.err == nil || d.err.Error() != "boom" || d.stateTx != "discarded" {
			t.Errorf("OnDiscard got job attempt %d, err %v, state in tx %q", d.job.Attempt, d.err, d.stateTx)
		}
		j := waitState(t, q, d.job.ID, StateDiscarded) // OnDiscard ran before the commit
		if j.LastError != "boom" || j.Attempt != 3 || j.FinalizedAt.IsZero() {
			t.Errorf("job = %+v", j)
		}
		if len(discards) != 0 {
			t.Error("OnDiscard called more than once")
		}
	})
}

func TestOnDiscardErrorRollsBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		q, _ := newQueue(t, db, Options{Now: clk.Now})
		var calls atomic.Int32
		opts := HandlerOptions{OnDiscard: func(ctx context.Context, tx *store.Tx, job *Job, err error) error {
			if calls.Add(1) == 1 {
				return errors.New("crm down")
			}
			return nil
		}}
		q.Handle("k", func(context.Context, *Job) error { return nil }, opts)
		insert(t, db, q, InsertParams{Kind: "k"})
		claimed, err := q.claim(ctx, DefaultQueue, 1, time.Minute)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		q.finish(ctx, claimed[0], opts, Cancel(errors.New("bad number")))
		if j := get(t, q, claimed[0].ID); j.State != StateRunning {
			t.Fatalf("state after failed OnDiscard = %s, want running", j.State)
		}
		// Its hook failed, so the cancelled job runs again after its lease.
		clk.Advance(2 * time.Minute)
		if _, err := q.rescue(ctx); err != nil {
			t.Fatal(err)
		}
		if j := get(t, q, claimed[0].ID); j.State != StateAvailable {
			t.Fatalf("state after rescue = %s, want available", j.State)
		}
	})
}

func TestCancel(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		discarded := make(chan error, 1)
		q.Handle("send", func(ctx context.Context, job *Job) error {
			return Cancel(errors.New("recipient is not on WhatsApp"))
		}, HandlerOptions{OnDiscard: func(ctx context.Context, tx *store.Tx, job *Job, err error) error {
			discarded <- err
			return nil
		}})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		insert(t, db, q, InsertParams{Kind: "send"})

		err := receive(t, discarded, "OnDiscard")
		if err.Error() != "recipient is not on WhatsApp" {
			t.Errorf("OnDiscard err = %v", err)
		}
		j := waitState(t, q, lastID(t, db), StateDiscarded)
		if j.Attempt != 1 || j.LastError != "recipient is not on WhatsApp" {
			t.Errorf("job = %+v", j)
		}
	})
}

func TestSnooze(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		var mu sync.Mutex
		var attempts []int
		q.Handle("send", func(ctx context.Context, job *Job) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, job.Attempt)
			if job.Snoozes < 2 {
				return Snooze(5 * time.Millisecond)
			}
			return nil
		}, HandlerOptions{})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}, PollInterval: time.Hour})
		insert(t, db, q, InsertParams{Kind: "send", MaxAttempts: 1})

		j := waitState(t, q, lastID(t, db), StateCompleted)
		if j.Attempt != 1 || j.Snoozes != 2 || j.LastError != "" {
			t.Errorf("job = %+v", j)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(attempts) != "[1 1 1]" {
			t.Errorf("attempts seen = %v", attempts)
		}
		if s := q.Stats(); s.Snoozed != 2 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestPanicIsAnError(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, logs := newQueue(t, db, Options{})
		q.Handle("bad", func(ctx context.Context, job *Job) error {
			if job.Attempt == 1 {
				panic("kaboom")
			}
			return nil
		}, HandlerOptions{})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		insert(t, db, q, InsertParams{Kind: "bad"})

		j := waitState(t, q, lastID(t, db), StateCompleted)
		if j.Attempt != 2 || j.LastError != "jobs: handler panicked: kaboom" {
			t.Errorf("job = %+v", j)
		}
		if !strings.Contains(logs.String(), "runtime/debug.Stack") {
			t.Error("stack not logged")
		}
	})
}

func TestTimeout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		causes := make(chan error, 1)
		q.Handle("slow", func(ctx context.Context, job *Job) error {
			if job.Attempt > 1 {
				return nil
			}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		}, HandlerOptions{Timeout: 20 * time.Millisecond})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		insert(t, db, q, InsertParams{Kind: "slow"})

		if cause := receive(t, causes, "timeout"); !errors.Is(cause, ErrTimeout) {
			t.Errorf("cause = %v", cause)
		}
		j := waitState(t, q, lastID(t, db), StateCompleted)
		if j.Attempt != 2 || !strings.Contains(j.LastError, ErrTimeout.Error()) {
			t.Errorf("job = %+v", j)
		}
	})
}

func TestUnknownKindIsRetried(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{Backoff: func(int) time.Duration { return time.Hour }})
		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		insert(t, db, q, InsertParams{Kind: "from-the-future"})
		var j *Job
		eventually(t, "failed attempt", func() bool {
			j = get(t, q, lastID(t, db))
			return j.Attempt == 1 && j.State == StateAvailable
		})
		if !strings.Contains(j.LastError, `no handler for kind "from-the-future"`) {
			t.Errorf("last error = %q", j.LastError)
		}
	})
}

func TestRescue(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		dead, _ := newQueue(t, db, Options{Now: clk.Now, WorkerID: "dead"})
		q, _ := newQueue(t, db, Options{Now: clk.Now, WorkerID: "alive"})
		ran := make(chan *Job, 2)
		discarded := make(chan error, 2)
		q.Handle("send", func(ctx context.Context, job *Job) error {
			ran <- job
			return nil
		}, HandlerOptions{OnDiscard: func(ctx context.Context, tx *store.Tx, job *Job, err error) error {
			discarded <- err
			return nil
		}})
		insert(t, db, q,
			InsertParams{Kind: "send", Args: map[string]int{"n": 1}},
			InsertParams{Kind: "send", Args: map[string]int{"n": 2}, MaxAttempts: 1})
		all := ids(t, db)
		retryable, last := all[0], all[1]

		claimed, err := dead.claim(ctx, DefaultQueue, 10, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		// The worker dies. Before its lease expires nothing happens.
		clk.Advance(59 * time.Second)
		if n, err := q.rescue(ctx); n != 0 || err != nil {
			t.Fatalf("early rescue = %d, %v", n, err)
		}
		clk.Advance(2 * time.Second)
		if n, err := q.rescue(ctx); n != 2 || err != nil {
			t.Fatalf("rescue = %d, %v", n, err)
		}
		if j := get(t, q, retryable); j.State != StateAvailable || j.Attempt != 1 || j.LastError != ErrLeaseExpired.Error() {
			t.Errorf("rescued job = %+v", j)
		}
		if err := receive(t, discarded, "OnDiscard"); !errors.Is(err, ErrLeaseExpired) {
			t.Errorf("OnDiscard err = %v", err)
		}
		if j := get(t, q, last); j.State != StateDiscarded || j.LastError != ErrLeaseExpired.Error() {
			t.Errorf("exhausted job = %+v", j)
		}

		// The dead worker was only slow: its late outcomes change nothing.
		for _, j := range claimed {
			if err := dead.update(ctx, completeSQL, j, millis(clk.Now())); !errors.Is(err, ErrLeaseLost) {
				t.Errorf("stale complete of %d = %v, want ErrLeaseLost", j.ID, err)
			}
		}

		start(t, q, Config{Queues: map[string]int{DefaultQueue: 1}})
		if j := receive(t, ran, "rescued job to run"); j.ID != retryable || j.Attempt != 2 {
			t.Errorf("ran %+v", j)
		}
		waitState(t, q, retryable, StateCompleted)
		if s := q.Stats(); s.Rescued != 1 || s.Discarded != 1 {
			t.Errorf("stats = %+v", s)
		}
	})
}

func TestHeartbeat(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		q, _ := newQueue(t, db, Options{Now: clk.Now})
		q.Handle("long", func(context.Context, *Job) error { return nil }, HandlerOptions{Timeout: 10 * time.Minute})
		insert(t, db, q, InsertParams{Kind: "long"})
		claimed, err := q.claim(ctx, DefaultQueue, 1, time.Minute)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		job := claimed[0]

		clk.Advance(30 * time.Second)
		if err := job.Heartbeat(ctx); err != nil {
			t.Fatal(err)
		}
		want := clk.Now().Add(10*time.Minute + DefaultLeaseMargin)
		if j := get(t, q, job.ID); !j.LeaseUntil.Equal(want) {
			t.Errorf("lease until %v, want %v", j.LeaseUntil, want)
		}
		clk.Advance(5 * time.Minute) // past the claim's lease, within the new one
		if n, _ := q.rescue(ctx); n != 0 {
			t.Fatalf("rescued a job with a live lease")
		}
		clk.Advance(time.Hour)
		if n, _ := q.rescue(ctx); n != 1 {
			t.Fatalf("rescue = %d", n)
		}
		if err := job.Heartbeat(ctx); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("heartbeat after rescue = %v", err)
		}
	})
}

func TestNoDoubleExecution(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		const n = 300
		var runs sync.Map // job ID → *atomic.Int32
		var total atomic.Int32
		var queues []*Queue
		for i := range 4 {
			q, _ := newQueue(t, db, Options{WorkerID: fmt.Sprintf("w%d", i)})
			q.Handle("count", func(ctx context.Context, job *Job) error {
				c, _ := runs.LoadOrStore(job.ID, new(atomic.Int32))
				c.(*atomic.Int32).Add(1)
				total.Add(1)
				return nil
			}, HandlerOptions{})
			queues = append(queues, q)
		}
		for _, q := range queues {
			start(t, q, Config{Queues: map[string]int{DefaultQueue: 4}})
		}
		params := make([]InsertParams, n)
		for i := range params {
			params[i] = InsertParams{Kind: "count"}
		}
		insert(t, db, queues[0], params...)

		eventually(t, "all jobs to complete", func() bool { return count(t, queues[0], StateCompleted) == n })
		if got := total.Load(); got != n {
			t.Errorf("%d executions for %d jobs", got, n)
		}
		runs.Range(func(id, c any) bool {
			if c.(*atomic.Int32).Load() != 1 {
				t.Errorf("job %v ran %d times", id, c.(*atomic.Int32).Load())
			}
			return true
		})
		var claimed int64
		for _, q := range queues {
			claimed += q.Stats().Claimed
		}
		if claimed != n {
			t.Errorf("claimed %d", claimed)
		}
	})
}

// idle is a started queue whose fetch loop has gone idle.
type idle struct {
	q         *Queue
	idle      chan string // the fetch loop went idle
	listening chan uint32 // LISTEN is in place, on this backend
	pid       uint32      // the first LISTEN backend
}

// idleQueue starts a queue with a one-hour poll interval and waits until
// its fetch loop is idle (and, on PostgreSQL, listening), so that only a
// wake-up or the scheduled-time wait can make it run a job promptly.
func idleQueue(t *testing.T, db *store.DB, cfg Config, h Handler) *idle {
	q, _ := newQueue(t, db, Options{})
	i := &idle{q: q, idle: make(chan string, 1), listening: make(chan uint32, 1)}
	q.testIdle = signal(i.idle)
	q.testListen = signal(i.listening)
	q.Handle("k", h, HandlerOptions{})
	cfg.Queues = map[string]int{DefaultQueue: 1}
	cfg.PollInterval = time.Hour
	start(t, q, cfg)
	if db.Dialect() == store.Postgres {
		i.pid = receive(t, i.listening, "LISTEN")
	}
	waitIdle(t, i.idle)
	return i
}

// waitIdle waits for the fetch loop to go idle and stay so briefly, past
// the extra round that LISTEN's catch-up wake-up causes.
func waitIdle(t *testing.T, idle chan string) {
	receive(t, idle, "idle fetch loop")
	eventually(t, "quiet fetch loop", func() bool {
		select {
		case <-idle:
			return false
		case <-time.After(20 * time.Millisecond):
			return true
		}
	})
}

func TestWakeUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ran := make(chan int64, 2)
		q := idleQueue(t, db, Config{}, func(ctx context.Context, job *Job) error {
			ran <- job.ID
			return nil
		}).q
		began := time.Now()
		insert(t, db, q, InsertParams{Kind: "k"}) // store.Tx: AfterCommit or NOTIFY
		receive(t, ran, "job inserted in a transaction")
		if err := q.Insert(ctx, db.Writer(), InsertParams{Kind: "k"}); err != nil { // plain *sql.DB
			t.Fatal(err)
		}
		receive(t, ran, "job inserted through *sql.DB")
		t.Logf("two wake-ups in %v", time.Since(began))
	})
}

func TestListenURL(t *testing.T) {
	db := dbtest.Postgres(t)
	ran := make(chan int64, 1)
	// LISTEN/NOTIFY is database-wide: the base URL, without the test's
	// search_path, will do.
	i := idleQueue(t, db, Config{ListenURL: os.Getenv(dbtest.EnvPostgres)}, func(ctx context.Context, job *Job) error {
		ran <- job.ID
		return nil
	})
	insert(t, db, i.q, InsertParams{Kind: "k"})
	receive(t, ran, "job")
}

func TestListenReconnects(t *testing.T) {
	db := dbtest.Postgres(t)
	ran := make(chan int64, 1)
	i := idleQueue(t, db, Config{}, func(ctx context.Context, job *Job) error {
		ran <- job.ID
		return nil
	})
	if _, err := db.Writer().ExecContext(ctx, `SELECT pg_terminate_backend($1)`, int64(i.pid)); err != nil {
		t.Fatal(err)
	}
	if pid := receive(t, i.listening, "LISTEN again"); pid == i.pid {
		t.Fatalf("LISTEN again on backend %d", pid)
	}
	waitIdle(t, i.idle)
	insert(t, db, i.q, InsertParams{Kind: "k"})
	receive(t, ran, "job after reconnection")
}

func TestScheduledJobRunsOnTime(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ran := make(chan time.Time, 1)
		q := idleQueue(t, db, Config{}, func(ctx context.Context, job *Job) error {
			ran <- time.Now()
			return nil
		}).q
		at := time.Now().Add(50 * time.Millisecond)
		insert(t, db, q, InsertParams{Kind: "k", ScheduledAt: at})
		got := receive(t, ran, "scheduled job")
		if early := at.Truncate(time.Millisecond).Sub(got); early > 0 {
			t.Errorf("ran %v early", early)
		}
		t.Logf("ran %v after its time", got.Sub(at))
	})
}

func TestGracefulShutdown(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{Backoff: func(int) time.Duration { return time.Hour }})
		started := make(chan string, 2)
		release := make(chan struct{})
		q.Handle("quick", func(ctx context.Context, job *Job) error {
			started <- "quick"
			<-release
			return nil
		}, HandlerOptions{})
		q.Handle("stubborn", func(ctx context.Context, job *Job) error {
			started <- "stubborn"
			<-ctx.Done()
			return ctx.Err()
		}, HandlerOptions{})
		if err := q.Start(ctx, Config{Queues: map[string]int{DefaultQueue: 2}}); err != nil {
			t.Fatal(err)
		}
		insert(t, db, q, InsertParams{Kind: "quick"}, InsertParams{Kind: "stubborn"})
		receive(t, started, "first handler")
		receive(t, started, "second handler")
		all := ids(t, db)

		stopCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		stopped := make(chan error)
		go func() { stopped <- q.Stop(stopCtx) }()
		close(release) // quick finishes within the deadline; stubborn does not
		if err := receive(t, stopped, "Stop"); err != nil {
			t.Fatalf("Stop = %v", err)
		}

		byKind := map[string]*Job{}
		for _, id := range all {
			j := get(t, q, id)
			byKind[j.Kind] = j
		}
		if j := byKind["quick"]; j.State != StateCompleted {
			t.Errorf("quick job = %+v", j)
		}
		j := byKind["stubborn"]
		if j.State != StateAvailable || j.Attempt != 1 || !strings.Contains(j.LastError, ErrShutdown.Error()) {
			t.Errorf("stubborn job = %+v", j)
		}
		if err := q.Stop(ctx); err != nil {
			t.Errorf("second Stop = %v", err)
		}
	})
}

func TestStartContextCancelStopsClaiming(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{Backoff: func(int) time.Duration { return time.Hour }})
		started := make(chan struct{}, 2)
		q.Handle("k", func(ctx context.Context, job *Job) error {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, HandlerOptions{})
		runCtx, cancel := context.WithCancel(ctx)
		if err := q.Start(runCtx, Config{Queues: map[string]int{DefaultQueue: 2}}); err != nil {
			t.Fatal(err)
		}
		insert(t, db, q, InsertParams{Kind: "k"})
		receive(t, started, "handler")
		cancel()
		// The running handler is not cut off by cancel: only Stop's
		// deadline does that.
		stopCtx, stop := context.WithTimeout(ctx, 50*time.Millisecond)
		defer stop()
		if err := q.Stop(stopCtx); err != nil {
			t.Fatal(err)
		}
		first := lastID(t, db)
		if j := get(t, q, first); j.State != StateAvailable || j.Attempt != 1 || !strings.Contains(j.LastError, ErrShutdown.Error()) {
			t.Errorf("job = %+v", j)
		}
		insert(t, db, q, InsertParams{Kind: "k"})
		if j := get(t, q, lastID(t, db)); j.State != StateAvailable || j.Attempt != 0 {
			t.Errorf("job inserted after stop = %+v", j)
		}
		if q.Stats().Claimed != 1 {
			t.Errorf("stats = %+v", q.Stats())
		}
	})
}

func TestBulkInsert(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		const n = 10_000
		params := make([]InsertParams, n)
		for i := range params {
			params[i] = InsertParams{Kind: "campaign", Args: map[string]int{"recipient": i}, UniqueKey: fmt.Sprintf("c1:%d", i)}
		}
		began := time.Now()
		insert(t, db, q, params...)
		t.Logf("inserted %d jobs in %v", n, time.Since(began))
		if got := count(t, q, StateAvailable); got != n {
			t.Fatalf("available = %d, want %d", got, n)
		}
		insert(t, db, q, params...) // a retried campaign request queues nothing twice
		if got := count(t, q, StateAvailable); got != n {
			t.Fatalf("available after re-insert = %d, want %d", got, n)
		}
	})
}

func TestPriorityAndQueues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		q, _ := newQueue(t, db, Options{Now: clk.Now})
		early := clk.Now().Add(-time.Minute)
		insert(t, db, q,
			InsertParams{Kind: "p3", Priority: 3, ScheduledAt: early},
			InsertParams{Kind: "p1-late"},
			InsertParams{Kind: "p2", Priority: 2, ScheduledAt: early},
			InsertParams{Kind: "p1-early", Priority: 1, ScheduledAt: early},
			InsertParams{Kind: "other-queue", Queue: "media", ScheduledAt: early},
			InsertParams{Kind: "future", ScheduledAt: clk.Now().Add(time.Second)},
		)
		first, err := q.claim(ctx, DefaultQueue, 1, time.Minute)
		if err != nil || len(first) != 1 || first[0].Kind != "p1-early" {
			t.Fatalf("first claim = %v, %v", kinds(first), err)
		}
		rest, err := q.claim(ctx, DefaultQueue, 10, time.Minute)
		if got := kinds(rest); err != nil || got != "[p1-late p2 p3]" {
			t.Fatalf("second claim = %v, %v", got, err)
		}
		media, err := q.claim(ctx, "media", 10, time.Minute)
		if got := kinds(media); err != nil || got != "[other-queue]" {
			t.Fatalf("media claim = %v, %v", got, err)
		}
		clk.Advance(time.Second)
		future, err := q.claim(ctx, DefaultQueue, 10, time.Minute)
		if got := kinds(future); err != nil || got != "[future]" {
			t.Fatalf("claim after schedule = %v, %v", got, err)
		}
	})
}

func kinds(jobs []*Job) string {
	var k []string
	for _, j := range jobs {
		k = append(k, j.Kind)
	}
	return fmt.Sprint(k)
}

func TestQueuesIsolatedWhenRunning(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		q.Handle("k", func(context.Context, *Job) error { return nil }, HandlerOptions{})
		start(t, q, Config{Queues: map[string]int{"a": 1}})
		insert(t, db, q, InsertParams{Kind: "k", Queue: "b"}, InsertParams{Kind: "k", Queue: "a"})
		all := ids(t, db)
		waitState(t, q, all[1], StateCompleted)
		if j := get(t, q, all[0]); j.State != StateAvailable {
			t.Errorf("job of unworked queue = %+v", j)
		}
	})
}

func TestPrune(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		clk := newClock()
		q, _ := newQueue(t, db, Options{Now: clk.Now})
		insert(t, db, q, InsertParams{Kind: "ok"}, InsertParams{Kind: "bad"}, InsertParams{Kind: "waiting"})
		claimed, err := q.claim(ctx, DefaultQueue, 2, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim = %v, %v", claimed, err)
		}
		q.finish(ctx, claimed[0], HandlerOptions{}, nil)
		q.finish(ctx, claimed[1], HandlerOptions{}, Cancel(errors.New("no")))

		prune := func() {
			for s, keep := range map[State]time.Duration{StateCompleted: 24 * time.Hour, StateDiscarded: 7 * 24 * time.Hour} {
				if _, err := q.prune(ctx, s, clk.Now().Add(-keep)); err != nil {
					t.Fatal(err)
				}
			}
		}
		clk.Advance(23 * time.Hour)
		prune()
		if got := len(ids(t, db)); got != 3 {
			t.Fatalf("%d jobs left after early prune", got)
		}
		clk.Advance(2 * time.Hour)
		prune()
		if c, d, a := count(t, q, StateCompleted), count(t, q, StateDiscarded), count(t, q, StateAvailable); c != 0 || d != 1 || a != 1 {
			t.Fatalf("after a day: completed %d, discarded %d, available %d", c, d, a)
		}
		clk.Advance(7 * 24 * time.Hour)
		prune()
		if d, a := count(t, q, StateDiscarded), count(t, q, StateAvailable); d != 0 || a != 1 {
			t.Fatalf("after a week: discarded %d, available %d", d, a)
		}
	})
}

func TestInsertValidation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		q, _ := newQueue(t, db, Options{})
		for _, p := range []InsertParams{
			{},
			{Kind: "k", Args: []byte("{not json")},
			{Kind: "k", Priority: -1},
			{Kind: "k", Args: func() {}},
		} {
			if err := q.Insert(ctx, db.Writer(), p); err == nil {
				t.Errorf("Insert(%+v) succeeded", p)
			}
		}
		if err := q.Insert(ctx, db.Writer(), InsertParams{Kind: "k", Args: []byte(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		if j := get(t, q, lastID(t, db)); string(j.Args) != `{"a":1}` {
			t.Errorf("args = %s", j.Args)
		}
	})
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 16 * time.Second, 5: 625 * time.Second, 100: 24 * time.Hour} {
		for range 20 {
			got := DefaultBackoff(attempt)
			if got < want*9/10 || got > want*11/10 {
				t.Errorf("DefaultBackoff(%d) = %v, want %v ±10%%", attempt, got, want)
			}
		}
	}
}

func TestRescueAbandoned(t *testing.T) {
	db := dbtest.SQLite(t)
	ctx := context.Background()
	q := New(db, Options{})
	if err := q.Insert(ctx, db.Writer(), InsertParams{Kind: "k"}, InsertParams{Kind: "k", MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	jobs, err := q.claim(ctx, DefaultQueue, 10, time.Hour)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claimed %d jobs, %v", len(jobs), err)
	}
	// The process dies; a new one starts long before the hour-long lease ends.
	n, err := New(db, Options{}).RescueAbandoned(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RescueAbandoned = %d, %v; want both jobs handled", n, err)
	}
	if got, _ := q.Count(ctx, StateAvailable); got != 1 {
		t.Errorf("%d jobs available, want the one with attempts left", got)
	}
	if got, _ := q.Count(ctx, StateDiscarded); got != 1 {
		t.Errorf("%d jobs discarded, want the one on its last attempt", got)
	}
}
