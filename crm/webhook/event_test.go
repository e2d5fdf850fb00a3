package webhook

import (
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

func TestParseEvents(t *testing.T) {
	recs, err := ParseEvents([]byte(`{"type":"created","entity":"Contact","source_crm":"hubspot","source_crm_id":"101",
		"source_crm_url":"https://crm.example/contacts/101","fields":{"name":"Ana","phones":["+55 11 98765-4321"," ","+55 11 3333-4444"],
		"language":"pt_BR","owner":{"id":"u1","name":"Rita"},"score":42.5,"vip":true,"notes":null,"tags":["a","b"]}}`))
	if err != nil || len(recs) != 1 {
		t.Fatalf("ParseEvents = %+v, %v", recs, err)
	}
	r := recs[0]
	want := map[string]string{"name": "Ana", "language": "pt_BR", "owner": "Rita", "score": "42.5", "vip": "true", "notes": "", "tags": `["a","b"]`}
	for k, v := range want {
		if r.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, r.Fields[k], v)
		}
	}
	if r.Entity != "contact" || r.ID != "101" || r.Name != "Ana" || !r.HasName || !r.HasPhones || len(r.Phones) != 2 || r.Deleted {
		t.Errorf("record %+v", r)
	}

	recs, err = ParseEvents([]byte(`{"events":[{"type":"updated","entity":"lead","source_crm_id":"L-1","fields":{"phones":"+1 555 0100; +1 555 0101"}},
		{"type":"deleted","entity":"account","source_crm_id":"A.9"}]}`))
	if err != nil || len(recs) != 2 || len(recs[0].Phones) != 2 || recs[0].HasName || !recs[1].Deleted {
		t.Fatalf("a batch: %+v, %v", recs, err)
	}

	for _, tc := range []struct{ name, body, msg string }{
		{"not JSON", `{`, "not a JSON event"},
		{"no events", `{"events":[]}`, "no events"},
		{"no type", `{"entity":"contact","source_crm_id":"1"}`, "type must be"},
		{"an unknown type", `{"type":"merged","entity":"contact","source_crm_id":"1"}`, "type must be"},
		{"a bad entity", `{"type":"created","entity":"con tact","source_crm_id":"1"}`, "entity must be"},
		{"no id", `{"type":"created","entity":"contact"}`, "source_crm_id must be"},
		{"a javascript url", `{"type":"created","entity":"contact","source_crm_id":"1","source_crm_url":"javascript:alert(1)"}`, "source_crm_url"},
		{"a bad field", `{"type":"created","entity":"contact","source_crm_id":"1","fields":{"a-b":"x"}}`, "not a field name"},
		{"bad phones", `{"type":"created","entity":"contact","source_crm_id":"1","fields":{"phones":{"x":1}}}`, "phones must be"},
		{"one bad event of two", `{"events":[{"type":"created","entity":"contact","source_crm_id":"1"},{"type":"x"}]}`, "Event 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEvents([]byte(tc.body))
			if parley.ErrorCode(err) != parley.EINVALID || !strings.Contains(parley.ErrorMessage(err), tc.msg) {
				t.Errorf("ParseEvents = %v; want invalid with %q", err, tc.msg)
			}
		})
	}
}

// TestMerge: an update keeps what it does not name.
func TestMerge(t *testing.T) {
	prev := &store.MirrorRecord{Entity: "contact", ID: "1", Name: "Ana", URL: "https://crm.example/1", Phones: []string{"+55 11 98765-4321"},
		Fields: map[string]string{"name": "Ana", "plan": "gold", "owner": "Rita"}}
	recs, err := ParseEvents([]byte(`{"type":"updated","entity":"contact","source_crm_id":"1","fields":{"owner":"Carlos"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := recs[0].merge(prev)
	if m.Name != "Ana" || m.URL != prev.URL || len(m.Phones) != 1 || m.Fields["plan"] != "gold" || m.Fields["owner"] != "Carlos" ||
		m.Fields["phones"] != "+55 11 98765-4321" {
		t.Errorf("merged %+v", m)
	}
	// After a deletion, a new creation starts afresh.
	prev.Deleted = true
	if m := recs[0].merge(prev); m.Fields["plan"] != "" || m.Name != "" {
		t.Errorf("merged onto a deleted record: %+v", m)
	}
}

func TestParseFile(t *testing.T) {
	csv := "\ufeffentity,source_crm_id,name,phones,source_crm_url,plan\n" +
		"contact,1,Ana,+55 11 98765-4321;+55 11 3333-4444,https://crm.example/1,gold\n" +
		"contact,,No Id,+1,,\n" +
		"contact,3,\"Quoted, Name\",+351 912 345 678,,\n" +
		"contact,4,short\n"
	recs, bad, err := ParseFile("x.CSV", strings.NewReader(csv))
	if err != nil || len(recs) != 2 || len(bad) != 2 {
		t.Fatalf("ParseFile = %+v, %v, %v", recs, bad, err)
	}
	if recs[0].URL != "https://crm.example/1" || len(recs[0].Phones) != 2 || recs[0].Fields["plan"] != "gold" || recs[1].Name != "Quoted, Name" {
		t.Errorf("records %+v", recs)
	}
	if bad[0].Line != 3 || !strings.Contains(bad[0].Error(), "source_crm_id") || bad[1].Line != 5 || !strings.Contains(bad[1].Error(), "3 columns") {
		t.Errorf("bad rows %v", bad)
	}
	if _, _, err := ParseFile("x.csv", strings.NewReader("name,phones\nAna,+1\n")); err == nil {
		t.Error("a CSV without entity and source_crm_id")
	}

	recs, bad, err = ParseFile("x.json", strings.NewReader(`{"records":[{"entity":"lead","id":7,"fields":{"name":"Bia"}},{"entity":"lead"},
		{"type":"deleted","entity":"lead","id":"8"}]}`))
	if err != nil || len(recs) != 1 || recs[0].ID != "7" || len(bad) != 2 || bad[0].Line != 2 || bad[1].Line != 3 {
		t.Fatalf("JSON: %+v, %v, %v", recs, bad, err)
	}
	if _, _, err := ParseFile("x.xlsx", strings.NewReader("")); err == nil {
		t.Error("an xlsx file")
	}
}

func TestLookup(t *testing.T) {
	doc := map[string]any{"paging": map[string]any{"next": map[string]any{"link": "/p2"}}, "data": []any{1}}
	if lookup(doc, "paging.next.link") != "/p2" || lookup(doc, "paging.prev.link") != nil || lookup(doc, "data.x") != nil {
		t.Error("lookup")
	}
}
