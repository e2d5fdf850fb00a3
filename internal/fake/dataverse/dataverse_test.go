package dataverse

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestTokenClientCredentials replays token-client-credentials.exchange.http:
// the documented form gets a bearer token the Web API accepts, and a
// wrong scope gets the documented invalid_scope error.
func TestTokenClientCredentials(t *testing.T) {
	s := New(t)
	post := func(scope string) answer {
		form := url.Values{"client_id": {DefaultClientID}, "scope": {scope}, "client_secret": {DefaultClientSecret}, "grant_type": {"client_credentials"}}
		resp, err := http.Post(s.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		a.status, a.header = resp.StatusCode, resp.Header
		a.body = readAll(t, resp)
		return a
	}
	ok := post(s.Scope())
	ok.wantStatus(t, "token", http.StatusOK)
	tok := ok.json(t)
	if tok["token_type"] != "Bearer" || tok["expires_in"] != float64(3599) || tok["access_token"] == "" {
		t.Errorf("token answer %s, want token_type Bearer, expires_in 3599 and an access_token", ok.body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.APIBase()+"/WhoAmI", nil)
	req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
	for k, v := range map[string]string{"OData-MaxVersion": "4.0", "OData-Version": "4.0", "Accept": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("WhoAmI with the issued token: status %d, want 200", resp.StatusCode)
	}

	bad := post("https://foo.microsoft.com/.default")
	bad.wantStatus(t, "wrong scope", http.StatusBadRequest)
	doc := specFile(t, "token-client-credentials.exchange.http")
	docErr := doc[strings.Index(doc, "### Error response"):]
	docErr = docErr[strings.Index(docErr, "{"):]
	wantKeys := jsonKeys(t, []byte(docErr))
	if got := jsonKeys(t, bad.body); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("error keys %v, want the documented %v", got, wantKeys)
	}
	e := bad.json(t)
	if e["error"] != "invalid_scope" || !strings.HasPrefix(e["error_description"].(string), "AADSTS70011: ") {
		t.Errorf("error %s, want invalid_scope with AADSTS70011", bad.body)
	}
}

// TestCreateODataBind replays create-odata-bind.exchange.http: a plain
// create answers 204 with OData-EntityId, and a create binding a contact
// and two tasks with return=representation answers the documented 201.
func TestCreateODataBind(t *testing.T) {
	s := New(t)
	basic := specMessages(t, "create-odata-bind.exchange.http", "Basic create")
	a := send(t, s, http.MethodPost, "accounts", basic[0].body)
	a.wantStatus(t, "basic create", http.StatusNoContent)
	id := regexp.MustCompile(`/accounts\(([0-9a-f-]{36})\)$`).FindStringSubmatch(a.header.Get("OData-EntityId"))
	if id == nil {
		t.Fatalf("OData-EntityId %q, want %s/accounts(<id>)", a.header.Get("OData-EntityId"), s.APIBase())
	}
	if r, ok := s.Record("account", id[1]); !ok || r.Fields["name"] != "Sample Account" || r.Fields["revenue"] != 5000000.0 || r.Fields["accountcategorycode"] != int64(1) {
		t.Errorf("created account %+v, want the documented values", r)
	}

	s.AddRecord("contact", map[string]any{"contactid": "00000000-0000-0000-0000-000000000001", "firstname": "Yvonne", "lastname": "McKay (sample)"})
	s.AddRecord("task", map[string]any{"activityid": "00000000-0000-0000-0000-000000000002", "subject": "Task 1"})
	s.AddRecord("task", map[string]any{"activityid": "00000000-0000-0000-0000-000000000003", "subject": "Task 2"})
	bind := specMessages(t, "create-odata-bind.exchange.http", "Associate on create")
	req, resp := bind[0], bind[1]
	a = send(t, s, http.MethodPost, req.target(), req.body, "Prefer: return=representation")
	a.wantStatus(t, "create with @odata.bind", http.StatusCreated)
	if got := a.header.Get("Preference-Applied"); got != resp.header.Get("Preference-Applied") {
		t.Errorf("Preference-Applied %q, want %q", got, resp.header.Get("Preference-Applied"))
	}
	sameJSON(t, "create with @odata.bind", resp.body, a.body)
}
