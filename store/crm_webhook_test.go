package store_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// TestCRMWebhookMirror: what a webhook connector keeps of its CRM: records
// found by any way of writing their phone, replaced whole on update,
// hidden when deleted; webhook-ids seen once; the import's progress; and
// the delivery log, newest first, with attempts counted per webhook-id.
func TestCRMWebhookMirror(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c := &parley.Connector{TenantID: b.tenant.ID, Type: parley.ConnectorWebhook, Tables: parley.WebhookCRMTables(),
			Webhook: &parley.WebhookCRMConfig{ActivityURL: "https://crm.example/activities", SigningSecret: parley.NewWebhookSecret(),
				InboundSecret: parley.NewWebhookSecret()}}
		if err := db.CreateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := db.FindConnector(ctx, b.tenant.ID, c.ID)
		if err != nil || got.Webhook == nil || got.Webhook.InboundSecret != c.Webhook.InboundSecret {
			t.Fatalf("connector read back %+v, %v", got, err)
		}
		var raw []byte
		if err := db.Reader().QueryRow(`SELECT config FROM crm_connectors WHERE id = $1`, c.ID).Scan(&raw); err != nil ||
			bytes.Contains(raw, []byte(c.Webhook.InboundSecret)) {
			t.Fatalf("the secrets are stored in the clear (%v)", err)
		}

		ana := store.MirrorRecord{Entity: "contact", ID: "101", Name: "Ana Souza", URL: "https://crm.example/contacts/101",
			Phones: []string{"+55 (11) 98765-4321", "011 3333 4444"}, Fields: map[string]string{"phones": "+55 (11) 98765-4321; 011 3333 4444", "plan": "gold"}}
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, tx.UpsertMirrorRecord(ctx, c.ID, ana) })
		for _, number := range []string{"+5511987654321", "+551187654321", "+551133334444"} {
			rs, err := db.MirrorCandidates(ctx, c.ID, "contact", number, 10)
			if err != nil || len(rs) != 1 || rs[0].Name != "Ana Souza" || rs[0].Fields["plan"] != "gold" || len(rs[0].Phones) != 2 {
				t.Fatalf("candidates of %s: %+v, %v", number, rs, err)
			}
		}
		if rs, _ := db.MirrorCandidates(ctx, c.ID, "lead", "+5511987654321", 10); len(rs) != 0 {
			t.Errorf("a contact's phone found a lead: %+v", rs)
		}

		// An update replaces the phones: the old one no longer matches.
		ana.Phones, ana.Fields = []string{"+351 912 345 678"}, map[string]string{"phones": "+351 912 345 678"}
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, tx.UpsertMirrorRecord(ctx, c.ID, ana) })
		if rs, _ := db.MirrorCandidates(ctx, c.ID, "contact", "+5511987654321", 10); len(rs) != 0 {
			t.Errorf("an old phone still matches: %+v", rs)
		}
		if rs, _ := db.MirrorCandidates(ctx, c.ID, "contact", "+351912345678", 10); len(rs) != 1 {
			t.Errorf("the new phone does not match: %+v", rs)
		}
		inTx(t, db, func(tx *store.Tx) (any, error) { return nil, tx.DeleteMirrorRecord(ctx, c.ID, "contact", "101") })
		if rs, _ := db.MirrorCandidates(ctx, c.ID, "contact", "+351912345678", 10); len(rs) != 0 {
			t.Errorf("a deleted record matches: %+v", rs)
		}
		if r, err := db.MirrorRecord(ctx, c.ID, "contact", "101"); err != nil || !r.Deleted || r.URL != ana.URL {
			t.Errorf("deleted record %+v, %v", r, err)
		}
		if _, err := db.MirrorRecord(ctx, c.ID, "contact", "999"); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Errorf("unknown record: %v", err)
		}

		// A webhook-id is fresh once, until it expires.
		see := func(id string) bool {
			return inTx(t, db, func(tx *store.Tx) (bool, error) { return tx.SeeWebhook(ctx, c.ID, id, b.now.Add(time.Hour)) })
		}
		if !see("msg_1") || see("msg_1") || !see("msg_2") {
			t.Error("a webhook-id was not fresh exactly once")
		}
		b.now = b.now.Add(2 * time.Hour)
		if !see("msg_1") {
			t.Error("an expired webhook-id is still remembered")
		}

		if st, err := db.ImportState(ctx, c.ID); st != nil || err != nil {
			t.Fatalf("an import before any: %+v %v", st, err)
		}
		st := &store.ImportState{Status: store.ImportRunning, Cursor: "https://crm.example/contacts?page=2", Records: 50, Pages: 1}
		if err := db.SaveImportState(ctx, c.ID, st); err != nil {
			t.Fatal(err)
		}
		st.Status, st.Cursor, st.FinishedAt = store.ImportDone, "", b.now
		if err := db.SaveImportState(ctx, c.ID, st); err != nil {
			t.Fatal(err)
		}
		if got, err := db.ImportState(ctx, c.ID); err != nil || got.Status != store.ImportDone || got.Records != 50 || !got.FinishedAt.Equal(b.now) {
			t.Fatalf("import %+v, %v", got, err)
		}

		for i, status := range []int{503, 200, 200} {
			d := &store.Delivery{ConnectorID: c.ID, WebhookID: []string{"evt_a", "evt_a", "evt_b"}[i], MessageID: "msg_x",
				EventType: "message.created", HTTPStatus: status, Duration: 12 * time.Millisecond}
			if err := db.AddDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		ds, err := db.Deliveries(ctx, c.ID, 0, 2)
		if err != nil || len(ds) != 2 || ds[0].WebhookID != "evt_b" || ds[1].WebhookID != "evt_a" || ds[1].Attempt != 2 || ds[1].DurationMS != 12 {
			t.Fatalf("deliveries %+v, %v", ds, err)
		}
		if older, _ := db.Deliveries(ctx, c.ID, ds[1].ID, 10); len(older) != 1 || older[0].HTTPStatus != 503 || older[0].Attempt != 1 {
			t.Errorf("the page before %+v", older)
		}
		if ok, _ := db.Delivered(ctx, c.ID, "evt_a", ""); !ok {
			t.Error("evt_a not delivered")
		}
		if ok, _ := db.Delivered(ctx, c.ID, "", "msg_y"); ok {
			t.Error("an unknown message delivered")
		}

		if err := db.DeleteConnector(ctx, b.tenant.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountMirrorRecords(ctx, c.ID); n != 0 {
			t.Errorf("%d mirrored records outlive their connector", n)
		}
	})
}
