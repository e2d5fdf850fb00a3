// Package jobs is Parley's durable job queue. It keeps jobs in the same
// database as the data they concern (a table named jobs, in SQLite or
// PostgreSQL, with the same SQL for both) and runs them with workers in
// the same process.
//
// # Why in the database
//
// Every side effect that needs the network (sending a WhatsApp message,
// downloading media, syncing templates, writing to a CRM) is a job. A
// caller inserts it with Queue.Insert inside the transaction that writes
// the data it concerns, so the two commit or roll back together: a webhook
// is acknowledged only after its data and its jobs are committed, and a
// send is answered 202 only after its message row and its job are. There
// is no window in which the data exists but the work was forgotten, or the
// reverse, and no second system to keep in step.
//
// Workers hear of new jobs at commit: PostgreSQL delivers a NOTIFY sent
// inside the transaction to a LISTEN connection; on SQLite the insert
// registers an in-process wake-up with the transaction's AfterCommit
// (store.Tx has one). A fetch loop that is idle also wakes when the
// earliest scheduled job of its queue becomes ready, and polls every
// PollInterval in case a wake-up was missed.
//
// # Running a job
//
// A fetch loop claims ready jobs in priority order with one UPDATE …
// RETURNING (on PostgreSQL with FOR UPDATE SKIP LOCKED, so that workers in
// several processes never take the same job; on SQLite the single writer
// connection serialises claims). A claimed job is 'running' under a lease:
// its handler's Timeout plus a margin. Handler outcomes:
//
//   - nil: the job is completed.
//   - Snooze(d): "not now". The job waits d and runs again without using
//     up an attempt; the rate limiter snoozes sends this way. Snoozes are
//     counted separately and never make a job fail.
//   - Cancel(err): the job cannot succeed; it is discarded at once.
//   - any other error, a panic, or a timeout: the attempt failed. The job
//     is retried after a backoff (attempt⁴ seconds with jitter, by
//     default) until MaxAttempts, then discarded. Its last error is kept.
//
// When a job is discarded for good, the kind's OnDiscard hook runs in the
// same transaction as the discard, so that, say, a message is marked
// failed if and only if its send job gave up.
//
// # Rescue
//
// A worker killed mid-job (kill -9, a lost host) leaves its job running.
// The rescuer, a maintenance loop in every started Queue, finds running
// jobs whose lease has expired and makes them available again, counting
// the lost run as an attempt (discarding them, with OnDiscard, if it was
// the last). Handlers that legitimately run long call Job.Heartbeat to
// extend their lease. Every outcome write is fenced on the worker and
// attempt that claimed the job, so a worker that was merely slow cannot
// overwrite the result of the attempt that replaced it. Delivery is
// therefore at least once: a handler may run again after a crash and must
// be idempotent, or check what it already did.
//
// # Shutdown
//
// Queue.Stop stops claiming, lets running handlers finish until its
// context is done, then cancels their contexts. A handler cut off that way
// fails its attempt and its job is retried like any other failure: no
// acknowledged job is lost.
//
// The maintenance loop also prunes completed jobs after a day and
// discarded ones after a week.
package jobs
