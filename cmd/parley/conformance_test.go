package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	acsfake "github.com/parleyhq/parley/internal/fake/acs"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	twiliofake "github.com/parleyhq/parley/internal/fake/twilio"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/sandbox"
)

// The provider conformance suite: one table of scenarios, run against
// every provider through its fake and the real Main. Whatever the core
// promises for Meta (the window, pacing, idempotence, media, statuses,
// errors and reconciliation) must hold for each; a provider that fails a
// scenario fails the suite.

// kitFault is a provider misbehaving, in each vendor's own terms.
type kitFault int

const (
	faultRate          kitFault = iota + 1 // throttled: 429 or the vendor's rate code
	faultAuth                              // the credential expired or was revoked
	faultOutage                            // the vendor is down (503)
	faultOutsideWindow                     // the vendor says the 24-hour window is closed
	faultInterrupt                         // the message went out, but the answer was lost
)

// kitSent is a message a provider accepted.
type kitSent struct {
	id  string // the vendor's message ID
	raw string // the request as the vendor got it
}

// providerKit drives one provider's fake.
type providerKit interface {
	// options adjust the app before it starts.
	options() []appOption
	// connect connects the provider's number to tenant A and returns the
	// channel ID.
	connect(t *testing.T, a *app) string
	inbound(from, text string) int
	inboundMedia(from, mimeType string, data []byte) int
	sent() []kitSent
	// status builds the vendor's status event once; calling the result
	// delivers it (again) and returns Parley's answer.
	status(t *testing.T, id, status string) func() int
	fail(n int, f kitFault)
	addTemplate(name, language, body string)
}

const (
	conformanceCustomer = "+5511955550001"
	conformanceTemplate = "Hi {{1}}, your order {{2}} is out for delivery and arrives today."
)

var conformanceScenarios = []struct {
	name string
	run  func(t *testing.T, a *app, k providerKit)
}{
	{"inbound text", func(t *testing.T, a *app, k providerKit) {
		if st := k.inbound(conformanceCustomer, "Olá, e o meu pedido?"); st != http.StatusOK {
			t.Fatalf("inbound webhook answered %d", st)
		}
		m := a.lastMessage()
		if m.Direction != parley.Inbound || m.Text != "Olá, e o meu pedido?" {
			t.Errorf("stored %s %q, want the inbound text", m.Direction, m.Text)
		}
		var c parley.Contact
		a.must(a.do("GET", "/v1/contacts/"+m.ContactID, a.keyA, nil), http.StatusOK, &c)
		if c.Phone != conformanceCustomer {
			t.Errorf("contact phone %q, want %s", c.Phone, conformanceCustomer)
		}
	}},
	{"inbound media", func(t *testing.T, a *app, k providerKit) {
		data := append([]byte("\xff\xd8\xff\xe0"), bytes.Repeat([]byte("conformance jpeg "), 64)...)
		if st := k.inboundMedia(conformanceCustomer, "image/jpeg", data); st != http.StatusOK {
			t.Fatalf("inbound webhook answered %d", st)
		}
		m := a.lastMessage()
		if m.Type != parley.TypeImage || m.Media == nil || m.Media.ID == "" {
			t.Fatalf("stored %+v, want an image with its media", m)
		}
		var got []byte
		a.eventually("the image is downloaded from the provider", func() bool {
			r := a.do("GET", "/v1/media/"+m.Media.ID, a.keyA, nil)
			got = r.body
			return r.status == http.StatusOK
		})
		if !bytes.Equal(got, data) {
			t.Errorf("downloaded %d bytes (sha %x), want the customer's %d", len(got), sha256.Sum256(got), len(data))
		}
	}},
	{"status progression", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		id := a.mustSend(conformanceCustomer, "Your order ships today.")
		a.waitStatus(id, parley.StatusSent)
		s := lastSent(t, k)
		for _, st := range []parley.Status{parley.StatusDelivered, parley.StatusRead} {
			if code := k.status(t, s.id, string(st))(); code != http.StatusOK {
				t.Fatalf("%s status answered %d", st, code)
			}
			a.waitStatus(id, st)
		}
	}},
	{"duplicate and out-of-order statuses", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		id := a.mustSend(conformanceCustomer, "Your order ships today.")
		a.waitStatus(id, parley.StatusSent)
		s := lastSent(t, k)
		read, delivered := k.status(t, s.id, "read"), k.status(t, s.id, "delivered")
		for _, post := range []func() int{read, delivered, delivered, read} {
			if code := post(); code != http.StatusOK {
				t.Fatalf("status answered %d", code)
			}
		}
		a.waitStatus(id, parley.StatusRead)
		if n := a.queryInt(`SELECT COUNT(*) FROM message_statuses WHERE message_id = $1 AND status IN ('delivered', 'read')`, id); n != 2 {
			t.Errorf("status rows = %d, want delivered and read once each", n)
		}
		if got := a.message(id).Status; got != parley.StatusRead {
			t.Errorf("a late delivered moved read back to %s", got)
		}
	}},
	{"send outside the window", func(t *testing.T, a *app, k providerKit) {
		r := a.sendText(conformanceCustomer, "hello out of the blue")
		code, _ := r.apiError()
		if r.status != http.StatusUnprocessableEntity || code != "outside_window" || !bytes.Contains(r.body, []byte("template")) {
			t.Errorf("send outside the window: %d %s %s, want 422 outside_window with a hint to use a template", r.status, code, r.body)
		}
		if n := len(k.sent()); n != 0 {
			t.Errorf("the provider received %d messages", n)
		}
	}},
	{"send inside the window", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		id := a.mustSend(conformanceCustomer, "Inside the window.")
		a.waitStatus(id, parley.StatusSent)
		if s := lastSent(t, k); !strings.Contains(s.raw, "Inside the window.") {
			t.Errorf("the provider got %s", s.raw)
		}
	}},
	{"provider says the window closed", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		k.fail(1, faultOutsideWindow)
		id := a.mustSend(conformanceCustomer, "Too late.")
		m := a.waitStatus(id, parley.StatusFailed)
		if m.Error == nil || m.Error.Reason != "outside_window" {
			t.Errorf("error %+v, want reason outside_window", m.Error)
		}
	}},
	{"template with parameters", func(t *testing.T, a *app, k providerKit) {
		a.waitJobsIdle()
		k.addTemplate("order_update", "en_US", conformanceTemplate)
		a.must(a.do("POST", "/v1/channels/"+a.channelID+"/templates/sync", a.keyA, nil), http.StatusOK, nil)
		var out struct{ ID string }
		a.must(a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": a.channelID, "to": conformanceCustomer, "type": "template",
			"template": map[string]any{"name": "order_update", "language": "en_US", "parameters": []string{"Ana", "A-1234"}}}), http.StatusAccepted, &out)
		a.waitStatus(out.ID, parley.StatusSent)
		if s := lastSent(t, k); !strings.Contains(s.raw, "Ana") || !strings.Contains(s.raw, "A-1234") {
			t.Errorf("the provider got %s, want both parameters", s.raw)
		}
	}},
	{"rate limit", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		k.fail(1, faultRate)
		id := a.mustSend(conformanceCustomer, "Throttled once.")
		a.waitStatus(id, parley.StatusSent)
		a.sentOnceAfterRetry(k, id)
	}},
	{"expired credential", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		k.fail(1, faultAuth)
		id := a.mustSend(conformanceCustomer, "Waits for a new credential.")
		// The message waits, with the error, instead of failing.
		a.eventually("the channel turns unhealthy and the message waits", func() bool {
			var ch struct{ Health parley.ChannelHealth }
			a.must(a.do("GET", "/v1/channels/"+a.channelID, a.keyA, nil), http.StatusOK, &ch)
			m := a.message(id)
			return ch.Health.Status == parley.HealthUnhealthy && ch.Health.Reason != "" && m.Status == parley.StatusQueued && m.Error != nil
		})
		// The admin saves the channel's settings; its sends go at once.
		a.must(a.do("PATCH", "/v1/channels/"+a.channelID, a.keyA, map[string]any{"name": "renewed"}), http.StatusOK, nil)
		a.waitStatus(id, parley.StatusSent)
		a.sentOnceAfterRetry(k, id)
	}},
	{"outage and recovery", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		k.fail(3, faultOutage)
		id := a.mustSend(conformanceCustomer, "Goes after the outage.")
		a.waitStatus(id, parley.StatusSent)
		a.sentOnceAfterRetry(k, id)
		if n := a.sendTries(id); n < 4 {
			t.Errorf("the send was tried %d times, want 3 failures and a success", n)
		}
	}},
	{"interrupted send is reconciled", func(t *testing.T, a *app, k providerKit) {
		openWindow(t, k)
		k.fail(1, faultInterrupt)
		id := a.mustSend(conformanceCustomer, "Sent once only.")
		a.eventually("the provider has the message", func() bool { return len(k.sent()) == 1 })
		// The answer was lost: the message waits, neither sent nor resent.
		a.eventually("the send waits for the provider's word", func() bool {
			return a.sendTries(id) >= 1 && a.queryInt(`SELECT COUNT(*) FROM jobs WHERE kind = 'message.send' AND state = 'available' AND args LIKE $1`, "%"+id+"%") == 1
		})
		if m := a.message(id); m.Status != parley.StatusSending {
			t.Fatalf("after the lost answer the message is %s, want sending", m.Status)
		}
		if code := k.status(t, lastSent(t, k).id, "delivered")(); code != http.StatusOK {
			t.Fatalf("status answered %d", code)
		}
		m := a.waitStatus(id, parley.StatusDelivered)
		if m.ProviderMessageID != lastSent(t, k).id {
			t.Errorf("provider message ID %q, want %q", m.ProviderMessageID, lastSent(t, k).id)
		}
		// Past the reconcile wait, nothing is sent again.
		a.eventually("the send job ends", func() bool {
			return a.queryInt(`SELECT COUNT(*) FROM jobs WHERE kind = 'message.send' AND state IN ('available', 'running')`) == 0
		})
		if n := len(k.sent()); n != 1 {
			t.Errorf("the provider accepted %d messages, want 1", n)
		}
	}},
}

func TestProviderConformance(t *testing.T) {
	kits := map[string]func(t *testing.T) providerKit{
		"meta":    func(t *testing.T) providerKit { return &metaKit{} },
		"twilio":  func(t *testing.T) providerKit { return &twilioKit{fake: twiliofake.New(t)} },
		"acs":     func(t *testing.T) providerKit { return &acsKit{fake: acsfake.New(t)} },
		"sandbox": func(t *testing.T) providerKit { return &sandboxKit{} },
	}
	for _, provider := range []string{"meta", "twilio", "acs", "sandbox"} {
		t.Run(provider, func(t *testing.T) {
			for _, sc := range conformanceScenarios {
				t.Run(sc.name, func(t *testing.T) {
					k := kits[provider](t)
					a := startApp(t, k.options()...)
					a.channelID = k.connect(t, a)
					sc.run(t, a, k)
				})
			}
		})
	}
}

// openWindow has the customer write, which opens the 24-hour window.
func openWindow(t *testing.T, k providerKit) {
	t.Helper()
	if st := k.inbound(conformanceCustomer, "oi"); st != http.StatusOK {
		t.Fatalf("inbound webhook answered %d", st)
	}
}

// lastSent is the message the provider accepted last.
func lastSent(t *testing.T, k providerKit) kitSent {
	t.Helper()
	s := k.sent()
	if len(s) == 0 {
		t.Fatal("the provider accepted nothing")
	}
	return s[len(s)-1]
}

// sendTries is how often a message's send job ran: attempts that
// failed or succeeded, and runs that snoozed.
func (a *app) sendTries(id string) int {
	a.t.Helper()
	return a.queryInt(`SELECT COALESCE(SUM(attempt + snoozes), 0) FROM jobs WHERE kind = 'message.send' AND args LIKE $1`, "%"+id+"%")
}

// sentOnceAfterRetry checks that the provider's refusal did happen (the
// send was tried again) and that the message still went out once.
func (a *app) sentOnceAfterRetry(k providerKit, id string) {
	a.t.Helper()
	if n := a.sendTries(id); n < 2 {
		a.t.Errorf("the send was tried %d times; the provider's refusal never happened", n)
	}
	if n := len(k.sent()); n != 1 {
		a.t.Errorf("the provider accepted %d messages, want 1", n)
	}
}

// mustSend sends text and returns the message ID.
func (a *app) mustSend(to, text string) string {
	a.t.Helper()
	var out struct{ ID string }
	a.must(a.sendText(to, text), http.StatusAccepted, &out)
	return out.ID
}

// waitStatus waits for a message to reach a status and returns it.
func (a *app) waitStatus(id string, st parley.Status) parley.Message {
	a.t.Helper()
	var m parley.Message
	a.eventually(fmt.Sprintf("message %s is %s", id, st), func() bool {
		m = a.message(id)
		return m.Status == st
	})
	return m
}

// lastMessage waits for the tenant's newest conversation to have a
// message and returns its newest.
func (a *app) lastMessage() parley.Message {
	a.t.Helper()
	var m parley.Message
	a.eventually("a message is stored", func() bool {
		var convs struct{ Data []parley.Conversation }
		a.must(a.do("GET", "/v1/conversations", a.keyA, nil), http.StatusOK, &convs)
		if len(convs.Data) == 0 {
			return false
		}
		var msgs struct{ Data []parley.Message }
		a.must(a.do("GET", "/v1/conversations/"+convs.Data[0].ID+"/messages", a.keyA, nil), http.StatusOK, &msgs)
		if len(msgs.Data) == 0 {
			return false
		}
		m = msgs.Data[len(msgs.Data)-1]
		return true
	})
	return m
}

// connectChannel connects a number through the API and returns the
// answer's channel ID and webhook URL.
func connectChannel(t *testing.T, a *app, body map[string]any) (id, webhookURL string) {
	t.Helper()
	var out struct {
		ID         string `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	a.must(a.do("POST", "/v1/channels", a.keyA, body), http.StatusCreated, &out)
	return out.ID, out.WebhookURL
}

// ---- Meta ----

// metaKit drives the fake Graph API through a proxy that can lose an
// answer after Graph accepted the message.
type metaKit struct {
	a     *app
	proxy *dropProxy
}

func (k *metaKit) options() []appOption { return nil }

func (k *metaKit) connect(t *testing.T, a *app) string {
	k.a = a
	k.proxy = newDropProxy(t, a.graph.URL, "/messages")
	a.must(a.do("PATCH", "/v1/channels/"+a.channelID, a.keyA, map[string]any{"meta": map[string]any{"graph_url": k.proxy.URL}}), http.StatusOK, nil)
	return a.channelID
}

func (k *metaKit) inbound(from, text string) int {
	k.a.inbound(strings.TrimPrefix(from, "+"), text, time.Now())
	return http.StatusOK
}

func (k *metaKit) inboundMedia(from, mimeType string, data []byte) int {
	waid := strings.TrimPrefix(from, "+")
	mediaID := fmt.Sprintf("%d", time.Now().UnixNano())
	k.a.graph.AddMedia(mediaID, mimeType, data)
	sum := sha256.Sum256(data)
	body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":%q,"phone_number_id":%q},
		"contacts":[{"profile":{"name":"Customer"},"wa_id":%q}],
		"messages":[{"from":%q,"id":"wamid.media.%s","timestamp":"%d","type":"image","image":{"id":%q,"mime_type":%q,"sha256":%q}}]}}]}]}`,
		metagraph.DefaultWABAID, metagraph.DefaultDisplayPhone, metagraph.DefaultPhoneNumberID, waid, waid, mediaID, time.Now().Unix(),
		mediaID, mimeType, hex.EncodeToString(sum[:]))
	return k.a.webhook(body, metagraph.DefaultAppSecret).status
}

func (k *metaKit) sent() []kitSent {
	var out []kitSent
	for _, s := range k.a.graph.Sent() {
		out = append(out, kitSent{id: s.ID, raw: string(s.Raw)})
	}
	return out
}

func (k *metaKit) status(t *testing.T, id, status string) func() int {
	body, sig := k.a.graph.StatusWebhook(metagraph.Status{MessageID: id, Status: status})
	return func() int { return k.a.webhookSigned(body, sig).status }
}

func (k *metaKit) fail(n int, f kitFault) {
	known := func(code int) metagraph.Fault {
		status, e := metagraph.KnownError(code)
		return metagraph.Fault{Status: status, Error: e, Path: "/messages"}
	}
	switch f {
	case faultRate:
		k.a.graph.Inject(n, known(130429))
	case faultAuth:
		k.a.graph.Inject(n, known(190))
	case faultOutage:
		k.a.graph.Inject(n, metagraph.Fault{Status: http.StatusServiceUnavailable, Body: []byte("<html>upstream down</html>"), Path: "/messages"})
	case faultOutsideWindow:
		k.a.graph.Inject(n, known(131047))
	case faultInterrupt:
		k.proxy.dropNext(n)
	}
}

func (k *metaKit) addTemplate(name, language, body string) {
	k.a.graph.SetTemplates(metagraph.DefaultWABAID, []any{map[string]any{"id": "1689556908129077", "name": name, "language": language,
		"status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
		"components": []any{map[string]any{"type": "BODY", "text": body}}}})
}

// dropProxy forwards to a fake and, when told, lets the fake handle a
// request whose path ends in suffix, then closes the connection without
// answering: the vendor acted, the client cannot know.
type dropProxy struct {
	URL    string
	suffix string
	drops  atomic.Int32
	rp     *httputil.ReverseProxy
}

func newDropProxy(t *testing.T, target, suffix string) *dropProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{suffix: suffix, rp: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *dropProxy) dropNext(n int) { p.drops.Add(int32(n)) }

func (p *dropProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, p.suffix) {
		for n := p.drops.Load(); n > 0; n = p.drops.Load() {
			if p.drops.CompareAndSwap(n, n-1) {
				p.rp.ServeHTTP(httptest.NewRecorder(), r)
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
		}
	}
	p.rp.ServeHTTP(w, r)
}

// ---- Twilio ----

type twilioKit struct{ fake *twiliofake.Server }

func (k *twilioKit) options() []appOption { return nil }

func (k *twilioKit) connect(t *testing.T, a *app) string {
	id, hook := connectChannel(t, a, map[string]any{"provider": "twilio", "phone_number": k.fake.PhoneNumber,
		"twilio": map[string]any{"account_sid": k.fake.AccountSID, "auth_token": k.fake.AuthToken, "api_url": k.fake.URL}})
	k.fake.SetWebhookURL(hook)
	return id
}

func (k *twilioKit) inbound(from, text string) int { return k.fake.Inbound(from, "Customer", text) }
func (k *twilioKit) inboundMedia(from, mimeType string, data []byte) int {
	return k.fake.InboundMedia(from, mimeType, data, "")
}

func (k *twilioKit) sent() []kitSent {
	var out []kitSent
	for _, s := range k.fake.Sent() {
		out = append(out, kitSent{id: s.SID, raw: s.Form.Encode() + " " + s.Body + " " + fmt.Sprint(s.Variables)})
	}
	return out
}

func (k *twilioKit) status(t *testing.T, id, status string) func() int {
	d := k.fake.StatusDelivery(id, status, "")
	return func() int { return k.fake.Post(d) }
}

func (k *twilioKit) fail(n int, f kitFault) {
	k.fake.FailNext(n, map[kitFault]twiliofake.Fault{faultRate: twiliofake.RateLimit, faultAuth: twiliofake.Unauthorized,
		faultOutage: twiliofake.Outage, faultOutsideWindow: twiliofake.OutsideWindow, faultInterrupt: twiliofake.Interrupt}[f])
}

func (k *twilioKit) addTemplate(name, language, body string) {
	k.fake.AddTemplate(name, language, body)
}

// ---- Azure Communication Services ----

type acsKit struct{ fake *acsfake.Server }

func (k *acsKit) options() []appOption { return nil }

func (k *acsKit) connect(t *testing.T, a *app) string {
	id, hook := connectChannel(t, a, map[string]any{"provider": "acs", "phone_number": k.fake.PhoneNumber,
		"acs": map[string]any{"endpoint": k.fake.URL, "access_key": k.fake.AccessKey, "channel_registration_id": k.fake.ChannelRegistrationID}})
	k.fake.SetWebhookURL(hook)
	return id
}

func (k *acsKit) inbound(from, text string) int { return k.fake.Inbound(from, "Customer", text) }
func (k *acsKit) inboundMedia(from, mimeType string, data []byte) int {
	return k.fake.InboundMedia(from, mimeType, data, "")
}

func (k *acsKit) sent() []kitSent {
	var out []kitSent
	for _, s := range k.fake.Sent() {
		out = append(out, kitSent{id: s.MessageID, raw: string(s.Body)})
	}
	return out
}

func (k *acsKit) status(t *testing.T, id, status string) func() int {
	d := k.fake.StatusDelivery(id, status, "")
	return func() int { return k.fake.Post(d) }
}

func (k *acsKit) fail(n int, f kitFault) {
	k.fake.FailNext(n, map[kitFault]acsfake.Fault{faultRate: acsfake.RateLimit, faultAuth: acsfake.Unauthorized,
		faultOutage: acsfake.Outage, faultOutsideWindow: acsfake.OutsideWindow, faultInterrupt: acsfake.Interrupt}[f])
}

func (k *acsKit) addTemplate(name, language, body string) { k.fake.AddTemplate(name, language, body) }

// ---- Sandbox ----

// sandboxKit drives the simulated network. Its statuses and customers'
// answers are put off for an hour, so the scenarios deliver them.
type sandboxKit struct {
	a  *app
	ch *parley.Channel
}

func (k *sandboxKit) options() []appOption {
	return []appOption{func(m *Main) { m.Pace = sandbox.Pace{Tick: time.Hour, Reply: time.Hour} }}
}

func (k *sandboxKit) connect(t *testing.T, a *app) string {
	k.a = a
	id, _ := connectChannel(t, a, map[string]any{"provider": "sandbox", "phone_number": "+15550009999"})
	ch, err := a.m.DB.FindChannel(context.Background(), a.tenantA.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	k.ch = ch
	return id
}

func (k *sandboxKit) customer(from string) sandbox.Customer {
	return sandbox.Customer{Name: "Customer", WAID: strings.TrimPrefix(from, "+"), Replies: []string{"ok"}}
}

func httpStatus(err error) int {
	if err != nil {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

func (k *sandboxKit) inbound(from, text string) int {
	return httpStatus(k.a.m.Sandbox.Write(context.Background(), k.ch, k.customer(from), text))
}

func (k *sandboxKit) inboundMedia(from, mimeType string, data []byte) int {
	return httpStatus(k.a.m.Sandbox.SendMedia(context.Background(), k.ch, k.customer(from), parley.TypeImage, mimeType, data, ""))
}

func (k *sandboxKit) sent() []kitSent {
	var out []kitSent
	for _, s := range k.a.m.Sandbox.Sent() {
		if s.Channel != k.ch.ID {
			continue
		}
		raw, _ := json.Marshal(s.Outbound.Message)
		out = append(out, kitSent{id: s.ID, raw: string(raw)})
	}
	return out
}

func (k *sandboxKit) status(t *testing.T, id, status string) func() int {
	var ourID string
	for _, s := range k.a.m.Sandbox.Sent() {
		if s.ID == id {
			ourID = s.Outbound.Message.ID
		}
	}
	b := &whatsapp.Batch{Statuses: []whatsapp.StatusUpdate{{Account: k.ch.AccountID, ProviderMessageID: id, Status: parley.Status(status),
		Timestamp: time.Now().UTC(), CallbackData: ourID}}}
	return func() int { return httpStatus(k.a.m.Sandbox.Report(context.Background(), k.ch, b)) }
}

func (k *sandboxKit) fail(n int, f kitFault) {
	e := map[kitFault]*whatsapp.Error{
		faultRate:          {Kind: whatsapp.RateLimited, Code: "130429", Message: "Rate limit hit", RetryAfter: 50 * time.Millisecond},
		faultAuth:          {Kind: whatsapp.Unauthorized, Code: "190", Message: "Error validating access token"},
		faultOutage:        {Kind: whatsapp.Temporary, HTTPStatus: http.StatusServiceUnavailable, Message: "HTTP 503"},
		faultOutsideWindow: {Kind: whatsapp.OutsideWindow, Code: "131047", Message: "Re-engagement message"},
		faultInterrupt:     sandbox.Interrupted,
	}[f]
	for range n {
		k.a.m.Sandbox.FailNext(e)
	}
}

// addTemplate checks the template is one the sandbox has: its templates
// are fixed.
func (k *sandboxKit) addTemplate(name, language, body string) {
	ts, _ := k.a.m.Sandbox.Templates(context.Background(), k.ch)
	for _, tp := range ts {
		if tp.Name == name && tp.Language == language && tp.Body == body {
			return
		}
	}
	k.a.t.Fatalf("the sandbox has no template %s/%s %q", name, language, body)
}
