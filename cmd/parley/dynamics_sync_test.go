package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse"
	dvfake "github.com/parleyhq/parley/internal/fake/dataverse"
)

// dynamicsApp is a running Parley whose tenant A is connected to a fake
// Dataverse where Parley is installed.
type dynamicsApp struct {
	*app
	dv          *dvfake.Server
	connectorID string
}

func startDynamics(t *testing.T, tweak func(map[string]any), opts ...appOption) *dynamicsApp {
	t.Helper()
	dv := dvfake.New(t)
	opts = append(opts, func(m *Main) {
		m.CRMPollEvery = 50 * time.Millisecond
		m.DataverseOptions = []dataverse.Option{dataverse.WithMaxWait(5 * time.Second), dataverse.WithOutageWait(300 * time.Millisecond)}
	})
	a := startApp(t, opts...)
	cfg := &parley.DataverseConfig{EnvironmentURL: dv.URL(), EntraTenantID: dvfake.DefaultTenantID, ClientID: dvfake.DefaultClientID,
		ClientSecret: dvfake.DefaultClientSecret, TokenURL: dv.TokenURL(), APIBase: dv.APIBase()}
	cl, err := dataverse.New(cfg, dataverse.WithSleep(func(context.Context, time.Duration) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Install(context.Background(), dataverse.InstallOptions{Tables: parley.DefaultCRMTables()}); err != nil {
		t.Fatal(err)
	}
	body := map[string]any{"type": "dataverse", "verify": true, "dataverse": map[string]any{
		"environment_url": cfg.EnvironmentURL, "entra_tenant_id": cfg.EntraTenantID, "client_id": cfg.ClientID,
		"client_secret": cfg.ClientSecret, "token_url": cfg.TokenURL, "api_base": cfg.APIBase}}
	if tweak != nil {
		tweak(body)
	}
	var c struct {
		ID string `json:"id"`
	}
	a.must(a.do("POST", "/v1/crm-connectors", a.keyA, body), http.StatusCreated, &c)
	return &dynamicsApp{app: a, dv: dv, connectorID: c.ID}
}

// activities returns the logged messages by Parley message ID.
func (d *dynamicsApp) activities() map[string]dvfake.Record {
	out := map[string]dvfake.Record{}
	for _, r := range d.dv.Records(dataverse.MessageTable) {
		if id, _ := r.Fields[dataverse.ColMessageID].(string); id != "" {
			out[id] = r
		}
	}
	return out
}

// messageID is Parley's ID of a message known by its provider ID.
func (d *dynamicsApp) messageID(wamid string) string {
	var id string
	d.eventually("message "+wamid+" stored", func() bool {
		return d.m.DB.Reader().QueryRow(`SELECT id FROM messages WHERE provider_message_id = $1`, wamid).Scan(&id) == nil
	})
	return id
}

// TestDynamicsLogsMessages: a customer who writes in is found among the
// CRM's contacts by phone, however the CRM wrote it; the message and the
// agent's reply are logged as activities regarding that contact, and the
// reply's status changes update its activity.
func TestDynamicsLogsMessages(t *testing.T) {
	d := startDynamics(t, nil)
	contact := d.dv.AddRecord("contact", map[string]any{"firstname": "Ana", "lastname": "Souza", "mobilephone": "(11) 91111-0003"})
	d.dv.AddRecord("lead", map[string]any{"firstname": "Ana", "lastname": "Lead", "telephone1": "+55 11 91111-0003", "subject": "Interest"})
	d.dv.AddRecord("contact", map[string]any{"firstname": "Other", "lastname": "Person", "mobilephone": "(21) 91111-0003"})

	in := d.messageID(d.inbound("5511911110003", "Olá, quero saber do curso", time.Now()))
	d.eventually("the inbound message logged", func() bool { _, ok := d.activities()[in]; return ok })
	act := d.activities()[in]
	if got := act.Fields["regardingobjectid"]; got != (dvfake.Ref{Table: "contact", ID: contact}) {
		t.Errorf("regarding %v, want the contact %s (fields %v)", got, contact, act.Fields)
	}
	if act.Fields[dataverse.ColBody] != "Olá, quero saber do curso" || fmt.Sprint(act.Fields[dataverse.ColDirection]) != fmt.Sprint(dataverse.DirectionInbound) {
		t.Errorf("activity %v", act.Fields)
	}

	// Both records are linked, the contact first; the other number's
	// contact is not.
	var links []parley.RecordLink
	contactID := d.message(in).ContactID
	links, err := d.m.DB.RecordsOf(context.Background(), d.tenantA.ID, contactID)
	if err != nil || len(links) != 2 || links[0].Table != "contact" || links[0].ID != contact || !links[0].Primary || links[1].Table != "lead" {
		t.Fatalf("links %+v, %v", links, err)
	}

	var sent parley.Message
	d.must(d.sendText("+5511911110003", "Claro! Veja o link."), http.StatusAccepted, &sent)
	d.eventually("the reply logged as sent", func() bool {
		a, ok := d.activities()[sent.ID]
		return ok && fmt.Sprint(a.Fields[dataverse.ColStatus]) == fmt.Sprint(dataverse.StatusSent)
	})
	body, sig := d.graph.StatusWebhook(metagraphStatus(d.message(sent.ID).ProviderMessageID, "read"))
	d.must(d.webhookSigned(body, sig), http.StatusOK, nil)
	d.eventually("the reply's activity updated to read", func() bool {
		return fmt.Sprint(d.activities()[sent.ID].Fields[dataverse.ColStatus]) == fmt.Sprint(dataverse.StatusRead)
	})
	if n := len(d.activities()); n != 2 {
		t.Errorf("%d activities, want one per message", n)
	}
}

// TestDynamicsThrottlingLosesNothing: while Dataverse is down and then
// throttles, messages wait; once it is back, every one is logged, in order,
// the backlog in $batch change sets.
func TestDynamicsThrottlingLosesNothing(t *testing.T) {
	d := startDynamics(t, nil)
	d.dv.AddRecord("contact", map[string]any{"firstname": "Bia", "lastname": "Lima", "mobilephone": "+55 11 91111-0004"})
	first := d.messageID(d.inbound("5511911110004", "primeira", time.Now()))
	d.eventually("the first message logged", func() bool { _, ok := d.activities()[first]; return ok })

	// Down first (503s without a Retry-After), then throttling.
	d.dv.FailNext(4, dvfake.Outage(http.StatusServiceUnavailable))
	d.dv.FailNext(3, dvfake.Throttle(dvfake.LimitRequests, time.Second))
	var ids []string
	for i := range 30 {
		ids = append(ids, d.messageID(d.inbound("5511911110004", fmt.Sprintf("mensagem %d", i), time.Now().Add(time.Duration(i)*time.Second))))
	}
	d.eventually("every message logged after the throttling", func() bool { return len(d.activities()) == 31 })
	var outages int
	for _, r := range d.dv.Requests() {
		if r.Status == http.StatusServiceUnavailable {
			outages++
		}
	}
	if d.dv.Stats().Throttled == 0 || outages == 0 {
		t.Errorf("Dataverse throttled %d times and failed %d: the test proves nothing", d.dv.Stats().Throttled, outages)
	}
	var batches int
	for _, r := range d.dv.Requests() {
		if strings.HasSuffix(r.Path, "/$batch") && r.Status == http.StatusOK {
			batches++
		}
	}
	if batches == 0 {
		t.Error("the backlog was not written in $batch change sets")
	}
	// In order: each activity was written no earlier than the one before.
	seen := map[string]int{}
	for i, r := range d.dv.Requests() {
		for _, id := range ids {
			if r.Status < 300 && strings.Contains(r.Path+string(r.Body), id) {
				if _, ok := seen[id]; !ok {
					seen[id] = i
				}
			}
		}
	}
	for i := 1; i < len(ids); i++ {
		if seen[ids[i]] < seen[ids[i-1]] {
			t.Fatalf("message %d was logged before message %d", i, i-1)
		}
	}
	d.eventually("the outbox emptied", func() bool { return d.count("crm_outbox") == 0 })
}

// TestDynamicsCreatesLeads: a number no record has becomes a lead when the
// tenant asked for it, named after the WhatsApp profile.
func TestDynamicsCreatesLeads(t *testing.T) {
	d := startDynamics(t, func(b map[string]any) { b["create_leads"] = true })
	in := d.messageID(d.inbound("5511911110005", "Oi", time.Now()))
	d.eventually("the message logged on a new lead", func() bool { _, ok := d.activities()[in]; return ok })
	leads := d.dv.Records("lead")
	if len(leads) != 1 || leads[0].Fields["lastname"] != "5511911110005" || leads[0].Fields["mobilephone"] != "+5511911110005" ||
		leads[0].Fields["subject"] != "WhatsApp" {
		t.Fatalf("leads %+v", leads)
	}
	if got := d.activities()[in].Fields["regardingobjectid"]; got != (dvfake.Ref{Table: "lead", ID: leads[0].ID}) {
		t.Errorf("regarding %v, want the lead", got)
	}
	// A second message finds the lead instead of creating another.
	second := d.messageID(d.inbound("5511911110005", "Tudo bem?", time.Now().Add(time.Second)))
	d.eventually("the second message logged", func() bool { _, ok := d.activities()[second]; return ok })
	if n := len(d.dv.Records("lead")); n != 1 {
		t.Errorf("%d leads", n)
	}
}

// TestDynamicsChanges: a change to a linked record's watched column, read
// through change tracking, becomes a crm.record.changed event and a line
// in the contact's thread; a Dataverse webhook with the right key does the
// same, and one with a wrong key is refused.
func TestDynamicsChanges(t *testing.T) {
	d := startDynamics(t, nil)
	lead := d.dv.AddRecord("lead", map[string]any{"firstname": "Caio", "lastname": "Reis", "mobilephone": "+55 11 91111-0006", "subject": "Curso"})
	in := d.messageID(d.inbound("5511911110006", "Oi", time.Now()))
	d.eventually("the message logged", func() bool { _, ok := d.activities()[in]; return ok })
	conv := d.message(in).ConversationID
	d.eventually("change tracking started", func() bool {
		link, _ := d.m.DB.DeltaLink(context.Background(), d.connectorID, "lead")
		return link != ""
	})

	d.dv.UpdateRecord("lead", lead, map[string]any{"statuscode": 3, "statecode": 1})
	line := func(want string) bool {
		r := d.do("GET", "/v1/conversations/"+conv+"/messages", d.keyA, nil)
		return strings.Contains(string(r.body), want)
	}
	d.eventually("the change told in the thread", func() bool { return line(`"crm.record.changed"`) && line("Lead status: Qualified") })
	var n int
	d.m.DB.Reader().QueryRow(`SELECT COUNT(*) FROM events WHERE type = 'crm.record.changed'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d crm.record.changed events", n)
	}

	// A webhook: the owner changed.
	var key string
	c, err := d.m.DB.FindConnectorByID(context.Background(), d.connectorID)
	if err != nil {
		t.Fatal(err)
	}
	key = c.Dataverse.WebhookKey
	hook := fmt.Appendf(nil, `{"MessageName":"Update","PrimaryEntityName":"lead","PrimaryEntityId":%q,"InputParameters":[{"key":"Target","value":
		{"__type":"Entity:http://schemas.microsoft.com/xrm/2011/Contracts","LogicalName":"lead","Id":%q,"Attributes":[
		{"key":"ownerid","value":{"__type":"EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts","Id":"4026be43-6b69-e111-8f65-78e7d1620f5e","LogicalName":"systemuser","Name":"Maria Vendas"}}],
		"FormattedValues":[]}}],"PostEntityImages":[],"PreEntityImages":[]}`, lead, lead)
	post := func(url string) int {
		req, _ := http.NewRequest("POST", d.url+url, strings.NewReader(string(hook)))
		req.Header.Set("Content-Type", "application/json")
		return d.send(req).status
	}
	if s := post("/webhooks/dataverse/" + d.connectorID + "?code=wrong"); s != http.StatusUnauthorized {
		t.Errorf("a wrong key: %d", s)
	}
	if s := post("/webhooks/dataverse/" + d.connectorID + "?code=" + key); s != http.StatusNoContent {
		t.Fatalf("the webhook: %d", s)
	}
	if !line("Lead owner: Maria Vendas") {
		t.Error("the webhook's change is not in the thread")
	}
	var ev string
	d.m.DB.Reader().QueryRow(`SELECT data FROM events WHERE type = 'crm.record.changed' ORDER BY id DESC LIMIT 1`).Scan(&ev)
	if !strings.Contains(ev, `"_ownerid_value":"Maria Vendas"`) {
		t.Errorf("event %s", ev)
	}
}

// TestDynamicsConnectAndInstallCLI: the commands an administrator runs.
// connect checks the credentials and saves the connector (again: updates
// it); install creates Parley's table and change tracking, and says so;
// run again, it changes nothing and says that.
func TestDynamicsConnectAndInstallCLI(t *testing.T) {
	dv := dvfake.New(t)
	dir := t.TempDir()
	out, _, err := cli(t, dir, "tenant", "create", "Escola")
	if err != nil {
		t.Fatal(err)
	}
	connect := []string{"dynamics", "connect", "--tenant", "Escola", "--environment-url", dv.URL(), "--entra-tenant-id", dvfake.DefaultTenantID,
		"--client-id", dvfake.DefaultClientID, "--token-url", dv.TokenURL(), "--api-base", dv.APIBase(), "--create-leads"}
	t.Setenv("PARLEY_DATAVERSE_CLIENT_SECRET", "wrong")
	if _, _, err := cli(t, dir, connect...); err == nil || !strings.Contains(err.Error(), "Dataverse refused") {
		t.Fatalf("a wrong secret: %v", err)
	}
	t.Setenv("PARLEY_DATAVERSE_CLIENT_SECRET", dvfake.DefaultClientSecret)
	out, stderr, err := cli(t, dir, connect...)
	if err != nil || !strings.Contains(out, `"action":"created"`) || !strings.Contains(stderr, "parley dynamics install") {
		t.Fatalf("connect: %v\n%s\n%s", err, out, stderr)
	}
	if out, _, err = cli(t, dir, connect...); err != nil || !strings.Contains(out, `"action":"updated"`) {
		t.Fatalf("connect again: %v %s", err, out)
	}
	out, _, err = cli(t, dir, "dynamics", "install", "--tenant", "Escola")
	if err != nil || !strings.Contains(out, "parley_whatsappmessage") || !strings.Contains(out, "change tracking") {
		t.Fatalf("install: %v\n%s", err, out)
	}
	info, ok := dv.Table(dataverse.MessageTable)
	if !ok || !info.IsActivity || len(info.Keys) != 1 {
		t.Fatalf("the message table: %+v", info)
	}
	for _, name := range []string{"contact", "lead", "account"} {
		if ti, _ := dv.Table(name); !ti.ChangeTrackingEnabled {
			t.Errorf("change tracking is off on %s", name)
		}
	}
	writes := func() int {
		n := 0
		for _, r := range dv.Requests() {
			if r.Method != http.MethodGet {
				n++
			}
		}
		return n
	}
	before := writes()
	out, _, err = cli(t, dir, "dynamics", "install", "--tenant", "Escola")
	if err != nil || !strings.Contains(out, "nothing to change") || writes() != before {
		t.Fatalf("install again: %v, %d writes\n%s", err, writes()-before, out)
	}
	if _, _, err := cli(t, dir, "dynamics", "install", "--tenant", "Nobody"); err == nil {
		t.Error("install for an unknown tenant succeeded")
	}
}

// TestDynamicsFillsTemplates: a template's variables bound to a lead's
// columns are filled from Dataverse, a lookup by the name of the row it
// points to.
func TestDynamicsFillsTemplates(t *testing.T) {
	d := startDynamics(t, nil)
	d.syncTestTemplates()
	account := d.dv.AddRecord("account", map[string]any{"name": "Colégio Horizonte"})
	lead := d.dv.AddRecord("lead", map[string]any{"firstname": "Ana", "lastname": "Souza", "subject": "Curso",
		"parentaccountid": dvfake.Ref{Table: "account", ID: account}})
	d.must(d.do("PUT", "/v1/templates/appointment/bindings", d.keyA, map[string]any{"bindings": map[string]string{
		"first_name": "record.firstname", "date": "record.parentaccountid"}}), http.StatusOK, nil)
	id := d.mustAccept(map[string]any{"to": "+351912340001", "type": "template", "template": map[string]any{
		"name": "appointment", "language": "pt_BR", "fill_from_record": "lead:" + lead}})
	m := d.message(id)
	if m.Template.NamedParameters["first_name"] != "Ana" || m.Template.NamedParameters["date"] != "Colégio Horizonte" {
		t.Errorf("filled %+v", m.Template.NamedParameters)
	}
}
