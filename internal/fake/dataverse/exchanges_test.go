package dataverse

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUpsertAlternateKey replays upsert-alternate-key.exchange.http on a
// table created through the metadata API with a two-column key.
func TestUpsertAlternateKey(t *testing.T) {
	s := New(t)
	table := `{"@odata.type":"Microsoft.Dynamics.CRM.EntityMetadata","SchemaName":"example_Record","DisplayName":` + lbl("Record") + `,"DisplayCollectionName":` + lbl("Records") + `,"OwnershipType":"UserOwned","IsActivity":false,"HasActivities":false,"HasNotes":false,
	 "Attributes":[{"@odata.type":"Microsoft.Dynamics.CRM.StringAttributeMetadata","SchemaName":"example_Name","IsPrimaryName":true,"MaxLength":100,"DisplayName":` + lbl("Name") + `}]}`
	send(t, s, http.MethodPost, "EntityDefinitions", table).wantStatus(t, "create example_record", http.StatusNoContent)
	for _, k := range []string{"example_Key1", "example_Key2"} {
		col := `{"@odata.type":"Microsoft.Dynamics.CRM.IntegerAttributeMetadata","SchemaName":"` + k + `","DisplayName":` + lbl(k) + `}`
		send(t, s, http.MethodPost, "EntityDefinitions(LogicalName='example_record')/Attributes", col).wantStatus(t, "add "+k, http.StatusNoContent)
	}
	s.AddAlternateKey("example_record", "example_Keys", "example_key1", "example_key2")

	for _, title := range []string{"Create with upsert (", "Update with upsert (", "Create with upsert +", "Update with upsert +"} {
		msgs := specMessages(t, "upsert-alternate-key.exchange.http", title)
		req, want := msgs[0], msgs[1]
		var headers []string
		for k := range req.header {
			headers = append(headers, k+": "+req.header.Get(k))
		}
		a := send(t, s, http.MethodPatch, req.target(), req.body, headers...)
		var status int
		for _, code := range []int{200, 201, 204} {
			if strings.HasPrefix(want.start, "HTTP/1.1 "+strconv.Itoa(code)) {
				status = code
			}
		}
		a.wantStatus(t, title, status)
		for k := range want.header {
			if k == "Content-Type" && a.header.Get(k) != "" {
				continue // the fake's carries odata.metadata=minimal too
			}
			if g, w := normalizeText(a.header.Get(k)), normalizeText(want.header.Get(k)); g != w {
				t.Errorf("%s: %s %q, want %q", title, k, g, w)
			}
		}
		if want.body != "" {
			sameJSON(t, title, want.body, a.body)
		}
	}
	rows := s.Records("example_record")
	if len(rows) != 2 || rows[0].Fields["example_name"] != "2:2 Updated" && rows[1].Fields["example_name"] != "2:2 Updated" {
		t.Errorf("rows %+v, want 2:2 Updated and 3:3 Updated", rows)
	}
}

// TestConditionalETag replays conditional-etag.exchange.http and the
// 404 and 412 bodies of error-bodies.examples.http.
func TestConditionalETag(t *testing.T) {
	s := New(t)
	const id = "00000000-0000-0000-0000-000000000001"
	s.AddRecord("account", map[string]any{"accountid": id, "name": "Sample Account"})
	current, _ := s.Record("account", id)

	a := send(t, s, http.MethodGet, "accounts("+id+")?$select=name,revenue", "", "If-None-Match: "+current.ETag)
	a.wantStatus(t, "unchanged row", http.StatusNotModified)
	if len(a.body) != 0 || a.header.Get("OData-Version") != "4.0" {
		t.Errorf("304 with body %q and OData-Version %q, want no body and 4.0", a.body, a.header.Get("OData-Version"))
	}
	stale := specMessages(t, "conditional-etag.exchange.http", "Optimistic concurrency on update")
	a = send(t, s, http.MethodPatch, "accounts("+id+")", stale[0].body, "If-Match: W/\"1\"")
	a.wantStatus(t, "stale If-Match", http.StatusPreconditionFailed)
	sameJSON(t, "stale If-Match", stale[1].body, a.body)
	a = send(t, s, http.MethodDelete, "accounts("+id+")", "", "If-Match: W/\"1\"")
	a.wantStatus(t, "stale If-Match on DELETE", http.StatusPreconditionFailed)
	send(t, s, http.MethodPatch, "accounts("+id+")", stale[0].body, "If-Match: "+current.ETag).wantStatus(t, "matching If-Match", http.StatusNoContent)

	noCreate := specMessages(t, "conditional-etag.exchange.http", "Prevent create in upsert")[0]
	a = send(t, s, http.MethodPatch, "accounts(00000000-0000-0000-0000-000000000009)", noCreate.body, "If-Match: *")
	a.wantStatus(t, "If-Match * on a missing row", http.StatusNotFound)
	sameJSON(t, "404", docErrorBody(t, "404 on PATCH"), a.body)
	noUpdate := specMessages(t, "conditional-etag.exchange.http", "Prevent update in upsert")[0]
	a = send(t, s, http.MethodPatch, "accounts("+id+")", noUpdate.body, "If-None-Match: *")
	a.wantStatus(t, "If-None-Match * on an existing row", http.StatusPreconditionFailed)
	sameJSON(t, "412", docErrorBody(t, "412 on PATCH with If-None-Match"), a.body)
	if r, _ := s.Record("account", id); r.Fields["name"] != "Updated Account Name" {
		t.Errorf("name %v, want only the matching update applied", r.Fields["name"])
	}
}

// docErrorBody is the JSON of a section of error-bodies.examples.http.
func docErrorBody(t *testing.T, title string) string {
	t.Helper()
	text := specFile(t, "error-bodies.examples.http")
	text = text[strings.Index(text, "### "+title):]
	text = text[strings.Index(text, "\n{"):]
	if j := strings.Index(text, "\n###"); j >= 0 {
		text = text[:j]
	}
	return text
}

// TestPagingMaxPageSize replays paging-maxpagesize.exchange.http: pages
// of two with Preference-Applied and an @odata.nextLink followed as is.
func TestPagingMaxPageSize(t *testing.T) {
	s := New(t)
	for _, last := range []string{"McKay (sample)", "Stubberod (sample)", "Anderson (sample)", "Campbell (sample)", "Last"} {
		first := map[string]string{"McKay (sample)": "Yvonne", "Stubberod (sample)": "Susanna", "Anderson (sample)": "Nancy", "Campbell (sample)": "Maria", "Last": "One"}[last]
		s.AddRecord("contact", map[string]any{"firstname": first, "lastname": last})
	}
	target := "contacts?$select=fullname"
	for _, page := range []string{"1", "2"} {
		msgs := specMessages(t, "paging-maxpagesize.exchange.http", "Response "+page)
		a := send(t, s, http.MethodGet, target, "", "Prefer: odata.maxpagesize=2")
		a.wantStatus(t, "page "+page, http.StatusOK)
		if got := a.header.Get("Preference-Applied"); got != msgs[0].header.Get("Preference-Applied") {
			t.Errorf("page %s: Preference-Applied %q, want %q", page, got, msgs[0].header.Get("Preference-Applied"))
		}
		sameJSON(t, "page "+page, msgs[0].body, a.body)
		target = a.json(t)["@odata.nextLink"].(string)
	}
}

// TestChangeTrackingDeltaLink replays change-tracking-deltalink.exchange.http
// and checks that an expired delta token gets ExpiredVersionStamp.
func TestChangeTrackingDeltaLink(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 10, 44, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(t, WithClock(clock))
	monte := s.AddRecord("account", map[string]any{"name": "Monte Orton", "telephone1": "555000", "fax": "10101"})
	send(t, s, http.MethodGet, "accounts?$select=name", "", "Prefer: odata.track-changes").wantStatus(t, "before tracking is enabled", http.StatusBadRequest)
	s.EnableChangeTracking("account")

	req := specMessages(t, "change-tracking-deltalink.exchange.http", "Request 1")[0]
	a := send(t, s, http.MethodGet, req.target(), "", "Prefer: odata.track-changes")
	a.wantStatus(t, "initial sync", http.StatusOK)
	resp1 := specMessages(t, "change-tracking-deltalink.exchange.http", "Response 1")[0]
	if a.header.Get("Preference-Applied") != resp1.header.Get("Preference-Applied") {
		t.Errorf("Preference-Applied %q, want %q", a.header.Get("Preference-Applied"), resp1.header.Get("Preference-Applied"))
	}
	sameJSON(t, "initial sync", resp1.body, a.body)
	delta := a.json(t)["@odata.deltaLink"].(string)

	gone := s.AddRecord("account", map[string]any{"name": "Gone"})
	s.DeleteRecord("account", gone)
	s.UpdateRecord("account", monte, map[string]any{"telephone1": "555001"})
	a = send(t, s, http.MethodGet, delta, "")
	a.wantStatus(t, "delta", http.StatusOK)
	body := a.json(t)
	values := body["value"].([]any)
	if len(values) != 2 || values[0].(map[string]any)["telephone1"] != "555001" {
		t.Fatalf("delta %s, want the changed row then the deleted one", a.body)
	}
	wantDeleted := map[string]any{"@odata.context": s.APIBase() + "/$metadata#accounts/$deletedEntity", "id": gone, "reason": "deleted"}
	if got := values[1].(map[string]any); len(got) != 3 || got["@odata.context"] != wantDeleted["@odata.context"] || got["id"] != gone || got["reason"] != "deleted" {
		t.Errorf("deleted entity %v, want %v", got, wantDeleted)
	}
	if !strings.HasSuffix(body["@odata.context"].(string), "/$delta") || !strings.Contains(body["@odata.deltaLink"].(string), "$deltatoken=") {
		t.Errorf("delta context %v and link %v, want /$delta and a new $deltatoken", body["@odata.context"], body["@odata.deltaLink"])
	}
	count := strings.Replace(delta, "/accounts?$select=name,accountnumber,telephone1,fax&", "/accounts/$count?", 1)
	if a := send(t, s, http.MethodGet, count, ""); a.status != http.StatusOK || string(a.body) != "2" {
		t.Errorf("$count of changes: %d %s, want 200 2", a.status, a.body)
	}

	mu.Lock()
	now = now.Add(8 * 24 * time.Hour)
	mu.Unlock()
	a = send(t, s, http.MethodGet, delta, "")
	a.wantStatus(t, "token older than the retention", http.StatusBadRequest)
	if e := a.json(t)["error"].(map[string]any); e["code"] != "0x80044352" {
		t.Errorf("expired token error %v, want ExpiredVersionStamp 0x80044352", e)
	}
	fresh := send(t, s, http.MethodGet, req.target(), "", "Prefer: odata.track-changes").json(t)["@odata.deltaLink"].(string)
	s.ExpireDeltaTokens()
	send(t, s, http.MethodGet, fresh, "").wantStatus(t, "token after ExpireDeltaTokens", http.StatusBadRequest)
}

// TestThrottleRetryAfter checks the documented 429: FailNext with a
// Throttle fault answers the limit's code and message with Retry-After,
// once.
func TestThrottleRetryAfter(t *testing.T) {
	s := New(t)
	s.FailNext(1, Throttle(LimitRequests, 90*time.Second))
	a := send(t, s, http.MethodGet, "WhoAmI", "")
	a.wantStatus(t, "throttled", http.StatusTooManyRequests)
	e := a.json(t)["error"].(map[string]any)
	if a.header.Get("Retry-After") != "90" || e["code"] != "0x80072322" || e["message"] != "Number of requests exceeded the limit of 6000 over time window of 300 seconds." {
		t.Errorf("429 with Retry-After %q and error %v, want 90 and the documented 0x80072322", a.header.Get("Retry-After"), e)
	}
	send(t, s, http.MethodGet, "WhoAmI", "").wantStatus(t, "after the fault", http.StatusOK)
	if st := s.Stats(); st.Throttled != 1 || st.Requests != 2 {
		t.Errorf("stats %+v, want 1 throttled of 2", st)
	}
}

// TestConcurrencyLimit holds 60 requests at once: 52 are admitted, 8 are
// refused at once with the documented 0x80072326.
func TestConcurrencyLimit(t *testing.T) {
	s := New(t)
	release := s.Hold()
	var wg sync.WaitGroup
	answers := make([]answer, 60)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = send(t, s, http.MethodGet, "WhoAmI", "")
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for st := s.Stats(); st.InFlight < 52 || st.Throttled < 8; st = s.Stats() {
		if time.Now().After(deadline) {
			release()
			t.Fatalf("stats %+v, want 52 in flight and 8 refused", st)
		}
		runtime.Gosched()
	}
	release()
	wg.Wait()
	codes := map[int]int{}
	for _, a := range answers {
		codes[a.status]++
		if a.status == http.StatusTooManyRequests {
			if e := a.json(t)["error"].(map[string]any); e["code"] != "0x80072326" || a.header.Get("Retry-After") == "" {
				t.Errorf("concurrency 429 %s with Retry-After %q, want 0x80072326 and a Retry-After", a.body, a.header.Get("Retry-After"))
			}
		}
	}
	if codes[200] != 52 || codes[429] != 8 || s.Stats().MaxConcurrency != 52 {
		t.Errorf("answers %v, max concurrency %d; want 52×200, 8×429, 52", codes, s.Stats().MaxConcurrency)
	}
}
