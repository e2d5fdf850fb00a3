package jobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// DBTX is what Insert needs of a transaction. *sql.Tx, *sql.DB and
// *store.Tx all satisfy it. If the value also has an AfterCommit(func())
// method, as *store.Tx does, SQLite workers are woken through it.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// State is where a job is in its life.
type State string

const (
	// StateAvailable jobs wait for a worker once their scheduled_at has
	// passed: new jobs, retries and snoozed jobs alike.
	StateAvailable State = "available"
	// StateRunning jobs are held by a worker until lease_until.
	StateRunning State = "running"
	// StateCompleted jobs succeeded. They are pruned after a retention.
	StateCompleted State = "completed"
	// StateDiscarded jobs failed for good: attempts exhausted, cancelled,
	// or their lease expired on the last attempt. They are kept longer.
	StateDiscarded State = "discarded"
)

// Defaults applied to InsertParams.
const (
	DefaultQueue       = "default"
	DefaultPriority    = 1
	DefaultMaxAttempts = 25
)

// InsertParams describes one job to insert.
type InsertParams struct {
	// Kind selects the handler. Required.
	Kind string
	// Args are the handler's input, JSON-encoded on insert. A []byte or
	// json.RawMessage is taken as JSON already encoded; nil becomes {}.
	// Keep them small and store references (message IDs), not payloads.
	Args any
	// Queue is the queue the job waits in; "default" if empty.
	Queue string
	// Priority orders ready jobs within a queue: lower runs first. Zero
	// means DefaultPriority (1).
	Priority int
	// ScheduledAt is when the job may run first; zero means now.
	ScheduledAt time.Time
	// MaxAttempts bounds the runs that may end in an error; zero means
	// DefaultMaxAttempts. Snoozes do not count.
	MaxAttempts int
	// UniqueKey, if set, makes the insert a no-op while another job with
	// the same key is available or running.
	UniqueKey string
	// TenantID is recorded for operators and handed to the handler.
	TenantID string
}

// Job is a row of the jobs table, as handed to a Handler.
type Job struct {
	ID          int64
	Kind        string
	Queue       string
	Args        json.RawMessage
	State       State
	Priority    int
	Attempt     int // 1 on the first run; snoozes do not count
	MaxAttempts int
	Snoozes     int
	TenantID    string
	UniqueKey   string
	LastError   string // the error of the previous attempt, if any
	AttemptedBy string
	CreatedAt   time.Time
	ScheduledAt time.Time
	AttemptedAt time.Time // zero if never run
	LeaseUntil  time.Time // zero unless running
	FinalizedAt time.Time // zero unless completed or discarded

	// Set on jobs held by this process, for Heartbeat.
	q   *Queue
	run *jobRun
}

// DecodeArgs unmarshals the job's arguments into v.
func (j *Job) DecodeArgs(v any) error {
	if err := json.Unmarshal(j.Args, v); err != nil {
		return fmt.Errorf("jobs: decode args of %s job %d: %w", j.Kind, j.ID, err)
	}
	return nil
}

// Heartbeat tells the queue that the handler is still making progress: it
// extends the job's lease, and its timeout, by the handler's Timeout from
// now. Handlers that run longer than their Timeout must call it more often
// than that. It returns ErrLeaseLost if the job is no longer this worker's
// (it was rescued after its lease expired); the handler should then stop.
func (j *Job) Heartbeat(ctx context.Context) error {
	if j.q == nil {
		return errors.New("jobs: heartbeat: job is not held by a worker")
	}
	return j.q.heartbeat(ctx, j)
}

// ErrLeaseLost reports that a job's row is no longer held by the worker
// that ran it, because the rescuer handed it to another attempt.
var ErrLeaseLost = errors.New("jobs: lease lost")

// ErrTimeout is the cause of a handler context cancelled because the
// handler ran longer than its Timeout without a Heartbeat.
var ErrTimeout = errors.New("jobs: handler timed out")

// ErrShutdown is the cause of a handler context cancelled because the
// queue stopped before the handler returned.
var ErrShutdown = errors.New("jobs: queue stopped before the job finished")

// ErrLeaseExpired is the error recorded, and handed to OnDiscard, when the
// rescuer finds a job whose worker stopped renewing its lease (it died).
var ErrLeaseExpired = errors.New("jobs: worker lost (lease expired)")

type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("jobs: snooze %s", e.d) }

// Snooze, returned by a handler, puts the job back to wait for d without
// counting an attempt. Use it for "not now" (a rate limit, a dependency
// not ready yet), not for failures: a snoozed job never runs out of
// attempts.
func Snooze(d time.Duration) error { return &snoozeError{d: max(d, 0)} }

type cancelError struct{ err error }

func (e *cancelError) Error() string {
	if e.err == nil {
		return "jobs: cancelled"
	}
	return e.err.Error()
}

func (e *cancelError) Unwrap() error { return e.err }

// Cancel, returned by a handler, discards the job at once: err is recorded
// as its last error and it is never retried. Use it for failures that
// another attempt cannot fix (invalid recipient, revoked channel).
func Cancel(err error) error { return &cancelError{err: err} }

// DefaultBackoff is the retry delay after a failed attempt: attempt⁴
// seconds (1s, 16s, 81s, 4m16s, …) capped at a day, ±10% jitter so that
// jobs failing together do not retry together.
func DefaultBackoff(attempt int) time.Duration {
	const ceiling = 24 * time.Hour
	a := float64(max(attempt, 1))
	d := time.Duration(math.Min(math.Pow(a, 4)*float64(time.Second), float64(ceiling)))
	jitter := (rand.Float64()*0.2 - 0.1) * float64(d)
	return d + time.Duration(jitter)
}
