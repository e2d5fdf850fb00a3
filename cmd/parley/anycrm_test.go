package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/webhook"
)

// crmReceiver is a CRM's activity URL: it checks every post's Standard
// Webhooks signature, keeps what arrived in order, can fail the next
// posts with 503, and creates leads.
type crmReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	secret   string
	failNext int
	events   []webhook.Envelope
	ids      []string
	acts     []webhook.Activity
	badSigs  int
}

func newCRMReceiver(t *testing.T) *crmReceiver {
	r := &crmReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, err := webhook.Verify(r.secret, req.Header, body, time.Now()); err != nil {
			r.badSigs++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if r.failNext > 0 {
			r.failNext--
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		json.Unmarshal(body, &env)
		if env.Type == webhook.LeadCreate {
			w.Write([]byte(`{"id":"L-900","source_crm_url":"https://crm.example/leads/L-900"}`))
			return
		}
		var act webhook.Activity
		json.Unmarshal(env.Data, &act)
		r.events = append(r.events, webhook.Envelope{Type: env.Type})
		r.ids = append(r.ids, req.Header.Get(webhook.HeaderID))
		r.acts = append(r.acts, act)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// received returns the activities of a message, in arrival order.
func (r *crmReceiver) received(messageID string) (types []string, acts []webhook.Activity) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, a := range r.acts {
		if a.MessageID == messageID {
			types, acts = append(types, r.events[i].Type), append(acts, a)
		}
	}
	return types, acts
}

// firstArrivals is the order in which messages first reached the CRM.
func (r *crmReceiver) firstArrivals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, a := range r.acts {
		if !seen[a.MessageID] {
			seen[a.MessageID] = true
			out = append(out, a.MessageID)
		}
	}
	return out
}

// anyCRMApp is a running Parley whose tenant A is connected to a CRM
// through webhooks.
type anyCRMApp struct {
	*app
	crm         *crmReceiver
	connectorID string
	inboundURL  string
	inSecret    string
}

func startAnyCRM(t *testing.T, importURL string, opts ...appOption) *anyCRMApp {
	t.Helper()
	recv := newCRMReceiver(t)
	a := startApp(t, append(opts, func(m *Main) { m.CRMPollEvery = 50 * time.Millisecond; m.CRMOutageWait = 100 * time.Millisecond })...)
	settings := map[string]any{"activity_url": recv.srv.URL + "/parley/activities"}
	if importURL != "" {
		settings["import"] = map[string]any{"url": importURL, "items_path": "results", "next_path": "paging.next.link",
			"headers": map[string]string{"Authorization": "Bearer crm-token"}}
	}
	var c struct {
		ID      string `json:"id"`
		Webhook struct {
			InboundURL    string `json:"inbound_url"`
			SigningSecret string `json:"signing_secret"`
			InboundSecret string `json:"inbound_secret"`
		} `json:"webhook"`
	}
	a.must(a.do("POST", "/v1/crm-connectors", a.keyA, map[string]any{"type": "webhook", "webhook": settings}), http.StatusCreated, &c)
	if !strings.HasPrefix(c.Webhook.SigningSecret, "whsec_") || !strings.HasPrefix(c.Webhook.InboundSecret, "whsec_") ||
		c.Webhook.InboundURL != a.url+"/webhooks/crm/"+c.ID {
		t.Fatalf("created connector %+v", c)
	}
	recv.secret = c.Webhook.SigningSecret
	// The secrets are shown once.
	r := a.do("GET", "/v1/crm-connectors/"+c.ID, a.keyA, nil)
	if r.status != http.StatusOK || bytes.Contains(r.body, []byte("whsec_")) || bytes.Contains(r.body, []byte("crm-token")) {
		t.Fatalf("GET shows secrets: %d %s", r.status, r.body)
	}
	return &anyCRMApp{app: a, crm: recv, connectorID: c.ID, inboundURL: c.Webhook.InboundURL, inSecret: c.Webhook.InboundSecret}
}

// push posts events to Parley as the CRM does, signed with secret.
func (x *anyCRMApp) push(id, secret string, body string) response {
	x.t.Helper()
	h, err := webhook.SignedHeaders(secret, id, time.Now(), []byte(body))
	if err != nil {
		x.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", x.inboundURL, strings.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return x.send(req)
}

func (x *anyCRMApp) messageID(wamid string) string {
	var id string
	x.eventually("message "+wamid+" stored", func() bool {
		return x.m.DB.Reader().QueryRow(`SELECT id FROM messages WHERE provider_message_id = $1`, wamid).Scan(&id) == nil
	})
	return id
}

func (x *anyCRMApp) mirrored() int { return x.count("crm_records") }

const anaEvent = `{"type":"created","entity":"contact","source_crm":"hubspot","source_crm_id":"HS-101",
	"source_crm_url":"https://crm.example/contacts/HS-101",
	"fields":{"name":"Ana Souza","phones":["+55 (11) 91111-0007"],"language":"pt_BR","owner":"Rita","plan":"Ouro"}}`

// TestAnyCRMInboundAndActivities: a contact pushed by the CRM is what an
// inbound WhatsApp message from its phone links to; every message reaches
// the activity URL signed, in order, across an outage; a forged webhook
// changes nothing, a replayed one is not applied again; an owner change is
// told in the thread; a template fills from a custom field; and the
// delivery log lists every attempt.
func TestAnyCRMInboundAndActivities(t *testing.T) { testAnyCRMInboundAndActivities(t) }

// TestAnyCRMOnPostgres runs the same on PostgreSQL.
func TestAnyCRMOnPostgres(t *testing.T) { testAnyCRMInboundAndActivities(t, onPostgres(t)) }

func testAnyCRMInboundAndActivities(t *testing.T, opts ...appOption) {
	x := startAnyCRM(t, "", opts...)

	// Forged: signed with another secret, or not at all.
	if r := x.push("msg_forged", parley.NewWebhookSecret(), anaEvent); r.status != http.StatusUnauthorized {
		t.Fatalf("a forged webhook: %d %s", r.status, r.body)
	}
	req, _ := http.NewRequest("POST", x.inboundURL, strings.NewReader(anaEvent))
	if r := x.send(req); r.status != http.StatusUnauthorized {
		t.Fatalf("an unsigned webhook: %d", r.status)
	}
	if n := x.mirrored(); n != 0 {
		t.Fatalf("%d records stored from refused webhooks", n)
	}
	if r := x.push("msg_bad", x.inSecret, `{"type":"created","entity":"Contact!","source_crm_id":"1"}`); r.status != http.StatusBadRequest {
		t.Fatalf("a malformed event: %d %s", r.status, r.body)
	}

	x.must(x.push("msg_ana_1", x.inSecret, anaEvent), http.StatusOK, nil)
	rename := `{"events":[{"type":"updated","entity":"contact","source_crm_id":"HS-101","fields":{"name":"Ana Souza Lima"}}]}`
	x.must(x.push("msg_ana_2", x.inSecret, rename), http.StatusOK, nil)
	// The first webhook again, as an interceptor or a retrying CRM would
	// send it: acknowledged, not applied (the name stays the newer one).
	var rc webhook.Receipt
	x.must(x.push("msg_ana_1", x.inSecret, anaEvent), http.StatusOK, &rc)
	if !rc.Replayed {
		t.Errorf("the replay was not noticed: %+v", rc)
	}
	rec, err := x.m.DB.MirrorRecord(context.Background(), x.connectorID, "contact", "HS-101")
	if err != nil || rec.Name != "Ana Souza Lima" || rec.Fields["plan"] != "Ouro" || len(rec.Phones) != 1 {
		t.Fatalf("mirrored %+v, %v", rec, err)
	}

	// The customer writes in from the phone, written without formatting.
	in := x.messageID(x.inbound("5511911110007", "Oi, quero renovar", time.Now()))
	contactID := x.message(in).ContactID
	x.eventually("the inbound message delivered to the CRM", func() bool { types, _ := x.crm.received(in); return len(types) > 0 })
	links, err := x.m.DB.RecordsOf(context.Background(), x.tenantA.ID, contactID)
	if err != nil || len(links) != 1 || links[0].Table != "contact" || !strings.EqualFold(links[0].ID, "HS-101") || !links[0].Primary {
		t.Fatalf("links %+v, %v", links, err)
	}
	types, acts := x.crm.received(in)
	a := acts[0]
	if types[0] != webhook.MessageCreated || a.Direction != "inbound" || a.Body != "Oi, quero renovar" || a.From != "+5511911110007" ||
		len(a.Records) != 1 || a.Records[0].SourceCRMID != "HS-101" || a.Records[0].Entity != "contact" ||
		a.Records[0].URL != "https://crm.example/contacts/HS-101" || a.Conversation == "" {
		t.Errorf("activity %s %+v", types[0], a)
	}

	// A number no record has is delivered too, with no records: the CRM
	// hears of every message, and can match or create the record itself.
	stranger := x.messageID(x.inbound("5511933330009", "Quem fala?", time.Now()))
	x.eventually("the stranger's message delivered to the CRM", func() bool { types, _ := x.crm.received(stranger); return len(types) > 0 })
	if _, acts := x.crm.received(stranger); acts[0].Body != "Quem fala?" || len(acts[0].Records) != 0 || acts[0].From != "+5511933330009" {
		t.Errorf("the stranger's activity %+v, want it with no records", acts[0])
	}

	// The CRM is down for two posts: the replies wait, then all arrive in
	// the order they were sent.
	x.crm.mu.Lock()
	x.crm.failNext = 2
	x.crm.mu.Unlock()
	var sent []string
	for i := range 3 {
		var m parley.Message
		x.must(x.sendText("+5511911110007", fmt.Sprintf("Resposta %d", i+1)), http.StatusAccepted, &m)
		sent = append(sent, m.ID)
	}
	x.eventually("every reply delivered", func() bool {
		for _, id := range sent {
			if types, _ := x.crm.received(id); len(types) == 0 {
				return false
			}
		}
		return true
	})
	order := x.crm.firstArrivals()
	// The first two are Ana's message and the stranger's.
	if got := strings.Join(order[2:], ","); got != strings.Join(sent, ",") {
		t.Errorf("arrival order %v, sent %v", order[2:], sent)
	}
	for _, id := range sent {
		types, _ := x.crm.received(id)
		if types[0] != webhook.MessageCreated {
			t.Errorf("%s first arrived as %v", id, types)
		}
		for _, typ := range types[1:] {
			if typ != webhook.MessageUpdated {
				t.Errorf("%s later arrived as %v", id, types)
			}
		}
	}
	x.crm.mu.Lock()
	if x.crm.badSigs != 0 {
		t.Errorf("%d posts with a bad signature", x.crm.badSigs)
	}
	dup := map[string]int{}
	for _, id := range x.crm.ids {
		dup[id]++
		if dup[id] > 1 {
			t.Errorf("webhook-id %s delivered twice", id)
		}
	}
	x.crm.mu.Unlock()

	// The delivery log: the two 503s, then the same webhook-id's success.
	var log struct {
		Data []struct {
			WebhookID  string `json:"webhook_id"`
			MessageID  string `json:"message_id"`
			EventType  string `json:"event_type"`
			Attempt    int    `json:"attempt"`
			HTTPStatus int    `json:"http_status"`
			Error      string `json:"error"`
		} `json:"data"`
		NextBefore int64 `json:"next_before"`
	}
	x.must(x.do("GET", "/v1/crm-connectors/"+x.connectorID+"/deliveries?limit=500", x.keyA, nil), http.StatusOK, &log)
	var failed, retried int
	for _, d := range log.Data {
		if d.HTTPStatus == http.StatusServiceUnavailable && d.Error == "down for maintenance" {
			failed++
		}
		if d.HTTPStatus == http.StatusOK && d.Attempt > 1 {
			retried++
		}
	}
	if failed != 2 || retried != 1 {
		t.Errorf("delivery log: %d failures and %d third attempts: %+v", failed, retried, log.Data)
	}
	x.must(x.do("GET", "/v1/crm-connectors/"+x.connectorID+"/deliveries?limit=2", x.keyA, nil), http.StatusOK, &log)
	if len(log.Data) != 2 || log.NextBefore == 0 {
		t.Errorf("a page of two: %+v", log)
	}

	// An owner change is told in the thread.
	conv := x.message(in).ConversationID
	x.must(x.push("msg_ana_3", x.inSecret, `{"type":"updated","entity":"contact","source_crm_id":"HS-101","fields":{"owner":{"id":"u7","name":"Carlos"}}}`),
		http.StatusOK, nil)
	r := x.do("GET", "/v1/conversations/"+conv+"/messages", x.keyA, nil)
	if !strings.Contains(string(r.body), "Contact owner: Carlos") {
		t.Errorf("the owner change is not in the thread: %s", r.body)
	}

	// A template variable bound to a custom field.
	x.syncTestTemplates()
	x.must(x.do("PUT", "/v1/templates/appointment/bindings", x.keyA, map[string]any{"bindings": map[string]string{
		"first_name": "record.name", "date": "record.plan"}}), http.StatusOK, nil)
	id := x.mustAccept(map[string]any{"to": "+5511911110007", "type": "template", "template": map[string]any{
		"name": "appointment", "language": "pt_BR", "fill_from_record": "contact:HS-101"}})
	if p := x.message(id).Template.NamedParameters; p["first_name"] != "Ana Souza Lima" || p["date"] != "Ouro" {
		t.Errorf("filled %+v", p)
	}

	// Deleted in the CRM: unlinked, and not found again. (Once the log is
	// idle: a lookup running while the record is deleted may link it
	// again until the next lookup.)
	x.eventually("the template's activity delivered", func() bool {
		types, _ := x.crm.received(id)
		return len(types) > 0 && x.count("crm_outbox") == 0
	})
	x.must(x.push("msg_ana_4", x.inSecret, `{"type":"deleted","entity":"contact","source_crm_id":"HS-101"}`), http.StatusOK, nil)
	if links, _ := x.m.DB.RecordsOf(context.Background(), x.tenantA.ID, contactID); len(links) != 0 {
		t.Errorf("a deleted record is still linked: %+v", links)
	}
}

// TestAnyCRMImport: the initial import reads three pages, following each
// page's next link with the CRM's credentials; a page that fails is tried
// again from where the import stopped, not from the start; the progress
// shows on the connector; and a CSV file imports its good rows and names
// the bad ones' lines.
func TestAnyCRMImport(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer crm-token" {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		p := r.URL.Query().Get("page")
		if p == "" {
			p = "1"
		}
		mu.Lock()
		hits[p]++
		n := hits[p]
		mu.Unlock()
		if p == "2" && n == 1 {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		var items []string
		for i := 1; i <= 2; i++ {
			id := fmt.Sprintf("C-%s%d", p, i)
			items = append(items, fmt.Sprintf(`{"entity":"contact","id":%q,"source_crm_url":"https://crm.example/c/%s",
				"fields":{"name":"Person %s","phones":"+55 11 92222-%s%03d","tier":"t%s"}}`, id, id, id, p, i, p))
		}
		next := `null`
		if p != "3" {
			next = fmt.Sprintf(`{"link":"/contacts?page=%c"}`, p[0]+1)
		}
		fmt.Fprintf(w, `{"results":[%s],"paging":{"next":%s}}`, strings.Join(items, ","), next)
	}))
	defer srv.Close()
	x := startAnyCRM(t, srv.URL+"/contacts")

	x.must(x.do("POST", "/v1/crm-connectors/"+x.connectorID+"/import", x.keyA, nil), http.StatusAccepted, nil)
	var c struct {
		Import struct {
			Status  string `json:"status"`
			Records int    `json:"records"`
			Pages   int    `json:"pages"`
			Error   string `json:"last_error"`
		} `json:"import"`
	}
	x.eventually("the import done", func() bool {
		c.Import.Error = "" // absent once cleared
		x.must(x.do("GET", "/v1/crm-connectors/"+x.connectorID, x.keyA, nil), http.StatusOK, &c)
		return c.Import.Status == "done"
	})
	mu.Lock()
	if hits["1"] != 1 || hits["2"] != 2 || hits["3"] != 1 {
		t.Errorf("pages read %v: the first page once, the failed one twice", hits)
	}
	mu.Unlock()
	if c.Import.Records != 6 || c.Import.Pages != 3 || c.Import.Error != "" || x.mirrored() != 6 {
		t.Errorf("import %+v, %d mirrored", c.Import, x.mirrored())
	}

	// An imported record is what an inbound message links to.
	in := x.messageID(x.inbound("5511922222002", "Olá", time.Now()))
	x.eventually("the message delivered", func() bool { types, _ := x.crm.received(in); return len(types) > 0 })
	if _, acts := x.crm.received(in); acts[0].Records[0].SourceCRMID != "C-22" {
		t.Errorf("linked %+v", acts[0].Records)
	}

	// An unknown number becomes a lead the CRM creates.
	x.must(x.do("PATCH", "/v1/crm-connectors/"+x.connectorID, x.keyA, map[string]any{"create_leads": true}), http.StatusOK, nil)
	newcomer := x.messageID(x.inbound("5511944440001", "Quero informações", time.Now()))
	x.eventually("the newcomer's message delivered", func() bool { types, _ := x.crm.received(newcomer); return len(types) > 0 })
	if _, acts := x.crm.received(newcomer); acts[0].Records[0].Entity != "lead" || acts[0].Records[0].SourceCRMID != "L-900" ||
		acts[0].Records[0].URL != "https://crm.example/leads/L-900" {
		t.Errorf("the new lead %+v", acts[0].Records)
	}

	// From a file, through the command.
	dir := x.m.Config.DataDir
	file := dir + "/contacts.csv"
	csv := "entity,source_crm_id,name,phones,plan\n" +
		"contact,F-1,File One,+55 11 93333-0001;+55 11 3333-0001,prata\n" +
		"Contact!,F-2,Bad Entity,+55 11 93333-0002,\n" +
		"contact,F-3,Too,Many,Columns,Here\n" +
		"lead,F-4,File Four,+55 11 93333-0004,ouro\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARLEY_DATA_DIR", dir)
	t.Setenv("PARLEY_DATABASE_URL", "")
	t.Setenv("PARLEY_MASTER_KEY", x.m.Config.MasterKey)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"crm", "import", "--tenant", x.tenantA.ID, "--connector", x.connectorID, file}, &stdout, &stderr)
	out, errOut := stdout.String(), stderr.String()
	if err != nil || !strings.Contains(out, "Imported 2 records") || !strings.Contains(errOut, "line 3:") || !strings.Contains(errOut, "line 4:") {
		t.Fatalf("crm import: %v\n%s\n%s", err, out, errOut)
	}
	if r, err := x.m.DB.MirrorRecord(context.Background(), x.connectorID, "lead", "F-4"); err != nil || r.Fields["plan"] != "ouro" {
		t.Errorf("imported lead %+v, %v", r, err)
	}
}
