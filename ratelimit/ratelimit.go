// Package ratelimit paces outbound messages: per WhatsApp number (Meta's
// throughput limit, 80 messages a second by default, error 130429) and
// per recipient (Meta's pair rate, about one message every 6 seconds to
// the same user, error 131056). Every replica sends through the same
// numbers, so the state lives in the database, in rate_buckets, and each
// decision is one SQL statement that works on SQLite and PostgreSQL.
//
// # GCRA
//
// The algorithm is GCRA (the generic cell rate algorithm), which needs one
// number per key: the theoretical arrival time, tat, in Unix microseconds.
// For a rate with emission interval T (Per/Events) and burst B, let the
// tolerance τ = B·T. A request at time now would move the bucket to
//
//	tat' = max(tat, now) + T        (a missing row counts as tat = now)
//
// and is allowed if tat' − now ≤ τ, in which case tat' is stored. From
// idle (tat ≤ now) the k-th request at one instant sees tat' = now + k·T,
// so exactly B pass at once; after that one more passes every T. In any
// window of length L at most B + L/T requests pass.
//
// A denied request could pass once tat' − t ≤ τ, with tat' = tat + T for a
// stored tat > t, that is at t = tat + T − τ:
//
//	retryAfter = tat + T − τ − now = tat − now − (B−1)·T
//
// # Reserve
//
// Allow answers yes or no; a worker with a backlog would have all its
// denied jobs retry at the same moment and collide again. Reserve instead
// always takes the next slot, storing tat' = max(tat, now) + T without
// the check, and returns how long to wait before using it: the slot is
// usable from the time t at which tat' − t ≤ τ would have held, so
//
//	delay = max(0, tat' − τ − now) = max(0, tat' − now − B·T)
//
// From idle, N reservations at one instant get tat' = now + k·T for
// k = 1…N and delays 0 (B times), then T, 2T, 3T…: N distinct slots
// spaced by T. Allow and Reserve share the bucket, so reserved slots
// count against Allow and the other way round.
package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parleyhq/parley/store"
)

// Rate is a limit of Events per Per, letting up to Burst events through
// at once after a quiet spell. Burst is at least 1.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int
}

// Defaults for WhatsApp Cloud API numbers. Meta raises a number's
// throughput on request (up to 1,000 messages a second), so callers take
// the rate from the channel and fall back on these.
var (
	// DefaultNumberRate is Meta's default throughput of a business number.
	// A small burst keeps any one-second window near 80 (at most
	// Events + Burst per window).
	DefaultNumberRate = Rate{Events: 80, Per: time.Second, Burst: 8}
	// DefaultRecipientRate is Meta's pair rate, one message every 6
	// seconds to one user, with room for an agent's short burst.
	DefaultRecipientRate = Rate{Events: 1, Per: 6 * time.Second, Burst: 5}
)

// interval returns the emission interval T in microseconds, rounded up so
// that rounding never lets more than Events through per Per.
func (r Rate) interval() int64 {
	per := r.Per.Microseconds()
	return (per + int64(r.Events) - 1) / int64(r.Events)
}

// Interval is the emission interval: the time between two events at the
// steady rate.
func (r Rate) Interval() time.Duration {
	if r.validate() != nil {
		return 0
	}
	return time.Duration(r.interval()) * time.Microsecond
}

func (r Rate) validate() error {
	switch {
	case r.Events < 1:
		return fmt.Errorf("ratelimit: rate needs Events ≥ 1, got %d", r.Events)
	case r.Per < time.Microsecond:
		return fmt.Errorf("ratelimit: rate needs Per ≥ 1µs, got %v", r.Per)
	case r.Burst < 1:
		return fmt.Errorf("ratelimit: rate needs Burst ≥ 1, got %d", r.Burst)
	case r.Per.Microseconds()/int64(r.Events) > math.MaxInt64/4/int64(r.Burst):
		return fmt.Errorf("ratelimit: rate %d per %v with burst %d overflows", r.Events, r.Per, r.Burst)
	}
	return nil
}

// Limiter decides on rate-limited keys for all replicas through the
// database. It is safe for concurrent use.
type Limiter struct {
	db *store.DB

	// Now is the clock. Nil means the store's clock (db.Now).
	Now func() time.Time

	// Local enables an in-process pre-check for Allow (on by default):
	// see Allow.
	Local bool

	// Memory keeps the buckets in this process instead of the database.
	// It is the default on SQLite, which serves a single process: the
	// same decisions without a disk sync per message.
	Memory bool
	tats   map[string]int64 // key → theoretical arrival time, µs (Memory)

	allowSQL, reserveSQL, tatSQL, pruneSQL string

	mu        sync.Mutex
	locals    map[string]*local
	lastSweep time.Time
}

// local is the in-process view of one key.
type local struct {
	lim  *rate.Limiter
	rate Rate
	last time.Time // last use, for eviction
}

// sweepEvery bounds how often idle local limiters are looked for.
const sweepEvery = time.Minute

// New returns a Limiter on db's rate_buckets table.
func New(db *store.DB) *Limiter {
	// SQLite's two-argument max() is PostgreSQL's greatest().
	greatest := "max"
	if db.Dialect() == store.Postgres {
		greatest = "greatest"
	}
	next := fmt.Sprintf("%s(rate_buckets.tat, CAST($2 AS BIGINT)) + CAST($3 AS BIGINT)", greatest)
	insert := "INSERT INTO rate_buckets (key, tat) VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT))\n"
	return &Limiter{
		db:     db,
		Local:  true,
		Memory: db.Dialect() == store.SQLite,
		tats:   make(map[string]int64),
		// $1 key, $2 now, $3 T, $4 τ = B·T. No row back = denied. A denied
		// request writes nothing (on PostgreSQL it only locks the row).
		allowSQL: insert +
			"ON CONFLICT (key) DO UPDATE SET tat = " + next + "\n" +
			"WHERE " + next + " - CAST($2 AS BIGINT) <= CAST($4 AS BIGINT)\n" +
			"RETURNING tat",
		// $1 key, $2 now, $3 T. Always takes the next slot.
		reserveSQL: insert +
			"ON CONFLICT (key) DO UPDATE SET tat = " + next + "\n" +
			"RETURNING tat",
		tatSQL:   "SELECT tat FROM rate_buckets WHERE key = $1",
		pruneSQL: "DELETE FROM rate_buckets WHERE tat <= $1",
		locals:   make(map[string]*local),
	}
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	if l.db.Now != nil {
		return l.db.Now()
	}
	return time.Now()
}

// Allow takes one event for key at rate if the rate allows it now, and
// otherwise reports how long until it would (retryAfter, 0 when ok).
//
// With Local set, a key this process has already driven past its rate is
// denied without asking the database: the local limiter counts only the
// events the database allowed from this process, a subset of all those it
// allowed, so a local deny is always a global deny. A local allow still
// goes to the database, which has seen the other replicas.
func (l *Limiter) Allow(ctx context.Context, key string, r Rate) (ok bool, retryAfter time.Duration, err error) {
	if err := r.validate(); err != nil {
		return false, 0, fmt.Errorf("ratelimit: allow %q: %w", key, err)
	}
	now := l.now()
	if l.Memory {
		ok, retryAfter := l.memoryAllow(key, r, now.UnixMicro())
		return ok, retryAfter, nil
	}
	if l.Local {
		if wait := l.localWait(key, r, now); wait > 0 {
			return false, wait, nil
		}
	}
	t, tau := r.interval(), r.interval()*int64(r.Burst)
	nowUS := now.UnixMicro()
	var tat int64
	err = l.db.Writer().QueryRowContext(ctx, l.allowSQL, key, nowUS, t, tau).Scan(&tat)
	switch {
	case err == nil:
		if l.Local {
			l.localTake(key, r, now)
		}
		return true, 0, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, 0, fmt.Errorf("ratelimit: allow %q: %w", key, err)
	}

	// Denied. Read tat to tell the caller when to come back; it may have
	// moved since, in which case the answer describes the newer state.
	err = l.db.Reader().QueryRowContext(ctx, l.tatSQL, key).Scan(&tat)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil // pruned meanwhile: try again now
	}
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: allow %q: read bucket: %w", key, err)
	}
	return false, micros(tat + t - tau - nowUS), nil
}

// Reserve takes the next free slot for key at rate, whatever the backlog,
// and returns how long to wait before using it (0 = now). A caller that
// does not use its slot (the job was cancelled) leaves a gap; the rate is
// never exceeded because of it.
func (l *Limiter) Reserve(ctx context.Context, key string, r Rate) (delay time.Duration, err error) {
	if err := r.validate(); err != nil {
		return 0, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	t, tau := r.interval(), r.interval()*int64(r.Burst)
	nowUS := l.now().UnixMicro()
	if l.Memory {
		l.mu.Lock()
		tat := max(l.tats[key], nowUS) + t
		l.tats[key] = tat
		l.mu.Unlock()
		return micros(tat - tau - nowUS), nil
	}
	var tat int64
	if err := l.db.Writer().QueryRowContext(ctx, l.reserveSQL, key, nowUS, t).Scan(&tat); err != nil {
		return 0, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	return micros(tat - tau - nowUS), nil
}

// Prune deletes the buckets that have drained: a row whose tat is not in
// the future behaves exactly like a missing row (max(tat, now) = now), so
// deleting it changes no decision. Run it now and then to keep the table
// to the keys in use.
func (l *Limiter) Prune(ctx context.Context) (int64, error) {
	if l.Memory {
		now := l.now().UnixMicro()
		l.mu.Lock()
		defer l.mu.Unlock()
		var n int64
		for k, tat := range l.tats {
			if tat <= now {
				delete(l.tats, k)
				n++
			}
		}
		return n, nil
	}
	res, err := l.db.Writer().ExecContext(ctx, l.pruneSQL, l.now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("ratelimit: prune: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: prune: %w", err)
	}
	return n, nil
}

// memoryAllow is the allow statement's algebra on the in-process buckets.
func (l *Limiter) memoryAllow(key string, r Rate, nowUS int64) (bool, time.Duration) {
	t, tau := r.interval(), r.interval()*int64(r.Burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, ok := l.tats[key]
	if !ok {
		tat = nowUS
	}
	if next := max(tat, nowUS) + t; next-nowUS <= tau {
		l.tats[key] = next
		return true, 0
	}
	return false, micros(tat + t - tau - nowUS)
}

// micros converts a span in microseconds to a Duration, 0 if negative.
func micros(us int64) time.Duration {
	if us <= 0 {
		return 0
	}
	return time.Duration(us) * time.Microsecond
}

// localEpsilon absorbs float rounding in x/time/rate, so that the local
// check never denies an event the database would allow at the very
// instant it becomes due.
const localEpsilon = 1e-6

// localWait returns how long the local limiter says key must wait, 0 if
// it may go to the database now. It does not take a token.
func (l *Limiter) localWait(key string, r Rate, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	loc := l.localLocked(key, r, now)
	tokens := loc.lim.TokensAt(now)
	if tokens >= 1-localEpsilon {
		return 0
	}
	us := math.Round((1 - tokens) / float64(loc.lim.Limit()) * 1e6)
	return max(time.Duration(us)*time.Microsecond, time.Microsecond)
}

// localTake records an event the database allowed. ReserveN never fails
// for one token and may leave the bucket in debt when goroutines race,
// which keeps the count exact.
func (l *Limiter) localTake(key string, r Rate, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.localLocked(key, r, now).lim.ReserveN(now, 1)
}

// localLocked returns key's local limiter, creating it (or recreating it
// when the rate changed), and now and then forgets limiters idle long
// enough to have refilled: a full limiter is the same as a new one.
func (l *Limiter) localLocked(key string, r Rate, now time.Time) *local {
	if now.Sub(l.lastSweep) >= sweepEvery {
		l.lastSweep = now
		for k, loc := range l.locals {
			if now.Sub(loc.last) >= loc.rate.Interval()*time.Duration(loc.rate.Burst) {
				delete(l.locals, k)
			}
		}
	}
	loc, ok := l.locals[key]
	if !ok || loc.rate != r {
		perSecond := 1e6 / float64(r.interval())
		loc = &local{lim: rate.NewLimiter(rate.Limit(perSecond), r.Burst), rate: r}
		l.locals[key] = loc
	}
	loc.last = now
	return loc
}
