package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	acsfake "github.com/parleyhq/parley/internal/fake/acs"
	"github.com/parleyhq/parley/whatsapp/acs"
)

const acsCustomer = "+14255550142"

// TestACSEndToEnd connects an ACS number to the real Main and drives it
// from the fake resource: the Event Grid handshakes, inbound text and
// media, a signed reply and its statuses, a forged delivery, a template
// synced and sent with values and bindings, and an interrupted send that
// ACS's repeatability turns into one message.
func TestACSEndToEnd(t *testing.T) {
	a := startApp(t)
	f := acsfake.New(t)
	id, hook := connectChannel(t, a, map[string]any{"provider": "acs", "phone_number": f.PhoneNumber,
		"acs": map[string]any{"endpoint": f.URL, "access_key": f.AccessKey, "channel_registration_id": f.ChannelRegistrationID}})
	u, err := url.Parse(hook)
	if err != nil || u.Query().Get("key") == "" || !strings.HasSuffix(u.Path, "/webhooks/acs/"+id) {
		t.Fatalf("webhook URL %q, want /webhooks/acs/%s?key=…", hook, id)
	}
	f.SetWebhookURL(a.url + u.RequestURI())

	// Event Grid's two handshakes.
	if st, ok := f.Handshake(); !ok {
		t.Fatalf("subscription validation: %d, not validated", st)
	}
	if st, ok := f.OptionsHandshake(); !ok {
		t.Fatalf("CloudEvents OPTIONS handshake: %d, origin not allowed", st)
	}

	// A forged delivery (wrong key, then none) is refused and stores nothing.
	before := a.count("messages")
	for _, bad := range []string{a.url + "/webhooks/acs/" + id + "?key=wrong-key-wrong-key", a.url + "/webhooks/acs/" + id, a.url + "/webhooks/acs/ch_nope?key=" + u.Query().Get("key")} {
		f.SetWebhookURL(bad)
		if st := f.Inbound(acsCustomer, "", "forged"); st != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", bad, st)
		}
	}
	if n := a.count("messages"); n != before {
		t.Fatalf("%d messages after forged deliveries, want %d", n, before)
	}
	f.SetWebhookURL(a.url + u.RequestURI())

	// Inbound text makes a conversation.
	if st := f.Inbound(acsCustomer, "Ada", "Hello from Azure"); st != http.StatusOK {
		t.Fatalf("inbound: %d", st)
	}
	in := a.lastMessage()
	if in.Direction != parley.Inbound || in.Text != "Hello from Azure" || in.ChannelID != id {
		t.Fatalf("stored %+v", in)
	}

	// A reply goes out signed (the fake checks the signature and the body
	// against the Swagger), and its statuses move it on.
	var queued struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": acsCustomer, "type": "text", "text": map[string]any{"body": "Hi Ada"}}), http.StatusAccepted, &queued)
	var sent parley.Message
	a.eventually("the reply is sent", func() bool { sent = a.message(queued.ID); return sent.ProviderMessageID != "" })
	got := f.Sent()
	if len(got) != 1 || got[0].Kind != "text" || got[0].Text != "Hi Ada" || got[0].To != acsCustomer || got[0].MessageID != sent.ProviderMessageID ||
		got[0].RepeatabilityID != acs.RepeatabilityID(queued.ID) {
		t.Fatalf("fake got %+v, want the reply with repeatability ID %s", got, acs.RepeatabilityID(queued.ID))
	}
	// Read before Delivered, as Event Grid may deliver them: read stays.
	read := f.StatusDelivery(sent.ProviderMessageID, "read", "")
	if st := f.Status(sent.ProviderMessageID, "Delivered", ""); st != http.StatusOK {
		t.Fatalf("delivered: %d", st)
	}
	a.eventually("delivered", func() bool { return a.message(queued.ID).Status == parley.StatusDelivered })
	if st := f.Post(read); st != http.StatusOK {
		t.Fatalf("read: %d", st)
	}
	if st := f.Post(read); st != http.StatusOK { // redelivered
		t.Fatalf("read again: %d", st)
	}
	a.eventually("read", func() bool { return a.message(queued.ID).Status == parley.StatusRead })

	// Inbound media is fetched from /messages/streams/{id}.
	data := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("acs png "), 32)...)
	if st := f.InboundMedia(acsCustomer, "image/png", data, "a photo"); st != http.StatusOK {
		t.Fatalf("inbound media: %d", st)
	}
	img := a.lastMessage()
	if img.Type != parley.TypeImage || img.Text != "a photo" || img.Media == nil || img.Media.ID == "" {
		t.Fatalf("stored %+v", img)
	}
	var file []byte
	a.eventually("the image is downloaded", func() bool {
		r := a.do("GET", "/v1/media/"+img.Media.ID, a.keyA, nil)
		file = r.body
		return r.status == http.StatusOK
	})
	if !bytes.Equal(file, data) {
		t.Errorf("downloaded %q, want the customer's file", file)
	}

	// A template syncs from the resource and is sent with values and
	// bindings.
	f.AddTemplate("order_ready", "en_US", "Hi {{1}}, order {{2}} is ready.")
	a.must(a.do("POST", "/v1/channels/"+id+"/templates/sync", a.keyA, nil), http.StatusOK, nil)
	var tq struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": acsCustomer, "type": "template",
		"template": map[string]any{"name": "order_ready", "language": "en_US", "parameters": []string{"Ada", "A-42"}}}), http.StatusAccepted, &tq)
	a.eventually("the template is sent", func() bool { return a.message(tq.ID).ProviderMessageID != "" })
	last := f.Sent()[len(f.Sent())-1]
	if last.Kind != "template" || last.TemplateName != "order_ready" || last.Text != "Hi Ada, order A-42 is ready." || last.FailedCode != "" ||
		!bytes.Contains(last.Body, []byte(`"bindings":{"kind":"whatsApp","body":[{"refValue":"body1"},{"refValue":"body2"}]}`)) {
		t.Errorf("template sent as %+v\n%s", last, last.Body)
	}

	// An interrupted send: ACS accepted it and the answer was lost. The
	// retry carries the same Repeatability-Request-ID and gets the first
	// answer, so the customer gets one message.
	f.FailNext(1, acsfake.Interrupt)
	var iq struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": acsCustomer, "type": "text", "text": map[string]any{"body": "only once"}}), http.StatusAccepted, &iq)
	var im parley.Message
	a.eventually("the interrupted send is reconciled", func() bool { im = a.message(iq.ID); return im.ProviderMessageID != "" })
	var copies []acsfake.Sent
	for _, s := range f.Sent() {
		if s.Text == "only once" {
			copies = append(copies, s)
		}
	}
	if len(copies) != 1 || copies[0].MessageID != im.ProviderMessageID || copies[0].RepeatabilityID != acs.RepeatabilityID(iq.ID) {
		t.Fatalf("%d copies at ACS (%+v), want one with message ID %s", len(copies), copies, im.ProviderMessageID)
	}
	if im.Status == parley.StatusFailed {
		t.Errorf("interrupted send failed: %+v", im.Error)
	}

	// A send outside the window is refused by WhatsApp after ACS accepted
	// it; the Failed status carries 131047 onto the message.
	f.FailNext(1, acsfake.OutsideWindow)
	var oq struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": acsCustomer, "type": "text", "text": map[string]any{"body": "late"}}), http.StatusAccepted, &oq)
	a.eventually("the 131047 failure is recorded", func() bool {
		m := a.message(oq.ID)
		return m.Status == parley.StatusFailed && m.Error != nil && m.Error.Code == "131047"
	})
}

// TestACSEntra connects a number with an Entra application instead of
// the access key, and with Entra-authenticated Event Grid delivery: a
// token for the channel's audience is accepted, one for another audience
// or none at all is refused.
func TestACSEntra(t *testing.T) {
	a := startApp(t)
	f := acsfake.New(t)
	const audience = "api://parley-events"
	id, hook := connectChannel(t, a, map[string]any{"provider": "acs", "phone_number": f.PhoneNumber,
		"acs": map[string]any{"endpoint": f.URL, "channel_registration_id": f.ChannelRegistrationID,
			"tenant_id": f.TenantID, "client_id": f.ClientID, "client_secret": f.ClientSecret, "authority_url": f.URL,
			"event_audience": audience, "event_issuer": f.EventIssuer()}})
	u, _ := url.Parse(hook)
	if u.Query().Get("key") != "" {
		t.Errorf("webhook URL %q carries a key for Entra delivery", hook)
	}
	f.SetWebhookURL(a.url + u.Path)

	f.SetBearer("api://someone-else")
	if st := f.Inbound(acsCustomer, "", "wrong audience"); st != http.StatusUnauthorized {
		t.Errorf("token for another audience: %d, want 401", st)
	}
	f.SetBearer("")
	if st := f.Inbound(acsCustomer, "", "no token"); st != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", st)
	}
	if n := a.count("messages"); n != 0 {
		t.Fatalf("%d messages stored from refused deliveries", n)
	}
	f.SetBearer(audience)
	if st, ok := f.Handshake(); !ok {
		t.Fatalf("validation with a bearer: %d", st)
	}
	f.CloudEvents = true
	if st, ok := f.OptionsHandshake(); !ok {
		t.Fatalf("OPTIONS with a bearer: %d", st)
	}
	if st := f.Inbound(acsCustomer, "", "hello as a CloudEvent"); st != http.StatusOK {
		t.Fatalf("inbound with a bearer: %d", st)
	}
	if m := a.lastMessage(); m.Text != "hello as a CloudEvent" {
		t.Fatalf("stored %+v", m)
	}
	var q struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": acsCustomer, "type": "text", "text": map[string]any{"body": "via Entra"}}), http.StatusAccepted, &q)
	a.eventually("sent with an Entra token", func() bool { return a.message(q.ID).ProviderMessageID != "" })
	if s := f.Sent(); len(s) != 1 || s[0].Text != "via Entra" {
		t.Errorf("fake got %+v", s)
	}
}
