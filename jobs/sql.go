package jobs

import (
	"database/sql"
	"strconv"
	"strings"
	"time"
)

// The SQL below is one text for both dialects: $n placeholders (SQLite
// reads $1 as a parameter too, and a repeated $1 binds the same value),
// times as BIGINT Unix milliseconds, and RETURNING, which SQLite has had
// since 3.35. The only difference is the FOR UPDATE SKIP LOCKED in claims.

const jobColumns = `id, kind, queue, args, state, priority, attempt, max_attempts, snoozes,
	scheduled_at, attempted_at, attempted_by, lease_until, last_error, unique_key,
	tenant_id, created_at, finalized_at`

const insertColumns = `kind, queue, args, priority, max_attempts, scheduled_at, unique_key, tenant_id, created_at`

// insertArgs is the number of parameters per row in insertColumns.
const insertArgs = 9

// insertChunk bounds the rows per INSERT statement, keeping the parameter
// count (9 a row) well under both SQLite's (32766) and PostgreSQL's
// (65535) limits.
const insertChunk = 1000

// insertSQL returns a multi-row INSERT for n rows. ON CONFLICT DO NOTHING
// with no target skips rows that collide on the partial unique index
// jobs_unique (same unique_key, available or running), on both dialects.
//
// Here alone the dialects differ in placeholders: SQLite looks up each
// named parameter, $n included, in a list of the names seen so far, which
// makes preparing 9,000 of them quadratic (seconds per chunk), while
// anonymous ? parameters cost nothing. PostgreSQL accepts only $n.
func insertSQL(n int, numbered bool) string {
	var b strings.Builder
	b.Grow(64 + n*48)
	b.WriteString(`INSERT INTO jobs (` + insertColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range insertArgs {
			if j > 0 {
				b.WriteByte(',')
			}
			if numbered {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i*insertArgs + j + 1))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(` ON CONFLICT DO NOTHING`)
	return b.String()
}

// notifyChannel is the PostgreSQL channel that carries a queue's name
// whenever jobs are inserted into it.
const notifyChannel = "parley_jobs"

// notifySQL runs inside the inserting transaction: PostgreSQL delivers the
// notification at commit, and never if it rolls back.
const notifySQL = `SELECT pg_notify('` + notifyChannel + `', $1)`

// claimSQL takes up to $5 ready jobs of queue $4 in priority order.
// $1 now, $2 worker, $3 lease_until. %s is "" on SQLite, where the single
// writer connection already serialises claims, and FOR UPDATE SKIP LOCKED
// on PostgreSQL, so that concurrent claimers pass over each other's rows
// instead of waiting for them or taking them twice.
const claimSQL = `UPDATE jobs
SET state = 'running', attempt = attempt + 1, attempted_at = $1, attempted_by = $2, lease_until = $3
WHERE id IN (
	SELECT id FROM jobs
	WHERE state = 'available' AND queue = $4 AND scheduled_at <= $1
	ORDER BY priority, scheduled_at, id
	LIMIT $5%s
)
RETURNING ` + jobColumns

const skipLocked = `
	FOR UPDATE SKIP LOCKED`

// nextSQL finds when the queue's next job becomes ready (NULL if none).
const nextSQL = `SELECT MIN(scheduled_at) FROM jobs WHERE state = 'available' AND queue = $1`

// The outcome updates are fenced: they change the row only if it is still
// running under the same attempt by the same worker. A worker whose lease
// expired, and whose job was rescued and run again, cannot overwrite the
// newer attempt's outcome. The fence is always $1 id, $2 worker, $3 attempt.
const fence = `WHERE id = $1 AND state = 'running' AND attempted_by = $2 AND attempt = $3`

const completeSQL = `UPDATE jobs SET state = 'completed', finalized_at = $4, lease_until = NULL ` + fence

// retrySQL makes the job available again at $4 after a failed attempt.
const retrySQL = `UPDATE jobs SET state = 'available', scheduled_at = $4, last_error = $5, lease_until = NULL ` + fence

// snoozeSQL gives the attempt back: a snooze is not a failure.
const snoozeSQL = `UPDATE jobs SET state = 'available', scheduled_at = $4, attempt = attempt - 1,
	snoozes = snoozes + 1, lease_until = NULL ` + fence

const discardSQL = `UPDATE jobs SET state = 'discarded', finalized_at = $4, last_error = $5, lease_until = NULL ` + fence

const heartbeatSQL = `UPDATE jobs SET lease_until = $4 ` + fence

// rescueSQL returns jobs whose worker died to the queue at once: the
// expired lease was delay enough. Jobs on their last attempt are left to
// rescueDiscardSQL, which runs the kind's OnDiscard in the same
// transaction.
const rescueSQL = `UPDATE jobs SET state = 'available', scheduled_at = $1, last_error = $2, lease_until = NULL
WHERE state = 'running' AND lease_until < $1 AND attempt < max_attempts`

const rescueCandidatesSQL = `SELECT id FROM jobs
WHERE state = 'running' AND lease_until < $1 AND attempt >= max_attempts AND id > $2
ORDER BY id LIMIT $3`

const rescueDiscardSQL = `UPDATE jobs SET state = 'discarded', finalized_at = $1, last_error = $2, lease_until = NULL
WHERE id = $3 AND state = 'running' AND lease_until < $1
RETURNING ` + jobColumns

// pruneSQL deletes a batch of finalized jobs; DELETE … LIMIT is not in
// every SQLite build, hence the subquery.
const pruneSQL = `DELETE FROM jobs WHERE id IN (
	SELECT id FROM jobs WHERE state = $1 AND finalized_at < $2 LIMIT $3
)`

const getSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE id = $1`

const countSQL = `SELECT COUNT(*) FROM jobs WHERE state = $1`

type scanner interface{ Scan(dest ...any) error }

func scanJob(s scanner) (*Job, error) {
	var (
		j                                    Job
		args, state                          string
		attemptedAt, leaseUntil, finalizedAt sql.NullInt64
		attemptedBy, uniqueKey, tenantID     sql.NullString
		scheduledAt, createdAt               int64
	)
	err := s.Scan(&j.ID, &j.Kind, &j.Queue, &args, &state, &j.Priority, &j.Attempt, &j.MaxAttempts,
		&j.Snoozes, &scheduledAt, &attemptedAt, &attemptedBy, &leaseUntil, &j.LastError, &uniqueKey,
		&tenantID, &createdAt, &finalizedAt)
	if err != nil {
		return nil, err
	}
	j.Args = []byte(args)
	j.State = State(state)
	j.AttemptedBy, j.UniqueKey, j.TenantID = attemptedBy.String, uniqueKey.String, tenantID.String
	j.ScheduledAt, j.CreatedAt = fromMillis(scheduledAt), fromMillis(createdAt)
	j.AttemptedAt, j.LeaseUntil, j.FinalizedAt = nullMillis(attemptedAt), nullMillis(leaseUntil), nullMillis(finalizedAt)
	return &j, nil
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms) }

func nullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
