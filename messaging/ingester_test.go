package messaging

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/secret"
	"github.com/parleyhq/parley/whatsapp"
)

func newTestService(t *testing.T) (*Service, *parley.Channel) {
	t.Helper()
	ctx := context.Background()
	db := dbtest.SQLite(t)
	box, _ := secret.New(bytes.Repeat([]byte{3}, 32))
	db.Secrets = box
	s := New(db, jobs.New(db, jobs.Options{}), nil, nil, nil, nil)
	tenant, err := db.CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.ConnectChannel(ctx, tenant.ID, ChannelInput{Provider: parley.ProviderSandbox, PhoneNumber: "+551140028922"})
	if err != nil {
		t.Fatal(err)
	}
	return s, ch
}

func textFrom(ch *parley.Channel, waid, pid string) Delivery {
	return Delivery{Channel: ch, Batch: &whatsapp.Batch{Messages: []whatsapp.Message{{Account: ch.AccountID,
		Contact: whatsapp.Contact{WAID: waid}, Content: parley.Message{Type: parley.TypeText, ProviderMessageID: pid, Text: "oi",
			Timestamp: time.Now()}}}}}
}

// One bad delivery in a group must not fail its neighbours: the group is
// retried one delivery at a time.
func TestIngesterIsolatesBadDelivery(t *testing.T) {
	s, ch := newTestService(t)
	g := &Ingester{svc: s}
	ghost := *ch
	ghost.ID, ghost.TenantID = "ch_ghost", "ten_ghost" // no such tenant
	good := &ingestReq{ds: []Delivery{textFrom(ch, "5511987654321", "wamid.good")}, done: make(chan error, 1)}
	bad := &ingestReq{ds: []Delivery{textFrom(&ghost, "5511987654321", "wamid.bad")}, done: make(chan error, 1)}
	g.commit([]*ingestReq{good, bad})
	if err := <-good.done; err != nil {
		t.Fatalf("the good delivery failed: %v", err)
	}
	if err := <-bad.done; err == nil {
		t.Fatal("the bad delivery succeeded")
	}
	var n int
	s.DB.Reader().QueryRow(`SELECT COUNT(*) FROM messages WHERE provider_message_id = 'wamid.good'`).Scan(&n)
	if n != 1 {
		t.Fatalf("the good delivery's message is stored %d times", n)
	}
}

// Concurrent submissions are all committed, each answered once, and
// merged deliveries keep every message.
func TestIngesterGroupsConcurrentSubmissions(t *testing.T) {
	s, ch := newTestService(t)
	g := s.NewIngester(1, 64)
	defer g.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Twenty customers; each message twice, as redeliveries.
			d := textFrom(ch, fmt.Sprintf("551198765%04d", i%20), fmt.Sprintf("wamid.%d", i%100))
			errs <- g.Submit(context.Background(), d)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var msgs, contacts int
	s.DB.Reader().QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&msgs)
	s.DB.Reader().QueryRow(`SELECT COUNT(*) FROM contacts`).Scan(&contacts)
	if msgs != 100 || contacts != 20 {
		t.Fatalf("%d messages from %d contacts, want 100 from 20", msgs, contacts)
	}
	if err := g.Submit(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Submit(context.Background(), textFrom(ch, "5511987654321", "wamid.late")); err != ErrIngesterClosed {
		t.Fatalf("Submit after Close = %v", err)
	}
}
