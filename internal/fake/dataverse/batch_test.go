package dataverse

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

const batchAccount = "00000000-0000-0000-0000-000000000001"

// batchServer is a fake with the account the $batch documentation's
// requests refer to.
func batchServer(t *testing.T, opts ...Option) *Server {
	s := New(t, opts...)
	s.AddRecord("account", map[string]any{"accountid": batchAccount, "name": "Batch account"})
	return s
}

// crlf gives a documented message the CRLF line endings of the wire.
func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// docBatchRequest reads a documented $batch request: its headers and its
// body, with the organization URI of the fake.
func docBatchRequest(t *testing.T, s *Server, file string) ([]string, string) {
	t.Helper()
	text := specFile(t, file)
	head, body, _ := strings.Cut(text, "\n\n")
	var headers []string
	for _, line := range strings.Split(head, "\n")[1:] {
		if !strings.HasPrefix(line, "Content-Length") {
			headers = append(headers, line)
		}
	}
	body = regexp.MustCompile(`\[Organization U[Rr][Ii]\]`).ReplaceAllString(body, s.URL())
	return headers, body
}

// sendBatch sends a documented $batch request with CRLF line endings.
func sendBatch(t *testing.T, s *Server, file string, extra ...string) answer {
	t.Helper()
	headers, body := docBatchRequest(t, s, file)
	return send(t, s, http.MethodPost, "$batch", crlf(body), append(append([]string{"Content-Type:", "Accept:", "OData-MaxVersion:", "OData-Version:"}, headers...), extra...)...)
}

// batchPart is one answer in a $batch response, or a change set.
type batchPart struct {
	contentID string
	status    int
	header    http.Header
	body      string
	changeSet []batchPart
}

// readBatch parses a multipart $batch response with the standard
// library, independently of the fake's writer.
func readBatch(t *testing.T, contentType string, body string) []batchPart {
	t.Helper()
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q is not multipart/mixed: %v", contentType, err)
	}
	r := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var out []batchPart
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading the batch response: %v\n%s", err, body)
		}
		raw, _ := io.ReadAll(p)
		if ct := p.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/mixed") {
			out = append(out, batchPart{changeSet: readBatch(t, ct, string(raw))})
			continue
		}
		if !strings.Contains(string(raw), "\r\n\r\n") {
			// batch-changeset-content-id-refs.response.http ends the
			// headers of a 204 with the delimiter's own CRLF.
			raw = append(raw, "\r\n"...)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil)
		if err != nil {
			t.Fatalf("a part is not an HTTP response: %v\n%s", err, raw)
		}
		b, _ := io.ReadAll(resp.Body)
		out = append(out, batchPart{contentID: p.Header.Get("Content-ID"), status: resp.StatusCode, header: resp.Header, body: strings.TrimSpace(string(b))})
	}
}

// docBatchResponse reads a documented $batch response.
func docBatchResponse(t *testing.T, file string) (int, []batchPart) {
	t.Helper()
	text := specFile(t, file)
	var status int
	fmt.Sscanf(text, "HTTP/1.1 %d", &status)
	_, body, _ := strings.Cut(text, "\n\n")
	boundary := strings.TrimPrefix(strings.SplitN(body, "\n", 2)[0], "--")
	return status, readBatch(t, "multipart/mixed; boundary="+boundary, crlf(body))
}

// sameParts compares the answers part by part: Content-ID, status, the
// headers and their values, and the JSON of the bodies.
func sameParts(t *testing.T, where string, want, got []batchPart) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d parts, want %d", where, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		at := fmt.Sprintf("%s, part %d", where, i+1)
		if (w.changeSet == nil) != (g.changeSet == nil) {
			t.Errorf("%s: change set %v, want %v", at, g.changeSet != nil, w.changeSet != nil)
			continue
		}
		if w.changeSet != nil {
			sameParts(t, at, w.changeSet, g.changeSet)
			continue
		}
		if g.contentID != w.contentID || g.status != w.status {
			t.Errorf("%s: Content-ID %q status %d, want %q %d", at, g.contentID, g.status, w.contentID, w.status)
		}
		if gk, wk := sortedKeys(g.header), sortedKeys(w.header); strings.Join(gk, ",") != strings.Join(wk, ",") {
			t.Errorf("%s: headers %v, want %v", at, gk, wk)
		}
		for k := range w.header {
			if k != "Req_id" && normalizeText(g.header.Get(k)) != normalizeText(w.header.Get(k)) {
				t.Errorf("%s: %s %q, want %q", at, k, g.header.Get(k), w.header.Get(k))
			}
		}
		if w.body != "" || g.body != "" {
			sameJSON(t, at, w.body, []byte(g.body))
		}
	}
}

// frame is a batch response without its JSON bodies, normalized: the
// delimiters, part headers, status lines, headers and empty lines whose
// order the documentation shows.
func frame(body string) []string {
	var out []string
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "}") || strings.HasPrefix(line, "REQ_ID") {
			continue
		}
		out = append(out, normalizeText(line))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// TestBatchDocumented replays every documented $batch exchange and
// compares the answers part by part, and the framing line by line where
// the documentation is consistent.
func TestBatchDocumented(t *testing.T) {
	cases := []struct {
		request, response string
		extra             []string
		tasks             int
		checkFrame        bool
	}{
		{"batch-no-changeset.request.http", "batch-no-changeset.response.http", nil, 3, true},
		{"batch-changeset.request.http", "batch-changeset.response.http", nil, 3, true},
		{"batch-changeset-content-id-refs.request.http", "batch-changeset-content-id-refs.response.http", nil, 0, false},
		{"batch-error-stop.request.http", "batch-error-stop.response.http", nil, 0, true},
		{"batch-error-stop.request.http", "batch-error-continue-on-error.response.http", []string{"Prefer: odata.continue-on-error"}, 2, true},
	}
	for _, tc := range cases {
		t.Run(tc.response, func(t *testing.T) {
			s := batchServer(t)
			a := sendBatch(t, s, tc.request, tc.extra...)
			status, want := docBatchResponse(t, tc.response)
			a.wantStatus(t, tc.response, status)
			if a.header.Get("OData-Version") != "4.0" {
				t.Errorf("OData-Version %q, want 4.0", a.header.Get("OData-Version"))
			}
			sameParts(t, tc.response, want, readBatch(t, a.header.Get("Content-Type"), string(a.body)))
			if tc.checkFrame {
				doc := specFile(t, tc.response)
				_, docBody, _ := strings.Cut(doc, "\n\n")
				if w, g := frame(docBody), frame(string(a.body)); strings.Join(w, "\n") != strings.Join(g, "\n") {
					t.Errorf("framing differs from the documentation\nwant:\n%s\ngot:\n%s", strings.Join(w, "\n"), strings.Join(g, "\n"))
				}
			}
			if n := len(s.Records("task")); n != tc.tasks {
				t.Errorf("%d tasks stored, want %d", n, tc.tasks)
			}
		})
	}
}

// TestBatchContentIDRefs checks that $1 and $2 in @odata.bind bound the
// account to the lead and contact created before it, and that each inner
// request is logged and counted.
func TestBatchContentIDRefs(t *testing.T) {
	s := New(t)
	a := sendBatch(t, s, "batch-changeset-content-id-refs.request.http")
	a.wantStatus(t, "content-id refs", http.StatusOK)
	leads, contacts, accounts := s.Records("lead"), s.Records("contact"), s.Records("account")
	if len(leads) != 1 || len(contacts) != 1 || len(accounts) != 1 {
		t.Fatalf("%d leads, %d contacts, %d accounts; want one of each", len(leads), len(contacts), len(accounts))
	}
	acc := accounts[0].Fields
	if acc["originatingleadid"] != (Ref{Table: "lead", ID: leads[0].ID}) || acc["primarycontactid"] != (Ref{Table: "contact", ID: contacts[0].ID}) {
		t.Errorf("account lookups %v and %v, want the lead and contact of $1 and $2", acc["originatingleadid"], acc["primarycontactid"])
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[0].InBatch {
		t.Fatalf("%d requests logged, want the $batch and its 3 requests", len(reqs))
	}
	for i, r := range reqs[1:] {
		if !r.InBatch || r.ContentID != fmt.Sprint(i+1) || r.Method != http.MethodPost || r.Status != http.StatusNoContent {
			t.Errorf("inner request %d logged as %+v, want InBatch, Content-ID %d, POST, 204", i+1, r, i+1)
		}
	}
	if !strings.Contains(string(reqs[3].Body), s.APIBase()+"/leads(") {
		t.Errorf("the account's body was logged as %s, want $1 replaced by the lead's URL", reqs[3].Body)
	}
	if st := s.Stats(); st.Requests != 4 {
		t.Errorf("Stats.Requests %d, want 4", st.Requests)
	}
}

// batchBody builds a $batch body from parts, each either a request
// ("POST tasks\n{json}") or a change set ([]string of requests).
func batchBody(parts ...any) string {
	var b strings.Builder
	request := func(boundary, contentID, req string) {
		line, body, _ := strings.Cut(req, "\n")
		method, target, _ := strings.Cut(line, " ")
		fmt.Fprintf(&b, "--%s\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n", boundary)
		if contentID != "" {
			fmt.Fprintf(&b, "Content-ID: %s\r\n", contentID)
		}
		fmt.Fprintf(&b, "\r\n%s %s HTTP/1.1\r\n", method, target)
		if body != "" {
			b.WriteString("Content-Type: application/json\r\n")
		}
		fmt.Fprintf(&b, "\r\n%s\r\n", body)
	}
	for _, p := range parts {
		switch x := p.(type) {
		case string:
			request("batch_B", "", x)
		case []string:
			b.WriteString("--batch_B\r\nContent-Type: multipart/mixed; boundary=changeset_C\r\n\r\n")
			for i, req := range x {
				request("changeset_C", fmt.Sprint(i+1), req)
			}
			b.WriteString("--changeset_C--\r\n")
		}
	}
	b.WriteString("--batch_B--\r\n")
	return b.String()
}

func postBatch(t *testing.T, s *Server, body string, extra ...string) answer {
	t.Helper()
	return send(t, s, http.MethodPost, "$batch", body, append([]string{"Content-Type: multipart/mixed; boundary=batch_B"}, extra...)...)
}

// TestBatchChangeSetRollback checks that a failing change set leaves
// nothing behind, answers the failure alone, and stops the batch.
func TestBatchChangeSetRollback(t *testing.T) {
	s := batchServer(t)
	long := strings.Repeat("x", 201)
	a := postBatch(t, s, batchBody(
		[]string{`POST leads` + "\n" + `{"lastname":"Kept?"}`, `POST tasks` + "\n" + `{"subject":"` + long + `"}`},
		"POST contacts\n"+`{"lastname":"Never"}`,
	))
	a.wantStatus(t, "failing change set", http.StatusBadRequest)
	parts := readBatch(t, a.header.Get("Content-Type"), string(a.body))
	if len(parts) != 1 || parts[0].status != http.StatusBadRequest || parts[0].contentID != "2" || !strings.Contains(parts[0].body, "0x80044331") {
		t.Fatalf("parts %+v, want the failing request's 400 alone, with its Content-ID", parts)
	}
	if n, m := len(s.Records("lead")), len(s.Records("contact")); n != 0 || m != 0 {
		t.Errorf("%d leads and %d contacts stored, want the change set rolled back and the batch stopped", n, m)
	}
}

// TestBatchRejectsLF checks that a $batch with LF line endings is
// refused and reported, as Dataverse refuses it.
func TestBatchRejectsLF(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	_, body := docBatchRequest(t, s, "batch-no-changeset.request.http")
	a := send(t, s, http.MethodPost, "$batch", body, `Content-Type: multipart/mixed; boundary="batch_80dd1615-2a10-428a-bb6f-0e559792721f"`)
	a.wantStatus(t, "LF batch", http.StatusBadRequest)
	rec.wantReport(t, "execute-batch-operations-using-web-api", "CRLF")
	if n := len(s.Records("task")); n != 0 {
		t.Errorf("%d tasks created from a refused batch", n)
	}
}

// TestBatchLimit checks the 1000-request limit: 1000 requests run, 1001
// are refused before any runs.
func TestBatchLimit(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	gets := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = "GET WhoAmI"
		}
		return out
	}
	postBatch(t, s, batchBody(gets(1000)...)).wantStatus(t, "1000 requests", http.StatusOK)
	if got := rec.reports(); len(got) != 0 {
		t.Fatalf("reports for a batch of 1000: %q", got)
	}
	before := len(s.Requests())
	postBatch(t, s, batchBody(gets(1001)...)).wantStatus(t, "1001 requests", http.StatusBadRequest)
	rec.wantReport(t, "up to 1000")
	if got := len(s.Requests()) - before; got != 1 {
		t.Errorf("%d requests logged for the refused batch, want only the $batch", got)
	}
}

// TestBatchChargesEachRequest checks that each request inside a $batch
// counts against the request window: with a limit of 2, the third gets
// 429 with Retry-After and stops the batch.
func TestBatchChargesEachRequest(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(t, WithClock(func() time.Time { return now }), WithRequestLimit(2, 300*time.Second))
	a := postBatch(t, s, batchBody("GET WhoAmI", "GET WhoAmI", "GET WhoAmI"))
	a.wantStatus(t, "third request over the window", http.StatusTooManyRequests)
	parts := readBatch(t, a.header.Get("Content-Type"), string(a.body))
	if len(parts) != 3 || parts[2].status != http.StatusTooManyRequests || parts[2].header.Get("Retry-After") != "300" || !strings.Contains(parts[2].body, "0x80072322") {
		t.Errorf("parts %+v, want two answers and a 429 with Retry-After 300 and code 0x80072322", parts)
	}
	if st := s.Stats(); st.Throttled != 1 {
		t.Errorf("Stats.Throttled %d, want 1", st.Throttled)
	}
}
