package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestCRMOutboxAndSync(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c := &parley.Connector{TenantID: b.tenant.ID, Type: parley.ConnectorDataverse, Tables: parley.DefaultCRMTables(),
			Dataverse: &parley.DataverseConfig{EnvironmentURL: "https://x.crm.dynamics.com"}}
		if err := db.CreateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		if ts, err := db.ConnectorTenants(ctx); err != nil || ts[b.tenant.ID] != c.ID || len(ts) != 1 {
			t.Fatalf("ConnectorTenants = %v, %v", ts, err)
		}
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.QueueForCRM(ctx, c.ID, b.tenant.ID, []string{"msg_1", "msg_2", "msg_3"})
		})
		got, err := db.Outbox(ctx, c.ID, 2)
		if err != nil || len(got) != 2 || got[0].MessageID != "msg_1" || got[1].MessageID != "msg_2" {
			t.Fatalf("Outbox = %+v, %v", got, err)
		}
		if p, _ := db.OutboxPending(ctx); len(p) != 1 || p[0] != c.ID {
			t.Fatalf("OutboxPending = %v", p)
		}
		if err := db.DoneWithOutbox(ctx, c.ID, got[1].ID); err != nil {
			t.Fatal(err)
		}
		if rest, _ := db.Outbox(ctx, c.ID, 10); len(rest) != 1 || rest[0].MessageID != "msg_3" {
			t.Fatalf("after done: %+v", rest)
		}

		contact, _ := b.thread(t, "5511987654321")
		if at, _ := db.LookedUp(ctx, c.ID, contact.ID); !at.IsZero() {
			t.Fatalf("a contact never looked up has %v", at)
		}
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, tx.SetLookedUp(ctx, c.ID, contact.ID, b.now) })
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.SetLookedUp(ctx, c.ID, contact.ID, b.now.Add(time.Minute))
		})
		if at, _ := db.LookedUp(ctx, c.ID, contact.ID); !at.Equal(b.now.Add(time.Minute)) {
			t.Fatalf("LookedUp = %v", at)
		}
		if err := db.ForgetLookups(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
		if at, _ := db.LookedUp(ctx, c.ID, contact.ID); !at.IsZero() {
			t.Fatalf("after ForgetLookups: %v", at)
		}

		if l, _ := db.DeltaLink(ctx, c.ID, "lead"); l != "" {
			t.Fatalf("a new delta link %q", l)
		}
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.SetDeltaLink(ctx, c.ID, "lead", "https://x/leads?$deltatoken=1")
		})
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.SetDeltaLink(ctx, c.ID, "lead", "https://x/leads?$deltatoken=2")
		})
		if l, _ := db.DeltaLink(ctx, c.ID, "lead"); l != "https://x/leads?$deltatoken=2" {
			t.Fatalf("DeltaLink = %q", l)
		}
	})
}

// TestBeforeCommit: a hook writes in the transaction of the events it
// sees, and fails it.
func TestBeforeCommit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		fail := false
		var seen []string
		db.BeforeCommit(func(ctx context.Context, tx *store.Tx, evs []parley.Event) error {
			for _, e := range evs {
				seen = append(seen, e.Type)
			}
			if fail {
				return errors.New("hook refuses")
			}
			return tx.QueueForCRM(ctx, "crm_x", b.tenant.ID, []string{"msg_hooked"})
		})
		// No events, no hook.
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, nil })
		if len(seen) != 0 {
			t.Fatalf("the hook ran without events: %v", seen)
		}
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.AddEvent(ctx, b.tenant.ID, parley.EventContactUpdated, map[string]string{"id": "ct_1"})
		})
		if len(seen) != 1 || seen[0] != parley.EventContactUpdated {
			t.Fatalf("the hook saw %v", seen)
		}
		if got, _ := db.Outbox(ctx, "crm_x", 10); len(got) != 1 {
			t.Fatalf("the hook's write did not commit: %v", got)
		}
		fail = true
		err := db.InTx(ctx, func(tx *store.Tx) error {
			return tx.AddEvent(ctx, b.tenant.ID, parley.EventContactUpdated, map[string]string{"id": "ct_2"})
		})
		if err == nil {
			t.Fatal("a failing hook did not fail the transaction")
		}
		var n int
		db.Reader().QueryRow(`SELECT COUNT(*) FROM events WHERE data LIKE '%ct_2%'`).Scan(&n)
		if n != 0 {
			t.Fatal("the transaction a hook failed was committed")
		}
	})
}
