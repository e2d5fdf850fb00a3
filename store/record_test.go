package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestRecordLinks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		mobile, _ := b.thread(t, "5511987654321")
		office, _ := b.thread(t, "5511933332222")
		lead := parley.Record{Table: "lead", ID: "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21"}
		contact := parley.Record{Table: "contact", ID: "77"}
		by := parley.Actor{Kind: parley.ActorAPIKey, Name: "crm"}
		link := func(c *parley.Contact, r parley.Record, primary bool) {
			inTx(t, db, func(tx *store.Tx) (any, error) {
				return nil, tx.LinkRecord(ctx, b.tenant.ID, c.ID, parley.RecordLink{Record: r, Primary: primary, Name: "Ana"}, by)
			})
		}
		link(mobile, lead, true)
		link(office, lead, false)
		link(mobile, contact, false)
		link(mobile, lead, false) // again: not a new link
		link(mobile, contact, true)
		ids, err := db.ContactsOfRecord(ctx, b.tenant.ID, lead)
		if err != nil || len(ids) != 2 || !slices.Contains(ids, mobile.ID) || !slices.Contains(ids, office.ID) {
			t.Fatalf("the lead's contacts: %v, %v", ids, err)
		}
		recs, err := db.RecordsOf(ctx, b.tenant.ID, mobile.ID)
		if err != nil || len(recs) != 2 {
			t.Fatalf("the mobile's records: %v, %v", recs, err)
		}
		// One primary, the last marked, listed first.
		if recs[0].Record != contact || !recs[0].Primary || recs[1].Primary || recs[0].Name != "Ana" {
			t.Errorf("the mobile's records: %+v; want the contact first and the only primary", recs)
		}
		if ids, _ := db.ContactsOfRecord(ctx, b.other.ID, lead); len(ids) != 0 {
			t.Errorf("another tenant sees the lead's contacts: %v", ids)
		}
		var audits int
		if err := db.Reader().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'contact.link_record'`).Scan(&audits); err != nil {
			t.Fatal(err)
		}
		if audits != 3 {
			t.Errorf("%d links audited, want 3 (linking again is not a change)", audits)
		}
	})
}
