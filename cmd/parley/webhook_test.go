package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/internal/specs"
	"github.com/parleyhq/parley/phone"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

// Tests of the Meta webhook receiver against the running server: the
// subscription handshake, signature checks, routing, and every vendor
// payload of testdata/specs/meta going through to storage.

// hookEntry is one entry of a test webhook: a WhatsApp Business Account
// and its changes.
type hookEntry struct {
	waba    string
	changes []hookChange
}

// hookChange is one change: a field and its value.
type hookChange struct {
	field string
	value map[string]any
}

// metaWebhookBody builds a webhook body as Meta sends it, non-ASCII
// characters escaped as \uXXXX.
func metaWebhookBody(t testing.TB, entries ...hookEntry) []byte {
	t.Helper()
	var es []any
	for _, e := range entries {
		var cs []any
		for _, c := range e.changes {
			cs = append(cs, map[string]any{"field": c.field, "value": c.value})
		}
		es = append(es, map[string]any{"id": e.waba, "changes": cs})
	}
	b, err := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": es})
	if err != nil {
		t.Fatal(err)
	}
	return metagraph.EscapeNonASCII(b)
}

// numberValue is a change value for the business number phoneNumberID,
// with the given keys (contacts, messages, statuses, …) added.
func numberValue(phoneNumberID, display string, kv map[string]any) map[string]any {
	v := map[string]any{"messaging_product": "whatsapp",
		"metadata": map[string]any{"display_phone_number": display, "phone_number_id": phoneNumberID}}
	maps.Copy(v, kv)
	return v
}

// testValue is a change value for the test channel.
func testValue(kv map[string]any) map[string]any {
	return numberValue(metagraph.DefaultPhoneNumberID, metagraph.DefaultDisplayPhone, kv)
}

// testWebhook is a one-change webhook for the test channel.
func testWebhook(t testing.TB, field string, kv map[string]any) []byte {
	return metaWebhookBody(t, hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{{field, testValue(kv)}}})
}

// deliver posts a body signed with the test channel's app secret and
// requires 200.
func (a *app) deliver(body []byte) {
	a.t.Helper()
	a.must(a.webhook(body, metagraph.DefaultAppSecret), http.StatusOK, nil)
}

var wamidSeq atomic.Int64

// newWAMID returns a message ID no other test message has.
func newWAMID() string {
	return fmt.Sprintf("wamid.inbound.%d.%d", time.Now().UnixNano(), wamidSeq.Add(1))
}

// customer is a contacts[] item.
func customer(waid, name string) map[string]any {
	return map[string]any{"profile": map[string]any{"name": name}, "wa_id": waid}
}

// textFrom is an inbound text message.
func textFrom(waid, id, text string) map[string]any {
	return map[string]any{"from": waid, "id": id, "timestamp": fmt.Sprint(time.Now().Unix()), "type": "text",
		"text": map[string]any{"body": text}}
}

// statusOf is a statuses[] item.
func statusOf(wamid, status, recipient string) map[string]any {
	return map[string]any{"id": wamid, "status": status, "timestamp": fmt.Sprint(time.Now().Unix()), "recipient_id": recipient}
}

// queryInt runs a query returning one number.
func (a *app) queryInt(q string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.m.DB.Reader().QueryRow(q, args...).Scan(&n); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// queryString runs a query returning one text value.
func (a *app) queryString(q string, args ...any) string {
	a.t.Helper()
	var s string
	if err := a.m.DB.Reader().QueryRow(q, args...).Scan(&s); err != nil {
		a.t.Fatalf("%s: %v", q, err)
	}
	return s
}

// waitJobsIdle waits until no job is waiting or running, retries
// included, so that what jobs do is part of the state compared.
func (a *app) waitJobsIdle() {
	a.t.Helper()
	a.eventually("the job queue drains", func() bool {
		return a.queryInt(`SELECT COUNT(*) FROM jobs WHERE state IN ('available', 'running')`) == 0
	})
}

// tableCounts counts the rows of tables.
func (a *app) tableCounts(tables ...string) map[string]int {
	a.t.Helper()
	out := map[string]int{}
	for _, t := range tables {
		out[t] = a.count(t)
	}
	return out
}

// ingestState is what a webhook delivery can change, to compare a state
// before and after redeliveries.
type ingestState struct {
	Counts        map[string]int
	Messages      []string // id, status, provider ID
	Conversations []string // id, unread count, last inbound
}

func (a *app) ingestState() ingestState {
	a.t.Helper()
	s := ingestState{Counts: a.tableCounts("messages", "contacts", "conversations", "message_statuses", "message_reactions",
		"unhandled_events", "media", "templates", "jobs", "orphan_statuses")}
	rows, err := a.m.DB.Reader().Query(`SELECT id, status, COALESCE(provider_message_id, '') FROM messages ORDER BY id`)
	if err != nil {
		a.t.Fatal(err)
	}
	for rows.Next() {
		var id, status, pid string
		if err := rows.Scan(&id, &status, &pid); err != nil {
			a.t.Fatal(err)
		}
		s.Messages = append(s.Messages, id+" "+status+" "+pid)
	}
	rows.Close()
	rows, err = a.m.DB.Reader().Query(`SELECT id, unread_count, COALESCE(last_inbound_at, 0) FROM conversations ORDER BY id`)
	if err != nil {
		a.t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var unread int
		var last int64
		if err := rows.Scan(&id, &unread, &last); err != nil {
			a.t.Fatal(err)
		}
		s.Conversations = append(s.Conversations, fmt.Sprintf("%s unread=%d last_inbound=%d", id, unread, last))
	}
	rows.Close()
	return s
}

func diffStates(t *testing.T, what string, before, after ingestState) {
	t.Helper()
	if reflect.DeepEqual(before, after) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(before.Counts)) {
		if before.Counts[k] != after.Counts[k] {
			t.Errorf("%s: %s %d → %d", what, k, before.Counts[k], after.Counts[k])
		}
	}
	if !slices.Equal(before.Messages, after.Messages) {
		t.Errorf("%s: messages changed:\nbefore %q\nafter  %q", what, before.Messages, after.Messages)
	}
	if !slices.Equal(before.Conversations, after.Conversations) {
		t.Errorf("%s: conversations changed:\nbefore %q\nafter  %q", what, before.Conversations, after.Conversations)
	}
}

func TestWebhookHandshake(t *testing.T) {
	a := startApp(t)
	for _, tc := range []struct {
		name        string
		mode, token string
		challenge   string
		status      int
	}{
		{"subscribe", "subscribe", testVerifyToken, "1158201444", http.StatusOK},
		{"wrong token", "subscribe", "meatyhamhock", "1158201444", http.StatusForbidden},
		{"no token", "subscribe", "", "1158201444", http.StatusForbidden},
		{"wrong mode", "unsubscribe", testVerifyToken, "1158201444", http.StatusForbidden},
		{"no mode", "", testVerifyToken, "1158201444", http.StatusForbidden},
		{"no challenge", "subscribe", testVerifyToken, "", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range map[string]string{"hub.mode": tc.mode, "hub.verify_token": tc.token, "hub.challenge": tc.challenge} {
				if v != "" {
					q.Set(k, v)
				}
			}
			r := a.do("GET", "/webhooks/meta?"+q.Encode(), "", nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status == http.StatusOK {
				if string(r.body) != tc.challenge {
					t.Errorf("body %q, want exactly the challenge %q", r.body, tc.challenge)
				}
				return
			}
			if code, _ := r.apiError(); code != "forbidden" {
				t.Errorf("error code %q, want forbidden", code)
			}
			if bytes.Contains(r.body, []byte(tc.challenge)) && tc.challenge != "" {
				t.Errorf("a refused handshake echoed the challenge: %s", r.body)
			}
		})
	}
}

// Tenant B's number, on the same fake Graph API, with its own app.
const (
	phoneB     = "209876543210987"
	wabaB      = "309876543210987"
	displayB   = "15550001111"
	tokenB     = "EAAFakeAccessTokenB"
	appSecretB = "tenant_b_app_secret"
)

// connectTenantB connects tenant B's own Meta number and returns its
// channel ID.
func (a *app) connectTenantB() string {
	a.t.Helper()
	a.graph.AddPhone(metagraph.Phone{ID: phoneB, WABAID: wabaB, DisplayPhone: displayB, Token: tokenB})
	var out struct {
		ID string `json:"id"`
	}
	a.must(a.do("POST", "/v1/channels", a.keyB, map[string]any{"provider": "meta", "phone_number": "+" + displayB, "meta": map[string]any{
		"phone_number_id": phoneB, "waba_id": wabaB, "access_token": tokenB, "app_secret": appSecretB,
		"verify_token": "verify-token-b", "graph_url": a.graph.URL, "api_version": a.graph.Version,
	}}), http.StatusCreated, &out)
	return out.ID
}

// TestWebhookTooLarge posts a signed body over the 4 MB limit. It runs in
// parallel: after refusing a body still being sent, the HTTP server
// lingers half a second before closing, which the app's shutdown waits for.
func TestWebhookTooLarge(t *testing.T) {
	t.Parallel()
	a := startApp(t)
	a.waitJobsIdle()
	tables := []string{"messages", "contacts", "conversations", "unhandled_events", "events", "jobs"}
	before := a.tableCounts(tables...)
	big := append([]byte(`{"object":"whatsapp_business_account","entry":[],"padding":"`), bytes.Repeat([]byte("x"), 4<<20)...)
	big = append(big, `"}`...)
	r := a.webhook(big, metagraph.DefaultAppSecret)
	if code, _ := r.apiError(); r.status != http.StatusRequestEntityTooLarge || code != "too_large" {
		t.Fatalf("%d %s, want 413 too_large", r.status, r.body)
	}
	if after := a.tableCounts(tables...); !maps.Equal(before, after) {
		t.Errorf("a refused delivery stored something: %v → %v", before, after)
	}
	// Just under the limit is read, and refused only if not signed.
	ok := append([]byte(`{"object":"whatsapp_business_account","entry":[],"padding":"`), bytes.Repeat([]byte("x"), 4<<20-100)...)
	ok = append(ok, `"}`...)
	if r := a.webhook(ok, "not-the-secret"); r.status != http.StatusUnauthorized {
		t.Errorf("a body under the limit: %d, want 401 for its bad signature", r.status)
	}
}

// TestWebhookForged checks that nothing is stored from a delivery whose
// signature is missing, wrong, computed over other bytes, or made with
// another tenant's app secret.
func TestWebhookForged(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testWebhookForged(t, startApp(t)) })
	t.Run("postgres", func(t *testing.T) { testWebhookForged(t, startApp(t, onPostgres(t))) })
}

func testWebhookForged(t *testing.T, a *app) {
	channelB := a.connectTenantB()
	// Text with accents: Meta signs the escaped form.
	msgA := newWAMID()
	bodyA := testWebhook(t, "messages", map[string]any{
		"contacts": []any{customer("5511987650001", "Joana")},
		"messages": []any{textFrom("5511987650001", msgA, "Olá, quero cancelar a assinatura — obrigado!")},
	})
	// The same, but naming B's number too.
	bodyBoth := metaWebhookBody(t,
		hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{{"messages", testValue(map[string]any{
			"contacts": []any{customer("5511987650001", "Joana")},
			"messages": []any{textFrom("5511987650001", newWAMID(), "Oi")}})}}},
		hookEntry{waba: wabaB, changes: []hookChange{{"messages", numberValue(phoneB, displayB, map[string]any{
			"contacts": []any{customer("5511987650002", "Rui")},
			"messages": []any{textFrom("5511987650002", newWAMID(), "Oi")}})}}})
	var v any
	if err := json.Unmarshal(bodyA, &v); err != nil {
		t.Fatal(err)
	}
	reencoded, _ := json.Marshal(v)
	if bytes.Equal(reencoded, bodyA) {
		t.Fatal("re-encoding did not change the bytes; the test would prove nothing")
	}

	a.waitJobsIdle() // the channels' first template syncs
	tables := []string{"messages", "contacts", "conversations", "unhandled_events", "events", "jobs", "orphan_statuses", "message_statuses"}
	before := a.tableCounts(tables...)
	for _, tc := range []struct {
		name   string
		body   []byte
		sig    string // "-" for no header
		status int
		code   string
	}{
		{"missing signature", bodyA, "-", http.StatusUnauthorized, "unauthorized"},
		{"empty signature", bodyA, "", http.StatusUnauthorized, "unauthorized"},
		{"wrong secret", bodyA, meta.Sign(bodyA, "not-the-app-secret"), http.StatusUnauthorized, "unauthorized"},
		{"malformed header", bodyA, "sha256=" + strings.Repeat("z", 64), http.StatusUnauthorized, "unauthorized"},
		{"uppercase hex", bodyA, "sha256=" + strings.ToUpper(strings.TrimPrefix(meta.Sign(bodyA, metagraph.DefaultAppSecret), "sha256=")),
			http.StatusUnauthorized, "unauthorized"},
		{"body re-serialized after signing", reencoded, meta.Sign(bodyA, metagraph.DefaultAppSecret), http.StatusUnauthorized, "unauthorized"},
		{"tenant B's secret on A's number", bodyA, meta.Sign(bodyA, appSecretB), http.StatusUnauthorized, "unauthorized"},
		{"tenant B's secret naming both numbers", bodyBoth, meta.Sign(bodyBoth, appSecretB), http.StatusUnauthorized, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.sig == "-" {
				r = a.webhook(tc.body, "")
			} else {
				r = a.webhookSigned(tc.body, tc.sig)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if code, _ := r.apiError(); code != tc.code {
				t.Errorf("error code %q, want %q", code, tc.code)
			}
			if after := a.tableCounts(tables...); !maps.Equal(before, after) {
				t.Errorf("a refused delivery stored something: %v → %v", before, after)
			}
		})
	}

	// The same bodies, properly signed, are accepted and land with their
	// own tenant: the refusals above were about the signature alone.
	a.deliver(bodyA)
	if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE provider_message_id = $1 AND tenant_id = $2`, msgA, a.tenantA.ID); n != 1 {
		t.Fatalf("the genuine delivery stored %d messages for tenant A, want 1", n)
	}
	bodyB := metaWebhookBody(t, hookEntry{waba: wabaB, changes: []hookChange{{"messages", numberValue(phoneB, displayB, map[string]any{
		"contacts": []any{customer("5511987650002", "Rui")}, "messages": []any{textFrom("5511987650002", newWAMID(), "Oi")}})}}})
	a.must(a.webhook(bodyB, appSecretB), http.StatusOK, nil)
	if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND tenant_id = $2`, channelB, a.tenantB.ID); n != 1 {
		t.Fatalf("tenant B's own delivery stored %d messages on its channel, want 1", n)
	}
	// A body that names no number (360dialog's bare value) goes to the
	// channel whose secret signed it.
	bare := specs.Read(t, "meta", "community-fixtures", "chatwoot-360dialog-onprem-text-no-envelope.json")
	if bytes.Contains(bare, []byte("phone_number_id")) {
		t.Fatal("the 360dialog fixture names a number; pick one that does not")
	}
	a.must(a.webhook(bare, appSecretB), http.StatusOK, nil)
	if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE channel_id = $1`, channelB); n != 2 {
		t.Fatalf("tenant B's channel has %d messages after a bare body signed with its secret, want 2", n)
	}
	if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE tenant_id = $1`, a.tenantA.ID); n != 1 {
		t.Fatalf("tenant A has %d messages after B's deliveries, want its 1", n)
	}
}

// specPayload is one vendor webhook body, ready to post.
type specPayload struct {
	name string
	body []byte
}

var (
	phoneNumberIDField = regexp.MustCompile(`("phone_number_id"\s*:\s*)"[^"]*"`)
	metaMediaHost      = regexp.MustCompile(`https://lookaside\.fbsbx\.com`)
)

// specPayloads returns every webhook body of testdata/specs/meta (each
// community fixture, each doc example but the GET handshake, each request
// example of the OpenAPI webhook) as the test channel would get it: its
// phone_number_id rewritten to the channel's, Meta's media host pointed at
// the fake (so nothing leaves the machine), and non-ASCII escaped as Meta
// sends it.
func specPayloads(t *testing.T, graphURL string) []specPayload {
	t.Helper()
	var out []specPayload
	add := func(name string, b []byte) {
		b = phoneNumberIDField.ReplaceAll(b, []byte(`${1}"`+metagraph.DefaultPhoneNumberID+`"`))
		b = metaMediaHost.ReplaceAll(b, []byte(graphURL))
		out = append(out, specPayload{name, metagraph.EscapeNonASCII(b)})
	}
	for _, pattern := range []string{"meta/community-fixtures/*.json", "meta/doc-examples/*.json"} {
		for _, path := range specs.Glob(t, pattern) {
			if filepath.Base(path) == "webhook-verification-request.json" {
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			add(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), b)
		}
	}
	var oas struct {
		RequestExamples map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"request_examples"`
	}
	if err := json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "webhook-incoming.json"), &oas); err != nil {
		t.Fatal(err)
	}
	if len(oas.RequestExamples) == 0 {
		t.Fatal("webhook-incoming.json has no request examples")
	}
	for _, name := range slices.Sorted(maps.Keys(oas.RequestExamples)) {
		add("openapi/"+name, oas.RequestExamples[name].Value)
	}
	return out
}

// TestWebhookSpecPayloads posts every vendor payload to the server and
// checks that each event it holds was stored, then that redelivering them
// all changes nothing.
func TestWebhookSpecPayloads(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testWebhookSpecPayloads(t, startApp(t)) })
	t.Run("postgres", func(t *testing.T) { testWebhookSpecPayloads(t, startApp(t, onPostgres(t))) })
}

func testWebhookSpecPayloads(t *testing.T, a *app) {
	payloads := specPayloads(t, a.graph.URL)
	// The fake has every file the payloads name, and the templates they
	// review, so downloads and syncs succeed and the state settles.
	var templates []map[string]any
	reviewed := map[string]bool{}
	for _, p := range payloads {
		b, err := meta.ParseWebhook(p.body)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		for _, m := range b.Messages {
			if md := m.Content.Media; md != nil && md.ProviderMediaID != "" {
				a.graph.AddMedia(md.ProviderMediaID, cmp.Or(md.MIMEType, "application/octet-stream"), []byte("file of "+md.ProviderMediaID))
			}
		}
		for _, tu := range b.Templates {
			if reviewed[tu.Name+"/"+tu.Language] {
				continue
			}
			reviewed[tu.Name+"/"+tu.Language] = true
			templates = append(templates, map[string]any{"id": tu.ProviderTemplateID, "name": tu.Name, "language": tu.Language,
				"status": strings.ToUpper(tu.Status), "category": strings.ToUpper(tu.Category), "parameter_format": "POSITIONAL",
				"components": []any{map[string]any{"type": "BODY", "text": "Hello {{1}}"}}})
		}
	}
	if len(templates) == 0 {
		t.Fatal("no payload reviews a template")
	}
	a.waitJobsIdle() // the channel's first sync, before the fake has templates
	a.graph.SetTemplates(metagraph.DefaultWABAID, templates)

	seen := map[string]bool{} // provider message IDs delivered so far
	for _, p := range payloads {
		start := time.Now().UnixMilli()
		r := a.webhook(p.body, metagraph.DefaultAppSecret)
		if r.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", p.name, r.status, r.body)
			continue
		}
		b, _ := meta.ParseWebhook(p.body)
		if b.Len() == 0 {
			t.Errorf("%s: parsed to nothing", p.name)
		}
		a.checkStored(t, p.name, b, start, seen)
	}
	a.waitJobsIdle()
	if n := a.queryInt(`SELECT COUNT(*) FROM media WHERE status <> 'ready'`); n != 0 {
		t.Errorf("%d inbound files were not downloaded", n)
	}
	if n := a.queryInt(`SELECT COUNT(*) FROM templates WHERE channel_id = $1`, a.channelID); n != len(templates) {
		t.Errorf("%d templates after the syncs the reviews set off, want %d", n, len(templates))
	}

	// Meta redelivers whatever it thinks was not acknowledged: twice more,
	// everything, must leave the same state.
	first := a.ingestState()
	t.Logf("%d payloads stored %v", len(payloads), first.Counts)
	if first.Counts["messages"] == 0 || first.Counts["message_statuses"] == 0 || first.Counts["unhandled_events"] == 0 {
		t.Fatalf("the payloads stored too little to compare: %v", first.Counts)
	}
	for range 2 {
		for _, p := range payloads {
			if r := a.webhook(p.body, metagraph.DefaultAppSecret); r.status != http.StatusOK {
				t.Fatalf("redelivery of %s: status %d: %s", p.name, r.status, r.body)
			}
		}
	}
	a.waitJobsIdle()
	diffStates(t, "after 3 deliveries of every payload", first, a.ingestState())
}

// checkStored checks that every event of a parsed delivery is in the
// database: messages stored (or, without any usable identity, kept as
// unhandled), statuses applied or kept until their message comes,
// template reviews applied or a sync queued, the rest kept as unhandled.
// A message whose provider ID an earlier payload already delivered is a
// redelivery (the fixtures reuse IDs): it must not be stored twice, and
// the first one's content stays.
func (a *app) checkStored(t *testing.T, name string, b *whatsapp.Batch, start int64, seen map[string]bool) {
	t.Helper()
	for _, m := range b.Messages {
		pid := m.Content.ProviderMessageID
		first := !seen[pid]
		seen[pid] = true
		var typ, dir, sentBy string
		err := a.m.DB.Reader().QueryRow(`SELECT type, direction, sent_by_kind FROM messages WHERE channel_id = $1 AND provider_message_id = $2`,
			a.channelID, pid).Scan(&typ, &dir, &sentBy)
		if err == nil {
			wantDir, wantBy := "in", "contact"
			if m.Echo {
				wantDir, wantBy = "out", "phone_app"
			}
			if first && (typ != string(m.Content.Type) || dir != wantDir || sentBy != wantBy) {
				t.Errorf("%s: message %s stored as %s/%s by %s, want %s/%s by %s", name, pid, typ, dir, sentBy, m.Content.Type, wantDir, wantBy)
			}
			continue
		}
		if phone.Key(phone.FromWAID(m.Contact.WAID)) != "" || m.Contact.BSUID != "" {
			t.Errorf("%s: message %s from %+v was not stored", name, pid, m.Contact)
			continue
		}
		if a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE channel_id = $1 AND field = 'messages' AND payload LIKE $2`,
			a.channelID, "%"+pid+"%") == 0 {
			t.Errorf("%s: message %s without identity was neither stored nor kept as unhandled", name, pid)
		}
	}
	for _, st := range b.Statuses {
		applied := a.queryInt(`SELECT COUNT(*) FROM message_statuses s JOIN messages m ON m.id = s.message_id
			WHERE m.channel_id = $1 AND m.provider_message_id = $2 AND s.status = $3`, a.channelID, st.ProviderMessageID, string(st.Status))
		kept := a.queryInt(`SELECT COUNT(*) FROM orphan_statuses WHERE channel_id = $1 AND provider_message_id = $2 AND status = $3`,
			a.channelID, st.ProviderMessageID, string(st.Status))
		if applied+kept == 0 {
			t.Errorf("%s: status %s of %s was neither applied nor kept for its message", name, st.Status, st.ProviderMessageID)
		}
	}
	for _, tu := range b.Templates {
		applied := a.queryInt(`SELECT COUNT(*) FROM templates WHERE channel_id = $1 AND (provider_template_id = $2 OR (name = $3 AND language = $4))
			AND status = $5`, a.channelID, tu.ProviderTemplateID, tu.Name, tu.Language, tu.Status)
		synced := a.queryInt(`SELECT COUNT(*) FROM jobs WHERE kind = 'templates.sync' AND (state IN ('available', 'running') OR created_at >= $1)`, start)
		if applied == 0 && synced == 0 {
			t.Errorf("%s: review of template %s/%s was neither applied nor set off a sync", name, tu.Name, tu.Language)
		}
	}
	for _, u := range b.Unhandled {
		if a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id = $1 AND channel_id = $2 AND field = $3 AND payload = $4`,
			a.tenantA.ID, a.channelID, u.Field, string(u.Raw)) != 1 {
			t.Errorf("%s: unhandled %q (%s) was not kept", name, u.Field, u.Reason)
		}
	}
}

// TestWebhookRedeliveredFiveTimes delivers one mixed payload five times in
// a row: the first changes the state, the next four nothing.
func TestWebhookRedeliveredFiveTimes(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testWebhookRedeliveredFiveTimes(t, startApp(t)) })
	t.Run("postgres", func(t *testing.T) { testWebhookRedeliveredFiveTimes(t, startApp(t, onPostgres(t))) })
}

func testWebhookRedeliveredFiveTimes(t *testing.T, a *app) {
	a.graph.AddMedia("media-five-times", "image/jpeg", jpeg(300))
	a.inbound("5511987650010", "Oi", time.Now())
	var sent struct{ ID string }
	a.must(a.sendText("+5511987650010", "Olá!"), http.StatusAccepted, &sent)
	a.eventually("the reply is sent", func() bool { return a.message(sent.ID).Status == "sent" })
	pid := a.message(sent.ID).ProviderMessageID
	image := map[string]any{"from": "5511987650011", "id": newWAMID(), "timestamp": fmt.Sprint(time.Now().Unix()), "type": "image",
		"image": map[string]any{"id": "media-five-times", "mime_type": "image/jpeg", "caption": "a foto"}}
	reaction := map[string]any{"from": "5511987650010", "id": newWAMID(), "timestamp": fmt.Sprint(time.Now().Unix()), "type": "reaction",
		"reaction": map[string]any{"message_id": pid, "emoji": "👍"}}
	body := metaWebhookBody(t, hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{
		{"messages", testValue(map[string]any{
			"contacts": []any{customer("5511987650011", "Ana"), customer("5511987650010", "Bia")},
			"messages": []any{textFrom("5511987650011", newWAMID(), "Bom dia"), image, reaction},
			"statuses": []any{statusOf(pid, "delivered", "5511987650010"), statusOf(newWAMID(), "read", "5511987650010")},
		})},
		{"account_update", testValue(map[string]any{"event": "VERIFIED_ACCOUNT"})},
	}})
	a.waitJobsIdle()
	before := a.ingestState()
	a.deliver(body)
	a.waitJobsIdle()
	first := a.ingestState()
	for table, delta := range map[string]int{"messages": 3, "contacts": 1, "conversations": 1, "message_reactions": 1, "media": 1,
		"orphan_statuses": 1, "unhandled_events": 1, "message_statuses": 1, "jobs": 1} {
		if got := first.Counts[table] - before.Counts[table]; got != delta {
			t.Errorf("the first delivery added %d rows to %s, want %d", got, table, delta)
		}
	}
	for range 4 {
		a.deliver(body)
	}
	a.waitJobsIdle()
	diffStates(t, "after 5 deliveries", first, a.ingestState())
}

// TestWebhookBatchedDelivery posts one body with two entries of two
// changes each, messages and statuses mixed: everything is stored.
func TestWebhookBatchedDelivery(t *testing.T) {
	a := startApp(t)
	a.inbound("5511987650020", "Oi", time.Now())
	var sent struct{ ID string }
	a.must(a.sendText("+5511987650020", "Olá!"), http.StatusAccepted, &sent)
	a.eventually("the reply is sent", func() bool { return a.message(sent.ID).Status == "sent" })
	pid := a.message(sent.ID).ProviderMessageID
	m1, m2, m3, unknown := newWAMID(), newWAMID(), newWAMID(), newWAMID()
	body := metaWebhookBody(t,
		hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{
			{"messages", testValue(map[string]any{"contacts": []any{customer("5511987650021", "Caio")},
				"messages": []any{textFrom("5511987650021", m1, "primeira")}})},
			{"messages", testValue(map[string]any{"statuses": []any{statusOf(pid, "delivered", "5511987650020")}})},
		}},
		hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{
			{"messages", testValue(map[string]any{"statuses": []any{statusOf(pid, "read", "5511987650020"), statusOf(unknown, "sent", "5511987650022")}})},
			{"messages", testValue(map[string]any{"contacts": []any{customer("5511987650022", "Duda")},
				"messages": []any{textFrom("5511987650022", m2, "segunda"), textFrom("5511987650022", m3, "terceira")}})},
		}})
	a.deliver(body)
	for _, id := range []string{m1, m2, m3} {
		if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND provider_message_id = $2`, a.channelID, id); n != 1 {
			t.Errorf("message %s stored %d times, want once", id, n)
		}
	}
	m := a.message(sent.ID)
	var steps []string
	for _, s := range m.Timeline {
		steps = append(steps, string(s.Status))
	}
	if m.Status != "read" || !slices.Contains(steps, "delivered") || !slices.Contains(steps, "read") {
		t.Errorf("sent message: status %s, timeline %v; want read, with delivered and read", m.Status, steps)
	}
	if n := a.queryInt(`SELECT COUNT(*) FROM orphan_statuses WHERE provider_message_id = $1`, unknown); n != 1 {
		t.Errorf("the status of an unknown message was kept %d times, want once", n)
	}
	var conv struct {
		UnreadCount int `json:"unread_count"`
	}
	a.must(a.do("GET", "/v1/conversations/"+a.message(a.messageID(m2)).ConversationID, a.keyA, nil), http.StatusOK, &conv)
	if conv.UnreadCount != 2 {
		t.Errorf("Duda's conversation has %d unread, want 2", conv.UnreadCount)
	}
}

// messageID returns Parley's ID of the test channel's message with a
// provider ID.
func (a *app) messageID(providerID string) string {
	a.t.Helper()
	return a.queryString(`SELECT id FROM messages WHERE channel_id = $1 AND provider_message_id = $2`, a.channelID, providerID)
}

// TestWebhookUnhandledAndUnrouted checks that change fields Parley does
// not interpret are kept with their field name, and that events for
// accounts no channel serves are kept without a tenant while the rest of
// the delivery is applied.
func TestWebhookUnhandledAndUnrouted(t *testing.T) {
	a := startApp(t)
	var oas struct {
		RequestExamples map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"request_examples"`
	}
	if err := json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "webhook-incoming.json"), &oas); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ example, field string }{
		{"Group Create Message", "group_lifecycle_update"},
		{"Group Settings Update", "group_settings_update"},
		{"Group Remove Participants", "group_participants_update"},
	} {
		ex, ok := oas.RequestExamples[tc.example]
		if !ok {
			t.Fatalf("no OpenAPI example %q", tc.example)
		}
		a.deliver(ex.Value)
		if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id = $1 AND channel_id = $2 AND field = $3 AND reason LIKE $4`,
			a.tenantA.ID, a.channelID, tc.field, "%"+tc.field+"%"); n != 1 {
			t.Errorf("%s: %d unhandled events with field %s, want 1", tc.example, n, tc.field)
		}
	}

	t.Run("message without identity", func(t *testing.T) {
		// Neither a phone nor a BSUID: no contact can hold it, so it is
		// kept verbatim rather than dropped.
		id := newWAMID()
		a.deliver(testWebhook(t, "messages", map[string]any{"messages": []any{map[string]any{"id": id,
			"timestamp": fmt.Sprint(time.Now().Unix()), "type": "text", "text": map[string]any{"body": "quem sou eu?"}}}}))
		if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE provider_message_id = $1`, id); n != 0 {
			t.Errorf("a message without identity was stored as a message (%d)", n)
		}
		if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id = $1 AND channel_id = $2 AND field = 'messages'
			AND payload LIKE $3`, a.tenantA.ID, a.channelID, "%"+id+"%"); n != 1 {
			t.Errorf("the message without identity was kept %d times, want once", n)
		}
	})

	t.Run("signed but not JSON", func(t *testing.T) {
		// Cut short in transit: signed, so Meta's, but unreadable. It is
		// kept for the channel it names, and acknowledged.
		body := testWebhook(t, "messages", map[string]any{"contacts": []any{customer("5511987650040", "Gil")},
			"messages": []any{textFrom("5511987650040", newWAMID(), "cortada")}})
		body = body[:len(body)-20]
		a.deliver(body)
		if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id = $1 AND channel_id = $2 AND payload LIKE $3`,
			a.tenantA.ID, a.channelID, "%cortada%"); n != 1 {
			t.Errorf("the unreadable body was kept %d times for the channel it names, want once", n)
		}
	})

	t.Run("unrouted", func(t *testing.T) {
		const stranger = "100000000000001"
		known, lost := newWAMID(), newWAMID()
		body := metaWebhookBody(t,
			hookEntry{waba: metagraph.DefaultWABAID, changes: []hookChange{{"messages", testValue(map[string]any{
				"contacts": []any{customer("5511987650030", "Eva")}, "messages": []any{textFrom("5511987650030", known, "oi")}})}}},
			hookEntry{waba: "100000000000002", changes: []hookChange{{"messages", numberValue(stranger, "15550009999", map[string]any{
				"contacts": []any{customer("5511987650031", "Ivo")}, "messages": []any{textFrom("5511987650031", lost, "oi")},
				"statuses": []any{statusOf(newWAMID(), "read", "5511987650031")}})}}})
		a.deliver(body)
		if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE channel_id = $1 AND provider_message_id = $2`, a.channelID, known); n != 1 {
			t.Errorf("the known number's message was stored %d times, want once", n)
		}
		if n := a.queryInt(`SELECT COUNT(*) FROM messages WHERE provider_message_id = $1`, lost); n != 0 {
			t.Errorf("the other number's message was stored as a message (%d)", n)
		}
		for _, field := range []string{"messages", "statuses"} {
			if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id IS NULL AND channel_id IS NULL AND field = $1
				AND reason LIKE $2`, field, "%"+stranger+"%"); n != 1 {
				t.Errorf("%d unrouted %s kept for %s, want 1", n, field, stranger)
			}
		}
		if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id IS NULL AND payload LIKE $1`, "%"+lost+"%"); n != 1 {
			t.Errorf("the unrouted message is not kept verbatim (%d)", n)
		}
	})

	t.Run("template review for another account", func(t *testing.T) {
		// Template reviews name only the WABA. One that no channel serves,
		// signed with an app secret Parley knows (one app often serves
		// several accounts), is not this channel's to apply.
		const otherWABA = "100000000000003"
		before := a.queryInt(`SELECT COUNT(*) FROM events WHERE tenant_id = $1`, a.tenantA.ID)
		body := metaWebhookBody(t, hookEntry{waba: otherWABA, changes: []hookChange{{"message_template_status_update", map[string]any{
			"event": "PAUSED", "message_template_id": 777000111, "message_template_name": "someone_elses", "message_template_language": "en",
			"reason": "Low quality"}}}})
		a.deliver(body)
		if n := a.queryInt(`SELECT COUNT(*) FROM unhandled_events WHERE tenant_id IS NULL AND field = 'message_template_status_update'
			AND reason LIKE $1`, "%"+otherWABA+"%"); n != 1 {
			t.Errorf("the review for account %s was kept %d times as unrouted, want once", otherWABA, n)
		}
		if after := a.queryInt(`SELECT COUNT(*) FROM events WHERE tenant_id = $1`, a.tenantA.ID); after != before {
			t.Errorf("tenant A got %d events from another account's review", after-before)
		}
	})
}
