package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/store"
)

// batchSize bounds the rows a maintenance statement touches, so that it
// never holds SQLite's single writer, or PostgreSQL row locks, for long.
const batchSize = 1000

// maintain rescues and prunes periodically, and once at start (a restart
// after a crash finds its own dead jobs soon).
func (r *runner) maintain() {
	defer r.loops.Done()
	rescue := time.NewTicker(r.cfg.RescueInterval)
	defer rescue.Stop()
	prune := time.NewTicker(r.cfg.PruneInterval)
	defer prune.Stop()
	r.rescue()
	r.prune()
	for {
		select {
		case <-r.loopCtx.Done():
			return
		case <-rescue.C:
			r.rescue()
		case <-prune.C:
			r.prune()
		}
	}
}

func (r *runner) rescue() {
	if _, err := r.q.rescue(r.loopCtx); err != nil && r.loopCtx.Err() == nil {
		r.q.log.Error("jobs: rescue failed", slog.Any("error", err))
	}
}

func (r *runner) prune() {
	now := r.q.now()
	for state, keep := range map[State]time.Duration{
		StateCompleted: r.cfg.CompletedRetention,
		StateDiscarded: r.cfg.DiscardedRetention,
	} {
		if _, err := r.q.prune(r.loopCtx, state, now.Add(-keep)); err != nil && r.loopCtx.Err() == nil {
			r.q.log.Error("jobs: prune failed", slog.String("state", string(state)), slog.Any("error", err))
		}
	}
}

// rescue finds running jobs whose lease has expired (their worker died or
// lost touch with the database) and makes them available again, or
// discards them if that was their last attempt. Either way the lost run
// counts as an attempt, so a job that kills its worker every time runs
// out of attempts instead of killing workers forever. It returns how
// many jobs it handled.
func (q *Queue) rescue(ctx context.Context) (int64, error) {
	now := q.now()
	res, err := q.db.Writer().ExecContext(ctx, rescueSQL, millis(now), ErrLeaseExpired.Error())
	if err != nil {
		return 0, fmt.Errorf("jobs: rescue: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("jobs: rescue: %w", err)
	}
	if n > 0 {
		q.stats.rescued.Add(n)
		q.log.Warn("jobs: rescued jobs of dead workers", slog.Int64("count", n))
		q.hub.wakeAll()
	}
	discarded, err := q.rescueDiscard(ctx, now)
	return n + discarded, err
}

// rescueDiscard discards expired jobs that were on their last attempt,
// one transaction each so that OnDiscard runs with the discard.
func (q *Queue) rescueDiscard(ctx context.Context, now time.Time) (int64, error) {
	var done int64
	for after := int64(0); ; {
		ids, err := q.expiredExhausted(ctx, now, after)
		if err != nil {
			return done, err
		}
		for _, id := range ids {
			ok, err := q.rescueDiscardOne(ctx, id, now)
			if err != nil {
				// Leave it running; the next pass tries again.
				q.log.Error("jobs: rescue: discard failed", slog.Int64("job_id", id), slog.Any("error", err))
				continue
			}
			if ok {
				done++
			}
		}
		if len(ids) < batchSize {
			return done, nil
		}
		after = ids[len(ids)-1]
	}
}

func (q *Queue) expiredExhausted(ctx context.Context, now time.Time, after int64) ([]int64, error) {
	rows, err := q.db.Reader().QueryContext(ctx, rescueCandidatesSQL, millis(now), after, batchSize)
	if err != nil {
		return nil, fmt.Errorf("jobs: rescue: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("jobs: rescue: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: rescue: %w", err)
	}
	return ids, nil
}

// rescueDiscardOne discards job id if its lease is still expired, and
// reports whether it did.
func (q *Queue) rescueDiscardOne(ctx context.Context, id int64, now time.Time) (bool, error) {
	var job *Job
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		job, err = scanJob(tx.QueryRowContext(ctx, rescueDiscardSQL, millis(now), ErrLeaseExpired.Error(), id))
		if err != nil {
			return err // sql.ErrNoRows: another rescuer or the worker got there first
		}
		h, ok := q.handler(job.Kind)
		if !ok || h.opts.OnDiscard == nil {
			return nil
		}
		if err := h.opts.OnDiscard(ctx, tx, job, ErrLeaseExpired); err != nil {
			return fmt.Errorf("on discard: %w", err)
		}
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("jobs: rescue: discard %d: %w", id, err)
	}
	q.stats.discarded.Add(1)
	q.log.Warn("jobs: job discarded", jobAttrs(job, slog.Any("error", ErrLeaseExpired))...)
	return true, nil
}

// prune deletes jobs in state finalized before cutoff, in batches, and
// returns how many.
func (q *Queue) prune(ctx context.Context, state State, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res, err := q.db.Writer().ExecContext(ctx, pruneSQL, string(state), millis(cutoff), batchSize)
		if err != nil {
			return total, fmt.Errorf("jobs: prune %s: %w", state, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("jobs: prune %s: %w", state, err)
		}
		total += n
		q.stats.pruned.Add(n)
		if n < batchSize {
			return total, nil
		}
	}
}

// RescueAbandoned treats every running job as abandoned and rescues it at
// once, instead of waiting for its lease to expire. Call it only when no
// worker anywhere can be alive: at the start of the single process of a
// SQLite deployment, jobs left running were cut off by a crash, and their
// messages should not wait minutes for a lease.
func (q *Queue) RescueAbandoned(ctx context.Context) (int64, error) {
	if _, err := q.db.Writer().ExecContext(ctx, `UPDATE jobs SET lease_until = 0 WHERE state = 'running'`); err != nil {
		return 0, fmt.Errorf("jobs: rescue abandoned: %w", err)
	}
	return q.rescue(ctx)
}
