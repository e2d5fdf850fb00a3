package jobs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// runNowChunk bounds the keys per UPDATE, well under both dialects'
// parameter limits.
const runNowChunk = 500

// RunNow makes the available jobs with these unique keys due now. It is
// for jobs snoozed until something outside them changes, such as sends
// waiting for a channel an admin has just fixed: they need not wait out
// their snooze. Handlers must already be safe to run again at any time,
// so running one early is safe too; running jobs are left alone. Workers
// are woken once tx commits (through tx.AfterCommit when it has it, at
// once otherwise); other processes notice within their poll interval.
func (q *Queue) RunNow(ctx context.Context, tx DBTX, uniqueKeys ...string) error {
	now := millis(q.now())
	for start := 0; start < len(uniqueKeys); start += runNowChunk {
		keys := uniqueKeys[start:min(start+runNowChunk, len(uniqueKeys))]
		args := []any{now}
		ph := make([]string, len(keys))
		for i, k := range keys {
			args = append(args, k)
			ph[i] = "$" + strconv.Itoa(i+2)
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET scheduled_at = $1
			WHERE state = 'available' AND scheduled_at > $1 AND unique_key IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return fmt.Errorf("jobs: run now: %w", err)
		}
	}
	if len(uniqueKeys) == 0 {
		return nil
	}
	if ac, ok := tx.(interface{ AfterCommit(func()) }); ok {
		ac.AfterCommit(q.hub.wakeAll)
	} else {
		q.hub.wakeAll()
	}
	return nil
}
