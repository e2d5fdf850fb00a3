package jobs

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/store"
)

// waitTimeout bounds every wait in these tests; nothing should come near.
const waitTimeout = 10 * time.Second

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log output safely from many goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newQueue returns a Queue with a quick backoff, logging into a buffer.
func newQueue(t testing.TB, db *store.DB, opts Options) (*Queue, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Backoff == nil {
		opts.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	return New(db, opts), logs
}

// start starts q and stops it when the test ends.
func start(t testing.TB, q *Queue, cfg Config) {
	t.Helper()
	if err := q.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// insert inserts jobs in one committed transaction.
func insert(t testing.TB, db *store.DB, q *Queue, p ...InsertParams) {
	t.Helper()
	ctx := context.Background()
	if err := db.InTx(ctx, func(tx *store.Tx) error { return q.Insert(ctx, tx, p...) }); err != nil {
		t.Fatal(err)
	}
}

// ids returns the IDs of all jobs, oldest first.
func ids(t testing.TB, db *store.DB) []int64 {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT id FROM jobs ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// lastID returns the newest job's ID.
func lastID(t testing.TB, db *store.DB) int64 {
	t.Helper()
	all := ids(t, db)
	if len(all) == 0 {
		t.Fatal("no jobs")
	}
	return all[len(all)-1]
}

func get(t testing.TB, q *Queue, id int64) *Job {
	t.Helper()
	j, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func count(t testing.TB, q *Queue, s State) int64 {
	t.Helper()
	n, err := q.Count(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// waitState waits for job id to reach state and returns it.
func waitState(t testing.TB, q *Queue, id int64, s State) *Job {
	t.Helper()
	var j *Job
	eventually(t, "job to be "+string(s), func() bool {
		j = get(t, q, id)
		return j.State == s
	})
	return j
}

// receive waits for a value on c.
func receive[T any](t testing.TB, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// signal returns a hook that sends on a buffered channel without blocking.
func signal[T any](c chan T) func(T) {
	return func(v T) {
		select {
		case c <- v:
		default:
		}
	}
}
