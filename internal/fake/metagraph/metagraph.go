// Package metagraph is a fake of Meta's Graph API for the WhatsApp Cloud
// API, for tests. It serves the endpoints Parley uses (send, mark read,
// media upload and download, message templates, the phone number node)
// and checks every request as Meta would: the bearer token, the content
// type, and the body against Meta's published OpenAPI document (via
// internal/oas). A body that does not match the schema gets Graph error
// 100 and also fails the test, so an adapter bug cannot hide behind an
// error path the adapter handles.
//
// Tests steer it with fault injection (Inject, FailNext, OnMessage,
// Stall, RevokeToken) and inspect what it received (Requests, Sent,
// Uploads, ReadReceipts).
package metagraph

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley"
)

// Defaults of the number every fake has. The IDs are those of Meta's
// documentation examples.
const (
	DefaultVersion       = "v23.0"
	DefaultPhoneNumberID = "106540352242922"
	DefaultWABAID        = "102290129340398"
	DefaultDisplayPhone  = "15550783881"
	DefaultToken         = "EAAFakeAccessToken"
	DefaultAppSecret     = "test_app_secret"
)

// Phone is a business phone number the fake knows, with the access token
// that may use it (and its WhatsApp Business Account).
type Phone struct {
	ID           string
	WABAID       string
	DisplayPhone string // digits
	VerifiedName string
	Token        string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the fake's base address, to be used as MetaConfig.GraphURL.
	URL string
	// Version is the path prefix the fake serves, such as "v23.0".
	Version string

	t         testing.TB
	srv       *httptest.Server
	schemas   *schemaSet
	appSecret string

	mu        sync.Mutex
	phones    map[string]Phone
	revoked   map[string]bool
	media     map[string]*storedMedia
	urlEpoch  int
	templates map[string][]templateEntry
	requests  []Request
	sent      []Sent
	uploads   []Upload
	reads     []string
	faults    []*fault
	onMessage func(body []byte) (status int, resp []byte, handled bool)
	stall     chan struct{}
	seq       int
}

// Option configures a Server.
type Option func(*Server)

// WithVersion serves another Graph version prefix.
func WithVersion(v string) Option { return func(s *Server) { s.Version = v } }

// WithPhone adds a phone number (beside the default one).
func WithPhone(p Phone) Option { return func(s *Server) { s.addPhone(p) } }

// WithAppSecret sets the app secret status webhooks are signed with.
func WithAppSecret(secret string) Option { return func(s *Server) { s.appSecret = secret } }

// New starts a fake that is closed when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	sch, err := schemas()
	if err != nil {
		t.Fatalf("metagraph: load Meta's OpenAPI: %v", err)
	}
	s := &Server{
		Version: DefaultVersion, t: t, schemas: sch, appSecret: DefaultAppSecret,
		phones: map[string]Phone{}, revoked: map[string]bool{},
		media: map[string]*storedMedia{}, templates: map[string][]templateEntry{},
	}
	s.addPhone(Phone{ID: DefaultPhoneNumberID, WABAID: DefaultWABAID, DisplayPhone: DefaultDisplayPhone, VerifiedName: "Parley Test", Token: DefaultToken})
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.Close)
	return s
}

// Close releases stalled requests and stops the server. It is called
// when the test ends.
func (s *Server) Close() {
	s.mu.Lock()
	if s.stall != nil {
		close(s.stall)
		s.stall = nil
	}
	s.mu.Unlock()
	s.srv.Close()
}

func (s *Server) addPhone(p Phone) {
	if p.VerifiedName == "" {
		p.VerifiedName = "Parley Test"
	}
	s.phones[p.ID] = p
}

// AddPhone adds a phone number after the fake started.
func (s *Server) AddPhone(p Phone) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addPhone(p)
}

// Channel returns a Meta channel for the default phone, pointed at the
// fake.
func (s *Server) Channel() *parley.Channel { return s.ChannelFor(DefaultPhoneNumberID) }

// ChannelFor returns a Meta channel for one of the fake's phones.
func (s *Server) ChannelFor(phoneNumberID string) *parley.Channel {
	s.mu.Lock()
	p, ok := s.phones[phoneNumberID]
	s.mu.Unlock()
	if !ok {
		s.t.Fatalf("metagraph: no phone %s", phoneNumberID)
	}
	return &parley.Channel{
		ID: "ch_" + p.ID, Provider: parley.ProviderMeta, PhoneNumber: "+" + p.DisplayPhone,
		AccountID: p.ID, BusinessAccountID: p.WABAID,
		Meta: &parley.MetaConfig{
			PhoneNumberID: p.ID, WABAID: p.WABAID, AccessToken: p.Token,
			AppSecret: s.appSecret, GraphURL: s.URL, APIVersion: s.Version,
		},
	}
}

// RevokeToken makes a token invalid, as when a user's session expires:
// every request with it gets Graph error 190.
func (s *Server) RevokeToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[token] = true
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	stall := s.stall
	s.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-r.Context().Done():
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.route(w, r, body)
}

// route dispatches on the path: /{version}/{node}[/{edge}], and the
// media download address.
func (s *Server) route(w http.ResponseWriter, r *http.Request, body []byte) {
	if strings.HasPrefix(r.URL.Path, downloadPath) {
		s.download(w, r)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != s.Version {
		writeError(w, http.StatusBadRequest, errUnknownPath())
		return
	}
	node, edge := parts[1], ""
	if len(parts) == 3 {
		edge = parts[2]
	}
	switch {
	case r.Method == http.MethodPost && edge == "messages":
		s.messages(w, r, node, body)
	case r.Method == http.MethodPost && edge == "media":
		s.upload(w, r, node)
	case r.Method == http.MethodGet && edge == "message_templates":
		s.listTemplates(w, r, node)
	case r.Method == http.MethodGet && edge == "":
		s.getNode(w, r, node)
	default:
		writeError(w, http.StatusBadRequest, errUnknownPath())
	}
}

// token returns the request's bearer token, or writes the Graph error
// for a missing or invalid one. Tokens in the query string are refused:
// Parley must never put a token in a URL, where logs would keep it.
func (s *Server) token(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, errNoToken())
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked[tok] {
		_, e := KnownError(190)
		writeError(w, http.StatusUnauthorized, e)
		return "", false
	}
	for _, p := range s.phones {
		if p.Token == tok {
			return tok, true
		}
	}
	writeError(w, http.StatusUnauthorized, errBadToken())
	return "", false
}

// phoneFor checks the token may use the phone number node.
func (s *Server) phoneFor(w http.ResponseWriter, r *http.Request, id string) (Phone, bool) {
	tok, ok := s.token(w, r)
	if !ok {
		return Phone{}, false
	}
	s.mu.Lock()
	p, ok := s.phones[id]
	s.mu.Unlock()
	if !ok || p.Token != tok {
		writeError(w, http.StatusBadRequest, errNoObject(id))
		return Phone{}, false
	}
	return p, true
}

func (s *Server) nextSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return s.seq
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	w.Write(body)
}

func writeError(w http.ResponseWriter, status int, e GraphError) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("OAuth \"Facebook Platform\" \"invalid_request\" \"%s\"", strings.ReplaceAll(e.Message, `"`, "'")))
	writeJSON(w, status, e.JSON())
}
