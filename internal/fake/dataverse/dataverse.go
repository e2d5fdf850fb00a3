// Package dataverse is a fake of the Microsoft Dataverse Web API v9.2 and of
// the Microsoft Entra client-credentials token endpoint, for tests.
//
// Parley's Dataverse client cannot be tried against a real environment in
// CI, so this fake is the only Dataverse it ever meets. To be worth that
// trust it holds every request to Microsoft's documented exchanges, copied
// in testdata/specs/dataverse (see its README, section 4), and to the Learn
// pages they come from. A request breaks a rule in one of three ways, and
// each fails the test with t.Errorf naming the document it goes against:
//
//   - Dataverse would refuse it (a missing OData header, a $batch with LF
//     line endings, an unknown column): the fake answers the error
//     Dataverse answers, 400 with {"error":{"code","message"}} unless the
//     documentation shows another.
//   - Dataverse would accept it but the documentation says not to (a PUT
//     of a table definition without MSCRM.MergeLabels, $top together with
//     odata.maxpagesize, alternate key values repeated in an upsert body):
//     the fake serves it as Dataverse would.
//   - The fake does not implement it (a $filter operator beyond what a CRM
//     connector needs): the fake answers 400. Extend the fake rather than
//     work around it.
//
// Answers a client is expected to handle (401 for an expired token, 404,
// 412, 429, the change-tracking errors) are not test failures.
//
// The fake keeps tables in memory: lead, contact and account with their
// usual columns, task and phonecall (the $batch documentation creates
// tasks), systemuser, team and activityparty, plus any table created
// through the metadata API (EntityDefinitions). Tests seed and inspect rows
// with AddRecord, UpdateRecord, DeleteRecord, Records and Record, and see
// every request, including each request inside a $batch, with Requests.
//
// Service protection follows service-protection-limits.json: 52 concurrent
// requests, a sliding window of requests (each request inside a $batch
// counts), and faults tests inject (FailNext, FailFor, FailWindow) to check
// that a client retries after Retry-After and drops nothing.
package dataverse

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults of every fake. The client ID and secret are the values of
// Microsoft's client-credentials example (token-client-credentials.exchange.http).
const (
	DefaultTenantID     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	DefaultClientID     = "535fb089-9ff3-47b6-9bfb-4f1264799865"
	DefaultClientSecret = "sampleCredentials"
	// DefaultUserID is the application user the client credentials sign
	// in as; rows created without an owner belong to it.
	DefaultUserID = "4026be43-6b69-e111-8f65-78e7d1620f5e"
	// APIPath is the Web API path the fake serves. Other versions are
	// refused: Parley speaks v9.2.
	APIPath = "/api/data/v9.2"
)

// Documented limits (service-protection-limits.json).
const (
	defaultConcurrency = 52
	defaultRequests    = 6000
	defaultWindow      = 300 * time.Second
	maxBatch           = 1000
	maxPageSize        = 5000
	defaultRetention   = 7 * 24 * time.Hour
)

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	t   testing.TB
	srv *httptest.Server

	tenant, clientID, secret string
	tokenLife                time.Duration
	now                      func() time.Time
	concurrency              int
	windowLimit              int
	window                   time.Duration
	retention                time.Duration

	// mu guards everything below. A request holds it while it is served,
	// so a $batch change set runs alone and can be rolled back.
	mu        sync.Mutex
	st        *store
	tokens    map[string]time.Time
	tokenSeq  int
	requests  []Request
	faults    []*fault
	hold      chan struct{}
	inflight  int
	stats     Stats
	charged   []time.Time
	published int
}

// Option configures a Server.
type Option func(*Server)

// WithTenant sets the Entra tenant ID the token endpoint serves.
func WithTenant(id string) Option { return func(s *Server) { s.tenant = id } }

// WithClient sets the client ID and secret the token endpoint accepts.
func WithClient(id, secret string) Option {
	return func(s *Server) { s.clientID, s.secret = id, secret }
}

// WithTokenLifetime sets how long access tokens last (3599 s, as
// documented, by default), so that a client's refresh can be tested.
func WithTokenLifetime(d time.Duration) Option { return func(s *Server) { s.tokenLife = d } }

// WithClock makes the fake read time from now, so that token expiry,
// Retry-After windows and delta-token retention can be tested without
// sleeping.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithConcurrencyLimit changes the 52 concurrent requests Dataverse allows.
func WithConcurrencyLimit(n int) Option { return func(s *Server) { s.concurrency = n } }

// WithRequestLimit changes the 6000 requests per 300-second sliding window.
func WithRequestLimit(n int, window time.Duration) Option {
	return func(s *Server) { s.windowLimit, s.window = n, window }
}

// WithChangeTrackingRetention changes how long delta tokens stay valid (7
// days by default, the Organization's ExpireChangeTrackingInDays).
func WithChangeTrackingRetention(d time.Duration) Option { return func(s *Server) { s.retention = d } }

// New starts a fake that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		t: t, tenant: DefaultTenantID, clientID: DefaultClientID, secret: DefaultClientSecret,
		tokenLife: 3599 * time.Second, now: time.Now, concurrency: defaultConcurrency,
		windowLimit: defaultRequests, window: defaultWindow, retention: defaultRetention,
		st: newStore(), tokens: map[string]time.Time{},
	}
	for _, o := range opts {
		o(s)
	}
	s.st.tables["systemuser"].records[DefaultUserID] = &record{
		id: DefaultUserID, version: s.st.bump(),
		fields: map[string]any{"firstname": "Parley", "lastname": "Integration", "fullname": "Parley Integration", "systemuserid": DefaultUserID},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close releases held requests and stops the server. It is called when the
// test ends.
func (s *Server) Close() {
	s.mu.Lock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
	s.mu.Unlock()
	s.srv.Close()
}

// URL is the environment URL, such as http://127.0.0.1:port; the token
// endpoint is served on it too.
func (s *Server) URL() string { return s.srv.URL }

// APIBase is the Web API root, URL()+"/api/data/v9.2".
func (s *Server) APIBase() string { return s.srv.URL + APIPath }

// TokenURL is the client-credentials token endpoint for the tenant.
func (s *Server) TokenURL() string { return s.srv.URL + "/" + s.tenant + "/oauth2/v2.0/token" }

// Scope is the scope a client must ask a token for: URL()+"/.default".
func (s *Server) Scope() string { return s.srv.URL + "/.default" }

// Request is one request the fake received.
type Request struct {
	Method    string
	Path      string // unescaped path, such as /api/data/v9.2/leads(…)
	RawQuery  string
	Query     url.Values
	Header    http.Header
	Body      []byte
	InBatch   bool   // a request inside a $batch
	ContentID string // its Content-ID, inside a change set
	Status    int    // the status the fake answered
}

// Requests returns every request received so far, in order; the requests
// inside a $batch follow it.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Stats counts what the fake served.
type Stats struct {
	// Requests is the number of Web API requests received, each request
	// inside a $batch counted as well as the $batch itself.
	Requests int
	// Throttled is the number of 429 answers.
	Throttled int
	// MaxConcurrency is the most requests served at the same time.
	MaxConcurrency int
	// InFlight is the number of requests being served now (including
	// held ones).
	InFlight int
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.InFlight = s.inflight
	return st
}

// reply is an answer, written to the client or into a $batch response.
type reply struct {
	status int
	header http.Header
	body   []byte
	// throttleCounted is set on a $batch stopped by a 429 inside it,
	// which Stats already counted.
	throttleCounted bool
}

func (r reply) write(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	w.Write(r.body)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	switch {
	case r.URL.Path == "/"+s.tenant+"/oauth2/v2.0/token" || strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token"):
		s.mu.Lock()
		rep := s.token(r, body)
		s.mu.Unlock()
		rep.write(w)
	case strings.HasPrefix(r.URL.Path, "/api/data/"):
		s.serveAPI(w, r, body)
	default:
		s.t.Errorf("dataverse: %s %s is neither the token endpoint nor the Web API (%s)", r.Method, r.URL.Path, docCompose)
		errSegment(strings.TrimPrefix(r.URL.Path, "/")).reply().write(w)
	}
}

// serveAPI admits a request under the concurrency limit, holds it if a test
// asked to, and serves it.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	if s.inflight >= s.concurrency {
		// The limit is immediate (service-protection-limits.json): the
		// request is refused before any work.
		i := s.logRequest(Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
		rep := errThrottled(LimitConcurrency, time.Second).reply()
		s.requests[i].Status = rep.status
		s.stats.Throttled++
		s.mu.Unlock()
		rep.write(w)
		return
	}
	s.inflight++
	if s.inflight > s.stats.MaxConcurrency {
		s.stats.MaxConcurrency = s.inflight
	}
	hold := s.hold
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	i := s.logRequest(Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	rep := s.handle(r, body)
	s.requests[i].Status = rep.status
	if rep.status == http.StatusTooManyRequests && !rep.throttleCounted {
		s.stats.Throttled++
	}
	s.mu.Unlock()
	rep.write(w)
}

func (s *Server) logRequest(r Request) int {
	s.requests = append(s.requests, r)
	s.stats.Requests++
	return len(s.requests) - 1
}

// handle serves an admitted Web API request. The order is Dataverse's:
// authentication, then service protection, then the request itself.
func (s *Server) handle(r *http.Request, body []byte) reply {
	if !s.authorized(r) {
		return s.errUnauthorized().reply()
	}
	if f := s.takeFault(r.URL.Path); f != nil {
		return f.reply()
	}
	c, e := s.newCall(r.Method, r.URL, r.Header, body, false)
	if e != nil {
		return e.reply()
	}
	if len(c.segs) == 1 && c.segs[0].name == "$batch" {
		return s.batch(c)
	}
	if e := s.charge(1); e != nil {
		return e.reply()
	}
	return s.dispatch(c)
}

// call is a parsed Web API request, from the wire or from inside a $batch.
type call struct {
	method   string
	path     string // the unescaped path after APIPath
	segs     []segment
	query    []queryParam
	header   http.Header
	body     []byte
	prefer   prefer
	inBatch  bool
	rawQuery string
	// trackingAt is the row version a tracked query started at.
	trackingAt int64
}

func (c *call) target() string {
	t := APIPath + c.path
	if c.rawQuery != "" {
		t += "?" + c.rawQuery
	}
	return t
}

// get returns a query option's value.
func (c *call) get(name string) (string, bool) {
	for _, q := range c.query {
		if q.name == name {
			return q.value, true
		}
	}
	return "", false
}

type queryParam struct{ name, value string }

// prefer is the parsed Prefer header (compose-http-requests-handle-errors,
// "Prefer Headers").
type prefer struct {
	representation  bool
	maxPageSize     int
	annotations     string // the odata.include-annotations value, unquoted
	hasAnnotations  bool
	trackChanges    bool
	continueOnError bool
}

// newCall parses a request and checks what every request must carry. Only
// the outer request carries the OData headers; a request inside a $batch
// inherits them (batch-*.request.http show none inside).
func (s *Server) newCall(method string, u *url.URL, h http.Header, body []byte, inBatch bool) (*call, *apiError) {
	c := &call{method: method, header: h, body: body, inBatch: inBatch, rawQuery: u.RawQuery}
	rest, ok := strings.CutPrefix(u.EscapedPath(), APIPath+"/")
	if !ok {
		return nil, s.reject(c, "the Web API version is v9.2 (compose-http-requests-handle-errors, \"Web API URL and versions\")",
			errSegment(strings.TrimPrefix(u.Path, "/api/data/")))
	}
	segs, err := parsePath(rest)
	if err != nil {
		return nil, s.reject(c, docCompose, errQuery("%s", err))
	}
	c.segs = segs
	c.path, _ = url.PathUnescape("/" + rest)
	q, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, s.reject(c, docCompose, errQuery("%s", err))
	}
	c.query = q
	if !inBatch {
		for _, hv := range []struct{ name, want string }{{"OData-MaxVersion", "4.0"}, {"OData-Version", "4.0"}} {
			if got := h.Get(hv.name); got != hv.want {
				return nil, s.reject(c, docCompose+`: "All HTTP requests should include" `+hv.name+": "+hv.want,
					errorf(http.StatusBadRequest, "0x0", "The %s header is %q; the service supports %s.", hv.name, got, hv.want))
			}
		}
		if a := h.Get("Accept"); !acceptsJSON(a) {
			return nil, s.reject(c, docCompose+": every request should include Accept: application/json",
				errorf(http.StatusBadRequest, "0x0", "The Accept header %q does not include application/json, the only format the Web API supports.", a))
		}
	}
	if len(bytes.TrimSpace(body)) > 0 || method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut {
		isBatch := len(segs) == 1 && segs[0].name == "$batch"
		mt, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		switch {
		case isBatch && (mt != "multipart/mixed" || params["boundary"] == ""):
			return nil, s.reject(c, docBatch+": a $batch has Content-Type multipart/mixed with a boundary",
				errorf(http.StatusBadRequest, "0x0", "The content type %q of a batch request must be multipart/mixed with a boundary.", h.Get("Content-Type")))
		case !isBatch && len(bytes.TrimSpace(body)) > 0 && mt != "application/json":
			return nil, s.reject(c, docCompose+": \"Every request that includes JSON data in the request body must include a Content-Type header with a value of application/json\"",
				errorf(http.StatusBadRequest, "0x0", "The content type %q is not supported; send application/json.", h.Get("Content-Type")))
		}
	}
	p, e := s.parsePrefer(c, h.Values("Prefer"))
	if e != nil {
		return nil, e
	}
	c.prefer = p
	return c, nil
}

func acceptsJSON(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		if mt == "application/json" || mt == "*/*" || mt == "application/*" {
			return true
		}
	}
	return false
}

// parsePrefer reads the preferences compose-http-requests-handle-errors
// lists. An unknown preference is ignored, as RFC 7240 says, but reported:
// it is almost always a typo that silently changes nothing.
func (s *Server) parsePrefer(c *call, values []string) (prefer, *apiError) {
	var p prefer
	for _, v := range values {
		for _, item := range splitPrefer(v) {
			name, val, _ := strings.Cut(item, "=")
			name, val = strings.TrimSpace(name), strings.TrimSpace(val)
			switch name {
			case "return":
				if val != "representation" && val != "minimal" {
					s.misuse(c, docCompose, "Prefer: return=%s is not a documented value", val)
				}
				p.representation = val == "representation"
			case "odata.maxpagesize":
				n, err := strconv.Atoi(val)
				if err != nil || n < 1 {
					return p, s.reject(c, docPaging, errQuery("The odata.maxpagesize preference %q is not a positive integer.", val))
				}
				if n > maxPageSize {
					return p, s.reject(c, docPaging+": \"You can't request a page size larger than 5,000\"", errQuery("The odata.maxpagesize preference %d exceeds the maximum page size of 5000.", n))
				}
				p.maxPageSize = n
			case "odata.include-annotations":
				p.annotations, p.hasAnnotations = strings.Trim(val, `"`), true
			case "odata.track-changes":
				p.trackChanges = true
			case "odata.continue-on-error":
				p.continueOnError = true
			default:
				s.misuse(c, docCompose, "unknown preference %q in Prefer: %s", item, v)
			}
		}
	}
	return p, nil
}

// splitPrefer splits a Prefer value on commas outside quotes.
func splitPrefer(v string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range v {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
		case r == ',' && !quoted:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// reject reports a request Dataverse would refuse: it fails the test,
// naming the documentation the request goes against, and returns the
// answer Dataverse gives.
func (s *Server) reject(c *call, doc string, e *apiError) *apiError {
	where := ""
	if c != nil {
		where = c.method + " " + c.target()
		if c.inBatch {
			where += " (inside a $batch)"
		}
	}
	s.t.Errorf("dataverse: Dataverse would reject %s\n  rule: %s\n  answer: %d %s", where, doc, e.status, e.message)
	return e
}

// misuse reports a request Dataverse would serve although its
// documentation says not to send it.
func (s *Server) misuse(c *call, doc, format string, args ...any) {
	s.t.Errorf("dataverse: %s %s goes against Microsoft's documentation (%s): %s", c.method, c.target(), doc, fmt.Sprintf(format, args...))
}

// unsupported reports a request the fake cannot serve.
func (s *Server) unsupported(c *call, format string, args ...any) *apiError {
	msg := fmt.Sprintf(format, args...)
	s.t.Errorf("dataverse: the fake does not implement %s (in %s %s); extend internal/fake/dataverse if Parley needs it", msg, c.method, c.target())
	return errQuery("The fake Dataverse does not support %s.", msg)
}

// dispatch routes a request by its path.
func (s *Server) dispatch(c *call) reply {
	if len(c.segs) == 0 {
		return s.reject(c, docClientErr, errSegment("")).reply()
	}
	first := c.segs[0]
	switch first.name {
	case "$batch":
		return s.reject(c, docBatch+": \"can't contain other batch requests\"", errQuery("A batch request cannot contain another batch request.")).reply()
	case "EntityDefinitions":
		return s.metadata(c)
	case "WhoAmI":
		return s.whoAmI(c)
	case "PublishXml", "PublishAllXml":
		return s.publish(c)
	case "$metadata", "GlobalOptionSetDefinitions", "RelationshipDefinitions":
		return s.unsupported(c, "%s", first.name).reply()
	}
	t := s.st.bySet(first.name)
	if t == nil {
		if s.st.tables[first.name] != nil {
			// A logical name where the entity set name belongs: the
			// mistake web-api-client-errors opens with.
			return s.reject(c, docClientErr+": use the EntitySetName", errSegment(first.name)).reply()
		}
		return errSegment(first.name).reply()
	}
	if first.key == nil {
		switch {
		case len(c.segs) == 1 && c.method == http.MethodGet:
			return s.query(c, t)
		case len(c.segs) == 1 && c.method == http.MethodPost:
			return s.create(c, t)
		case len(c.segs) == 2 && c.segs[1].name == "$count" && c.method == http.MethodGet:
			return s.count(c, t)
		case len(c.segs) == 1:
			return s.reject(c, docCompose+": \"you can't use DELETE or PATCH on a collection of entities\"",
				errorf(http.StatusMethodNotAllowed, "0x80060888", "The requested resource does not support http method '%s'.", c.method)).reply()
		}
		return errSegment(c.segs[1].name).reply()
	}
	if len(c.segs) == 1 {
		switch c.method {
		case http.MethodGet:
			return s.retrieve(c, t)
		case http.MethodPatch:
			return s.update(c, t)
		case http.MethodDelete:
			return s.remove(c, t)
		}
		return s.reject(c, docCompose, errorf(http.StatusMethodNotAllowed, "0x80060888", "The requested resource does not support http method '%s'.", c.method)).reply()
	}
	if len(c.segs) == 2 {
		return s.property(c, t)
	}
	return s.unsupported(c, "the path %s", c.path).reply()
}

func (s *Server) whoAmI(c *call) reply {
	if c.method != http.MethodGet {
		return s.reject(c, docClientErr+": WhoAmI is a function, called with GET",
			errorf(http.StatusNotFound, "", "No HTTP resource was found that matches the request URI '%s'.", s.APIBase()+"/WhoAmI")).reply()
	}
	return jsonReply(http.StatusOK, obj(
		"@odata.context", s.APIBase()+"/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
		"BusinessUnitId", "a5b1f6a2-8b28-4ba5-8f3d-3c1a1e0b2d11",
		"UserId", DefaultUserID,
		"OrganizationId", "883278f5-07af-45eb-a0bc-3fea67caa544",
	), "")
}

// publish serves PublishXml and PublishAllXml, which a client calls after
// changing table definitions (create-update-entity-definitions-using-web-api).
func (s *Server) publish(c *call) reply {
	if c.method != http.MethodPost {
		return s.reject(c, docTables, errorf(http.StatusMethodNotAllowed, "0x80060888", "%s is an action, called with POST.", c.segs[0].name)).reply()
	}
	if c.segs[0].name == "PublishXml" {
		var in struct{ ParameterXml *string }
		if err := decodeStrict(c.body, &in); err != nil || in.ParameterXml == nil || !strings.Contains(*in.ParameterXml, "<importexportxml>") {
			return s.reject(c, docTables+": PublishXml takes {\"ParameterXml\": \"<importexportxml>…\"}",
				errPayload("", "Microsoft.OData.ODataException: The parameter 'ParameterXml' in the request payload is not a valid parameter for the operation 'PublishXml'.")).reply()
		}
	}
	s.published++
	return reply{status: http.StatusNoContent, header: http.Header{"Odata-Version": {"4.0"}}}
}

// Published counts the PublishXml and PublishAllXml calls.
func (s *Server) Published() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

func jsonReply(status int, v any, contentType string) reply {
	if contentType == "" {
		contentType = "application/json; odata.metadata=minimal"
	}
	b, err := marshal(v)
	if err != nil {
		panic(err)
	}
	return reply{status: status, header: http.Header{"Content-Type": {contentType}, "Odata-Version": {"4.0"}}, body: b}
}

// sortedKeys returns m's keys in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
