package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// fakeRecords is a CRM as a parley.RecordReader: a few records, their
// columns already formatted as an agent reads them.
type fakeRecords struct {
	mu      sync.Mutex
	tenant  string
	records map[parley.Record]map[string]string
	asked   [][]string // the columns of each read
}

func (f *fakeRecords) RecordValues(_ context.Context, tenantID string, rec parley.Record, columns []string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, columns)
	all, ok := f.records[rec]
	if !ok || tenantID != f.tenant {
		return nil, parley.Errorf(parley.ENOTFOUND, "The CRM has no record %s.", rec)
	}
	out := map[string]string{}
	for _, c := range columns {
		if v, ok := all[c]; ok {
			out[c] = v
		}
	}
	return out, nil
}

func (f *fakeRecords) lastAsked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.asked) == 0 {
		return nil
	}
	return f.asked[len(f.asked)-1]
}

const (
	leadAna = "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21"
	leadBo  = "7a1e0c55-0d1b-4b7f-a0e4-6e2f3d9c8b10"
)

// withCRM connects tenant A to a (fake) CRM: a connector with a language
// column and a fallback chain, and a record reader for the API and the
// console.
func (a *app) withCRM(fallback ...string) *fakeRecords {
	a.t.Helper()
	in := dataverseInput(false)
	in["language_column"] = "parley_language"
	in["language_fallback"] = fallback
	a.must(a.do("POST", "/v1/crm-connectors", a.keyA, in), http.StatusCreated, nil)
	f := &fakeRecords{tenant: a.tenantA.ID, records: map[parley.Record]map[string]string{
		{Table: "lead", ID: leadAna}: {"firstname": "Ana", "new_appointment": "12/03/2026 10:00", "parley_language": "pt-BR",
			"new_billnumber": "F-1001"},
		{Table: "lead", ID: leadBo}: {"firstname": "Bo"},
	}}
	a.m.Server.Records, a.m.Web.Records = f, f
	return f
}

// TestTemplateBindingsAPI: bindings are set and read per template name,
// checked against the template's variables, and kept per tenant.
func TestTemplateBindingsAPI(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	type view struct {
		Name      string            `json:"name"`
		Variables []string          `json:"variables"`
		Bindings  map[string]string `json:"bindings"`
	}
	var v view
	a.must(a.do("GET", "/v1/templates/appointment/bindings", a.keyA, nil), http.StatusOK, &v)
	if !reflect.DeepEqual(v.Variables, []string{"first_name", "date"}) || len(v.Bindings) != 0 {
		t.Fatalf("before binding: %+v", v)
	}
	want := map[string]string{"first_name": "record.firstname", "date": "record.new_appointment"}
	a.must(a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": want}), http.StatusOK, &v)
	if !reflect.DeepEqual(v.Bindings, want) {
		t.Errorf("PUT answered %+v", v)
	}
	a.must(a.do("GET", "/v1/templates/appointment/bindings", a.keyA, nil), http.StatusOK, &v)
	if !reflect.DeepEqual(v.Bindings, want) {
		t.Errorf("GET after PUT: %+v", v)
	}

	r := a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": map[string]string{
		"first_name": "contact.first_name", "nickname": "agent.name", "1": "tenant.name"}})
	if code, msg := r.apiError(); r.status != http.StatusUnprocessableEntity || code != parley.EUNKNOWNVARIABLE ||
		!strings.Contains(msg, "no variable {{1}}, {{nickname}};") {
		t.Errorf("unknown variables: %d %s", r.status, r.body)
	}
	r = a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": map[string]string{"date": "record.New Date"}})
	if code, msg := r.apiError(); r.status != http.StatusBadRequest || code != parley.EINVALID || !strings.Contains(msg, "{{date}}") {
		t.Errorf("a malformed expression: %d %s", r.status, r.body)
	}
	a.must(a.do("GET", "/v1/templates/appointment/bindings", a.keyA, nil), http.StatusOK, &v)
	if !reflect.DeepEqual(v.Bindings, want) {
		t.Errorf("a refused PUT changed the bindings: %+v", v)
	}
	if r := a.do("GET", "/v1/templates/no_such/bindings", a.keyA, nil); r.status != http.StatusNotFound {
		t.Errorf("bindings of an unknown template: %d", r.status)
	}
	if r := a.do("PUT", "/v1/templates/appointment/bindings", a.keyB, map[string]any{"bindings": want}); r.status != http.StatusNotFound {
		t.Errorf("another tenant binds tenant A's template: %d", r.status)
	}
	v = view{}
	a.must(a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": map[string]string{}}), http.StatusOK, &v)
	if len(v.Bindings) != 0 {
		t.Errorf("an empty PUT left %v", v.Bindings)
	}
	var audit struct {
		Data []struct {
			Action string `json:"action"`
		} `json:"data"`
	}
	a.must(a.do("GET", "/v1/audit?subject=appointment", a.keyA, nil), http.StatusOK, &audit)
	if len(audit.Data) != 2 || audit.Data[0].Action != "template.bind" {
		t.Errorf("audit: %+v", audit.Data)
	}
}

// TestSendFillFromRecord: a template send names a CRM record and leaves
// its language and variables to Parley; what cannot be filled is refused,
// naming each variable and why, and nothing is queued.
func TestSendFillFromRecord(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	crm := a.withCRM("es", "en_US")
	a.must(a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": map[string]string{
		"first_name": "record.firstname", "date": "record.new_appointment"}}), http.StatusOK, nil)
	a.must(a.do("PUT", "/v1/templates/reminder/bindings", a.keyA, map[string]any{"bindings": map[string]string{
		"1": "record.new_billnumber"}}), http.StatusOK, nil)
	fill := func(name, record string, extra map[string]any) map[string]any {
		tm := map[string]any{"name": name, "fill_from_record": record}
		for k, v := range extra {
			tm[k] = v
		}
		return map[string]any{"to": "+351912340001", "type": "template", "template": tm}
	}

	// The language comes from the record's column (pt-BR), the variables
	// from its columns.
	m := a.message(a.mustAccept(fill("appointment", "lead:{"+strings.ToUpper(leadAna)+"}", nil)))
	if m.Template.Language != "pt_BR" || !reflect.DeepEqual(m.Template.NamedParameters, map[string]string{"first_name": "Ana", "date": "12/03/2026 10:00"}) {
		t.Errorf("filled from the record: %+v", m.Template)
	}
	if !strings.Contains(m.Text, "Olá Ana, sua consulta é 12/03/2026 10:00.") {
		t.Errorf("rendered %q", m.Text)
	}
	if got := crm.lastAsked(); !slices.Equal(got, []string{"firstname", "new_appointment", "parley_language"}) {
		t.Errorf("the CRM was asked for %v", got)
	}
	// Parameters given win over bindings.
	m = a.message(a.mustAccept(fill("appointment", "lead:"+leadAna, map[string]any{"named_parameters": map[string]string{"date": "amanhã"}})))
	if m.Template.NamedParameters["date"] != "amanhã" || m.Template.NamedParameters["first_name"] != "Ana" {
		t.Errorf("an override: %+v", m.Template.NamedParameters)
	}
	// Positional; reminder exists only in en_US, reached through the
	// tenant's chain (pt_BR from the record, pt_PT from the number, es,
	// en_US).
	m = a.message(a.mustAccept(fill("reminder", "lead:"+leadAna, nil)))
	if m.Template.Language != "en_US" || !slices.Equal(m.Template.Parameters, []string{"F-1001"}) {
		t.Errorf("positional: %+v", m.Template)
	}

	// Bo's record has no appointment: refused, naming {{date}} and the
	// column; nothing is queued.
	e := a.mustRefuse(fill("appointment", "lead:"+leadBo, map[string]any{"language": "pt_BR"}), http.StatusUnprocessableEntity, parley.ETEMPLATEUNFILLED)
	if !strings.Contains(e.Message, "{{date}}") || strings.Contains(e.Message, "{{first_name}}") || len(e.Details) != 1 ||
		!strings.Contains(e.Details[0], "no value for the column new_appointment") || e.Hint == "" {
		t.Errorf("an unfilled variable: %+v", e)
	}
	// Without a CRM, every record binding is unfilled, and says why.
	a.m.Server.Records = nil
	e = a.mustRefuse(fill("appointment", "lead:"+leadAna, map[string]any{"language": "pt_BR"}), http.StatusUnprocessableEntity, parley.ETEMPLATEUNFILLED)
	if len(e.Details) != 2 || !strings.Contains(e.Details[0], "no CRM is connected") {
		t.Errorf("no CRM: %+v", e)
	}
	// A template without bindings, filled from a record: each variable
	// lacks a binding.
	a.m.Server.Records = crm
	e = a.mustRefuse(fill("promo", "lead:"+leadAna, nil), http.StatusUnprocessableEntity, parley.ETEMPLATEUNFILLED)
	if len(e.Details) != 1 || !strings.Contains(e.Details[0], "{{1}}: no value was given and the variable has no binding") {
		t.Errorf("no binding: %+v", e)
	}
	// A malformed record.
	a.mustRefuse(fill("appointment", "lead", nil), http.StatusBadRequest, parley.EINVALID)
}

// TestSendLanguageChain: a template send without a language is sent in
// the contact's language when the template has it, else in the first
// language of the tenant's chain that it has; none is refused.
func TestSendLanguageChain(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	br := "+" + a.customerWrote(1) // a Brazilian number: its contact speaks pt_BR
	send := func(name string, params ...string) map[string]any {
		r := templateReq(name, "", params...)
		delete(r["template"].(map[string]any), "language")
		r["to"] = br
		return r
	}
	appointment := send("appointment")
	appointment["template"].(map[string]any)["named_parameters"] = map[string]string{"first_name": "Ana", "date": "amanhã"}
	// No CRM: the contact's language alone, or its relatives.
	if m := a.message(a.mustAccept(appointment)); m.Template.Language != "pt_BR" {
		t.Errorf("appointment went in %s", m.Template.Language)
	}
	e := a.mustRefuse(send("reminder", "F-1"), http.StatusNotFound, parley.ENOTFOUND)
	if !strings.Contains(e.Message, "pt_BR") || !strings.Contains(e.Message, "en_US") {
		t.Errorf("no variant in the contact's language: %s", e.Message)
	}
	a.withCRM("es", "en_US")
	if m := a.message(a.mustAccept(send("reminder", "F-1"))); m.Template.Language != "en_US" {
		t.Errorf("reminder went in %s, want en_US from the chain", m.Template.Language)
	}
}

// TestConsoleTemplateFormFromRecord: the template form of a contact
// linked to a CRM record is pre-filled from the template's bindings, says
// where each value came from, and still lets the agent change them; the
// panel opened for a record fills from that record.
func TestConsoleTemplateFormFromRecord(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	a.addUser("rita@acme.test", "Rita Lima", parley.RoleAgent, "en", "")
	a.withCRM("en_US")
	a.must(a.do("PUT", "/v1/templates/appointment/bindings", a.keyA, map[string]any{"bindings": map[string]string{
		"first_name": "record.firstname", "date": "agent.name"}}), http.StatusOK, nil)
	a.inbound("5511944440002", "oi", time.Now().Add(-30*time.Hour))
	ctx := context.Background()
	list, _, _ := a.m.DB.ListConversations(ctx, a.tenantA.ID, store.ConversationFilter{})
	conv := list[0]
	tpls, err := a.m.DB.ListTemplates(ctx, a.tenantA.ID, store.TemplateFilter{Name: "appointment"})
	if err != nil || len(tpls) != 1 {
		t.Fatalf("the appointment template: %v %v", tpls, err)
	}
	form := "/console/c/" + conv.ID + "/templates/" + tpls[0].ID
	b := a.browser()
	b.signIn("rita@acme.test")
	value := func(page, field string) string {
		return between(page, `name="`+field+`" required data-param="`, ">")
	}

	// Not linked to a record: the contact's guess, as before.
	_, _, page := b.req("GET", form, nil, nil)
	if v := value(page, "body_0"); !strings.Contains(v, `value="Customer"`) || strings.Contains(page, "From the CRM") {
		t.Errorf("the form of an unlinked contact: %s", v)
	}
	link := func(id string, primary bool) {
		if err := a.m.DB.InTx(ctx, func(tx *store.Tx) error {
			return tx.LinkRecord(ctx, a.tenantA.ID, conv.ContactID, parley.RecordLink{Record: parley.Record{Table: "lead", ID: id}, Primary: primary},
				parley.Actor{Kind: parley.ActorSystem})
		}); err != nil {
			t.Fatal(err)
		}
	}
	link(leadAna, true)
	link(leadBo, false)
	code, _, page := b.req("GET", form, nil, nil)
	if code != 200 || !strings.Contains(value(page, "body_0"), `value="Ana"`) || !strings.Contains(value(page, "body_1"), `value="Rita Lima"`) {
		t.Fatalf("the form of a linked contact: %d %s / %s", code, value(page, "body_0"), value(page, "body_1"))
	}
	if !strings.Contains(page, "From the CRM: firstname") || !strings.Contains(page, "Your name") ||
		!strings.Contains(page, "Filled from the CRM record lead:"+leadAna) {
		t.Errorf("the form does not say where the values came from")
	}
	// The panel opened for Bo's record passes it on, and the form fills from it.
	_, _, picker := b.req("GET", "/console/c/"+conv.ID+"/templates?record="+url.QueryEscape("lead:"+leadBo), nil, nil)
	if !strings.Contains(picker, "/templates/"+tpls[0].ID+"?record=lead:"+leadBo) {
		t.Errorf("the picker does not pass the record on")
	}
	_, _, page = b.req("GET", form+"?record="+url.QueryEscape("lead:"+leadBo), nil, nil)
	if !strings.Contains(value(page, "body_0"), `value="Bo"`) {
		t.Errorf("the form for Bo's record: %s", value(page, "body_0"))
	}
	// The panel opened for Bo's record hands it to its template picker.
	var tok struct {
		URL string `json:"url"`
	}
	a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"record": "lead:" + leadBo, "phone": "+5511944440002"}), 201, &tok)
	resp, err := http.Get(tok.URL)
	if err != nil {
		t.Fatal(err)
	}
	panel, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(panel), "/templates?record=lead:"+leadBo) {
		t.Errorf("the panel's template button does not name its record")
	}
	// A record not linked to the contact is not read.
	_, _, page = b.req("GET", form+"?record="+url.QueryEscape("lead:00000000-0000-0000-0000-000000000000"), nil, nil)
	if !strings.Contains(value(page, "body_0"), `value="Ana"`) {
		t.Errorf("an unlinked record was read: %s", value(page, "body_0"))
	}
	// The agent's changes are what is sent.
	code, _, _ = b.req("POST", "/console/c/"+conv.ID+"/template", url.Values{"template_id": {tpls[0].ID},
		"body_0": {"Aninha"}, "body_1": {"amanhã"}}, nil)
	if code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	msgs, err := a.m.DB.ListMessages(ctx, a.tenantA.ID, conv.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Template == nil || last.Template.NamedParameters["first_name"] != "Aninha" {
		t.Errorf("sent %+v", last.Template)
	}
}
