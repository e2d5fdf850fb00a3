package meta_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/internal/specs"
)

// officialTemplates are the templates of Meta's example response.
func officialTemplates(t *testing.T) []json.RawMessage {
	var ex struct {
		Response map[string]map[string]struct {
			Value struct{ Data []json.RawMessage }
		} `json:"response_examples"`
	}
	if err := json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "message-templates-get.json"), &ex); err != nil {
		t.Fatal(err)
	}
	return ex.Response["200"]["Example response"].Value.Data
}

const (
	namedTemplate = `{"id":"555","name":"appointment","language":"de","status":"APPROVED","category":"UTILITY","parameter_format":"NAMED",
		"components":[{"type":"HEADER","format":"TEXT","text":"Hallo {{first_name}}"},
		{"type":"BODY","text":"Ihr Termin am {{date}} um {{time}}."},
		{"type":"BUTTONS","buttons":[{"type":"URL","text":"Details","url":"https://x.example/a/{{1}}"},{"type":"PHONE_NUMBER","text":"Anrufen","phone_number":"+4930123"},{"type":"COPY_CODE","example":"X"}]}]}`
	mediaTemplate = `{"id":"556","name":"invoice","language":"en_US","status":"REJECTED","rejected_reason":"INVALID_FORMAT","category":"UTILITY","parameter_format":"POSITIONAL",
		"components":[{"type":"HEADER","format":"DOCUMENT"},{"type":"BODY","text":"Invoice {{1}}"},{"type":"FOOTER","text":"Thanks"},
		{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Paid"},{"type":"URL","text":"Open","url":"https://x.example/static"}]}]}`
)

func TestTemplatesSync(t *testing.T) {
	s, p, ch := setup(t)
	all := officialTemplates(t)
	all = append(all, json.RawMessage(namedTemplate), json.RawMessage(mediaTemplate))
	for i := range 120 {
		status := []string{"APPROVED", "PENDING", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION"}[i%6]
		all = append(all, json.RawMessage(fmt.Sprintf(`{"id":"%d","name":"bulk_%03d","language":"en","status":%q,"category":"MARKETING","components":[{"type":"BODY","text":"Hi {{1}}"}]}`, 1000+i, i, status)))
	}
	s.SetTemplates(metagraph.DefaultWABAID, all)

	got, err := p.Templates(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) {
		t.Fatalf("%d templates, want %d", len(got), len(all))
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2 pages", len(reqs))
	}
	for _, r := range reqs {
		if r.Query.Get("limit") != "100" || !strings.Contains(r.Query.Get("fields"), "parameter_format") || r.Header.Get("Authorization") != "Bearer "+metagraph.DefaultToken {
			t.Errorf("request %s?%s", r.Path, r.Query.Encode())
		}
	}
	if reqs[1].Query.Get("after") == "" {
		t.Error("the second page was not asked with the cursor")
	}
	byName := map[string]parley.Template{}
	for _, tp := range got {
		byName[tp.Name] = tp
	}

	hello := byName["hello_world"]
	if hello.ProviderTemplateID != "1192339204654487" || hello.Category != "marketing" || hello.Status != parley.TemplateApproved ||
		hello.Language != "en_US" || hello.Header == nil || hello.Header.Format != "text" || hello.Header.Text != "Hello World" ||
		hello.Footer != "WhatsApp Business API Team" || hello.ParameterFormat != "positional" || hello.ParameterCount != 0 || len(hello.Components) == 0 {
		t.Errorf("hello_world %+v", hello)
	}
	promo := byName["2023_april_promo"]
	if !reflect.DeepEqual(promo.BodyParams, []string{"1", "2"}) || promo.ParameterCount != 2 ||
		!reflect.DeepEqual(promo.Buttons, []parley.TemplateButton{{Type: "quick_reply", Text: "Stop promotions"}}) {
		t.Errorf("2023_april_promo %+v", promo)
	}
	named := byName["appointment"]
	wantButtons := []parley.TemplateButton{
		{Type: "url", Text: "Details", URL: "https://x.example/a/{{1}}", HasParam: true},
		{Type: "phone_number", Text: "Anrufen"},
		{Type: "copy_code"},
	}
	if named.ParameterFormat != "named" || !reflect.DeepEqual(named.BodyParams, []string{"date", "time"}) ||
		!reflect.DeepEqual(named.Header.Params, []string{"first_name"}) || !reflect.DeepEqual(named.Buttons, wantButtons) || named.ParameterCount != 4 {
		t.Errorf("appointment %+v", named)
	}
	media := byName["invoice"]
	if media.Status != parley.TemplateRejected || media.StatusReason != "INVALID_FORMAT" || media.Header.Format != "document" ||
		media.Footer != "Thanks" || media.Buttons[1].HasParam || media.ParameterCount != 2 {
		t.Errorf("invoice %+v", media)
	}
	for i, want := range []string{"approved", "pending", "paused", "disabled", "in_appeal", "pending_deletion"} {
		if got := byName[fmt.Sprintf("bulk_%03d", i)].Status; got != want {
			t.Errorf("bulk_%03d status %q, want %q", i, got, want)
		}
	}
}

// TestTemplatesNamedByPlaceholders: without parameter_format, non-numeric
// placeholders make a template named.
func TestTemplatesNamedByPlaceholders(t *testing.T) {
	s, p, ch := setup(t)
	s.SetTemplates(metagraph.DefaultWABAID, []map[string]any{{
		"id": "1", "name": "n", "language": "en", "status": "APPROVED", "category": "UTILITY",
		"components": []map[string]any{{"type": "BODY", "text": "Hi {{name}}"}},
	}})
	got, err := p.Templates(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ParameterFormat != "named" || got[0].ParameterCount != 1 {
		t.Errorf("%+v", got)
	}
}

func TestTemplatesEmptyAndErrors(t *testing.T) {
	s, p, ch := setup(t)
	got, err := p.Templates(context.Background(), ch)
	if err != nil || len(got) != 0 {
		t.Fatalf("%v %v", got, err)
	}
	s.SetTemplates(metagraph.DefaultWABAID, []json.RawMessage{json.RawMessage(namedTemplate)})
	s.FailNext(1, 500, metagraph.GraphError{Message: "An unknown error occurred", Code: 1})
	if _, err := p.Templates(context.Background(), ch); err == nil || !strings.HasPrefix(err.Error(), "meta: templates: ") {
		t.Errorf("err %v", err)
	}
}
