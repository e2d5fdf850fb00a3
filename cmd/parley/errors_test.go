package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
)

// Tests of what the send worker does when the provider refuses a send or
// its answer is lost.

// dialects starts the app on each database; the PostgreSQL one skips
// when PARLEY_TEST_POSTGRES_URL is not set.
var dialects = []struct {
	name  string
	start func(t *testing.T) *app
}{
	{"sqlite", func(t *testing.T) *app { return startApp(t) }},
	{"postgres", func(t *testing.T) *app {
		// Parallel tests start their apps one at a time: goose's
		// migration lock is one advisory lock for the whole server, and
		// a start that finds it taken retries only after 5 seconds.
		pgStarts.Lock()
		defer pgStarts.Unlock()
		return startApp(t, onPostgres(t))
	}},
}

var pgStarts sync.Mutex

// sendJobRow is a message's send job as the jobs table has it.
type sendJobRow struct {
	State            string
	Attempt, Snoozes int
	LastError        string
}

func (a *app) sendJobOf(id string) sendJobRow {
	a.t.Helper()
	var j sendJobRow
	err := a.m.DB.Reader().QueryRow(`SELECT state, attempt, snoozes, last_error FROM jobs WHERE unique_key = $1 ORDER BY id DESC LIMIT 1`,
		"send:"+id).Scan(&j.State, &j.Attempt, &j.Snoozes, &j.LastError)
	if err != nil {
		a.t.Fatalf("send job of %s: %v", id, err)
	}
	return j
}

// templatesSynced waits for the template sync queued when the channel
// was connected.
func (a *app) templatesSynced() {
	a.t.Helper()
	a.eventually("the first template sync ends", func() bool {
		var n int
		if err := a.m.DB.Reader().QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = 'templates.sync' AND state IN ('available', 'running')`).Scan(&n); err != nil {
			a.t.Fatal(err)
		}
		return n == 0
	})
}

// channelHealth is the test channel's health as GET /v1/channels shows it.
func (a *app) channelHealth() parley.ChannelHealth {
	a.t.Helper()
	var list struct {
		Data []struct {
			ID     string               `json:"id"`
			Health parley.ChannelHealth `json:"health"`
		} `json:"data"`
	}
	a.must(a.do("GET", "/v1/channels", a.keyA, nil), http.StatusOK, &list)
	for _, ch := range list.Data {
		if ch.ID == a.channelID {
			return ch.Health
		}
	}
	a.t.Fatalf("channel %s is not listed", a.channelID)
	return parley.ChannelHealth{}
}

// timelineHas counts the steps of a message's timeline with a status.
func timelineHas(m parley.Message, status parley.Status) int {
	n := 0
	for _, s := range m.Timeline {
		if s.Status == status {
			n++
		}
	}
	return n
}

// Outcomes of a provider error.
const (
	outcomeFailed    = "failed"    // the message fails at once with the vendor's error
	outcomeSnoozed   = "snoozed"   // the job waits without using an attempt, then sends
	outcomeRetried   = "retried"   // the job retries with backoff, then sends
	outcomeUnhealthy = "unhealthy" // the channel waits for new credentials
)

var providerErrorCases = []struct {
	name string
	code int // Graph error code, answered as metagraph.KnownError does
	// body, when set, is answered instead of a Graph error, with status.
	body    []byte
	status  int
	times   int // how many sends fail
	outcome string
	reason  string // error.reason of a failed message
}{
	{name: "131047 re-engagement", code: 131047, times: 1, outcome: outcomeFailed, reason: "outside_window"},
	{name: "130429 throughput", code: 130429, times: 1, outcome: outcomeSnoozed},
	{name: "131056 pair rate", code: 131056, times: 1, outcome: outcomeSnoozed},
	{name: "80007 account rate", code: 80007, times: 1, outcome: outcomeSnoozed},
	{name: "4 application rate", code: 4, times: 1, outcome: outcomeSnoozed},
	{name: "190 token expired", code: 190, outcome: outcomeUnhealthy},
	{name: "131026 undeliverable", code: 131026, times: 1, outcome: outcomeFailed, reason: "rejected"},
	{name: "131049 ecosystem", code: 131049, times: 1, outcome: outcomeFailed, reason: "rejected"},
	{name: "132000 parameter count", code: 132000, times: 1, outcome: outcomeFailed, reason: "rejected"},
	{name: "132001 template missing", code: 132001, times: 1, outcome: outcomeFailed, reason: "rejected"},
	{name: "100 invalid parameter", code: 100, times: 1, outcome: outcomeFailed, reason: "rejected"},
	{name: "500 with code 131000", code: 131000, times: 2, outcome: outcomeRetried},
	{name: "500 with code 1", code: 1, times: 2, outcome: outcomeRetried},
	{name: "503 with code 2", code: 2, times: 2, outcome: outcomeRetried},
	{name: "503 from a load balancer", status: http.StatusServiceUnavailable, body: []byte("<html><body>503 Service Unavailable</body></html>"),
		times: 2, outcome: outcomeRetried},
}

// TestProviderErrors: each Graph error the send worker can meet leads to
// the right outcome for the message, its job and its channel.
func TestProviderErrors(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			for _, c := range providerErrorCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					a := d.start(t)
					a.templatesSynced() // so that the faults meet the send, not the first sync
					to := "+" + a.customerWrote(1)
					status, gerr := metagraph.KnownError(c.code)
					switch {
					case c.outcome == outcomeUnhealthy:
						a.graph.RevokeToken(metagraph.DefaultToken)
					case c.body != nil:
						a.graph.Inject(c.times, metagraph.Fault{Status: c.status, Body: c.body, Header: http.Header{"Content-Type": {"text/html"}},
							Path: "/messages"})
					default:
						a.graph.Inject(c.times, metagraph.Fault{Status: status, Error: gerr, Path: "/messages"})
					}
					id := a.mustAccept(textReq(to, "Seu pedido saiu para entrega."))
					switch c.outcome {
					case outcomeFailed:
						checkFailed(t, a, id, c.code, gerr, c.reason)
					case outcomeSnoozed:
						checkSnoozed(t, a, id, c.code, c.times)
					case outcomeRetried:
						checkRetried(t, a, id, c.times)
					case outcomeUnhealthy:
						checkUnhealthy(t, a, id)
					}
				})
			}
		})
	}
}

// checkFailed: the message fails with the vendor's code and text, and
// the job is not retried.
func checkFailed(t *testing.T, a *app, id string, code int, gerr metagraph.GraphError, reason string) {
	m := a.waitMessageStatus(id, parley.StatusFailed)
	e := m.Error
	if e == nil || e.Code != strconv.Itoa(code) || e.Reason != reason || e.Message != gerr.Message || e.Details != gerr.Details || e.Title == "" {
		t.Errorf("error %+v; want code %d, reason %s, the vendor's message %q and details %q", e, code, reason, gerr.Message, gerr.Details)
	}
	if n := timelineHas(m, parley.StatusFailed); n != 1 || timelineHas(m, parley.StatusSent) != 0 {
		t.Errorf("timeline %+v; want one failed step and no sent", m.Timeline)
	}
	a.eventually("the send job is discarded", func() bool { return a.sendJobOf(id).State == "discarded" })
	if j := a.sendJobOf(id); j.Attempt != 1 || !strings.Contains(j.LastError, strconv.Itoa(code)) {
		t.Errorf("job %+v; want one attempt, ending with the vendor's code", j)
	}
	if n := a.sendRequestsFor(id); n != 1 {
		t.Errorf("the fake saw %d sends, want 1: a refusal is not retried", n)
	}
}

// checkSnoozed: a rate limit puts the message back in the queue without
// failing it or using an attempt; it goes out once the limit is over.
func checkSnoozed(t *testing.T, a *app, id string, code, failures int) {
	a.eventually("the rate-limited send is snoozed", func() bool {
		m := a.message(id)
		j := a.sendJobOf(id)
		return a.sendRequestsFor(id) >= 1 && m.Status == parley.StatusQueued && m.Error != nil && j.State == "available" && j.Snoozes >= 1
	})
	m := a.message(id)
	if m.Error.Code != strconv.Itoa(code) || m.Error.Reason != "rate_limited" {
		t.Errorf("error %+v while snoozed; want code %d, reason rate_limited", m.Error, code)
	}
	if j := a.sendJobOf(id); j.Attempt != 0 {
		t.Errorf("job %+v while snoozed; a rate limit must not use an attempt", j)
	}
	m = a.waitMessageStatus(id, parley.StatusSent)
	if m.Error != nil || timelineHas(m, parley.StatusFailed) != 0 {
		t.Errorf("sent with error %+v, timeline %+v", m.Error, m.Timeline)
	}
	a.eventually("the send job completes", func() bool { return a.sendJobOf(id).State == "completed" })
	if j := a.sendJobOf(id); j.Attempt != 1 || j.Snoozes != failures {
		t.Errorf("job %+v; want 1 attempt and %d snoozes", j, failures)
	}
	if n := a.sendRequestsFor(id); n != failures+1 {
		t.Errorf("the fake saw %d sends, want %d", n, failures+1)
	}
}

// checkRetried: Meta's own trouble is retried with backoff until the
// send goes through.
func checkRetried(t *testing.T, a *app, id string, failures int) {
	m := a.waitMessageStatus(id, parley.StatusSent)
	if m.Error != nil || timelineHas(m, parley.StatusFailed) != 0 || m.ProviderMessageID != a.sentFor(id).ID {
		t.Errorf("sent as %q with error %+v, timeline %+v", m.ProviderMessageID, m.Error, m.Timeline)
	}
	a.eventually("the send job completes", func() bool { return a.sendJobOf(id).State == "completed" })
	if j := a.sendJobOf(id); j.Attempt != failures+1 || j.LastError == "" {
		t.Errorf("job %+v; want %d attempts, the failed ones recorded", j, failures+1)
	}
	if n := a.sendRequestsFor(id); n != failures+1 {
		t.Errorf("the fake saw %d sends, want %d", n, failures+1)
	}
}

// checkUnhealthy: a rejected token marks the channel unhealthy with the
// reason, and its sends wait (neither sent nor failed) until an admin
// saves a new token, after which they go out.
func checkUnhealthy(t *testing.T, a *app, id string) {
	a.eventually("the channel turns unhealthy", func() bool {
		if s := a.message(id).Status; s != parley.StatusQueued && s != parley.StatusSending {
			t.Fatalf("the message is %s while the token is revoked", s)
		}
		return a.channelHealth().Status == parley.HealthUnhealthy
	})
	if h := a.channelHealth(); !strings.Contains(h.Reason, "190") {
		t.Errorf("health %+v; want a reason naming code 190", h)
	}
	a.eventually("the send waits, saying why", func() bool { return a.message(id).Error != nil && a.sendJobOf(id).State == "available" })
	m := a.message(id)
	if m.Status != parley.StatusQueued || m.Error.Code != "190" || m.Error.Reason != "unauthorized" {
		t.Errorf("message %s with error %+v; want queued, code 190, reason unauthorized", m.Status, m.Error)
	}
	if j := a.sendJobOf(id); j.Attempt != 0 || j.Snoozes != 1 {
		t.Errorf("job %+v; want it snoozed, without using an attempt", j)
	}

	// The admin rotates the token; Meta knows the new one.
	const token = "EAANewRotatedToken"
	a.graph.AddPhone(metagraph.Phone{ID: metagraph.DefaultPhoneNumberID, WABAID: metagraph.DefaultWABAID,
		DisplayPhone: metagraph.DefaultDisplayPhone, Token: token})
	var ch struct {
		Health parley.ChannelHealth `json:"health"`
	}
	a.must(a.do("PATCH", "/v1/channels/"+a.channelID, a.keyA, map[string]any{"meta": map[string]any{"access_token": token}}), http.StatusOK, &ch)
	if ch.Health.Status != parley.HealthHealthy || ch.Health.Reason != "" {
		t.Errorf("health %+v after saving a new token", ch.Health)
	}
	m = a.waitMessageStatus(id, parley.StatusSent)
	if m.Error != nil || timelineHas(m, parley.StatusFailed) != 0 || timelineHas(m, parley.StatusSent) != 1 {
		t.Errorf("sent with error %+v, timeline %+v", m.Error, m.Timeline)
	}
	if h := a.channelHealth(); h.Status != parley.HealthHealthy {
		t.Errorf("health %+v after the send", h)
	}
	if n := a.sendRequestsFor(id); n != 2 {
		t.Errorf("the fake saw %d sends, want 2 (refused, then sent)", n)
	}
	if s := a.sentFor(id); s.ID != m.ProviderMessageID {
		t.Errorf("provider ID %q, the fake returned %q", m.ProviderMessageID, s.ID)
	}
	var last metagraph.Request
	for _, r := range a.graph.Requests() {
		if strings.HasSuffix(r.Path, "/messages") {
			last = r
		}
	}
	if got := last.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("the last send used %q, want the new token", got)
	}
}

// TestSendMaxAttempts: a send that keeps failing for temporary reasons
// ends failed after MaxSendAttempts, with the last vendor error on it.
func TestSendMaxAttempts(t *testing.T) {
	a := startApp(t)
	a.m.Messaging.MaxSendAttempts = 3
	to := "+" + a.customerWrote(1)
	status, gerr := metagraph.KnownError(131000)
	a.graph.Inject(1000, metagraph.Fault{Status: status, Error: gerr, Path: "/messages"})
	id := a.mustAccept(textReq(to, "Olá"))
	m := a.waitMessageStatus(id, parley.StatusFailed)
	e := m.Error
	if e == nil || e.Reason != "max_attempts" || e.Code != "131000" || !strings.Contains(e.Message, "3 attempts") ||
		!strings.Contains(e.Message, gerr.Message) || e.Details != gerr.Details {
		t.Errorf("error %+v; want reason max_attempts with the last vendor error (code 131000, %q)", e, gerr.Message)
	}
	if timelineHas(m, parley.StatusFailed) != 1 {
		t.Errorf("timeline %+v", m.Timeline)
	}
	a.eventually("the send job is discarded", func() bool { return a.sendJobOf(id).State == "discarded" })
	if j := a.sendJobOf(id); j.Attempt != 3 {
		t.Errorf("job %+v; want 3 attempts", j)
	}
	if n := a.sendRequestsFor(id); n != 3 {
		t.Errorf("the fake saw %d sends, want 3", n)
	}
}

// TestInterruptedSend: Meta takes a send but its answer is lost (the
// client times out after SendTimeout). The worker cannot know whether the
// message went out, so it does not send again at once: it waits
// ReconcileWait for a status webhook carrying our message ID as
// biz_opaque_callback_data.
func TestInterruptedSend(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Run("a status arrives", func(t *testing.T) {
				t.Parallel()
				testInterruptedSend(t, d.start(t), true)
			})
			// When no status arrives within ReconcileWait the message is
			// sent again. This is a choice: it risks a duplicate (the
			// first send may have gone out and its webhooks be delayed or
			// lost) rather than lose the message for good when webhooks
			// are down or misconfigured.
			t.Run("no status arrives", func(t *testing.T) {
				t.Parallel()
				testInterruptedSend(t, d.start(t), false)
			})
		})
	}
}

func testInterruptedSend(t *testing.T, a *app, statusArrives bool) {
	waid := a.customerWrote(1)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	var mu sync.Mutex
	var bodies [][]byte
	a.graph.OnMessage(func(body []byte) (int, []byte, bool) {
		mu.Lock()
		first := len(bodies) == 0
		bodies = append(bodies, body)
		mu.Unlock()
		if !first {
			return 0, nil, false // later sends get the fake's usual answer
		}
		// Meta got the message, but the answer comes only after the
		// client gave up.
		<-release
		return http.StatusOK, []byte(`{"messaging_product":"whatsapp","contacts":[{"input":"x","wa_id":"x"}],"messages":[{"id":"wamid.lost"}]}`), true
	})
	id := a.mustAccept(textReq("+"+waid, "Seu código é 4242"))
	a.eventually("the worker gives up waiting for the answer", func() bool {
		mu.Lock()
		got := len(bodies)
		mu.Unlock()
		j := a.sendJobOf(id)
		return got == 1 && j.State == "available" && j.Snoozes >= 1
	})
	once.Do(func() { close(release) })
	m := a.message(id)
	if m.Status != parley.StatusSending || m.ProviderMessageID != "" || m.Error != nil {
		t.Errorf("message %s %q %+v while the outcome is unknown; want sending, with no provider ID or error", m.Status, m.ProviderMessageID, m.Error)
	}
	if j := a.sendJobOf(id); j.Attempt != 0 {
		t.Errorf("job %+v; an ambiguous send must not use an attempt", j)
	}

	const wamid = "wamid.HBgLNTUxMTk4NzYwMDAwMRUCABEYEjQyRkFLRUxPU1RBTlNXRVIA"
	if statusArrives {
		body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"value":{
			"messaging_product":"whatsapp","metadata":{"display_phone_number":%q,"phone_number_id":%q},
			"statuses":[{"id":%q,"status":"sent","timestamp":"%d","recipient_id":%q,"biz_opaque_callback_data":%q,
			"pricing":{"billable":true,"pricing_model":"PMP","type":"regular","category":"utility"}}]},"field":"messages"}]}]}`,
			metagraph.DefaultWABAID, metagraph.DefaultDisplayPhone, metagraph.DefaultPhoneNumberID, wamid, time.Now().Unix(), waid, id)
		a.must(a.webhook(body, metagraph.DefaultAppSecret), http.StatusOK, nil)
		m = a.message(id)
		if m.Status != parley.StatusSent || m.ProviderMessageID != wamid {
			t.Errorf("message %s %q after the status webhook; want sent as %s", m.Status, m.ProviderMessageID, wamid)
		}
	}
	// Past ReconcileWait the job runs again and finishes.
	a.eventually("the send job completes", func() bool { return a.sendJobOf(id).State == "completed" })
	m = a.message(id)
	mu.Lock()
	n := len(bodies)
	mu.Unlock()
	if statusArrives {
		if n != 1 || a.sendRequestsFor(id) != 1 {
			t.Errorf("the fake saw %d sends (%d requests), want exactly 1: the status reconciled the first", n, a.sendRequestsFor(id))
		}
		if m.Status != parley.StatusSent || m.ProviderMessageID != wamid || timelineHas(m, parley.StatusSent) != 1 {
			t.Errorf("message %s %q, timeline %+v", m.Status, m.ProviderMessageID, m.Timeline)
		}
		return
	}
	if n != 2 || a.sendRequestsFor(id) != 2 {
		t.Fatalf("the fake saw %d sends, want 2: the message is sent again", n)
	}
	if string(bodies[0]) != string(bodies[1]) {
		t.Errorf("the second send differs from the first:\n%s\n%s", bodies[0], bodies[1])
	}
	if s := a.sentFor(id); m.Status != parley.StatusSent || m.ProviderMessageID != s.ID || m.Error != nil {
		t.Errorf("message %s %q %+v; want sent as %s", m.Status, m.ProviderMessageID, m.Error, s.ID)
	}
}
