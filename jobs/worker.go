package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/store"
)

// Config tunes the workers that Start runs. Zero fields take defaults.
type Config struct {
	// Queues maps each queue to work to its number of concurrent
	// handlers. Required.
	Queues map[string]int

	// PollInterval is the longest an idle fetch loop waits before looking
	// for work again, in case a wake-up was missed (default 1s). Wake-ups
	// and the next scheduled job normally come much sooner.
	PollInterval time.Duration

	// LeaseMargin is added to a handler's Timeout to make the job's lease:
	// how long after its last sign of life a running job is presumed dead
	// and rescued (default 1m).
	LeaseMargin time.Duration

	// RescueInterval is how often expired leases are looked for
	// (default 30s).
	RescueInterval time.Duration

	// PruneInterval is how often old finalized jobs are deleted
	// (default 10m); CompletedRetention (default 24h) and
	// DiscardedRetention (default 7 days) say how old.
	PruneInterval      time.Duration
	CompletedRetention time.Duration
	DiscardedRetention time.Duration

	// ListenURL is the PostgreSQL URL for the LISTEN connection. If empty,
	// one connection of the store's pool is set aside for it instead.
	// Ignored on SQLite.
	ListenURL string
}

// Defaults for Config.
const (
	DefaultPollInterval       = time.Second
	DefaultLeaseMargin        = time.Minute
	DefaultRescueInterval     = 30 * time.Second
	DefaultPruneInterval      = 10 * time.Minute
	DefaultCompletedRetention = 24 * time.Hour
	DefaultDiscardedRetention = 7 * 24 * time.Hour
)

const (
	// finishTimeout bounds the write that records a job's outcome. It
	// runs even after shutdown cancelled the handler.
	finishTimeout = 30 * time.Second
	// abandonAfter is how long Stop waits for handlers that ignore the
	// cancellation of their context.
	abandonAfter = 5 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if len(c.Queues) == 0 {
		return c, errors.New("no queues configured")
	}
	for name, n := range c.Queues {
		if name == "" || n <= 0 {
			return c, fmt.Errorf("queue %q: need a name and at least one worker", name)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PollInterval, DefaultPollInterval)
	def(&c.LeaseMargin, DefaultLeaseMargin)
	def(&c.RescueInterval, DefaultRescueInterval)
	def(&c.PruneInterval, DefaultPruneInterval)
	def(&c.CompletedRetention, DefaultCompletedRetention)
	def(&c.DiscardedRetention, DefaultDiscardedRetention)
	return c, nil
}

// Start runs the workers in the background: a fetch loop per queue, a
// maintenance loop (rescue and prune) and, on PostgreSQL, a LISTEN
// connection. A Queue starts once.
//
// Cancelling ctx stops claiming jobs, as Stop does, but does not cut off
// running handlers: they carry on, each within its Timeout, and handler
// contexts keep ctx's values. Call Stop to wait for them and to set a
// deadline, so that a signal context can be passed here safely.
func (q *Queue) Start(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.run != nil {
		return errors.New("jobs: start: already started")
	}
	q.run = newRunner(ctx, q, cfg)
	q.run.start()
	return nil
}

// Stop shuts the workers down gracefully. It stops claiming jobs at once,
// lets running handlers finish until ctx is done, then cancels their
// contexts (cause ErrShutdown). A handler cut off that way returns an
// error, and its job takes the ordinary error path: retried after backoff
// (or discarded if that was its last attempt), never lost. Stop returns
// once every outcome is recorded; if handlers ignore the cancellation for
// a few more seconds it gives up on them and says so, and their jobs stay
// running until the rescuer of a live worker sees their lease expire.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.RLock()
	r := q.run
	q.mu.RUnlock()
	if r == nil {
		return nil
	}
	return r.shutdown(ctx)
}

// runner is the state of a started Queue.
type runner struct {
	q   *Queue
	cfg Config

	loopCtx    context.Context // fetch, maintenance and listen loops
	stopLoops  context.CancelFunc
	jobCtx     context.Context // parent of handler contexts
	cancelJobs context.CancelCauseFunc

	loops    sync.WaitGroup
	jobs     sync.WaitGroup
	jobsDone chan struct{} // closed when loops and jobs have all ended
}

func newRunner(ctx context.Context, q *Queue, cfg Config) *runner {
	r := &runner{q: q, cfg: cfg, jobsDone: make(chan struct{})}
	r.loopCtx, r.stopLoops = context.WithCancel(ctx)
	// Handlers outlive ctx until Stop's deadline, and keep its values.
	r.jobCtx, r.cancelJobs = context.WithCancelCause(context.WithoutCancel(ctx))
	return r
}

func (r *runner) start() {
	for name, workers := range r.cfg.Queues {
		r.loops.Add(1)
		go r.fetchLoop(name, workers)
	}
	r.loops.Add(1)
	go r.maintain()
	if r.q.db.Dialect() == store.Postgres {
		r.loops.Add(1)
		go r.listen()
	}
	go func() {
		r.loops.Wait() // no job starts after the loops end
		r.jobs.Wait()
		close(r.jobsDone)
	}()
}

func (r *runner) shutdown(ctx context.Context) error {
	r.stopLoops()
	select {
	case <-r.jobsDone:
		return nil
	case <-ctx.Done():
	}
	r.cancelJobs(ErrShutdown)
	select {
	case <-r.jobsDone:
		return nil
	case <-time.After(abandonAfter):
		return fmt.Errorf("jobs: stop: %d handlers ignored cancellation; their jobs will be rescued when their leases expire",
			r.q.stats.running.Load())
	}
}

// fetchLoop claims jobs of one queue as long as it has free workers and
// there are ready jobs, then waits for a reason to look again.
func (r *runner) fetchLoop(queue string, workers int) {
	defer r.loops.Done()
	wake, unsubscribe := r.q.hub.subscribe(queue)
	defer unsubscribe()
	done := make(chan struct{}, workers) // a job finished; never blocks
	running := 0
	for r.loopCtx.Err() == nil {
		running -= drain(done)
		free := workers - running
		full, wait := true, r.cfg.PollInterval
		if free > 0 {
			n, err := r.claimAndRun(queue, free, done)
			running += n
			switch {
			case err != nil:
				r.q.log.Error("jobs: claim failed", slog.String("queue", queue), slog.Any("error", err))
				full = false
			case n < free:
				full, wait = false, r.nextWait(queue)
			}
		}
		if !full && r.q.testIdle != nil {
			r.q.testIdle(queue)
		}
		running -= r.idle(wake, done, full, wait)
	}
}

// idle waits until the fetch loop should claim again: when full, until a
// worker is free; otherwise until a wake-up or wait has passed. It returns
// how many jobs finished meanwhile.
func (r *runner) idle(wake <-chan struct{}, done <-chan struct{}, full bool, wait time.Duration) (finished int) {
	var timeout <-chan time.Time
	if full {
		wake = nil // leave it pending: no worker could take the job
	} else {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case <-r.loopCtx.Done():
			return finished
		case <-done:
			finished++
			if full {
				return finished
			}
		case <-wake:
			return finished
		case <-timeout:
			return finished
		}
	}
}

func drain(c <-chan struct{}) (n int) {
	for {
		select {
		case <-c:
			n++
		default:
			return n
		}
	}
}

// nextWait is how long until the queue's next scheduled job is ready,
// within [1ms, PollInterval]. It is what lets a job snoozed for a few
// milliseconds by a rate limiter run a few milliseconds later.
func (r *runner) nextWait(queue string) time.Duration {
	var next sql.NullInt64
	err := r.q.db.Reader().QueryRowContext(r.loopCtx, nextSQL, queue).Scan(&next)
	if err != nil || !next.Valid {
		return r.cfg.PollInterval
	}
	d := fromMillis(next.Int64).Sub(r.q.now())
	return min(max(d, time.Millisecond), r.cfg.PollInterval)
}

// claimAndRun claims up to free jobs and starts a handler for each.
func (r *runner) claimAndRun(queue string, free int, done chan<- struct{}) (int, error) {
	// A claim is not interrupted by shutdown: its jobs would stay running
	// until rescued.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.loopCtx), finishTimeout)
	defer cancel()
	jobs, err := r.q.claim(ctx, queue, free, DefaultTimeout+r.cfg.LeaseMargin)
	if err != nil {
		return 0, err
	}
	for _, job := range jobs {
		r.jobs.Add(1)
		go func() {
			defer func() { done <- struct{}{} }()
			defer r.jobs.Done()
			r.execute(job)
		}()
	}
	return len(jobs), nil
}

// claim marks up to limit ready jobs of queue as running under this
// worker until now+lease, and returns them in the order they should run.
func (q *Queue) claim(ctx context.Context, queue string, limit int, lease time.Duration) ([]*Job, error) {
	suffix := ""
	if q.db.Dialect() == store.Postgres {
		suffix = skipLocked
	}
	now := q.now()
	rows, err := q.db.Writer().QueryContext(ctx, fmt.Sprintf(claimSQL, suffix),
		millis(now), q.id, millis(now.Add(lease)), queue, limit)
	if err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	defer rows.Close()
	var jobs []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("jobs: claim: %w", err)
		}
		j.q = q
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(jobs, func(a, b *Job) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), a.ScheduledAt.Compare(b.ScheduledAt), cmp.Compare(a.ID, b.ID))
	})
	q.stats.claimed.Add(int64(len(jobs)))
	return jobs, nil
}

// jobRun is a handler's running state, for Heartbeat.
type jobRun struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timer   *time.Timer
	timeout time.Duration
}

// execute runs a claimed job's handler and records the outcome.
func (r *runner) execute(job *Job) {
	q := r.q
	q.stats.running.Add(1)
	defer q.stats.running.Add(-1)

	h, ok := q.handler(job.Kind)
	if !ok {
		q.finish(r.jobCtx, job, h.opts, fmt.Errorf("jobs: no handler for kind %q", job.Kind))
		return
	}
	ctx, cancel := context.WithCancelCause(r.jobCtx)
	defer cancel(nil)
	run := &jobRun{ctx: ctx, cancel: cancel, timeout: h.opts.Timeout}
	run.timer = time.AfterFunc(h.opts.Timeout, func() { cancel(ErrTimeout) })
	defer run.timer.Stop()
	job.run = run

	// The claim leased the job for DefaultTimeout; a slower kind needs more.
	if h.opts.Timeout > DefaultTimeout {
		if err := job.Heartbeat(ctx); err != nil {
			q.log.Warn("jobs: extend lease failed", jobAttrs(job, slog.Any("error", err))...)
		}
	}
	err := q.call(ctx, h.run, job)
	if err != nil && ctx.Err() != nil {
		if cause := context.Cause(ctx); !errors.Is(err, cause) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
	}
	q.finish(ctx, job, h.opts, err)
}

// call runs h, turning a panic into an error. The stack goes to the log,
// not to last_error.
func (q *Queue) call(ctx context.Context, h Handler, job *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("jobs: handler panicked", jobAttrs(job,
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))...)
			err = fmt.Errorf("jobs: handler panicked: %v", p)
		}
	}()
	return h(ctx, job)
}

// finish records the outcome of a run: err is what the handler returned.
func (q *Queue) finish(ctx context.Context, job *Job, opts HandlerOptions, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	now := q.now()
	var (
		snooze    *snoozeError
		cancelled *cancelError
		ferr      error
	)
	switch {
	case err == nil:
		if ferr = q.update(ctx, completeSQL, job, millis(now)); ferr == nil {
			q.stats.completed.Add(1)
		}
	case errors.As(err, &snooze):
		if ferr = q.update(ctx, snoozeSQL, job, millis(now.Add(snooze.d))); ferr == nil {
			q.stats.snoozed.Add(1)
			q.hub.wake(job.Queue)
		}
	case errors.As(err, &cancelled):
		if ferr = q.discard(ctx, job, opts, err, now); ferr == nil {
			q.log.Warn("jobs: job cancelled", jobAttrs(job, slog.Any("error", err))...)
		}
	case job.Attempt >= job.MaxAttempts:
		if ferr = q.discard(ctx, job, opts, err, now); ferr == nil {
			q.log.Error("jobs: job failed its last attempt, discarded", jobAttrs(job, slog.Any("error", err))...)
		}
	default:
		delay := q.backoff(job.Attempt)
		if ferr = q.update(ctx, retrySQL, job, millis(now.Add(delay)), errorText(err)); ferr == nil {
			q.stats.retried.Add(1)
			q.log.Warn("jobs: job failed, will retry", jobAttrs(job, slog.Any("error", err), slog.Duration("retry_in", delay))...)
			q.hub.wake(job.Queue)
		}
	}
	if ferr != nil {
		// The job stays running; the rescuer retries it when the lease
		// expires, so the outcome may be repeated but not lost.
		q.log.Error("jobs: record outcome failed", jobAttrs(job, slog.Any("error", ferr))...)
	}
}

// update runs one of the fenced outcome statements; args follow the fence.
func (q *Queue) update(ctx context.Context, query string, job *Job, args ...any) error {
	res, err := q.db.Writer().ExecContext(ctx, query, append([]any{job.ID, job.AttemptedBy, job.Attempt}, args...)...)
	return fenced(res, err)
}

func fenced(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// discard finalizes a job for good and runs OnDiscard in the same
// transaction.
func (q *Queue) discard(ctx context.Context, job *Job, opts HandlerOptions, cause error, now time.Time) error {
	msg := errorText(cause)
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, discardSQL, job.ID, job.AttemptedBy, job.Attempt, millis(now), msg)
		if err := fenced(res, err); err != nil {
			return err
		}
		if opts.OnDiscard == nil {
			return nil
		}
		j := *job
		j.State, j.LastError, j.FinalizedAt, j.LeaseUntil = StateDiscarded, msg, fromMillis(millis(now)), time.Time{}
		if err := opts.OnDiscard(ctx, tx, &j, cause); err != nil {
			return fmt.Errorf("on discard: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jobs: discard: %w", err)
	}
	q.stats.discarded.Add(1)
	return nil
}

// heartbeat extends a running job's lease and, if a handler is running it,
// its timeout.
func (q *Queue) heartbeat(ctx context.Context, job *Job) error {
	if job.run != nil && job.run.ctx.Err() != nil {
		return fmt.Errorf("jobs: heartbeat: %w", context.Cause(job.run.ctx))
	}
	until := q.now().Add(q.leaseFor(job.Kind))
	if err := q.update(ctx, heartbeatSQL, job, millis(until)); err != nil {
		if errors.Is(err, ErrLeaseLost) && job.run != nil {
			job.run.cancel(ErrLeaseLost)
		}
		return fmt.Errorf("jobs: heartbeat: %w", err)
	}
	if job.run != nil {
		job.run.timer.Reset(job.run.timeout)
	}
	return nil
}

// leaseFor is how long a job of kind may run without a sign of life.
func (q *Queue) leaseFor(kind string) time.Duration {
	q.mu.RLock()
	defer q.mu.RUnlock()
	timeout, margin := DefaultTimeout, DefaultLeaseMargin
	if h, ok := q.handlers[kind]; ok {
		timeout = h.opts.Timeout
	}
	if q.run != nil {
		margin = q.run.cfg.LeaseMargin
	}
	return timeout + margin
}

// maxErrorLen bounds last_error; handler errors can quote whole responses.
const maxErrorLen = 2000

func errorText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") + "…"
	}
	return s
}

// jobAttrs are the log attributes of a job: never its arguments, which may
// hold personal data.
func jobAttrs(job *Job, more ...any) []any {
	return append([]any{
		slog.Int64("job_id", job.ID), slog.String("kind", job.Kind), slog.String("queue", job.Queue),
		slog.Int("attempt", job.Attempt), slog.Int("max_attempts", job.MaxAttempts),
		slog.String("tenant_id", job.TenantID),
	}, more...)
}
