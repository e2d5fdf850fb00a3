// Package twilio is an in-process fake of Twilio's Programmable Messaging
// API (api.twilio.com) and Content API (content.twilio.com), on one
// address, for testing Parley's Twilio adapter and the whole server.
//
// It is faithful where Parley depends on it: every send is checked
// against the CreateMessage operation of Twilio's published OpenAPI
// document (testdata/specs/twilio), and anything Twilio would refuse fails
// the test with what was wrong; answers are the documented Message
// resource and error shapes ({code,message,more_info,status}). It keeps
// WhatsApp's 24-hour window itself: a free-form message to a number that
// has not written in the last 24 hours is accepted (201 queued) and then
// fails through its status callback with error 63016, as Twilio does.
// Inbound webhooks and status callbacks it posts are signed with
// X-Twilio-Signature over the URL they are posted to.
//
// Importers alias it (faketwilio) to keep it apart from whatsapp/twilio.
package twilio

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultPhoneNumber is the WhatsApp sender the fake knows unless told
// otherwise. It is a 555 number, not Twilio's sandbox number, so tests
// cannot be mistaken for sandbox traffic.
const DefaultPhoneNumber = "+14155550100"

// Server is the fake. Its exported fields are set by New and may be read
// freely; change them only before the first request.
type Server struct {
	// URL is the base address of both APIs (api_url and content_url).
	URL string
	// AccountSID and AuthToken are the credentials it accepts (HTTP Basic).
	AccountSID string
	AuthToken  string
	// PhoneNumber is the business number (E.164) sends must come from.
	PhoneNumber string
	// MessagingServiceSID is the Messaging Service (MG…) sends may name
	// instead of a From address.
	MessagingServiceSID string
	// PageSize caps the Content API's pages (Twilio's default is 50), so
	// tests can make paging happen with few templates.
	PageSize int
	// Now is the fake's clock, for the 24-hour window.
	Now func() time.Time

	t   testing.TB
	srv *httptest.Server
	hc  *http.Client

	mu         sync.Mutex
	webhookURL string
	windows    map[string]time.Time // E.164 → last inbound
	sent       []Sent
	messages   map[string]*message // by SID, sent ones
	faults     []Fault
	templates  []*content
	media      map[string]*storedMedia // by path
	revoked    bool
	requests   int
	async      sync.WaitGroup
}

// New starts a fake, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	if _, err := schemas(); err != nil {
		t.Fatalf("fake twilio: %v", err)
	}
	s := &Server{
		t:                   t,
		AccountSID:          "AC" + randHex(16),
		AuthToken:           randHex(16),
		PhoneNumber:         DefaultPhoneNumber,
		MessagingServiceSID: "MG" + randHex(16),
		PageSize:            50,
		Now:                 time.Now,
		windows:             map[string]time.Time{},
		messages:            map[string]*message{},
		media:               map[string]*storedMedia{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	s.hc = &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(s.Close)
	return s
}

// Close waits for callbacks in flight and stops the server.
func (s *Server) Close() {
	s.async.Wait()
	s.srv.Close()
}

// SetWebhookURL is the address Twilio posts inbound messages to: the
// sender's "A message comes in" setting, which for Parley is
// PARLEY_BASE_URL + "/webhooks/twilio/{channel_id}".
func (s *Server) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

// RevokeToken makes every later request fail with 401 and code 20003, as
// after the auth token was rotated in Twilio's console.
func (s *Server) RevokeToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
}

// Requests is the number of API requests the fake has received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// OpenWindow records an inbound message from e164 now, without posting a
// webhook. CloseWindow forgets it, as if 24 hours had passed at Twilio.
func (s *Server) OpenWindow(e164 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows[e164] = s.Now()
}

// CloseWindow makes free-form messages to e164 fail with 63016.
func (s *Server) CloseWindow(e164 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.windows, e164)
}

func (s *Server) windowOpen(e164 string) bool {
	at, ok := s.windows[e164]
	return ok && s.Now().Sub(at) < 24*time.Hour
}

// serve routes a request after checking the credentials.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	revoked := s.revoked
	s.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, cdnPath) {
		s.serveCDN(w, r) // pre-signed: no credentials, like Twilio's media CDN
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.AccountSID || pass != s.AuthToken || revoked {
		writeError(w, errAuthenticate())
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == s.accountPath()+"/Messages.json":
		s.createMessage(w, r)
	case r.Method == http.MethodGet && r.URL.Path == s.accountPath()+".json":
		s.fetchAccount(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, s.accountPath()+"/Messages/") && strings.Contains(r.URL.Path, "/Media/"):
		s.serveMedia(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/ContentAndApprovals":
		s.listContent(w, r)
	case strings.HasPrefix(r.URL.Path, "/2010-04-01/Accounts/"):
		// Another account's path, with this account's credentials.
		writeError(w, apiError{Status: http.StatusNotFound, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
	default:
		writeError(w, apiError{Status: http.StatusNotFound, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
	}
}

func (s *Server) accountPath() string { return "/2010-04-01/Accounts/" + s.AccountSID }

// fetchAccount answers GET /2010-04-01/Accounts/{Sid}.json.
func (s *Server) fetchAccount(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"sid": s.AccountSID, "friendly_name": "Parley test account", "status": "active", "type": "Full",
		"owner_account_sid": s.AccountSID, "auth_token": s.AuthToken,
		"date_created": rfc2822(s.Now()), "date_updated": rfc2822(s.Now()),
		"uri": s.accountPath() + ".json",
	})
}

// apiError is Twilio's error answer.
type apiError struct {
	Status  int
	Code    int
	Message string
}

func (e apiError) body() map[string]any {
	b := map[string]any{"code": e.Code, "message": e.Message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.Code), "status": e.Status}
	if e.Code == 0 {
		b["code"] = nil
		b["more_info"] = nil
	}
	return b
}

func errAuthenticate() apiError {
	return apiError{Status: http.StatusUnauthorized, Code: 20003, Message: "Authenticate"}
}

func writeError(w http.ResponseWriter, e apiError) {
	writeJSON(w, e.Status, e.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func rfc2822(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 +0000") }

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSID is a 34-character SID with the given two-letter prefix.
func newSID(prefix string) string { return prefix + randHex(16) }

// post sends a signed form to u and returns Parley's status. A post that
// cannot reach u fails the test, unless it is a callback the fake sends
// on its own (quiet), which like Twilio's just gets lost.
func (s *Server) post(u string, form url.Values) int { return s.postTo(u, form, false) }

func (s *Server) postTo(u string, form url.Values, quiet bool) int {
	fail := s.t.Errorf
	if quiet {
		fail = s.t.Logf
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		fail("fake twilio: post to %q: %v", u, err)
		return 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", Sign(s.AuthToken, u, form))
	resp, err := s.hc.Do(req)
	if err != nil {
		fail("fake twilio: post to %q: %v", u, err)
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
