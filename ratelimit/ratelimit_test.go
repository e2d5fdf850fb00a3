package ratelimit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

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

// mode is how a limiter keeps its buckets: in the database, with or
// without the local pre-check, or in memory (SQLite's default).
type mode struct{ local, memory bool }

func (m mode) String() string { return fmt.Sprintf("local=%v,memory=%v", m.local, m.memory) }

var modes = []mode{{false, false}, {true, false}, {false, true}}

func newLimiter(db *store.DB, c *clock, m mode) *Limiter {
	l := New(db)
	l.Now = c.Now
	l.Local, l.Memory = m.local, m.memory
	return l
}

func TestRateInterval(t *testing.T) {
	tests := []struct {
		r    Rate
		want time.Duration
	}{
		{Rate{Events: 80, Per: time.Second, Burst: 1}, 12500 * time.Microsecond},
		{Rate{Events: 1, Per: 6 * time.Second, Burst: 5}, 6 * time.Second},
		{Rate{Events: 3, Per: time.Second, Burst: 1}, 333334 * time.Microsecond}, // rounded up
		{Rate{Events: 1000, Per: time.Second, Burst: 1}, time.Millisecond},
		{Rate{Events: 0, Per: time.Second, Burst: 1}, 0},
		{Rate{Events: 1, Per: 0, Burst: 1}, 0},
		{Rate{Events: 1, Per: time.Second, Burst: 0}, 0},
	}
	for _, tt := range tests {
		if got := tt.r.Interval(); got != tt.want {
			t.Errorf("%+v.Interval() = %v, want %v", tt.r, got, tt.want)
		}
	}
	for _, r := range []Rate{DefaultNumberRate, DefaultRecipientRate} {
		if err := r.validate(); err != nil {
			t.Errorf("default %+v: %v", r, err)
		}
	}
}

// TestConformance runs the limiter's contract on each dialect, with and
// without the local pre-check, which must not change any answer here.
func TestConformance(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		for _, m := range modes {
			t.Run(m.String(), func(t *testing.T) {
				conformance(t, db, m)
			})
		}
	})
}

func conformance(t *testing.T, db *store.DB, m mode) {
	ctx := context.Background()
	// Keys are unique per run: the subtests share one database.
	key := func(name string) string { return fmt.Sprintf("%s/%v", name, m) }

	t.Run("burst then steady rate", func(t *testing.T) {
		c := newClock()
		l := newLimiter(db, c, m)
		r := Rate{Events: 1, Per: time.Second, Burst: 5}
		k := key("burst")
		var passed []int
		for i := range 20 {
			ok, retry, err := l.Allow(ctx, k, r)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				passed = append(passed, i)
				if retry != 0 {
					t.Errorf("call %d allowed with retryAfter %v", i, retry)
				}
			} else if retry != time.Second {
				t.Errorf("call %d denied with retryAfter %v, want 1s", i, retry)
			}
		}
		if !slices.Equal(passed, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("calls %v passed, want the first 5", passed)
		}

		c.Advance(400 * time.Millisecond)
		if ok, retry, err := l.Allow(ctx, k, r); err != nil || ok || retry != 600*time.Millisecond {
			t.Errorf("after 400ms: ok=%v retry=%v err=%v; want denied, retry 600ms", ok, retry, err)
		}
		c.Advance(600 * time.Millisecond)
		if ok, _, err := l.Allow(ctx, k, r); err != nil || !ok {
			t.Errorf("after one interval: ok=%v err=%v; want allowed", ok, err)
		}
		if ok, retry, err := l.Allow(ctx, k, r); err != nil || ok || retry != time.Second {
			t.Errorf("second call after one interval: ok=%v retry=%v err=%v; want denied, retry 1s", ok, retry, err)
		}

		// Idle for long enough to refill: the whole burst again, no more.
		c.Advance(time.Minute)
		n := 0
		for range 10 {
			ok, _, err := l.Allow(ctx, k, r)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				n++
			}
		}
		if n != 5 {
			t.Errorf("after idling %d passed, want 5", n)
		}
	})

	t.Run("keys are independent", func(t *testing.T) {
		c := newClock()
		l := newLimiter(db, c, m)
		r := Rate{Events: 1, Per: time.Minute, Burst: 3}
		count := func(k string) int {
			n := 0
			for range 10 {
				ok, _, err := l.Allow(ctx, k, r)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					n++
				}
			}
			return n
		}
		if a, b, a2 := count(key("indep-a")), count(key("indep-b")), count(key("indep-a")); a != 3 || b != 3 || a2 != 0 {
			t.Errorf("a=%d b=%d a again=%d; want 3, 3, 0", a, b, a2)
		}
	})

	t.Run("reserve spaces slots", func(t *testing.T) {
		c := newClock()
		l := newLimiter(db, c, m)
		r := Rate{Events: 1, Per: time.Second, Burst: 3}
		k := key("reserve")
		var got []time.Duration
		for range 12 {
			d, err := l.Reserve(ctx, k, r)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		}
		want := []time.Duration{0, 0, 0}
		for i := 1; i <= 9; i++ {
			want = append(want, time.Duration(i)*time.Second)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("delays %v, want %v", got, want)
		}
		// The last slot is at +9s; five seconds on, the next is at +10s.
		c.Advance(5 * time.Second)
		if d, err := l.Reserve(ctx, k, r); err != nil || d != 5*time.Second {
			t.Errorf("Reserve after 5s = %v, %v; want 5s", d, err)
		}
		// Reservations count against Allow: the bucket is booked to +10s.
		if ok, retry, err := l.Allow(ctx, k, r); err != nil || ok || retry != 6*time.Second {
			t.Errorf("Allow on a booked key: ok=%v retry=%v err=%v; want denied, retry 6s", ok, retry, err)
		}
	})

	t.Run("allow then reserve", func(t *testing.T) {
		c := newClock()
		l := newLimiter(db, c, m)
		r := Rate{Events: 2, Per: time.Second, Burst: 2}
		k := key("allow-reserve")
		for range 2 {
			if ok, _, err := l.Allow(ctx, k, r); err != nil || !ok {
				t.Fatalf("Allow: ok=%v err=%v", ok, err)
			}
		}
		if d, err := l.Reserve(ctx, k, r); err != nil || d != 500*time.Millisecond {
			t.Errorf("Reserve after the burst = %v, %v; want 500ms", d, err)
		}
	})

	t.Run("prune forgets only drained buckets", func(t *testing.T) {
		c := newClock()
		l := newLimiter(db, c, m)
		r := Rate{Events: 1, Per: time.Second, Burst: 1}
		if _, err := l.Reserve(ctx, key("prune-drained"), r); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
		if _, err := l.Reserve(ctx, key("prune-busy"), r); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if m.memory {
			for _, k := range []string{key("prune-drained"), key("prune-busy")} {
				if _, ok := l.tats[k]; ok {
					n++
				}
			}
		} else if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM rate_buckets WHERE key IN ($1, $2)",
			key("prune-drained"), key("prune-busy")).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d rows left, want 1 (the busy bucket)", n)
		}
		// The busy bucket still decides: its slot is taken.
		if ok, retry, err := l.Allow(ctx, key("prune-busy"), r); err != nil || ok || retry != time.Second {
			t.Errorf("Allow on the busy key: ok=%v retry=%v err=%v; want denied, retry 1s", ok, retry, err)
		}
	})

	t.Run("invalid rate", func(t *testing.T) {
		l := newLimiter(db, newClock(), m)
		for _, r := range []Rate{{}, {Events: 1, Per: time.Second}, {Events: -1, Per: time.Second, Burst: 1}, {Events: 1, Burst: 1}} {
			if _, _, err := l.Allow(ctx, key("invalid"), r); err == nil {
				t.Errorf("Allow with %+v: want an error", r)
			}
			if _, err := l.Reserve(ctx, key("invalid"), r); err == nil {
				t.Errorf("Reserve with %+v: want an error", r)
			}
		}
	})

	t.Run("concurrent allow", func(t *testing.T) {
		// Each reading of the clock moves it 1ms, so time passes while
		// the goroutines race.
		var ticks atomic.Int64
		l := New(db)
		l.Local, l.Memory = m.local, m.memory
		l.Now = func() time.Time { return epoch.Add(time.Duration(ticks.Add(1)) * time.Millisecond) }
		r := Rate{Events: 100, Per: time.Second, Burst: 5} // T = 10ms
		k := key("concurrent")
		var passed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 20 {
					ok, _, err := l.Allow(ctx, k, r)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						passed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Duration(ticks.Load()-1) * time.Millisecond
		limit := int64(r.Burst) + int64(elapsed/r.Interval())
		p := passed.Load()
		if p > limit || p < int64(r.Burst) {
			t.Errorf("%d passed in %v, want between %d and %d", p, elapsed, r.Burst, limit)
		}
		t.Logf("%d of 320 passed in %v (bound %d)", p, elapsed, limit)
	})
}

// TestPacing simulates a send worker: 1000 jobs arrive at random over 10
// seconds, faster than the 80/s a number allows, and each reserves a slot
// and sends when it comes.
func TestPacing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := newClock()
		l := newLimiter(db, c, mode{local: true})
		r := Rate{Events: 80, Per: time.Second, Burst: 1}

		rng := rand.New(rand.NewPCG(1, 2))
		arrivals := make([]time.Duration, 1000)
		for i := range arrivals {
			// Whole microseconds: the resolution of rate_buckets.tat.
			arrivals[i] = time.Duration(rng.Int64N(10_000_000)) * time.Microsecond
		}
		slices.Sort(arrivals)

		var sends []time.Duration // since epoch
		for _, at := range arrivals {
			c.Advance(epoch.Add(at).Sub(c.Now()))
			d, err := l.Reserve(ctx, "pacing", r)
			if err != nil {
				t.Fatal(err)
			}
			if d < 0 {
				t.Fatalf("negative delay %v", d)
			}
			sends = append(sends, at+d)
		}
		// Reserve hands out slots in order, so sends are already sorted.
		if !slices.IsSorted(sends) {
			t.Fatal("send times are not in reservation order")
		}
		for i := 1; i < len(sends); i++ {
			if gap := sends[i] - sends[i-1]; gap < r.Interval() {
				t.Fatalf("sends %d and %d are %v apart, want at least %v", i-1, i, gap, r.Interval())
			}
		}
		maxWindow := 0
		for i, s := range sends {
			j, _ := slices.BinarySearch(sends, s+time.Second) // first send ≥ s+1s
			maxWindow = max(maxWindow, j-i)
		}
		if maxWindow > r.Events+r.Burst {
			t.Errorf("a one-second window holds %d sends, want at most %d", maxWindow, r.Events+r.Burst)
		}
		span := sends[len(sends)-1] - sends[0]
		throughput := float64(len(sends)-1) / span.Seconds()
		if throughput < 0.97*80 {
			t.Errorf("throughput %.2f/s over %v, want at least %.1f/s", throughput, span, 0.97*80)
		}
		t.Logf("busiest second %d sends, throughput %.2f/s, last send at %v", maxWindow, throughput, sends[len(sends)-1])
	})
}

// TestLocalDenySkipsDatabase checks that a flood on a key this process
// has exhausted is answered without the database: with the database
// closed, the local limiter still denies (and only the local limiter).
func TestLocalDenySkipsDatabase(t *testing.T) {
	ctx := context.Background()
	r := Rate{Events: 1, Per: time.Second, Burst: 2}
	for _, local := range []bool{true, false} {
		db := dbtest.SQLite(t)
		c := newClock()
		l := newLimiter(db, c, mode{local: local})
		for range 2 {
			if ok, _, err := l.Allow(ctx, "flood", r); err != nil || !ok {
				t.Fatalf("Allow: ok=%v err=%v", ok, err)
			}
		}
		c.Advance(250 * time.Millisecond)
		db.Close()
		ok, retry, err := l.Allow(ctx, "flood", r)
		if local {
			if err != nil || ok || retry != 750*time.Millisecond {
				t.Errorf("local deny: ok=%v retry=%v err=%v; want denied, retry 750ms, no error", ok, retry, err)
			}
		} else if err == nil {
			t.Errorf("without local pre-check: ok=%v, want the closed database's error", ok)
		}
	}
}

// TestLocalNeverDeniesWhatTheDatabaseAllows runs two replicas on one
// database: one's denials by the database must not use up its local
// budget.
func TestLocalNeverDeniesWhatTheDatabaseAllows(t *testing.T) {
	ctx := context.Background()
	db := dbtest.SQLite(t)
	c := newClock()
	a, b := newLimiter(db, c, mode{local: true}), newLimiter(db, c, mode{local: true})
	r := Rate{Events: 1, Per: time.Second, Burst: 3}
	for range 3 {
		if ok, _, err := b.Allow(ctx, "shared", r); err != nil || !ok {
			t.Fatalf("replica b: ok=%v err=%v", ok, err)
		}
	}
	for range 5 {
		if ok, retry, err := a.Allow(ctx, "shared", r); err != nil || ok || retry != time.Second {
			t.Fatalf("replica a while b holds the burst: ok=%v retry=%v err=%v; want denied, retry 1s", ok, retry, err)
		}
	}
	c.Advance(time.Second)
	if ok, _, err := a.Allow(ctx, "shared", r); err != nil || !ok {
		t.Errorf("replica a after one interval: ok=%v err=%v; want allowed", ok, err)
	}
	if ok, _, err := b.Allow(ctx, "shared", r); err != nil || ok {
		t.Errorf("replica b right after a: ok=%v err=%v; want denied", ok, err)
	}
}

func TestLocalEviction(t *testing.T) {
	ctx := context.Background()
	db := dbtest.SQLite(t)
	c := newClock()
	l := newLimiter(db, c, mode{local: true})
	r := Rate{Events: 1, Per: time.Second, Burst: 2}
	for i := range 100 {
		if _, _, err := l.Allow(ctx, fmt.Sprint("idle-", i), r); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(sweepEvery)
	if _, _, err := l.Allow(ctx, "busy", r); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	n := len(l.locals)
	_, busy := l.locals["busy"]
	l.mu.Unlock()
	if n != 1 || !busy {
		t.Errorf("%d local limiters kept (busy kept: %v), want only the busy one", n, busy)
	}
}

func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	many := Rate{Events: 1_000_000, Per: time.Second, Burst: 1_000_000}
	b.Run("sqlite", func(b *testing.B) {
		l := New(dbtest.SQLite(b))
		l.Local = false
		i := 0
		for b.Loop() {
			if _, _, err := l.Allow(ctx, fmt.Sprint("k", i%1000), many); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("sqlite-denied", func(b *testing.B) {
		l := New(dbtest.SQLite(b))
		l.Local = false
		l.Now = newClock().Now
		one := Rate{Events: 1, Per: time.Hour, Burst: 1}
		for b.Loop() {
			if _, _, err := l.Allow(ctx, "flood", one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("local-denied", func(b *testing.B) {
		l := New(dbtest.SQLite(b))
		l.Now = newClock().Now
		one := Rate{Events: 1, Per: time.Hour, Burst: 1}
		for b.Loop() {
			if _, _, err := l.Allow(ctx, "flood", one); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkReserve(b *testing.B) {
	ctx := context.Background()
	l := New(dbtest.SQLite(b))
	r := Rate{Events: 80, Per: time.Second, Burst: 1}
	for b.Loop() {
		if _, err := l.Reserve(ctx, "number", r); err != nil {
			b.Fatal(err)
		}
	}
}
