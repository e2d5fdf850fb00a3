package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// Handler carries out one job. Its return value decides what happens
// next: nil completes the job, Snooze(d) and Cancel(err) do what they say,
// and any other error schedules a retry with backoff until MaxAttempts is
// reached. A panic counts as an error. ctx is cancelled when the handler
// exceeds its Timeout (cause ErrTimeout) or the queue stops (ErrShutdown).
type Handler func(ctx context.Context, job *Job) error

// DefaultTimeout bounds a handler that sets no Timeout.
const DefaultTimeout = time.Minute

// HandlerOptions tune how one kind of job runs.
type HandlerOptions struct {
	// Timeout cancels the handler's context if it runs this long without
	// calling Job.Heartbeat. It also sets the job's lease: Timeout plus
	// Config.LeaseMargin. Zero means DefaultTimeout.
	Timeout time.Duration

	// OnDiscard, if set, runs when a job of this kind is discarded for
	// good (attempts exhausted, Cancel, or its worker died on the last
	// attempt), in the same transaction as the discard: use tx, never the
	// DB (on SQLite that would wait for the connection tx holds). If it
	// returns an error the discard is rolled back, the job stays running,
	// and the rescuer tries again once its lease has expired.
	OnDiscard func(ctx context.Context, tx *store.Tx, job *Job, err error) error
}

type handler struct {
	run  Handler
	opts HandlerOptions
}

// Options configure a Queue.
type Options struct {
	// Now is the clock; the store's clock (db.Now) by default.
	Now func() time.Time
	// Logger receives failures and maintenance reports; slog.Default()
	// by default. Job arguments are never logged.
	Logger *slog.Logger
	// Backoff gives the delay before retrying after failed attempt n
	// (1-based); DefaultBackoff by default.
	Backoff func(attempt int) time.Duration
	// WorkerID names this process in attempted_by; host-pid-random by
	// default. It must differ between live Queues.
	WorkerID string
}

// Queue inserts jobs and, once started, works them.
type Queue struct {
	db      *store.DB
	hub     *hub
	now     func() time.Time
	log     *slog.Logger
	backoff func(int) time.Duration
	id      string

	mu       sync.RWMutex
	handlers map[string]handler
	run      *runner

	stats counters

	// Test hooks, nil in production.
	testIdle   func(queue string) // a fetch loop is about to wait
	testListen func(pid uint32)   // the PostgreSQL LISTEN is in place on backend pid
}

// New returns a Queue over db. It can insert at once; call Handle and
// then Start to work jobs.
func New(db *store.DB, opts Options) *Queue {
	q := &Queue{
		db:       db,
		hub:      hubFor(db),
		now:      opts.Now,
		log:      opts.Logger,
		backoff:  opts.Backoff,
		id:       opts.WorkerID,
		handlers: map[string]handler{},
	}
	if q.now == nil {
		q.now = func() time.Time {
			if db.Now != nil {
				return db.Now()
			}
			return time.Now()
		}
	}
	if q.log == nil {
		q.log = slog.Default()
	}
	if q.backoff == nil {
		q.backoff = DefaultBackoff
	}
	if q.id == "" {
		q.id = defaultWorkerID()
	}
	return q
}

func defaultWorkerID() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Handle registers h for jobs of kind. Register every kind before Start;
// a job whose kind has no handler fails (and is retried, so that a newer
// replica may take it during a rolling deploy).
func (q *Queue) Handle(kind string, h Handler, opts HandlerOptions) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	q.mu.Lock()
	q.handlers[kind] = handler{run: h, opts: opts}
	q.mu.Unlock()
}

func (q *Queue) handler(kind string) (handler, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	h, ok := q.handlers[kind]
	return h, ok
}

// Insert adds jobs inside the caller's transaction tx, so that they exist
// if and only if the data they concern was committed. Jobs whose
// UniqueKey matches an available or running job are skipped silently.
// Workers are woken at commit: by NOTIFY on PostgreSQL, through
// tx.AfterCommit on SQLite when tx has it (at once otherwise).
func (q *Queue) Insert(ctx context.Context, tx DBTX, params ...InsertParams) error {
	if len(params) == 0 {
		return nil
	}
	now := q.now()
	rows := make([]any, 0, len(params)*insertArgs)
	var queues []string
	for i := range params {
		r, queue, err := insertRow(&params[i], now)
		if err != nil {
			return fmt.Errorf("jobs: insert: %w", err)
		}
		rows = append(rows, r...)
		if !slices.Contains(queues, queue) {
			queues = append(queues, queue)
		}
	}
	numbered := q.db.Dialect() == store.Postgres
	for start := 0; start < len(params); start += insertChunk {
		n := min(insertChunk, len(params)-start)
		args := rows[start*insertArgs : (start+n)*insertArgs]
		if _, err := tx.ExecContext(ctx, insertSQL(n, numbered), args...); err != nil {
			return fmt.Errorf("jobs: insert: %w", err)
		}
	}
	return q.wakeAfterInsert(ctx, tx, queues)
}

// insertRow applies defaults to p and returns its column values in
// insertColumns order, and its queue.
func insertRow(p *InsertParams, now time.Time) ([]any, string, error) {
	if p.Kind == "" {
		return nil, "", errors.New("kind is required")
	}
	if p.Priority < 0 || p.MaxAttempts < 0 {
		return nil, "", fmt.Errorf("%s job: priority and max attempts must not be negative", p.Kind)
	}
	args, err := encodeArgs(p.Args)
	if err != nil {
		return nil, "", fmt.Errorf("%s job: %w", p.Kind, err)
	}
	queue := orDefault(p.Queue, DefaultQueue)
	scheduled := p.ScheduledAt
	if scheduled.IsZero() {
		scheduled = now
	}
	priority, maxAttempts := p.Priority, p.MaxAttempts
	if priority == 0 {
		priority = DefaultPriority
	}
	if maxAttempts == 0 {
		maxAttempts = DefaultMaxAttempts
	}
	return []any{p.Kind, queue, args, priority, maxAttempts, millis(scheduled),
		nullString(p.UniqueKey), nullString(p.TenantID), millis(now)}, queue, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func encodeArgs(v any) (string, error) {
	var b []byte
	switch a := v.(type) {
	case nil:
		return "{}", nil
	case json.RawMessage:
		b = a
	case []byte:
		b = a
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return "", fmt.Errorf("encode args: %w", err)
		}
		return string(b), nil
	}
	if !json.Valid(b) {
		return "", errors.New("args are not valid JSON")
	}
	return string(b), nil
}

// wakeAfterInsert arranges for workers to hear of new jobs once tx
// commits.
func (q *Queue) wakeAfterInsert(ctx context.Context, tx DBTX, queues []string) error {
	if q.db.Dialect() == store.Postgres {
		for _, queue := range queues {
			if _, err := tx.ExecContext(ctx, notifySQL, queue); err != nil {
				return fmt.Errorf("jobs: insert: notify: %w", err)
			}
		}
		return nil
	}
	wake := func() { q.hub.wake(queues...) }
	if ac, ok := tx.(interface{ AfterCommit(func()) }); ok {
		ac.AfterCommit(wake)
	} else {
		wake()
	}
	return nil
}

// Get returns one job, for tests and operators.
func (q *Queue) Get(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(q.db.Reader().QueryRowContext(ctx, getSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Job not found.")
	} else if err != nil {
		return nil, fmt.Errorf("jobs: get: %w", err)
	}
	return j, nil
}

// Count returns the number of jobs in state, across queues.
func (q *Queue) Count(ctx context.Context, state State) (int64, error) {
	var n int64
	if err := q.db.Reader().QueryRowContext(ctx, countSQL, string(state)).Scan(&n); err != nil {
		return 0, fmt.Errorf("jobs: count: %w", err)
	}
	return n, nil
}

// Stats are this Queue's counters since New.
type Stats struct {
	Claimed   int64 // runs started
	Completed int64
	Retried   int64 // failed attempts scheduled for another
	Snoozed   int64
	Discarded int64 // by this worker or its rescuer
	Rescued   int64 // jobs of dead workers made available again
	Pruned    int64 // finalized jobs deleted
	Running   int64 // handlers running now
}

type counters struct {
	claimed, completed, retried, snoozed, discarded, rescued, pruned, running atomic.Int64
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	c := &q.stats
	return Stats{
		Claimed: c.claimed.Load(), Completed: c.completed.Load(), Retried: c.retried.Load(),
		Snoozed: c.snoozed.Load(), Discarded: c.discarded.Load(), Rescued: c.rescued.Load(),
		Pruned: c.pruned.Load(), Running: c.running.Load(),
	}
}
