package realtime

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestBrokerRoutesByTenant(t *testing.T) {
	b := New(dbtest.SQLite(t), nil)
	a1, a2, other := b.Subscribe("ten_a"), b.Subscribe("ten_a"), b.Subscribe("ten_b")
	b.Publish([]parley.Event{{ID: 1, TenantID: "ten_a", Type: "x"}, {ID: 2, TenantID: "ten_b", Type: "y"}})
	for _, s := range []*Subscription{a1, a2} {
		if ev := <-s.C; ev.ID != 1 {
			t.Fatalf("tenant A's subscriber got %+v", ev)
		}
	}
	if ev := <-other.C; ev.ID != 2 {
		t.Fatalf("tenant B's subscriber got %+v", ev)
	}
	select {
	case ev := <-a1.C:
		t.Fatalf("tenant A's subscriber also got %+v", ev)
	default:
	}
	b.Unsubscribe(a2)
	if _, open := <-a2.C; open {
		t.Fatal("an unsubscribed channel is still open")
	}
	if n := b.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}
}

// A subscriber that stops reading is cut off rather than allowed to block
// the writers; its client resumes from the events table.
func TestBrokerDropsLaggingSubscriber(t *testing.T) {
	b := New(dbtest.SQLite(t), nil)
	slow, fast := b.Subscribe("ten_a"), b.Subscribe("ten_a")
	go func() {
		for range fast.C {
		}
	}()
	for i := range bufferSize + 1 {
		b.Publish([]parley.Event{{ID: int64(i), TenantID: "ten_a"}})
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != bufferSize {
		t.Fatalf("the lagging subscriber got %d events before being cut off, want %d", n, bufferSize)
	}
	b.Unsubscribe(fast)
}

// Commits reach subscribers, and on PostgreSQL a second process's commits
// arrive through LISTEN/NOTIFY.
func TestBrokerHearsCommits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b := New(db, nil)
		sub := b.Subscribe("ten_a")
		commit := func(db *store.DB, typ string) {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.AddEvent(ctx, "ten_a", typ, map[string]int{}) }); err != nil {
				t.Fatal(err)
			}
		}
		commit(db, "local")
		if ev := <-sub.C; ev.Type != "local" {
			t.Fatalf("got %+v", ev)
		}
		if db.Dialect() != store.Postgres {
			return
		}
		go b.Listen(ctx)
		// Another replica: a second connection to the same schema.
		other, err := store.Open(ctx, db.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		// The listener may not be listening yet: commit until one arrives.
		for i := 0; ; i++ {
			commit(other, fmt.Sprintf("remote.%d", i))
			select {
			case ev := <-sub.C:
				if ev.Type[:7] != "remote." {
					t.Fatalf("got %+v", ev)
				}
				return
			case <-ctx.Done():
				return
			default:
			}
			if i > 500 {
				t.Fatal("no event from the other replica arrived")
			}
			waitBriefly(ctx)
		}
	})
}

// waitBriefly paces a polling loop; the loop itself has the deadline.
func waitBriefly(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Millisecond):
	}
}
