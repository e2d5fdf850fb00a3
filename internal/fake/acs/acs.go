// Package acs is a fake Azure Communication Services resource for tests:
// the Advanced Messaging API (2024-11-15) and the Event Grid deliveries
// it makes, shaped by testdata/specs/azure.
//
// It is strict where ACS is, and stricter where a client bug would
// otherwise pass unseen:
//
//   - every request is authenticated, by HMAC-SHA256 request signing with
//     the resource's access key (x-ms-date within 15 minutes,
//     x-ms-content-sha256 matching the body, the signature over
//     VERB\nPathAndQuery\ndate;host;hash) or by a bearer token from the
//     fake's own Entra token endpoint (client credentials, scope
//     https://communication.azure.com/.default). A malformed signature
//     fails the test (t.Errorf) besides getting 401;
//   - every send body is checked against the Swagger's NotificationContent
//     definitions (the kind discriminator, unknown and missing properties,
//     types, formats), refused with the Azure.Core error envelope and
//     reported with t.Errorf;
//   - Repeatability-Request-ID and Repeatability-First-Sent work as the
//     Azure REST guidelines specify: a repeated ID is answered with the
//     original answer and Repeatability-Result: accepted, and nothing is
//     sent twice;
//   - WhatsApp's rules that ACS only learns after accepting a send (the
//     24-hour window, unknown templates, wrong parameter counts) end as a
//     Failed AdvancedMessageDeliveryStatusUpdated event with WhatsApp's
//     channelCode, which is how ACS reports them (see
//     docs-examples/delivery-status-failed-131026.json): the send itself
//     is answered 202.
//
// Inbound messages and statuses are posted to Parley as Event Grid would:
// an EventGridEvent array (or a CloudEvent when CloudEvents is set), to
// the webhook URL with its ?key=, or with an Entra bearer token minted by
// the fake and verifiable through its discovery document and JWKS.
//
// Importers alias the package (acsfake) to keep it apart from the adapter.
package acs

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIVersion is the only api-version the fake serves.
const APIVersion = "2024-11-15"

// Scope is the scope an Entra token for ACS is asked for.
const Scope = "https://communication.azure.com/.default"

// Sent is a message the fake accepted.
type Sent struct {
	MessageID       string
	RepeatabilityID string
	To              string // E.164
	Kind            string // text, image, document, video, audio, template, interactive
	// Text is the text content, the caption of media, the interactive
	// body, or a template's body with its bound values filled in.
	Text             string
	TemplateName     string
	TemplateLanguage string
	// Values are a template's text values by name.
	Values   map[string]string
	MediaURI string
	Body     []byte
	// FailedCode is the WhatsApp code of the Failed status the fake
	// posted for it (131047 outside the window), empty when none.
	FailedCode string
}

// Fault is an answer the next sends get instead of the real one.
type Fault int

const (
	// RateLimit answers 429 with Retry-After: 1.
	RateLimit Fault = iota + 1
	// Unauthorized answers 401, as for a revoked key.
	Unauthorized
	// Outage answers 503.
	Outage
	// OutsideWindow accepts the send and then reports it Failed with
	// WhatsApp's 131047, whether or not the window is open.
	OutsideWindow
	// Interrupt records and accepts the send, then closes the connection
	// without answering: the client cannot know it went out.
	Interrupt
)

// Delivery is an Event Grid delivery built once, to be posted any number
// of times and in any order.
type Delivery struct {
	Body        []byte
	ContentType string
	EventType   string
}

// Server is a running fake resource.
type Server struct {
	*httptest.Server
	t testing.TB

	AccessKey             string // base64, as the portal shows it
	ChannelRegistrationID string
	PhoneNumber           string // the business number, E.164

	// The Entra application allowed to call the resource with a bearer
	// token, in the fake's own directory (TenantID), whose token endpoint
	// is URL/{TenantID}/oauth2/v2.0/token.
	TenantID, ClientID, ClientSecret string

	// CloudEvents makes deliveries CloudEvents 1.0 (one event each,
	// application/cloudevents+json) instead of EventGridEvent arrays.
	CloudEvents bool

	// RepeatabilityWindow is how long a Repeatability-Request-ID is
	// remembered; a First-Sent older than that is rejected.
	RepeatabilityWindow time.Duration

	key     *rsa.PrivateKey
	spec    *swagger
	hc      *http.Client
	posters sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	webhookURL string
	audience   string // bearer delivery when set
	revoked    bool
	tokens     map[string]bool
	sent       []Sent
	repeats    map[string]*repeat
	faults     []Fault
	windows    map[string]time.Time // customer digits → last message
	media      map[string]stored
	templates  []template
	seq        int
	posted     []int // statuses of asynchronous posts
}

type repeat struct {
	firstSent time.Time
	status    int
	body      []byte
}

type stored struct {
	mimeType string
	data     []byte
}

type template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`
	Kind     string `json:"kind"`
	Content  []any  `json:"content"`
	body     string
}

// New starts a fake resource, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := &Server{
		t:                     t,
		AccessKey:             base64.StdEncoding.EncodeToString(secret),
		ChannelRegistrationID: newUUID(),
		PhoneNumber:           "+14255550123",
		TenantID:              "3d8a6a3e-0b6c-4d3e-9f55-7c1c1b1a0a01",
		ClientID:              "9a1e0c2b-5f4d-4b8e-8a7c-6d5e4f3a2b1c",
		ClientSecret:          "fake-client-secret",
		RepeatabilityWindow:   time.Hour,
		key:                   key,
		spec:                  sp,
		hc:                    &http.Client{Timeout: 30 * time.Second},
		tokens:                map[string]bool{},
		repeats:               map[string]*repeat{},
		windows:               map[string]time.Time{},
		media:                 map[string]stored{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /messages/notifications:send", s.authed(s.send))
	mux.HandleFunc("GET /messages/streams/{id}", s.authed(s.stream))
	mux.HandleFunc("GET /messages/channels/{id}/templates", s.authed(s.listTemplates))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /discovery/v2.0/keys", s.jwks)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.t.Errorf("acs fake: unknown request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotFound, "NotFound", "No such operation: "+r.Method+" "+r.URL.Path)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Close stops the server after every asynchronous post has finished.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.posters.Wait()
	s.Server.Close()
}

// SetWebhookURL is where events are posted: Parley's full webhook URL,
// including ?key= unless deliveries carry a bearer token (SetBearer).
func (s *Server) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

// SetBearer makes deliveries carry an Entra bearer token for audience,
// issued by EventIssuer, as Event Grid's Entra-authenticated delivery
// does. An empty audience stops it.
func (s *Server) SetBearer(audience string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.audience = audience
}

// RevokeKey makes every later request get 401: the access key was
// regenerated and Entra tokens revoked.
func (s *Server) RevokeKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// FailNext makes the next n sends get f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// Sent returns the messages accepted so far, once each.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Sent, len(s.sent))
	copy(out, s.sent)
	return out
}

// AddTemplate adds an approved WhatsApp template whose body has {{1}}, …
func (s *Server) AddTemplate(name, language, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = append(s.templates, template{Name: name, Language: language, Status: "approved", Kind: "whatsApp",
		Content: []any{map[string]string{"type": "BODY", "text": body}}, body: body})
}

// Posted is the HTTP status of each asynchronous post the fake made (the
// Failed statuses of sends WhatsApp refused), in order.
func (s *Server) Posted() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.posted...)
}

// authed checks the request's credentials before next: revoked, HMAC,
// or bearer, then the api-version.
func (s *Server) authed(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if !s.authenticate(w, r, body) {
			return
		}
		if v := r.URL.Query().Get("api-version"); v != APIVersion {
			s.t.Errorf("acs fake: %s %s: api-version %q, want %q", r.Method, r.URL.Path, v, APIVersion)
			writeError(w, http.StatusBadRequest, "UnsupportedApiVersion", fmt.Sprintf("The HTTP resource does not support the API version %q.", v))
			return
		}
		next(w, r, body)
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, body []byte) bool {
	deny := func() bool {
		writeError(w, http.StatusUnauthorized, "Denied", "Denied by the resource provider.")
		return false
	}
	s.mu.Lock()
	revoked := s.revoked
	s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		s.mu.Lock()
		valid := s.tokens[tok]
		s.mu.Unlock()
		if !valid || revoked {
			return deny()
		}
		return true
	}
	if !strings.HasPrefix(auth, "HMAC-SHA256 ") {
		s.t.Errorf("acs fake: %s %s: no HMAC-SHA256 or Bearer Authorization header", r.Method, r.URL.Path)
		return deny()
	}
	if problem := s.checkHMAC(r, body); problem != "" {
		s.t.Errorf("acs fake: %s %s: %s", r.Method, r.URL.Path, problem)
		return deny()
	}
	sig := strings.TrimPrefix(auth, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=")
	if revoked || !hmac.Equal([]byte(sig), []byte(s.signature(r))) {
		return deny() // a wrong or regenerated key: a client's mistake to report, not a bug
	}
	return true
}

// checkHMAC reports what is malformed in a signed request, apart from
// the signature's value.
func (s *Server) checkHMAC(r *http.Request, body []byte) string {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=") {
		return fmt.Sprintf("Authorization %q does not sign x-ms-date;host;x-ms-content-sha256", auth)
	}
	date := r.Header.Get("x-ms-date")
	at, err := http.ParseTime(date)
	if err != nil || !strings.HasSuffix(date, " GMT") {
		return fmt.Sprintf("x-ms-date %q is not an RFC 1123 GMT date", date)
	}
	if d := time.Since(at); d > 15*time.Minute || d < -15*time.Minute {
		return fmt.Sprintf("x-ms-date %q is more than 15 minutes off", date)
	}
	sum := sha256.Sum256(body)
	if got, want := r.Header.Get("x-ms-content-sha256"), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		return fmt.Sprintf("x-ms-content-sha256 %q does not match the body (%q)", got, want)
	}
	return ""
}

// signature is the request's expected signature with the access key.
func (s *Server) signature(r *http.Request) string {
	key, _ := base64.StdEncoding.DecodeString(s.AccessKey)
	toSign := r.Method + "\n" + r.URL.RequestURI() + "\n" + r.Header.Get("x-ms-date") + ";" + r.Host + ";" + r.Header.Get("x-ms-content-sha256")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(toSign))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// token is the Entra client-credentials grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request")
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case r.PathValue("tenant") != s.TenantID:
		oauthError(w, "invalid_tenant")
	case r.PostForm.Get("grant_type") != "client_credentials":
		s.t.Errorf("acs fake: token: grant_type %q", r.PostForm.Get("grant_type"))
		oauthError(w, "unsupported_grant_type")
	case r.PostForm.Get("scope") != Scope:
		s.t.Errorf("acs fake: token: scope %q, want %q", r.PostForm.Get("scope"), Scope)
		oauthError(w, "invalid_scope")
	case id != s.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) != 1:
		oauthError(w, "invalid_client")
	default:
		tok := newUUID() + newUUID()
		s.mu.Lock()
		s.tokens[tok] = true
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok})
	}
}

func oauthError(w http.ResponseWriter, code string) {
	status := http.StatusBadRequest
	if code == "invalid_client" {
		status = http.StatusUnauthorized
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": "fake Entra: " + code})
}

// writeError writes the Azure.Core error envelope with x-ms-error-code.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("x-ms-error-code", code)
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// digits keeps a phone number's digits.
func digits(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
