package main

import (
	"net/http"
	"testing"
	"time"
)

// TestSendAndStatuses goes through the whole outbound path on each
// database: a customer writes, an agent answers through the API, the fake
// Graph API accepts the send (checking it against Meta's OpenAPI), and its
// status webhooks move the message to read, even in the wrong order.
func TestSendAndStatuses(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testSendAndStatuses(t, startApp(t)) })
	t.Run("postgres", func(t *testing.T) { testSendAndStatuses(t, startApp(t, onPostgres(t))) })
}

func testSendAndStatuses(t *testing.T, a *app) {
	a.inbound("5511987654321", "Oi, tudo bem?", time.Now())
	var sent struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	a.must(a.sendText("+5511987654321", "Tudo ótimo! Como posso ajudar?"), http.StatusAccepted, &sent)
	if sent.Status != "queued" {
		t.Fatalf("status %q, want queued", sent.Status)
	}
	a.eventually("the message reaches the provider", func() bool { return a.message(sent.ID).Status == "sent" })
	m := a.message(sent.ID)
	out := a.graph.Sent()
	if len(out) != 1 || out[0].ID != m.ProviderMessageID || out[0].CallbackData() != sent.ID {
		t.Fatalf("the provider got %+v; want one send with our ID as callback data", out)
	}
	for _, st := range []string{"read", "delivered", "sent"} {
		body, sig := a.graph.StatusWebhook(metagraphStatus(m.ProviderMessageID, st))
		r := a.webhookSigned(body, sig)
		if r.status != http.StatusOK {
			t.Fatalf("status webhook %s: %d %s", st, r.status, r.body)
		}
	}
	m = a.message(sent.ID)
	if m.Status != "read" {
		t.Fatalf("status %s after read, delivered, sent; want read", m.Status)
	}
	if len(m.Timeline) != 4 {
		t.Fatalf("timeline %+v, want queued, sent, delivered, read", m.Timeline)
	}
}
