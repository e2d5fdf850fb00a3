package dataverse

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The Microsoft Entra client-credentials grant, as
// token-client-credentials.exchange.http documents it:
//
//	POST /{tenant}/oauth2/v2.0/token
//	client_id=…&scope=<environment URL>/.default&client_secret=…&grant_type=client_credentials
//
// answers {"token_type":"Bearer","expires_in":3599,"access_token":"…"} or
// an error {"error","error_description","error_codes","timestamp",
// "trace_id","correlation_id"}. Only invalid_scope (AADSTS70011, 400) is
// documented there; the other AADSTS codes are the ones community reports
// show for the same mistakes (AADSTS7000215 invalid secret with 401,
// AADSTS700016 unknown application, AADSTS90002 unknown tenant).

// token serves the token endpoint.
func (s *Server) token(r *http.Request, body []byte) reply {
	tenant := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token")
	if r.Method != http.MethodPost {
		s.t.Errorf("dataverse: %s %s: the token endpoint takes POST (%s)", r.Method, r.URL.Path, docToken)
		return s.tokenError(http.StatusBadRequest, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		s.t.Errorf("dataverse: POST %s: Content-Type is %q; the token request is application/x-www-form-urlencoded (%s)", r.URL.Path, r.Header.Get("Content-Type"), docToken)
		return s.tokenError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		s.t.Errorf("dataverse: POST %s: the body is not a form: %v (%s)", r.URL.Path, err, docToken)
		return s.tokenError(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	if id, secret, ok := r.BasicAuth(); ok {
		// "The Basic auth pattern of instead providing credentials in the
		// Authorization header, per RFC 6749 is also supported."
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
	for _, p := range []string{"grant_type", "client_id", "scope", "client_secret"} {
		if form.Get(p) == "" {
			s.t.Errorf("dataverse: POST %s: the required parameter %s is missing (%s)", r.URL.Path, p, docToken)
			return s.tokenError(http.StatusBadRequest, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", p))
		}
	}
	switch {
	case tenant != s.tenant:
		return s.tokenError(http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	case form.Get("grant_type") != "client_credentials":
		s.t.Errorf("dataverse: POST %s: grant_type is %q; Parley uses client_credentials (%s)", r.URL.Path, form.Get("grant_type"), docToken)
		return s.tokenError(http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+form.Get("grant_type")+"'.")
	case form.Get("client_id") != s.clientID:
		return s.tokenError(http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'.", form.Get("client_id"), tenant))
	case form.Get("client_secret") != s.secret:
		return s.tokenError(http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.clientID))
	case form.Get("scope") != s.Scope():
		return s.tokenError(http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", form.Get("scope")))
	}
	tok := s.mint()
	b, _ := json.Marshal(map[string]any{"token_type": "Bearer", "expires_in": int(s.tokenLife / time.Second), "access_token": tok})
	return reply{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Cache-Control": {"no-store, no-cache"}}, body: b}
}

// mint issues an access token. It looks like a JWT, as Entra's do, but
// clients must treat it as opaque.
func (s *Server) mint() string {
	s.tokenSeq++
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"RS256"}`))
	claims := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"aud":%q,"appid":%q,"tid":%q,"n":%d}`, s.URL(), s.clientID, s.tenant, s.tokenSeq)))
	tok := head + "." + claims + "." + randomHex(16)
	s.tokens[tok] = s.now().Add(s.tokenLife)
	return tok
}

// AccessToken issues a valid token without the token exchange, for tests
// that are not about authentication.
func (s *Server) AccessToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mint()
}

// ExpireAccessTokens makes every token issued so far expired, so that the
// next request with one gets 401 and the client must fetch a new one.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok := range s.tokens {
		s.tokens[tok] = time.Time{}
	}
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	exp, ok := s.tokens[tok]
	return ok && s.now().Before(exp)
}

func (s *Server) tokenError(status int, code string, aadsts int, desc string) reply {
	trace, corr := uuid(), uuid()
	now := s.now().UTC()
	b, _ := json.Marshal(map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
	})
	return reply{status: status, header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: b}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// uuid is a random version 4 UUID.
func uuid() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
