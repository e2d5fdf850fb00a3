package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestBatchIngestionPrimitives(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		known, _ := b.thread(t, "551187654321") // Ana, by her old wa_id
		ids := []store.Identity{
			{Phone: "+5511987654321"},                    // Ana again, with the ninth digit
			{WAID: "16505551234", ProfileName: "Sheena"}, // new
			{BSUID: "US.42"},                             // new, BSUID only
			{WAID: "16505551234", ProfileName: "Sheena"}, // the same again
			{ProfileName: "nobody"},                      // no identity: left out
		}
		contacts := inTx(t, db, func(tx *store.Tx) (map[store.Identity]*parley.Contact, error) {
			return tx.FindOrCreateContacts(ctx, b.tenant.ID, ids)
		})
		if len(contacts) != 3 {
			t.Fatalf("got %d contacts, want 3", len(contacts))
		}
		if c := contacts[ids[0]]; c.ID != known.ID {
			t.Errorf("Ana's number with the ninth digit found %s, want %s", c.ID, known.ID)
		}
		if c := contacts[ids[2]]; c == nil || c.BSUID != "US.42" || c.Phone != "" {
			t.Errorf("BSUID contact = %+v", c)
		}
		// Found again: no new contacts.
		again := inTx(t, db, func(tx *store.Tx) (map[store.Identity]*parley.Contact, error) {
			return tx.FindOrCreateContacts(ctx, b.tenant.ID, ids)
		})
		for id, c := range contacts {
			if again[id].ID != c.ID {
				t.Errorf("%+v: %s then %s", id, c.ID, again[id].ID)
			}
		}

		var contactIDs []string
		for _, c := range contacts {
			contactIDs = append(contactIDs, c.ID)
		}
		convs := inTx(t, db, func(tx *store.Tx) (map[string]*parley.Conversation, error) {
			return tx.ConversationsFor(ctx, b.tenant.ID, b.ch.ID, contactIDs)
		})
		if len(convs) != 3 {
			t.Fatalf("got %d conversations, want 3", len(convs))
		}

		// Messages: a redelivered one and a duplicate within the batch are skipped.
		sheena := contacts[ids[1]]
		conv := convs[sheena.ID]
		msg := func(pid string, ts time.Time) *parley.Message {
			return &parley.Message{TenantID: b.tenant.ID, ChannelID: b.ch.ID, ConversationID: conv.ID, ContactID: sheena.ID,
				Direction: parley.Inbound, Type: parley.TypeText, Status: parley.StatusReceived, Text: pid, ProviderMessageID: pid,
				Timestamp: ts, SentBy: parley.Actor{Kind: parley.ActorContact}}
		}
		first := []*parley.Message{msg("w1", b.now.Add(-time.Hour)), msg("w2", b.now.Add(-2*time.Hour))}
		ins := inTx(t, db, func(tx *store.Tx) (map[string]bool, error) { return tx.InsertMessages(ctx, first) })
		if len(ins) != 2 {
			t.Fatalf("inserted %d of 2", len(ins))
		}
		second := []*parley.Message{msg("w2", b.now), msg("w3", b.now), msg("w3", b.now)}
		ins = inTx(t, db, func(tx *store.Tx) (map[string]bool, error) { return tx.InsertMessages(ctx, second) })
		if len(ins) != 1 || !ins[second[1].ID] {
			t.Fatalf("inserted %v, want only the first w3", ins)
		}

		// Touches move forward only, and sum the unread.
		touched := inTx(t, db, func(tx *store.Tx) ([]*parley.Conversation, error) {
			return tx.TouchConversations(ctx, []store.Touch{
				{ConversationID: conv.ID, LastAt: b.now.Add(-time.Hour), Preview: "newer", InboundAt: b.now.Add(-time.Hour), Inbound: 2},
				{ConversationID: convs[contacts[ids[2]].ID].ID, LastAt: b.now, Preview: "bsuid", Inbound: 0},
			})
		})
		if len(touched) != 2 {
			t.Fatalf("touched %d conversations", len(touched))
		}
		inTx(t, db, func(tx *store.Tx) ([]*parley.Conversation, error) {
			return tx.TouchConversations(ctx, []store.Touch{{ConversationID: conv.ID, LastAt: b.now.Add(-3 * time.Hour), Preview: "older",
				InboundAt: b.now.Add(-3 * time.Hour), Inbound: 1}})
		})
		got, _ := db.FindConversation(ctx, b.tenant.ID, conv.ID)
		if got.LastMessage != "newer" || !got.LastInboundAt.Equal(b.now.Add(-time.Hour)) || got.UnreadCount != 3 {
			t.Fatalf("conversation = %q %v unread %d; want newer, an hour ago, 3", got.LastMessage, got.LastInboundAt, got.UnreadCount)
		}
		other, _ := db.FindConversation(ctx, b.tenant.ID, convs[contacts[ids[2]].ID].ID)
		if other.UnreadCount != 0 || !other.LastInboundAt.IsZero() || other.LastMessage != "bsuid" {
			t.Fatalf("outbound-only touch = %+v", other)
		}

		// Events get increasing IDs in the order given.
		var published []parley.Event
		db.Subscribe(func(evs []parley.Event) { published = append(published, evs...) })
		var evs []store.NewEvent
		for i := range 450 {
			evs = append(evs, store.NewEvent{TenantID: b.tenant.ID, Type: fmt.Sprintf("test.%d", i), Data: i})
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return tx.AddEvents(ctx, evs) }); err != nil {
			t.Fatal(err)
		}
		if len(published) != 450 {
			t.Fatalf("published %d events", len(published))
		}
		for i, ev := range published {
			if ev.Type != fmt.Sprintf("test.%d", i) || string(ev.Data) != fmt.Sprint(i) || (i > 0 && ev.ID <= published[i-1].ID) {
				t.Fatalf("event %d = %d %s %s", i, ev.ID, ev.Type, ev.Data)
			}
		}
		stored, _ := db.EventsByID(ctx, []int64{published[7].ID})
		if len(stored) != 1 || stored[0].Type != "test.7" {
			t.Fatalf("stored event = %+v", stored)
		}
	})
}
