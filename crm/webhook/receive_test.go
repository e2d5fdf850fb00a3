package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/secret"
	"github.com/parleyhq/parley/store"
)

// TestReceive: a signed webhook is applied once; its replay is
// acknowledged and not applied; a stale, early, forged or unknown one
// is refused and stores nothing.
func TestReceive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		box, err := secret.New(bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		db.Secrets = box
		tenant, err := db.CreateTenant(ctx, "Acme")
		if err != nil {
			t.Fatal(err)
		}
		c := &parley.Connector{TenantID: tenant.ID, Type: parley.ConnectorWebhook, Tables: parley.WebhookCRMTables(),
			Webhook: &parley.WebhookCRMConfig{ActivityURL: "https://crm.example/a", SigningSecret: parley.NewWebhookSecret(),
				InboundSecret: vectorSecret}}
		if err := db.CreateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		s := &Service{DB: db, CRM: &crm.Service{DB: db, Log: log}, Log: log, Now: db.Now}
		receive := func(id string, at time.Time, body, secret, connector string) (Receipt, error) {
			h, err := SignedHeaders(secret, id, at, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			return s.Receive(ctx, connector, h, []byte(body))
		}
		name := func() string {
			r, err := db.MirrorRecord(ctx, c.ID, "contact", "7")
			if err != nil {
				return ""
			}
			return r.Name
		}
		ev := func(n string) string {
			return `{"type":"updated","entity":"contact","source_crm_id":"7","fields":{"name":"` + n + `","phones":["+351 912 345 678"]}}`
		}

		for _, tc := range []struct {
			name      string
			at        time.Time
			secret    string
			connector string
		}{
			{"six minutes old", now.Add(-6 * time.Minute), vectorSecret, c.ID},
			{"six minutes early", now.Add(6 * time.Minute), vectorSecret, c.ID},
			{"another secret", now, parley.NewWebhookSecret(), c.ID},
			{"an unknown connector", now, vectorSecret, "crm_nope"},
		} {
			if _, err := receive("msg_"+tc.name, tc.at, ev("Forged"), tc.secret, tc.connector); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
				t.Errorf("%s: %v, want unauthorized", tc.name, err)
			}
		}
		if n, _ := db.CountMirrorRecords(ctx, c.ID); n != 0 {
			t.Fatalf("%d records stored from refused webhooks", n)
		}

		// Four minutes old is within the tolerance.
		if rc, err := receive("msg_1", now.Add(-4*time.Minute), ev("Ana"), vectorSecret, c.ID); err != nil || rc.Applied != 1 || rc.Replayed {
			t.Fatalf("first delivery: %+v, %v", rc, err)
		}
		if rc, err := receive("msg_2", now, ev("Ana Lima"), vectorSecret, c.ID); err != nil || rc.Applied != 1 {
			t.Fatalf("second: %+v, %v", rc, err)
		}
		if rc, err := receive("msg_1", now.Add(-4*time.Minute), ev("Ana"), vectorSecret, c.ID); err != nil || !rc.Replayed || rc.Applied != 0 {
			t.Fatalf("replay: %+v, %v", rc, err)
		}
		if got := name(); got != "Ana Lima" {
			t.Errorf("the replay was applied: name %q", got)
		}

		// The published vector's own headers, on its own body, at its own
		// time: verified, then refused as not an event.
		h := http.Header{}
		h.Set(HeaderID, vectorID)
		h.Set(HeaderTimestamp, strconv.Itoa(vectorTimestamp))
		h.Set(HeaderSignature, vectorSignature)
		s.Now = func() time.Time { return time.Unix(vectorTimestamp, 0) }
		if _, err := s.Receive(ctx, c.ID, h, []byte(vectorPayload)); parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("the vector: %v, want invalid (signed, but not an event)", err)
		}
	})
}
