package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	faketwilio "github.com/parleyhq/parley/internal/fake/twilio"
	"github.com/parleyhq/parley/whatsapp"
)

const testBase = "https://parley.example"

func setup(t *testing.T) (*Provider, *faketwilio.Server, *parley.Channel) {
	fake := faketwilio.New(t)
	ch := &parley.Channel{ID: "ch_1", Provider: parley.ProviderTwilio, PhoneNumber: fake.PhoneNumber,
		Twilio: &parley.TwilioConfig{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, APIURL: fake.URL}}
	return New(&http.Client{Timeout: 5 * time.Second}, testBase), fake, ch
}

func text(id, body string) *whatsapp.Outbound {
	return &whatsapp.Outbound{Message: &parley.Message{ID: id, Type: parley.TypeText, Text: body}, ToPhone: "+15551230001"}
}

func TestSendText(t *testing.T) {
	p, fake, ch := setup(t)
	fake.OpenWindow("+15551230001")
	res, err := p.Send(context.Background(), ch, text("msg_1", "Hello"))
	if err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d", len(sent))
	}
	s := sent[0]
	if res.ProviderMessageID != s.SID || s.OurID != "msg_1" || s.To != "+15551230001" || s.Body != "Hello" {
		t.Errorf("result %+v, sent %+v", res, s)
	}
	if got, want := s.Form.Get("StatusCallback"), testBase+"/webhooks/twilio/ch_1?m=msg_1"; got != want {
		t.Errorf("StatusCallback = %s, want %s", got, want)
	}
	if s.Form.Get("From") != "whatsapp:"+fake.PhoneNumber {
		t.Errorf("From = %q", s.Form.Get("From"))
	}
}

func TestSendThroughMessagingService(t *testing.T) {
	p, fake, ch := setup(t)
	ch.Twilio.MessagingServiceSID = fake.MessagingServiceSID
	fake.OpenWindow("+15551230001")
	if _, err := p.Send(context.Background(), ch, text("msg_1", "Hi")); err != nil {
		t.Fatal(err)
	}
	f := fake.Sent()[0].Form
	if f.Get("MessagingServiceSid") != fake.MessagingServiceSID || f.Has("From") {
		t.Errorf("form %v", f)
	}
}

type mediaSource struct{ url string }

func (m mediaSource) Open(context.Context) (io.ReadCloser, error) { return nil, errors.New("not used") }
func (m mediaSource) URL() string                                 { return m.url }
func (m mediaSource) Info() *parley.Media                         { return &parley.Media{MIMEType: "image/png"} }

func TestSendMediaLocationTemplate(t *testing.T) {
	p, fake, ch := setup(t)
	fake.OpenWindow("+15551230001")
	hx := fake.AddTemplate("order_ready", "en", "Hi {{1}}, order {{2}} is ready")
	ctx := context.Background()
	img := &whatsapp.Outbound{Message: &parley.Message{ID: "msg_2", Type: parley.TypeImage, Text: "the receipt"}, ToPhone: "+15551230001",
		Media: mediaSource{"https://parley.example/media/signed?sig=abc"}}
	loc := &whatsapp.Outbound{Message: &parley.Message{ID: "msg_3", Type: parley.TypeLocation, Location: &parley.Location{Latitude: 52.5, Longitude: 13.4, Name: "Office"}}, ToPhone: "+15551230001"}
	tpl := &whatsapp.Outbound{Message: &parley.Message{ID: "msg_4", Type: parley.TypeTemplate, Template: &parley.TemplateMessage{Name: "order_ready", Language: "en", Parameters: []string{"Ana", "A-17"}}},
		ToPhone: "+15551230001", Template: &parley.Template{ProviderTemplateID: hx, Name: "order_ready"}}
	for _, out := range []*whatsapp.Outbound{img, loc, tpl} {
		if _, err := p.Send(ctx, ch, out); err != nil {
			t.Fatalf("%s: %v", out.Message.Type, err)
		}
	}
	sent := fake.Sent()
	if len(sent[0].MediaURLs) != 1 || sent[0].MediaURLs[0] != "https://parley.example/media/signed?sig=abc" || sent[0].Body != "the receipt" {
		t.Errorf("image: %+v", sent[0])
	}
	if got := sent[1].Form.Get("PersistentAction"); got != "geo:52.5,13.4|Office" {
		t.Errorf("location: PersistentAction %q", got)
	}
	if sent[2].ContentSID != hx || sent[2].Variables["1"] != "Ana" || sent[2].Variables["2"] != "A-17" || sent[2].Body != "" {
		t.Errorf("template: %+v", sent[2])
	}
}

func TestSendRefusesWhatTwilioCannotSend(t *testing.T) {
	p, fake, ch := setup(t)
	cases := []*whatsapp.Outbound{
		{Message: &parley.Message{ID: "m1", Type: parley.TypeInteractive, Interactive: &parley.Interactive{Kind: "button", Body: "?"}}, ToPhone: "+15551230001"},
		{Message: &parley.Message{ID: "m2", Type: parley.TypeReaction, Reaction: &parley.Reaction{Emoji: "👍"}}, ToPhone: "+15551230001"},
		{Message: &parley.Message{ID: "m3", Type: parley.TypeText, Text: strings.Repeat("x", 1601)}, ToPhone: "+15551230001"},
		{Message: &parley.Message{ID: "m4", Type: parley.TypeText, Text: "hi"}},
		{Message: &parley.Message{ID: "m5", Type: parley.TypeTemplate, Template: &parley.TemplateMessage{Name: "x"}}, ToPhone: "+15551230001"},
	}
	for _, out := range cases {
		_, err := p.Send(context.Background(), ch, out)
		if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Rejected || e.Message == "" {
			t.Errorf("%s: %v, want a clear Rejected error", out.Message.ID, err)
		}
	}
	if n := len(fake.Sent()); n != 0 {
		t.Errorf("%d requests reached Twilio", n)
	}
}

func TestSendFaults(t *testing.T) {
	p, fake, ch := setup(t)
	fake.OpenWindow("+15551230001")
	cases := []struct {
		fault faketwilio.Fault
		kind  whatsapp.ErrorKind
		code  string
	}{
		{faketwilio.RateLimit, whatsapp.RateLimited, "20429"},
		{faketwilio.Unauthorized, whatsapp.Unauthorized, "20003"},
		{faketwilio.Outage, whatsapp.Temporary, "20503"},
		{faketwilio.Interrupt, whatsapp.Ambiguous, ""},
	}
	for _, c := range cases {
		fake.FailNext(1, c.fault)
		_, err := p.Send(context.Background(), ch, text("msg_f", "hi"))
		e, ok := whatsapp.AsError(err)
		if !ok || e.Kind != c.kind || e.Code != c.code {
			t.Errorf("fault %d: %v, want %s %s", c.fault, err, c.kind, c.code)
			continue
		}
		if c.fault == faketwilio.RateLimit && e.RetryAfter != time.Second {
			t.Errorf("Retry-After %v", e.RetryAfter)
		}
	}
	if strings.Contains(p.sendErr(t, ch), fake.AuthToken) {
		t.Error("the auth token is in an error")
	}
}

// sendErr sends with a revoked token and returns the error's text.
func (p *Provider) sendErr(t *testing.T, ch *parley.Channel) string {
	cfg := *ch.Twilio
	cfg.AuthToken = "wrong"
	c2 := *ch
	c2.Twilio = &cfg
	_, err := p.Send(context.Background(), &c2, text("msg_x", "hi"))
	if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Unauthorized {
		t.Errorf("wrong token: %v", err)
	}
	return err.Error()
}

func TestSendUnreachableIsTemporary(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := New(&http.Client{Timeout: time.Second}, testBase)
	ch := &parley.Channel{ID: "ch_1", PhoneNumber: "+15550000", Twilio: &parley.TwilioConfig{AccountSID: "AC1", AuthToken: "t", APIURL: "http://" + addr}}
	_, err := p.Send(context.Background(), ch, text("msg_1", "hi"))
	if e, ok := whatsapp.AsError(err); !ok || e.Kind != whatsapp.Temporary {
		t.Errorf("%v, want Temporary", err)
	}
}

func TestHTTPErrorTable(t *testing.T) {
	cases := []struct {
		status int
		body   string
		path   string
		kind   whatsapp.ErrorKind
	}{
		{400, `{"code":63016,"message":"outside window","status":400}`, "/2010-04-01/Accounts/AC1/Messages.json", whatsapp.OutsideWindow},
		{400, `{"code":21211,"message":"Invalid 'To' Phone Number","status":400}`, "/2010-04-01/Accounts/AC1/Messages.json", whatsapp.Rejected},
		{429, `{"code":63018,"message":"rate","status":429}`, "/2010-04-01/Accounts/AC1/Messages.json", whatsapp.RateLimited},
		{404, `{"code":20404,"message":"not found","status":404}`, "/2010-04-01/Accounts/ACwrong/Messages.json", whatsapp.Unauthorized},
		{400, `{"code":63007,"message":"no channel","status":400}`, "/2010-04-01/Accounts/AC1/Messages.json", whatsapp.Unauthorized},
		{502, `<html>bad gateway</html>`, "/", whatsapp.Temporary},
		{504, ``, "/", whatsapp.Ambiguous},
		{403, `{"code":20403,"message":"forbidden","status":403}`, "/", whatsapp.Unauthorized},
	}
	for _, c := range cases {
		resp := &http.Response{StatusCode: c.status, Header: http.Header{}, Request: &http.Request{URL: &url.URL{Path: c.path}}}
		e := httpError(resp, []byte(c.body), true)
		if e.Kind != c.kind {
			t.Errorf("%d %s: %s, want %s", c.status, c.body, e.Kind, c.kind)
		}
	}
}

func TestFetchMediaTemplatesCheck(t *testing.T) {
	p, fake, ch := setup(t)
	ctx := context.Background()
	hook := make(chan url.Values, 1)
	srv := newHookServer(t, hook)
	fake.SetWebhookURL(srv)
	fake.InboundMedia("+15551230001", "image/png", []byte("PNGDATA"), "")
	form := <-hook
	b, err := ParseWebhook(nil, form)
	if err != nil {
		t.Fatal(err)
	}
	rc, mime, err := p.FetchMedia(ctx, ch, b.Messages[0].Content.Media)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "PNGDATA" || mime != "image/png" {
		t.Errorf("media %q %q", data, mime)
	}
	if _, _, err := p.FetchMedia(ctx, ch, &parley.Media{Link: "https://evil.example/ME1"}); err == nil {
		t.Error("credentials sent to a foreign host")
	}

	fake.PageSize = 2
	for _, n := range []string{"a", "b", "c"} {
		fake.AddTemplate(n, "en", "Hello {{2}} and {{1}}")
	}
	fake.AddTemplateStatus("d", "pt_BR", "Olá", "rejected")
	tpls, err := p.Templates(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(tpls) != 4 {
		t.Fatalf("%d templates, want 4 over two pages", len(tpls))
	}
	if tp := tpls[0]; tp.Status != parley.TemplateApproved || tp.Body != "Hello {{2}} and {{1}}" || strings.Join(tp.BodyParams, ",") != "1,2" || tp.ParameterCount != 2 || !strings.HasPrefix(tp.ProviderTemplateID, "HX") || tp.Category != "utility" {
		t.Errorf("template %+v", tp)
	}
	if tpls[3].Status != parley.TemplateRejected || tpls[3].Language != "pt_BR" {
		t.Errorf("rejected template %+v", tpls[3])
	}
	var types map[string]json.RawMessage
	if json.Unmarshal(tpls[0].Components, &types) != nil || types["twilio/text"] == nil {
		t.Errorf("components %s", tpls[0].Components)
	}

	if err := p.Check(ctx, ch); err != nil {
		t.Errorf("check: %v", err)
	}
	fake.RevokeToken()
	if e, ok := whatsapp.AsError(p.Check(ctx, ch)); !ok || e.Kind != whatsapp.Unauthorized || e.Code != "20003" {
		t.Errorf("check after revoke: %v", e)
	}
	if err := p.MarkRead(ctx, ch, "SM1"); err != nil {
		t.Errorf("mark read: %v", err)
	}
}

func newHookServer(t *testing.T, got chan<- url.Values) string {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got <- r.PostForm
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/hook"
}
