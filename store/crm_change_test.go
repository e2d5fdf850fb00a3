package store_test

import (
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// TestCRMChanges: what following a CRM's changes keeps: snapshots of
// linked records, their removal with the links when a record is deleted,
// forgetting the lookups of the contacts a change may concern, and the
// conversation a change is written in.
func TestCRMChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c := &parley.Connector{TenantID: b.tenant.ID, Type: parley.ConnectorDataverse, Tables: parley.DefaultCRMTables(),
			Dataverse: &parley.DataverseConfig{EnvironmentURL: "https://x.crm.dynamics.com"}}
		if err := db.CreateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		lead := parley.Record{Table: "lead", ID: "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21"}
		if _, ok, err := db.Snapshot(ctx, c.ID, lead); ok || err != nil {
			t.Fatalf("a snapshot before any: %v %v", ok, err)
		}
		for _, st := range []string{"New", "Qualified"} {
			inTx(t, db, func(tx *store.Tx) (any, error) {
				return nil, tx.SaveSnapshot(ctx, c.ID, lead, map[string]string{"statuscode": st})
			})
		}
		if v, ok, err := db.Snapshot(ctx, c.ID, lead); !ok || err != nil || v["statuscode"] != "Qualified" {
			t.Fatalf("Snapshot = %v %v %v", v, ok, err)
		}

		contact, conv := b.thread(t, "5511987654321")
		other, _ := b.thread(t, "5511987650000")
		inTx(t, db, func(tx *store.Tx) (any, error) {
			for _, id := range []string{contact.ID, other.ID} {
				if err := tx.SetLookedUp(ctx, c.ID, id, b.now); err != nil {
					return nil, err
				}
			}
			return nil, tx.LinkRecord(ctx, b.tenant.ID, contact.ID, parley.RecordLink{Record: lead, ConnectorID: c.ID, Primary: true},
				parley.Actor{Kind: parley.ActorSystem})
		})
		latest := inTx(t, db, func(tx *store.Tx) (*parley.Conversation, error) {
			return tx.LatestConversation(ctx, b.tenant.ID, contact.ID)
		})
		if latest.ID != conv.ID {
			t.Errorf("LatestConversation = %s, want %s", latest.ID, conv.ID)
		}

		// A CRM phone ending in the other contact's digits forgets only
		// that contact's lookup.
		inTx(t, db, func(tx *store.Tx) (any, error) {
			return nil, tx.ForgetLookupsByPhone(ctx, b.tenant.ID, c.ID, []string{"87650000"})
		})
		if at, _ := db.LookedUp(ctx, c.ID, other.ID); !at.IsZero() {
			t.Error("the matching contact's lookup is kept")
		}
		if at, _ := db.LookedUp(ctx, c.ID, contact.ID); at.IsZero() {
			t.Error("another contact's lookup is forgotten")
		}

		ids := inTx(t, db, func(tx *store.Tx) ([]string, error) { return tx.UnlinkRecord(ctx, b.tenant.ID, c.ID, lead) })
		if len(ids) != 1 || ids[0] != contact.ID {
			t.Fatalf("UnlinkRecord = %v", ids)
		}
		if links, _ := db.RecordsOf(ctx, b.tenant.ID, contact.ID); len(links) != 0 {
			t.Errorf("links after the record's deletion: %v", links)
		}
		if _, ok, _ := db.Snapshot(ctx, c.ID, lead); ok {
			t.Error("the deleted record's snapshot is kept")
		}
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, tx.ForgetLookupsOf(ctx, c.ID, []string{contact.ID}) })
		if at, _ := db.LookedUp(ctx, c.ID, contact.ID); !at.IsZero() {
			t.Error("ForgetLookupsOf kept the lookup")
		}
	})
}
