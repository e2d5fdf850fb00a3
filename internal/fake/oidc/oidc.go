// Package oidc is a fake OpenID Connect provider for tests, shaped like
// Microsoft Entra ID: discovery, a JWKS with an RSA key made at start, an
// authorization endpoint that consents at once as a configured user, and
// a token endpoint that redeems the code (with PKCE) for an RS256 ID
// token carrying Entra's claims (oid, tid, email, preferred_username).
//
// It is strict where a real provider is: the client, the redirect URI,
// PKCE S256, the state and nonce round trip and single-use codes. A
// client that breaks the protocol fails the test (t.Errorf) and gets the
// OAuth error a provider would answer.
package oidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is who the provider signs in: its claims.
type User struct {
	OID               string // object ID, the oid claim
	TenantID          string // the directory, the tid claim
	Email             string // the email claim; empty leaves it out
	PreferredUsername string // the UPN, preferred_username
	Name              string
}

// Options configure a provider.
type Options struct {
	ClientID string
	// ClientSecret, when set, must come with the token request
	// (client_secret_post or basic); empty makes a public client.
	ClientSecret string
	// MultiTenant makes the provider behave like Entra's
	// /organizations/v2.0: the discovery document names the issuer
	// https://…/{tenantid}/v2.0, and each ID token the user's own tenant.
	MultiTenant bool
	// TenantID is the directory of a single-tenant provider, whose every
	// token carries it; a multi-tenant one issues each user's own.
	TenantID string
}

// Server is a running fake provider.
type Server struct {
	*httptest.Server
	t    testing.TB
	opts Options
	key  *rsa.PrivateKey
	kid  string

	mu    sync.Mutex
	user  User
	codes map[string]*grant
	// tamper edits the claims of the next ID tokens, for tests of what
	// a client must refuse.
	tamper func(claims map[string]any)
	// Redeemed counts the codes redeemed at the token endpoint.
	redeemed int
}

// grant is an issued authorization code and what it was issued for.
type grant struct {
	clientID, redirectURI, challenge, nonce string
	user                                    User
	used                                    bool
}

// New starts a provider, stopped when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ClientID == "" {
		opts.ClientID = "parley-test-client"
	}
	if opts.TenantID == "" {
		opts.TenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	}
	s := &Server{t: t, opts: opts, key: key, kid: "fake-key-1", codes: map[string]*grant{},
		user: User{OID: "00000000-0000-0000-0000-0000000000a1", TenantID: opts.TenantID,
			Email: "agent@contoso.test", PreferredUsername: "agent@contoso.test", Name: "Contoso Agent"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /keys", s.jwks)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Issuer is the URL to configure the client with: a tenant's issuer, or
// /organizations/v2.0 for a multi-tenant provider.
func (s *Server) Issuer() string {
	if s.opts.MultiTenant {
		return s.URL + "/organizations/v2.0"
	}
	return s.TenantIssuer(s.opts.TenantID)
}

// TenantIssuer is the issuer of a tenant's ID tokens.
func (s *Server) TenantIssuer(tid string) string { return s.URL + "/" + tid + "/v2.0" }

// ClientID is the client the provider knows.
func (s *Server) ClientID() string { return s.opts.ClientID }

// SetUser changes who signs in next.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// User is who signs in next.
func (s *Server) User() User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// Tamper edits the claims of the ID tokens issued from now on (nil stops).
func (s *Server) Tamper(f func(claims map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

// Redeemed is how many codes the token endpoint redeemed.
func (s *Server) Redeemed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.redeemed
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	issuer := s.URL + "/" + tenant + "/v2.0"
	if s.opts.MultiTenant {
		if tenant != "organizations" {
			http.NotFound(w, r)
			return
		}
		issuer = s.URL + "/{tenantid}/v2.0"
	} else if tenant != s.opts.TenantID {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                issuer,
		"authorization_endpoint":                s.URL + "/" + tenant + "/oauth2/v2.0/authorize",
		"token_endpoint":                        s.URL + "/" + tenant + "/oauth2/v2.0/token",
		"jwks_uri":                              s.URL + "/keys",
		"response_types_supported":              []string{"code", "id_token", "code id_token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"S256"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	pub := s.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": s.kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize checks the request as Entra would and redirects back at once
// with a code, as if the user had signed in and consented.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(format string, args ...any) {
		s.t.Errorf("fake oidc: authorize: "+format, args...)
		http.Error(w, "invalid_request", http.StatusBadRequest)
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != s.opts.ClientID:
		fail("client_id %q, want %q", q.Get("client_id"), s.opts.ClientID)
	case err != nil || !redirect.IsAbs():
		fail("redirect_uri %q is not an absolute URL", q.Get("redirect_uri"))
	case q.Get("response_type") != "code":
		fail("response_type %q, want code", q.Get("response_type"))
	case !hasScope(q.Get("scope"), "openid"):
		fail("scope %q lacks openid", q.Get("scope"))
	case q.Get("code_challenge_method") != "S256":
		fail("code_challenge_method %q, want S256", q.Get("code_challenge_method"))
	case len(q.Get("code_challenge")) != 43:
		fail("code_challenge %q is not a base64url SHA-256", q.Get("code_challenge"))
	case q.Get("state") == "":
		fail("no state")
	case q.Get("nonce") == "":
		fail("no nonce")
	default:
		code := random()
		s.mu.Lock()
		s.codes[code] = &grant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"),
			nonce: q.Get("nonce"), user: s.user}
		s.mu.Unlock()
		back := redirect.Query()
		back.Set("code", code)
		back.Set("state", q.Get("state"))
		redirect.RawQuery = back.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
	}
}

// token redeems a code once, for the client and redirect URI it was
// issued to, with the verifier of its challenge.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.t.Errorf("fake oidc: token: %v", err)
		oauthError(w, "invalid_request")
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		clientID, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	s.mu.Lock()
	g := s.codes[f.Get("code")]
	fail := func(code, format string, args ...any) {
		s.mu.Unlock()
		s.t.Errorf("fake oidc: token: "+format, args...)
		oauthError(w, code)
	}
	switch {
	case f.Get("grant_type") != "authorization_code":
		fail("unsupported_grant_type", "grant_type %q", f.Get("grant_type"))
	case g == nil:
		fail("invalid_grant", "unknown code")
	case g.used:
		fail("invalid_grant", "the code was redeemed already")
	case clientID != g.clientID:
		fail("invalid_client", "client_id %q, the code is for %q", clientID, g.clientID)
	case s.opts.ClientSecret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1:
		fail("invalid_client", "wrong client secret")
	case f.Get("redirect_uri") != g.redirectURI:
		fail("invalid_grant", "redirect_uri %q, the code was issued for %q", f.Get("redirect_uri"), g.redirectURI)
	case challenge(f.Get("code_verifier")) != g.challenge:
		fail("invalid_grant", "the code_verifier does not match the code_challenge")
	default:
		g.used = true
		s.redeemed++
		tamper := s.tamper
		s.mu.Unlock()
		now := time.Now()
		tid := g.user.TenantID
		if !s.opts.MultiTenant || tid == "" {
			tid = s.opts.TenantID
		}
		claims := map[string]any{
			"iss": s.TenantIssuer(tid), "aud": g.clientID, "sub": "pairwise-" + g.user.OID,
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": g.nonce,
			"oid": g.user.OID, "tid": tid, "name": g.user.Name, "ver": "2.0",
		}
		if g.user.Email != "" {
			claims["email"] = g.user.Email
		}
		if g.user.PreferredUsername != "" {
			claims["preferred_username"] = g.user.PreferredUsername
		}
		if tamper != nil {
			tamper(claims)
		}
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "scope": "openid profile email",
			"access_token": random(), "id_token": s.sign(claims)})
	}
}

// sign makes an RS256 JWS of the claims.
func (s *Server) sign(claims map[string]any) string {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": s.kid})
	payload, _ := json.Marshal(claims)
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		s.t.Errorf("fake oidc: sign: %v", err)
	}
	return input + "." + b64(sig)
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64(sum[:])
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

func random() string {
	var b [24]byte
	rand.Read(b[:])
	return b64(b[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func oauthError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
