package dataverse

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// recorder stands in for the test so that a test can assert the fake's
// own reports (a request Dataverse would reject, a misuse) instead of
// failing on them.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (r *recorder) reports() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// wantReport fails unless the fake reported exactly one problem
// containing each of the fragments.
func (r *recorder) wantReport(t *testing.T, fragments ...string) {
	t.Helper()
	got := r.reports()
	if len(got) != 1 {
		t.Fatalf("the fake reported %d problems, want 1: %q", len(got), got)
	}
	for _, f := range fragments {
		if !strings.Contains(got[0], f) {
			t.Errorf("the fake's report %q does not mention %q", got[0], f)
		}
	}
}

// answer is a response as the tests read it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("the body is not a JSON object: %v\n%s", err, a.body)
	}
	return m
}

// send makes a Web API request with the headers every request carries,
// a valid token, and the extra headers given ("Name: value" strings; an
// empty value removes a default header).
func send(t *testing.T, s *Server, method, target, body string, headers ...string) answer {
	t.Helper()
	if !strings.HasPrefix(target, "http") {
		target = s.APIBase() + "/" + strings.TrimPrefix(target, "/")
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.AccessToken())
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// specFile reads a file of testdata/specs/dataverse.
func specFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../../testdata/specs/dataverse/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// message is one request or response of a documented exchange.
type message struct {
	start  string // the request line or status line
	header http.Header
	body   string
}

var startLine = regexp.MustCompile(`^(GET|POST|PATCH|PUT|DELETE) |^HTTP/1\.1 \d{3}`)

// specMessages reads the requests and responses of a "### title" section
// of a .http file: a start line, headers up to an empty line, a body up
// to the next start line.
func specMessages(t *testing.T, file, title string) []message {
	t.Helper()
	text := specFile(t, file)
	i := strings.Index(text, "### "+title)
	if i < 0 {
		t.Fatalf("%s has no section %q", file, title)
	}
	section := text[i:]
	section = section[strings.Index(section, "\n")+1:]
	if j := strings.Index(section, "\n### "); j >= 0 {
		section = section[:j]
	}
	return parseMessages(section)
}

func parseMessages(text string) []message {
	var out []message
	var cur *message
	inHeader := false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case startLine.MatchString(line):
			out = append(out, message{start: strings.TrimSpace(line), header: http.Header{}})
			cur, inHeader = &out[len(out)-1], true
		case cur == nil:
		case inHeader && strings.TrimSpace(line) == "":
			inHeader = false
		case inHeader:
			k, v, _ := strings.Cut(line, ":")
			cur.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		default:
			cur.body += line + "\n"
		}
	}
	for i := range out {
		out[i].body = strings.TrimSpace(out[i].body)
	}
	return out
}

// placeholders turns what differs between the documentation and any run
// of the fake into fixed marks: the organization URI, the API version of
// older examples, GUIDs, row versions and delta tokens.
var placeholders = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\[Organization U[Rr][Ii]\](/api)?/data/v9\.[0-2]`), "<api>"},
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+/api/data/v9\.2`), "<api>"},
	{regexp.MustCompile(`(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<guid>"},
	{regexp.MustCompile(`W/"\d+"`), `W/"<version>"`},
	{regexp.MustCompile(`\$deltatoken=[^&"]+`), "$deltatoken=<token>"},
}

func normalizeText(s string) string {
	for _, p := range placeholders {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}

// shape normalizes a decoded JSON value for comparison with a documented
// one.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = shape(e)
		}
		return out
	case string:
		return normalizeText(x)
	}
	return v
}

// sameJSON compares a documented JSON body with an answer's, after
// normalizing both.
func sameJSON(t *testing.T, what, documented string, got []byte) {
	t.Helper()
	var want, have any
	if err := json.Unmarshal([]byte(documented), &want); err != nil {
		t.Fatalf("%s: the documented body does not parse: %v", what, err)
	}
	if err := json.Unmarshal(got, &have); err != nil {
		t.Fatalf("%s: the answer is not JSON: %v\n%s", what, err, got)
	}
	if w, h := shape(want), shape(have); !reflect.DeepEqual(w, h) {
		wb, _ := json.MarshalIndent(w, "", "  ")
		hb, _ := json.MarshalIndent(h, "", "  ")
		t.Errorf("%s: the answer differs from the documentation\nwant %s\ngot  %s", what, wb, hb)
	}
}

// wantStatus fails unless the answer has the status.
func (a answer) wantStatus(t *testing.T, what string, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, a.status, status, a.body)
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonKeys lists the keys of a JSON object, sorted.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return sortedKeys(m)
}

// target is the path and query of a documented request line, after the
// Web API root: "accounts?$select=name".
func (m message) target() string {
	line := m.start[strings.Index(m.start, " ")+1:]
	line = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), "HTTP/1.1"))
	if i := strings.Index(line, "/api/data/v9."); i >= 0 {
		line = line[i+len("/api/data/v9.2/"):]
	}
	return line
}
