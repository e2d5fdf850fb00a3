package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/secret"
	"github.com/parleyhq/parley/store"
)

// The conformance suite: every test runs on SQLite, and on PostgreSQL
// when PARLEY_TEST_POSTGRES_URL is set.

type bundle struct {
	db     *store.DB
	tenant *parley.Tenant
	other  *parley.Tenant
	ch     *parley.Channel
	now    time.Time
}

func setup(t *testing.T, db *store.DB) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{db: db, now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	db.Now = func() time.Time { return b.now }
	box, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	db.Secrets = box
	if b.tenant, err = db.CreateTenant(ctx, "Acme"); err != nil {
		t.Fatal(err)
	}
	if b.other, err = db.CreateTenant(ctx, "Other"); err != nil {
		t.Fatal(err)
	}
	b.ch = &parley.Channel{TenantID: b.tenant.ID, Provider: parley.ProviderMeta, PhoneNumber: "+15550783881", AccountID: "106540352242922",
		BusinessAccountID: "102290129340398", Meta: &parley.MetaConfig{PhoneNumberID: "106540352242922", WABAID: "102290129340398",
			AccessToken: "EAAG-secret-token", AppSecret: "app-secret-123", VerifyToken: "verify-me-please"}}
	if err := db.CreateChannel(ctx, b.ch); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTenantsAndKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		key, k, err := db.CreateAPIKey(ctx, b.tenant.ID, "ci")
		if err != nil {
			t.Fatal(err)
		}
		got, gotKey, err := db.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		} else if got.ID != b.tenant.ID || gotKey.ID != k.ID {
			t.Fatalf("Authenticate = %s/%s, want %s/%s", got.ID, gotKey.ID, b.tenant.ID, k.ID)
		}
		var stored string
		if err := db.Reader().QueryRow(`SELECT hash FROM api_keys WHERE id = $1`, k.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == key || stored != store.HashAPIKey(key) {
			t.Fatalf("the stored key is %q; want only the hash of the key", stored)
		}
		for _, bad := range []string{"", "pk_nope", key + "x", "Bearer " + key} {
			if _, _, err := db.Authenticate(ctx, bad); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
				t.Errorf("Authenticate(%q) = %v, want unauthorized", bad, err)
			}
		}
		if _, err := db.CreateTenant(ctx, "  "); parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("CreateTenant(blank) = %v, want invalid", err)
		}
	})
}

func TestChannelSecretsEncrypted(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		var raw []byte
		if err := db.Reader().QueryRow(`SELECT config FROM channels WHERE id = $1`, b.ch.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"EAAG-secret-token", "app-secret-123", "verify-me-please"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("the channel row holds %q in clear", s)
			}
		}
		ch, err := db.FindChannelByAccount(ctx, parley.ProviderMeta, "106540352242922")
		if err != nil {
			t.Fatal(err)
		} else if ch.Meta == nil || ch.Meta.AccessToken != "EAAG-secret-token" || ch.Meta.AppSecret != "app-secret-123" {
			t.Fatalf("decrypted settings = %+v", ch.Meta)
		}
		if chs, err := db.ChannelsByVerifyToken(ctx, parley.ProviderMeta, "verify-me-please"); err != nil || len(chs) != 1 {
			t.Fatalf("ChannelsByVerifyToken = %d, %v", len(chs), err)
		}
		if chs, _ := db.ChannelsByVerifyToken(ctx, parley.ProviderMeta, "wrong"); len(chs) != 0 {
			t.Fatalf("a wrong verify token found %d channels", len(chs))
		}
		// Another tenant sees nothing of it.
		if _, err := db.FindChannel(ctx, b.other.ID, b.ch.ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("FindChannel from another tenant = %v, want not_found", err)
		}
		// The same number cannot be connected twice.
		dup := &parley.Channel{TenantID: b.other.ID, Provider: parley.ProviderMeta, PhoneNumber: "+15550783881", AccountID: "106540352242922",
			Meta: &parley.MetaConfig{PhoneNumberID: "106540352242922"}}
		if err := db.CreateChannel(ctx, dup); parley.ErrorCode(err) != parley.ECONFLICT {
			t.Fatalf("second CreateChannel = %v, want conflict", err)
		}
		// A different master key cannot read the settings.
		wrong, _ := secret.New(bytes.Repeat([]byte{8}, 32))
		db.Secrets = wrong
		if _, err := db.FindChannel(ctx, b.tenant.ID, b.ch.ID); err == nil {
			t.Fatal("a different master key decrypted the channel")
		}
	})
}

func TestChannelHealth(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		if err := db.SetChannelHealth(ctx, b.tenant.ID, b.ch.ID, parley.ChannelHealth{Status: parley.HealthUnhealthy, Reason: "token expired"}); err != nil {
			t.Fatal(err)
		}
		ch, _ := db.FindChannel(ctx, b.tenant.ID, b.ch.ID)
		if ch.Healthy() || ch.Health.Reason != "token expired" {
			t.Fatalf("health = %+v", ch.Health)
		}
		if err := db.SetChannelHealth(ctx, b.other.ID, b.ch.ID, parley.ChannelHealth{Status: parley.HealthHealthy}); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant changed the health: %v", err)
		}
		ch.Meta.AccessToken = "new-token"
		if err := db.UpdateChannel(ctx, ch); err != nil {
			t.Fatal(err)
		}
		ch, _ = db.FindChannel(ctx, b.tenant.ID, b.ch.ID)
		if !ch.Healthy() || ch.Meta.AccessToken != "new-token" {
			t.Fatalf("after new settings: health %+v token %q", ch.Health, ch.Meta.AccessToken)
		}
	})
}

func inTx[T any](t *testing.T, db *store.DB, f func(tx *store.Tx) (T, error)) T {
	t.Helper()
	var out T
	err := db.InTx(context.Background(), func(tx *store.Tx) (err error) {
		out, err = f(tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestContactIdentity(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		find := func(id store.Identity) *parley.Contact {
			return inTx(t, db, func(tx *store.Tx) (*parley.Contact, error) {
				c, _, err := tx.FindOrCreateContact(ctx, b.tenant.ID, id)
				return c, err
			})
		}
		// Brazil: the wa_id without the ninth digit and the phone with it.
		ana := find(store.Identity{WAID: "551187654321", ProfileName: "Ana"})
		if got := find(store.Identity{Phone: "+5511987654321"}); got.ID != ana.ID {
			t.Errorf("Brazil's ninth digit split Ana into %s and %s", ana.ID, got.ID)
		}
		// Argentina's 9 and Mexico's 1.
		ar := find(store.Identity{WAID: "5491123456789"})
		if got := find(store.Identity{Phone: "+541123456789"}); got.ID != ar.ID {
			t.Errorf("Argentina's 9 split a contact")
		}
		mx := find(store.Identity{WAID: "5215512345678"})
		if got := find(store.Identity{Phone: "+525512345678"}); got.ID != mx.ID {
			t.Errorf("Mexico's 1 split a contact")
		}
		// Different people stay different.
		if got := find(store.Identity{Phone: "+5511987654322"}); got.ID == ana.ID {
			t.Errorf("two different numbers share a contact")
		}
		// A BSUID seen alone first, then with the phone: one contact.
		bs := find(store.Identity{BSUID: "US.1349120865530274"})
		if bs.Phone != "" {
			t.Fatalf("BSUID-only contact has phone %q", bs.Phone)
		}
		if got := find(store.Identity{BSUID: "US.1349120865530274", ProfileName: "Sam"}); got.ID != bs.ID || got.ProfileName != "Sam" {
			t.Errorf("the BSUID found %s (%q), want %s with the new profile name", got.ID, got.ProfileName, bs.ID)
		}
		// The phone's contact learns a BSUID it did not have.
		find(store.Identity{WAID: "551187654321", BSUID: "BR.555"})
		if c, _ := db.FindContact(ctx, b.tenant.ID, ana.ID); c.BSUID != "BR.555" || c.ProfileName != "Ana" {
			t.Errorf("Ana = %+v, want BSUID BR.555 and her profile name kept", c)
		}
		// Tenants do not share contacts.
		other := inTx(t, db, func(tx *store.Tx) (*parley.Contact, error) {
			c, _, err := tx.FindOrCreateContact(ctx, b.other.ID, store.Identity{WAID: "551187654321"})
			return c, err
		})
		if other.ID == ana.ID {
			t.Error("two tenants share a contact")
		}
		if _, err := db.FindContact(ctx, b.other.ID, ana.ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Errorf("another tenant read Ana: %v", err)
		}
		// No identity at all is an error, not a contact.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, _, err := tx.FindOrCreateContact(ctx, b.tenant.ID, store.Identity{ProfileName: "nobody"})
			return err
		})
		if parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("a contact with no identity: %v", err)
		}
	})
}

// thread makes a contact and a conversation on the bundle's channel.
func (b *bundle) thread(t *testing.T, waid string) (*parley.Contact, *parley.Conversation) {
	t.Helper()
	ctx := context.Background()
	var c *parley.Contact
	var conv *parley.Conversation
	err := b.db.InTx(ctx, func(tx *store.Tx) (err error) {
		if c, _, err = tx.FindOrCreateContact(ctx, b.tenant.ID, store.Identity{WAID: waid}); err != nil {
			return err
		}
		conv, _, err = tx.ConversationFor(ctx, b.tenant.ID, b.ch.ID, c.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, conv
}

func TestMessagesAndStatuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c, conv := b.thread(t, "16505551234")
		out := &parley.Message{TenantID: b.tenant.ID, ChannelID: b.ch.ID, ConversationID: conv.ID, ContactID: c.ID, Direction: parley.Outbound,
			Type: parley.TypeText, Status: parley.StatusSent, Text: "hello", ProviderMessageID: "wamid.1", SentBy: parley.Actor{Kind: parley.ActorAPIKey}}
		if ins := inTx(t, db, func(tx *store.Tx) (bool, error) { return tx.InsertMessage(ctx, out) }); !ins {
			t.Fatal("first insert skipped")
		}
		dup := *out
		dup.ID = ""
		if ins := inTx(t, db, func(tx *store.Tx) (bool, error) { return tx.InsertMessage(ctx, &dup) }); ins {
			t.Fatal("a second message with the same provider ID was inserted")
		}
		status := func(s parley.Status, e *parley.MessageError) bool {
			return inTx(t, db, func(tx *store.Tx) (bool, error) {
				m, err := tx.MessageByProviderID(ctx, b.ch.ID, "wamid.1")
				if err != nil {
					return false, err
				}
				return tx.RecordStatus(ctx, m, parley.StatusChange{Status: s, At: b.now, Error: e})
			})
		}
		// read arrives before delivered: delivered must not move it back.
		if !status(parley.StatusRead, nil) {
			t.Fatal("read did not advance a sent message")
		}
		if status(parley.StatusDelivered, nil) {
			t.Fatal("delivered moved a read message back")
		}
		if status(parley.StatusRead, nil) {
			t.Fatal("a repeated read changed the message")
		}
		if status(parley.StatusFailed, &parley.MessageError{Code: "131026"}) {
			t.Fatal("a late failure undid a read message")
		}
		m, err := db.FindMessage(ctx, b.tenant.ID, out.ID)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != parley.StatusRead || m.Error != nil {
			t.Fatalf("status %s error %+v, want read and no error", m.Status, m.Error)
		}
		if len(m.Timeline) != 3 {
			t.Fatalf("timeline has %d steps, want read, delivered and failed kept: %+v", len(m.Timeline), m.Timeline)
		}
		if _, err := db.FindMessage(ctx, b.other.ID, out.ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant read the message: %v", err)
		}

		// A failure on a sent message is stored with the vendor's words.
		m2 := &parley.Message{TenantID: b.tenant.ID, ChannelID: b.ch.ID, ConversationID: conv.ID, ContactID: c.ID, Direction: parley.Outbound,
			Type: parley.TypeText, Status: parley.StatusSent, ProviderMessageID: "wamid.2", SentBy: parley.Actor{Kind: parley.ActorAPIKey}}
		inTx(t, db, func(tx *store.Tx) (bool, error) { return tx.InsertMessage(ctx, m2) })
		inTx(t, db, func(tx *store.Tx) (bool, error) {
			return tx.RecordStatus(ctx, m2, parley.StatusChange{Status: parley.StatusFailed, At: b.now,
				Error: &parley.MessageError{Code: "131049", Title: "Healthy ecosystem", Details: "not delivered"}})
		})
		got, _ := db.FindMessage(ctx, b.tenant.ID, m2.ID)
		if got.Status != parley.StatusFailed || got.Error == nil || got.Error.Code != "131049" || got.Error.Details != "not delivered" {
			t.Fatalf("failed message = %s %+v", got.Status, got.Error)
		}
	})
}

func TestConversationWindow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c, conv := b.thread(t, "16505551234")
		in := func(ts time.Time, pid string) {
			m := &parley.Message{TenantID: b.tenant.ID, ChannelID: b.ch.ID, ConversationID: conv.ID, ContactID: c.ID, Direction: parley.Inbound,
				Type: parley.TypeText, Status: parley.StatusReceived, Text: pid, ProviderMessageID: pid, Timestamp: ts,
				SentBy: parley.Actor{Kind: parley.ActorContact}}
			inTx(t, db, func(tx *store.Tx) (bool, error) {
				if _, err := tx.InsertMessage(ctx, m); err != nil {
					return false, err
				}
				return true, tx.TouchConversation(ctx, conv, m)
			})
		}
		in(b.now.Add(-time.Hour), "late")
		in(b.now.Add(-3*time.Hour), "older, delivered late")
		got, _ := db.FindConversation(ctx, b.tenant.ID, conv.ID)
		if !got.LastInboundAt.Equal(b.now.Add(-time.Hour)) {
			t.Fatalf("LastInboundAt = %v, want the newest message's time; an older message must not shorten the window", got.LastInboundAt)
		}
		if got.UnreadCount != 2 || got.LastMessage != "late" {
			t.Fatalf("unread %d, last %q", got.UnreadCount, got.LastMessage)
		}
		if !got.WindowOpen(b.now) || got.WindowOpen(b.now.Add(23*time.Hour)) {
			t.Fatal("the window does not close 24 hours after the last inbound message")
		}
		list, _, err := db.ListConversations(ctx, b.tenant.ID, store.ConversationFilter{})
		if err != nil || len(list) != 1 || list[0].Contact == nil || list[0].Contact.WAID != "16505551234" {
			t.Fatalf("ListConversations = %v, %v", list, err)
		}
		if list, _, _ := db.ListConversations(ctx, b.other.ID, store.ConversationFilter{}); len(list) != 0 {
			t.Fatalf("another tenant lists %d conversations", len(list))
		}
	})
}

func TestEventsOnlyAfterCommit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		var got []parley.Event
		db.Subscribe(func(evs []parley.Event) { got = append(got, evs...) })
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.AddEvent(ctx, b.tenant.ID, "test.rolled_back", map[string]int{"n": 1}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) || len(got) != 0 {
			t.Fatalf("a rolled-back event was published: %v, %v", err, got)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			return tx.AddEvent(ctx, b.tenant.ID, "test.committed", map[string]int{"n": 2})
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != "test.committed" {
			t.Fatalf("published %+v", got)
		}
		after, err := db.EventsAfter(ctx, b.tenant.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range after {
			types = append(types, ev.Type)
		}
		if len(after) == 0 || after[len(after)-1].ID != got[0].ID {
			t.Fatalf("EventsAfter = %v", types)
		}
		if evs, _ := db.EventsAfter(ctx, b.other.ID, 0, 100); len(evs) != 0 {
			t.Fatalf("another tenant reads %d events", len(evs))
		}
	})
}

func TestTemplates(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		list := []parley.Template{
			{Name: "order_update", Language: "pt_BR", Category: "utility", Status: "approved", ParameterFormat: "positional",
				Body: "Olá {{1}}, pedido {{2}}", BodyParams: []string{"1", "2"}, ProviderTemplateID: "111"},
			{Name: "promo", Language: "en_US", Category: "marketing", Status: "pending", ParameterFormat: "positional", Body: "Hi", ProviderTemplateID: "222"},
		}
		if a, u, r, err := db.ReplaceTemplates(ctx, b.ch, list); err != nil || a != 2 || u != 0 || r != 0 {
			t.Fatalf("first sync: %d %d %d %v", a, u, r, err)
		}
		if a, u, r, err := db.ReplaceTemplates(ctx, b.ch, list[:1]); err != nil || a != 0 || u != 1 || r != 1 {
			t.Fatalf("second sync: %d %d %d %v", a, u, r, err)
		}
		matched := inTx(t, db, func(tx *store.Tx) (bool, error) {
			return tx.ApplyTemplateStatus(ctx, b.ch, store.TemplateStatusUpdate{ProviderTemplateID: "111", Status: "paused", Reason: "low quality"})
		})
		if !matched {
			t.Fatal("status update matched nothing")
		}
		tpl, err := db.FindTemplate(ctx, b.tenant.ID, b.ch.ID, "order_update", "pt_BR")
		if err != nil || tpl.Status != "paused" || tpl.StatusReason != "low quality" || tpl.ParameterCount != 2 {
			t.Fatalf("template = %+v, %v", tpl, err)
		}
		if _, err := db.FindTemplate(ctx, b.other.ID, b.ch.ID, "order_update", "pt_BR"); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant found the template: %v", err)
		}
	})
}
