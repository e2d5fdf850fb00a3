package main

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	faketwilio "github.com/parleyhq/parley/internal/fake/twilio"
)

// TestTwilioEndToEnd drives a Twilio number through the real server and
// the fake Twilio: connect, inbound text, reply, status callback,
// forged signature, inbound media, content template, and a free-form
// message Twilio fails with 63016.
func TestTwilioEndToEnd(t *testing.T) {
	a := startApp(t)
	tw := faketwilio.New(t)
	hx := tw.AddTemplate("order_ready", "en", "Hi {{1}}, your order {{2}} is ready.")
	id, hook := connectChannel(t, a, map[string]any{"provider": "twilio", "phone_number": tw.PhoneNumber,
		"twilio": map[string]any{"account_sid": tw.AccountSID, "auth_token": tw.AuthToken, "api_url": tw.URL}})
	if want := a.url + "/webhooks/twilio/" + id; hook != want {
		t.Fatalf("webhook_url %q, want %q", hook, want)
	}
	a.channelID = id
	tw.SetWebhookURL(hook)
	const customer = "+4915112345678"

	// Inbound text creates a conversation with the profile name.
	if got := tw.Inbound(customer, "Ana Müller", "Hallo, ist meine Bestellung fertig?"); got != http.StatusOK {
		t.Fatalf("inbound: %d", got)
	}
	in := a.lastMessage()
	if in.Direction != parley.Inbound || in.Text != "Hallo, ist meine Bestellung fertig?" || !strings.HasPrefix(in.ProviderMessageID, "SM") {
		t.Fatalf("inbound stored as %+v", in)
	}
	if c := a.contact(in.ContactID); c.ProfileName != "Ana Müller" {
		t.Errorf("contact %+v has no profile name", c)
	}

	// A reply goes out from the number, to the customer, with our ID in
	// the status callback; the callback moves it to delivered.
	msgID := a.mustSend(customer, "Ja, sie ist fertig.")
	a.waitStatus(msgID, parley.StatusSent)
	s := tw.Sent()[0]
	if s.Form.Get("From") != "whatsapp:"+tw.PhoneNumber || s.Form.Get("To") != "whatsapp:"+customer || s.OurID != msgID ||
		s.Form.Get("StatusCallback") != a.url+"/webhooks/twilio/"+id+"?m="+msgID {
		t.Errorf("sent %v", s.Form)
	}
	if got := tw.Status(s.SID, "delivered", ""); got != http.StatusOK {
		t.Fatalf("status callback: %d", got)
	}
	a.waitStatus(msgID, parley.StatusDelivered)

	// A forged signature gets 401 and stores nothing.
	before := a.count("messages")
	form := url.Values{"MessageSid": {"SM" + strings.Repeat("f", 32)}, "AccountSid": {tw.AccountSID}, "From": {"whatsapp:" + customer},
		"To": {"whatsapp:" + tw.PhoneNumber}, "Body": {"forged"}, "NumMedia": {"0"}}
	for _, sig := range []string{"", faketwilio.Sign("not-the-token", hook, form), faketwilio.Sign(tw.AuthToken, "http://elsewhere.example/webhooks/twilio/"+id, form)} {
		req, _ := http.NewRequest("POST", hook, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		if r := a.send(req); r.status != http.StatusUnauthorized {
			t.Errorf("forged signature %q: %d %s", sig, r.status, r.body)
		}
	}
	if after := a.count("messages"); after != before {
		t.Errorf("a forged webhook stored %d messages", after-before)
	}

	// Inbound media is fetched with the account's credentials and stored.
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0}, bytes.Repeat([]byte("x"), 100)...)
	if got := tw.InboundMedia(customer, "image/jpeg", jpeg, "Das Foto"); got != http.StatusOK {
		t.Fatalf("inbound media: %d", got)
	}
	var img parley.Message
	a.eventually("the image is downloaded", func() bool {
		img = a.lastMessage()
		return img.Type == parley.TypeImage && img.Media != nil && img.Media.Status == parley.MediaReady
	})
	r := a.do("GET", "/v1/media/"+img.Media.ID, a.keyA, nil)
	if r.status != http.StatusOK || !bytes.Equal(r.body, jpeg) || img.Text != "Das Foto" {
		t.Errorf("media %d, %d bytes, caption %q", r.status, len(r.body), img.Text)
	}

	// A template syncs from the Content API and sends by ContentSid.
	a.must(a.do("POST", "/v1/channels/"+id+"/templates/sync", a.keyA, nil), http.StatusOK, nil)
	var tpl struct{ ID string }
	a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": id, "to": customer, "type": "template",
		"template": map[string]any{"name": "order_ready", "language": "en", "parameters": []string{"Ana", "A-17"}}}), http.StatusAccepted, &tpl)
	a.waitStatus(tpl.ID, parley.StatusSent)
	last := tw.Sent()[len(tw.Sent())-1]
	if last.ContentSID != hx || last.Variables["1"] != "Ana" || last.Variables["2"] != "A-17" || last.Body != "" || last.OurID != tpl.ID {
		t.Errorf("template sent as %+v", last)
	}

	// Twilio's window closed (24 hours passed there): the free-form
	// message is accepted, then fails with 63016, read as outside_window.
	tw.CloseWindow(customer)
	late := a.mustSend(customer, "Noch etwas?")
	m := a.waitStatus(late, parley.StatusFailed)
	if m.Error == nil || m.Error.Code != "63016" || m.Error.Reason != "outside_window" {
		t.Errorf("error %+v, want 63016 outside_window", m.Error)
	}
}

// TestTwilioWebhookRefusals: unknown channels and other providers'
// channels are not Twilio's, and oversize bodies get 413.
func TestTwilioWebhookRefusals(t *testing.T) {
	a := startApp(t)
	for _, path := range []string{"/webhooks/twilio/ch_nosuch", "/webhooks/twilio/" + a.channelID} {
		r := a.send(mustRequest(t, "POST", a.url+path, "MessageSid=SM1"))
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
	}
	big := strings.NewReader("Body=" + strings.Repeat("x", 5<<20))
	req, _ := http.NewRequest("POST", a.url+"/webhooks/twilio/"+a.channelID, big)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := a.send(req); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize: %d", r.status)
	}
}

func mustRequest(t *testing.T, method, u, form string) *http.Request {
	req, err := http.NewRequest(method, u, io.NopCloser(strings.NewReader(form)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
