package acs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	acsfake "github.com/parleyhq/parley/internal/fake/acs"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/acs"
)

const specDir = "../../testdata/specs/azure/"

// Every vector of acs-hmac-test-vectors.json.
func TestSignVectors(t *testing.T) {
	b, err := os.ReadFile(specDir + "acs-hmac-test-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Key        string `json:"access_key_base64"`
		Primitives []struct {
			Msg      string `json:"msg"`
			Expected string `json:"expected"`
		} `json:"primitive_vectors"`
		Requests []struct {
			Method, URL string
			Date        string `json:"x-ms-date"`
			Hash        string `json:"x-ms-content-sha256"`
			Expected    string `json:"expected_authorization"`
		} `json:"request_vectors"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Requests) != 3 || len(v.Primitives) != 2 {
		t.Fatalf("%d request and %d primitive vectors", len(v.Requests), len(v.Primitives))
	}
	for _, p := range v.Primitives {
		if got := acs.HMAC([]byte(p.Msg), v.Key); got != p.Expected {
			t.Errorf("HMAC(%q) = %s, want %s", p.Msg, got, p.Expected)
		}
	}
	for _, rv := range v.Requests {
		req, _ := http.NewRequest(rv.Method, rv.URL, nil)
		at, err := http.ParseTime(rv.Date)
		if err != nil {
			t.Fatal(err)
		}
		if err := acs.Sign(req, nil, v.Key, at); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("Authorization"); got != rv.Expected {
			t.Errorf("%s %s: Authorization %s, want %s", rv.Method, rv.URL, got, rv.Expected)
		}
		if got := req.Header.Get("x-ms-date"); got != rv.Date {
			t.Errorf("x-ms-date %q, want %q", got, rv.Date)
		}
		if got := req.Header.Get("x-ms-content-sha256"); got != "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" {
			t.Errorf("empty body hash %q", got)
		}
	}
	if err := acs.Sign(&http.Request{Header: http.Header{}}, nil, "not base64!", time.Now()); err == nil {
		t.Error("a key that is not base64 signed")
	}
}

type media struct{ url string }

func (m media) Open(context.Context) (io.ReadCloser, error) { return nil, errors.New("not here") }
func (m media) URL() string                                 { return m.url }
func (m media) Info() *parley.Media                         { return &parley.Media{Filename: "invoice.pdf"} }

func channel(f *acsfake.Server) *parley.Channel {
	return &parley.Channel{ID: "ch_1", Provider: parley.ProviderACS, ACS: &parley.ACSConfig{
		Endpoint: f.URL, ChannelRegistrationID: f.ChannelRegistrationID, AccessKey: f.AccessKey}}
}

func outbound(id string, m parley.Message) *whatsapp.Outbound {
	m.ID = id
	m.CreatedAt = time.Now().Add(-time.Minute)
	return &whatsapp.Outbound{Message: &m, ToPhone: "+14255550100"}
}

// Every kind ACS takes is sent, passes the fake's Swagger check and
// arrives as sent.
func TestSendKinds(t *testing.T) {
	f := acsfake.New(t)
	f.SetWebhookURL("http://127.0.0.1:1/unused")
	f.AddTemplate("shipped", "en_US", "Your order {{1}} ships in {{2}} days.")
	p := acs.New(nil)
	ch := channel(f)
	ctx := context.Background()
	cases := []struct {
		out   *whatsapp.Outbound
		check func(s acsfake.Sent) bool
	}{
		{outbound("msg_1", parley.Message{Type: parley.TypeText, Text: "hello"}), func(s acsfake.Sent) bool { return s.Kind == "text" && s.Text == "hello" }},
		{outbound("msg_2", parley.Message{Type: parley.TypeImage, Text: "look", Media: &parley.Media{Link: "https://example.com/a.jpg"}}),
			func(s acsfake.Sent) bool {
				return s.Kind == "image" && s.MediaURI == "https://example.com/a.jpg" && s.Text == "look"
			}},
		{&whatsapp.Outbound{Message: &parley.Message{ID: "msg_3", Type: parley.TypeDocument, Media: &parley.Media{}}, ToPhone: "+14255550100", Media: media{"https://parley.test/m/1?sig=x"}},
			func(s acsfake.Sent) bool {
				return s.Kind == "document" && s.MediaURI == "https://parley.test/m/1?sig=x" && strings.Contains(string(s.Body), `"fileName":"invoice.pdf"`)
			}},
		{outbound("msg_4", parley.Message{Type: parley.TypeVideo, Media: &parley.Media{Link: "https://example.com/v.mp4"}}), func(s acsfake.Sent) bool { return s.Kind == "video" }},
		{outbound("msg_5", parley.Message{Type: parley.TypeAudio, Text: "dropped", Media: &parley.Media{Link: "https://example.com/a.ogg"}}),
			func(s acsfake.Sent) bool { return s.Kind == "audio" && !strings.Contains(string(s.Body), "caption") }},
		{outbound("msg_6", parley.Message{Type: parley.TypeTemplate, Template: &parley.TemplateMessage{Name: "shipped", Language: "en_US", Parameters: []string{"A-17", "3"},
			Buttons: []parley.TemplateButtonParam{{Index: 0, SubType: "quick_reply", Payload: "stop"}}}}),
			func(s acsfake.Sent) bool {
				return s.Kind == "template" && s.Text == "Your order A-17 ships in 3 days." && s.Values["body1"] == "A-17" && s.FailedCode == "" &&
					strings.Contains(string(s.Body), `"subType":"quickReply"`)
			}},
		{outbound("msg_7", parley.Message{Type: parley.TypeTemplate, Template: &parley.TemplateMessage{Name: "shipped", Language: "en_US", Parameters: []string{"A-17"},
			Header: &parley.TemplateHeaderParam{Type: "image", Link: "https://example.com/h.jpg"}}}),
			func(s acsfake.Sent) bool {
				return s.FailedCode == "132000" && s.MediaURI == "https://example.com/h.jpg"
			}},
		{outbound("msg_8", parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{Kind: "button", Header: "H", Body: "Agree?", Footer: "F",
			Buttons: []parley.InteractiveButton{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}}}}),
			func(s acsfake.Sent) bool { return s.Kind == "interactive" && s.Text == "Agree?" }},
		{outbound("msg_9", parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{Kind: "list", Body: "Pick", Button: "Options",
			Section: []parley.InteractiveSection{{Rows: []parley.InteractiveRow{{ID: "a", Title: "A", Description: "first"}, {ID: "b", Title: "B"}}}}}}),
			func(s acsfake.Sent) bool {
				return s.Kind == "interactive" && strings.Contains(string(s.Body), `"description":"first"`) && strings.Contains(string(s.Body), `"actionBindingKind":"whatsAppList"`)
			}},
	}
	for i, tc := range cases {
		res, err := p.Send(ctx, ch, tc.out)
		if err != nil {
			t.Fatalf("case %d (%s): %v", i, tc.out.Message.Type, err)
		}
		sent := f.Sent()
		last := sent[len(sent)-1]
		if last.MessageID != res.ProviderMessageID || last.RepeatabilityID != acs.RepeatabilityID(tc.out.Message.ID) || !tc.check(last) {
			t.Errorf("case %d: sent %+v\nbody %s", i, last, last.Body)
		}
	}
	for _, typ := range []parley.MessageType{parley.TypeSticker, parley.TypeLocation, parley.TypeReaction} {
		_, err := p.Send(ctx, ch, outbound("msg_x", parley.Message{Type: typ}))
		if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Rejected {
			t.Errorf("%s: %v, want rejected", typ, err)
		}
	}
}

// An unanswered send retried with the same message ID gets the first
// answer and makes one message.
func TestSendInterruptedThenRepeated(t *testing.T) {
	f := acsfake.New(t)
	sink := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer sink.Close()
	f.SetWebhookURL(sink.URL)
	f.Inbound("+14255550100", "", "hi") // opens the window
	p := acs.New(nil)
	out := outbound("msg_once", parley.Message{Type: parley.TypeText, Text: "once"})
	f.FailNext(1, acsfake.Interrupt)
	_, err := p.Send(context.Background(), channel(f), out)
	if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Ambiguous {
		t.Fatalf("interrupted: %v, want ambiguous", err)
	}
	res, err := p.Send(context.Background(), channel(f), out)
	if err != nil {
		t.Fatal(err)
	}
	sent := f.Sent()
	if len(sent) != 1 || sent[0].MessageID != res.ProviderMessageID {
		t.Fatalf("sent %d messages (%+v), want the first one once, answered %s", len(sent), sent, res.ProviderMessageID)
	}
}

func TestErrors(t *testing.T) {
	f := acsfake.New(t)
	p := acs.New(nil)
	ch := channel(f)
	out := outbound("msg_e", parley.Message{Type: parley.TypeText, Text: "x"})
	for _, tc := range []struct {
		fault acsfake.Fault
		kind  whatsapp.ErrorKind
	}{{acsfake.RateLimit, whatsapp.RateLimited}, {acsfake.Unauthorized, whatsapp.Unauthorized}, {acsfake.Outage, whatsapp.Temporary}} {
		f.FailNext(1, tc.fault)
		out.Message.ID += "x" // a new message each time
		_, err := p.Send(context.Background(), ch, out)
		e, ok := whatsapp.AsError(err)
		if !ok || e.Kind != tc.kind {
			t.Errorf("fault %d: %v, want %s", tc.fault, err, tc.kind)
			continue
		}
		if tc.kind == whatsapp.RateLimited && e.RetryAfter != time.Second {
			t.Errorf("retry after %s", e.RetryAfter)
		}
	}
	// A registration the resource does not know: 400, rejected with ACS's code.
	bad := channel(f)
	bad.ACS.ChannelRegistrationID = "00000000-0000-4000-8000-000000000000"
	_, err := p.Send(context.Background(), bad, out)
	if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Rejected || e.Code != "InvalidChannelRegistrationId" || e.Message == "" {
		t.Errorf("bad registration: %v", err)
	}
	// Nothing listening: temporary, never ambiguous.
	down := channel(f)
	down.ACS.Endpoint = "http://127.0.0.1:1"
	if _, err := p.Send(context.Background(), down, out); !isKind(err, whatsapp.Temporary) {
		t.Errorf("refused connection: %v", err)
	}
	f.RevokeKey()
	if err := p.Check(context.Background(), ch); !isKind(err, whatsapp.Unauthorized) {
		t.Errorf("check with a revoked key: %v", err)
	}
}

func isKind(err error, k whatsapp.ErrorKind) bool {
	e, ok := whatsapp.AsError(err)
	return ok && e.Kind == k
}

func TestTemplatesMediaAndEntra(t *testing.T) {
	f := acsfake.New(t)
	f.SetWebhookURL("http://127.0.0.1:1/unused")
	for _, n := range []string{"a", "b", "c"} {
		f.AddTemplate(n, "en_US", "Hi {{1}}, "+n)
	}
	ch := channel(f)
	// Entra instead of the key.
	ch.ACS.AccessKey, ch.ACS.TenantID, ch.ACS.ClientID, ch.ACS.ClientSecret, ch.ACS.AuthorityURL = "", f.TenantID, f.ClientID, f.ClientSecret, f.URL
	p := acs.New(nil)
	ts, err := p.Templates(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[2].Name != "c" || ts[0].Status != parley.TemplateApproved || ts[0].ParameterCount != 1 || ts[0].BodyParams[0] != "1" {
		t.Errorf("templates %+v", ts)
	}
	if err := p.Check(context.Background(), ch); err != nil {
		t.Errorf("check: %v", err)
	}
	// An inbound file: the event names its stream, which is fetched.
	var posted []byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { posted, _ = io.ReadAll(r.Body) }))
	defer hook.Close()
	f.SetWebhookURL(hook.URL)
	if st := f.InboundMedia("+14255550100", "image/png", []byte("PNG"), "cap"); st != 200 {
		t.Fatalf("inbound media: %d", st)
	}
	_, b, err := acs.ParseEvents(posted)
	if err != nil || len(b.Messages) != 1 || b.Messages[0].Content.Media == nil {
		t.Fatalf("inbound media event: %v %s", err, posted)
	}
	rc, ct, err := p.FetchMedia(context.Background(), ch, b.Messages[0].Content.Media)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "PNG" || ct != "image/png" || b.Messages[0].Content.Text != "cap" {
		t.Errorf("fetched %q as %q", data, ct)
	}
	wrong := *ch.ACS
	wrong.ClientSecret = "nope"
	if err := p.Check(context.Background(), &parley.Channel{ACS: &wrong}); !isKind(err, whatsapp.Unauthorized) {
		t.Errorf("wrong secret: %v", err)
	}
	if _, _, err := p.FetchMedia(context.Background(), ch, &parley.Media{ProviderMediaID: "00000000-0000-4000-8000-000000000001"}); !isKind(err, whatsapp.Rejected) {
		t.Errorf("unknown stream: %v", err)
	}
}

// ParseEvents reads every example in the spec folders.
func TestParseExamples(t *testing.T) {
	files, _ := filepath.Glob(specDir + "docs-examples/*.json")
	more, _ := filepath.Glob(specDir + "eventgrid-examples/*.json")
	files = append(files, more...)
	want := map[string]func(hs *acs.Handshake, b *whatsapp.Batch) bool{
		"received-text.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			c := b.Messages[0].Content
			return c.Type == parley.TypeText && c.Text == "Hello" && c.ProviderMessageID == "00000000-0000-0000-0000-000000000000" && b.Messages[0].Account == "{channel-id}"
		},
		"received-image.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			c := b.Messages[0].Content
			return c.Type == parley.TypeImage && c.Text == "This is a media caption" && c.Media.ProviderMediaID == "00000000-0000-0000-0000-000000000000" && c.Media.MIMEType == "image/jpeg"
		},
		"received-document.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			c := b.Messages[0].Content
			return c.Type == parley.TypeDocument && strings.HasPrefix(c.Media.Filename, "UTSAV") && b.Messages[0].Contact.WAID == "14254360097"
		},
		"received-sticker.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			return b.Messages[0].Content.Type == parley.TypeSticker && b.Messages[0].Content.Media.MIMEType == "image/webp"
		},
		"received-reaction.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			r := b.Messages[0].Content.Reaction
			return b.Messages[0].Content.Type == parley.TypeReaction && r.Emoji == "👍" && r.ProviderMessageID == "{reply-message-id}"
		},
		"received-interactive-button-reply.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			c := b.Messages[0].Content
			return c.Type == parley.TypeInteractive && c.Reply.Kind == "button_reply" && c.Reply.ID == "agree" && c.Context.ReplyToProviderID == "{reply-message-id}"
		},
		"received-interactive-list-reply.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			r := b.Messages[0].Content.Reply
			return r.Kind == "list_reply" && r.ID == "priority_mail" && r.Description == "1–3 Days"
		},
		"received-template-quick-reply-button.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			c := b.Messages[0].Content
			return c.Type == parley.TypeButton && c.Reply.Title == "Yes" && c.Reply.Payload == "Kat said yes"
		},
		"delivery-status-sent.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			s := b.Statuses[0]
			return s.Status == parley.StatusSent && s.ProviderMessageID == "22222222-2222-2222-2222-222222222222" && s.Error == nil
		},
		"delivery-status-failed-131026.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			s := b.Statuses[0]
			return s.Status == parley.StatusFailed && s.Error.Code == "131026" && s.Error.Message == "Message Undeliverable." && s.Error.Reason == "rejected"
		},
		"cloud-events-schema.advanced_message_delivery_status_updated.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			s := b.Statuses[0]
			return s.Status == parley.StatusSent && s.Account == "940aa05f-9071-4e2b-8130-8f856c7e1917" && s.Recipient.WAID == "18332407922"
		},
		"cloud-events-schema.advanced_message_received.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			m := b.Messages[0]
			return m.Content.Type == parley.TypeUnsupported && m.Content.ProviderMessageID == "messageId" && len(m.Errors) == 1 && m.Errors[0].Code == "channelCode"
		},
		"event-grid-schema.advanced_message_delivery_status_updated.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			return b.Statuses[0].Status == parley.StatusDelivered // "delivered", lower case
		},
		"event-grid-schema.advanced_message_received.json": func(_ *acs.Handshake, b *whatsapp.Batch) bool {
			m := b.Messages[0]
			return m.Content.Type == parley.TypeUnsupported && m.Content.ProviderMessageID == "4611364c-08fb-4a8a-a8b5-7e40203285d3" && m.Content.Unsupported.Raw != nil
		},
		"subscription-validation-event.json": func(hs *acs.Handshake, b *whatsapp.Batch) bool {
			return hs != nil && hs.ValidationCode == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6" && b.Len() == 0
		},
		"subscription-validation-response.json": func(hs *acs.Handshake, b *whatsapp.Batch) bool {
			return hs == nil && len(b.Unhandled) == 1 // not an event: kept, not guessed
		},
	}
	if len(files) != len(want) {
		t.Errorf("%d example files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		body, _ := os.ReadFile(f)
		hs, b, err := acs.ParseEvents(body)
		check, ok := want[filepath.Base(f)]
		if err != nil || !ok || !check(hs, b) {
			js, _ := json.Marshal(b)
			t.Errorf("%s: err %v, handshake %+v, batch %s", filepath.Base(f), err, hs, js)
		}
	}
}

// Statuses are read whatever their case; unknown ones are kept, not
// guessed.
func TestParseStatusCase(t *testing.T) {
	for status, want := range map[string]parley.Status{"Delivered": parley.StatusDelivered, "READ": parley.StatusRead, "failed": parley.StatusFailed, "sent": parley.StatusSent} {
		body := `[{"id":"e1","eventType":"Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated","data":{"messageId":"m1","status":"` + status + `","from":"reg","to":"14255550100","error":{"channelCode":"131047","channelMessage":"Re-engagement message"}}}]`
		_, b, err := acs.ParseEvents([]byte(body))
		if err != nil || len(b.Statuses) != 1 || b.Statuses[0].Status != want || b.Statuses[0].Error.Reason != "outside_window" {
			t.Errorf("%s: %v %+v", status, err, b)
		}
	}
	_, b, _ := acs.ParseEvents([]byte(`[{"id":"e1","eventType":"Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated","data":{"messageId":"m1","status":"Warned"}},{"id":"e2","eventType":"Microsoft.Storage.BlobCreated","data":{}}]`))
	if len(b.Statuses) != 0 || len(b.Unhandled) != 2 {
		t.Errorf("unknown status and event: %+v", b)
	}
	for _, bad := range []string{"", "null", "42", "{", `"x"`} {
		if _, _, err := acs.ParseEvents([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseEvents(f *testing.F) {
	files, _ := filepath.Glob(specDir + "*-examples/*.json")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hs, b, err := acs.ParseEvents(body)
		if err != nil {
			if hs != nil || b != nil {
				t.Fatal("results with an error")
			}
			return
		}
		if b == nil {
			t.Fatal("no batch and no error")
		}
		for _, m := range b.Messages {
			if m.Content.Type == "" {
				t.Fatalf("message without a type: %+v", m)
			}
		}
		for _, s := range b.Statuses {
			if s.ProviderMessageID == "" || s.Status == "" {
				t.Fatalf("status without id or status: %+v", s)
			}
		}
	})
}
