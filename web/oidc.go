package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/parleyhq/parley"
)

// Sign in with Microsoft, for the panel inside Dynamics 365.
//
// The panel runs in a cross-site iframe, where Entra ID refuses to be
// framed and where the console's SameSite=Lax cookie is never sent. So
// the panel opens a popup, a top-level window of Parley's own origin, for
// the OpenID Connect authorization code flow with PKCE. The popup cannot
// hand the iframe a cookie (the iframe's cookies are partitioned under
// the CRM's site, the popup's are not), so it hands it a one-time code by
// postMessage, targeted at Parley's origin; the iframe trades the code
// for a session cookie of its own, SameSite=None; Secure; Partitioned.
// docs/microsoft-sign-in.md has the whole story.

const (
	// oidcFlowCookie keeps the state, nonce and PKCE verifier of one
	// sign-in between the start and the callback, in the popup.
	oidcFlowCookie = "parley_oidc"
	oidcFlowTTL    = 10 * time.Minute
	oidcPath       = "/auth/oidc/"
	// panelSessionCookie is the session of a panel signed in inside a
	// CRM's iframe. It is a cookie of its own, not the console's: it is
	// partitioned under the CRM's site, so it never reaches the console,
	// and signing in to the panel leaves the console's session alone.
	panelSessionCookie = "parley_panel_session"
	// signInCodeTTL is how long the popup's one-time code lives: the
	// iframe redeems it within a second.
	signInCodeTTL = time.Minute
)

// OIDC configures signing in to the panel with an OpenID Connect
// provider, Microsoft Entra ID in practice.
type OIDC struct {
	// Issuer is the provider, such as
	// https://login.microsoftonline.com/<tenant>/v2.0, or
	// https://login.microsoftonline.com/organizations/v2.0 for users of
	// any Entra directory listed in Tenants.
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client, PKCE alone
	// RedirectURL is Parley's /auth/oidc/callback, as registered with
	// the provider.
	RedirectURL string
	// Tenants are the directories (Entra's tid) whose users may sign in.
	// A multi-tenant issuer requires them: Entra's email claim is not
	// verified, and any directory could otherwise claim a user's email.
	Tenants []string
	// HTTPClient makes the requests to the provider; nil is one with a
	// 15-second timeout.
	HTTPClient *http.Client

	mu       sync.Mutex
	ready    bool
	client   *http.Client
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	// tenantIssuer is the issuer a multi-tenant provider puts in its
	// tokens, with {tenantid} for the user's directory ("" for one
	// tenant, whose issuer go-oidc checks).
	tenantIssuer string
}

// tenantSegments are the path segments of Entra's multi-tenant issuers.
// Their discovery document names the issuer
// https://login.microsoftonline.com/{tenantid}/v2.0, and each token the
// user's own directory, so go-oidc's issuer check cannot apply.
var tenantSegments = []string{"organizations", "common"}

var guid = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// multiTenant is the issuer template of a multi-tenant issuer, or "".
func (o *OIDC) multiTenant() string {
	u, err := url.Parse(o.Issuer)
	if err != nil {
		return ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) == 0 || !slices.Contains(tenantSegments, parts[0]) {
		return ""
	}
	parts[0] = "{tenantid}"
	// By hand: url.URL.String would escape the braces.
	return u.Scheme + "://" + u.Host + "/" + strings.Join(parts, "/")
}

// Check reports a configuration that cannot work, at start.
func (o *OIDC) Check() error {
	u, err := url.Parse(o.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("the OIDC issuer %q is not a URL such as https://login.microsoftonline.com/<tenant>/v2.0", o.Issuer)
	}
	if o.ClientID == "" {
		return errors.New("the OIDC issuer is set but not the client ID (PARLEY_OIDC_CLIENT_ID)")
	}
	if r, err := url.Parse(o.RedirectURL); err != nil || !r.IsAbs() {
		return fmt.Errorf("the OIDC redirect URL %q is not absolute; set PARLEY_BASE_URL", o.RedirectURL)
	}
	if o.multiTenant() != "" && len(o.Tenants) == 0 {
		return fmt.Errorf("the multi-tenant OIDC issuer %s needs the directories whose users may sign in (PARLEY_OIDC_TENANTS)", o.Issuer)
	}
	for _, t := range o.Tenants {
		if !guid.MatchString(t) {
			return fmt.Errorf("the OIDC tenant %q is not a directory (tenant) ID", t)
		}
	}
	return nil
}

// setup discovers the provider on first use, not at start: Parley starts
// while the provider is unreachable, and a failed discovery is tried
// again at the next sign-in.
func (o *OIDC) setup(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ready {
		return nil
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	ctx = oidc.ClientContext(ctx, client)
	template := o.multiTenant()
	if template != "" {
		// Only for Entra's multi-tenant issuers, whose tokens
		// checkToken checks against the template instead.
		ctx = oidc.InsecureIssuerURLContext(ctx, template)
	}
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return fmt.Errorf("web: discover the OIDC provider %s: %w", o.Issuer, err)
	}
	ep := p.Endpoint()
	// client_secret_post, or the bare client_id of a public client; the
	// default would try Basic first and guess.
	ep.AuthStyle = oauth2.AuthStyleInParams
	o.oauth = oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, Endpoint: ep, RedirectURL: o.RedirectURL,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	o.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), client),
		&oidc.Config{ClientID: o.ClientID, SkipIssuerCheck: template != ""})
	o.tenantIssuer, o.client = template, client
	o.ready = true
	return nil
}

// identity is who the provider says signed in.
type identity struct {
	// Tenant and Object name the account for good: Entra's tid and oid
	// (else the issuer and sub of another provider).
	Tenant, Object string
	// Email is the address to find a Parley user by on first sign-in.
	Email string
}

// claims are the ID token's claims Parley reads.
type claims struct {
	OID               string `json:"oid"`
	TID               string `json:"tid"`
	Email             string `json:"email"`
	PreferredUsername string `json:"preferred_username"`
	UPN               string `json:"upn"`
}

// errWrongTenant refuses a directory that may not sign in.
var errWrongTenant = errors.New("web: the ID token's directory may not sign in")

// redeem trades the authorization code for an ID token (with the PKCE
// verifier), verifies it (signature, audience, expiry, issuer, nonce) and
// returns who it names.
func (o *OIDC) redeem(ctx context.Context, code string, f *oidcFlow) (*identity, error) {
	tok, err := o.oauth.Exchange(oidc.ClientContext(ctx, o.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return nil, fmt.Errorf("web: redeem the authorization code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("web: the token response has no id_token")
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("web: verify the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return nil, errors.New("web: the ID token's nonce is not this sign-in's")
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("web: read the ID token's claims: %w", err)
	}
	if o.tenantIssuer != "" {
		// go-oidc skipped the issuer check: the token must come from
		// the directory it names, one of the configured ones.
		if !guid.MatchString(c.TID) || idt.Issuer != strings.Replace(o.tenantIssuer, "{tenantid}", c.TID, 1) {
			return nil, fmt.Errorf("web: the ID token's issuer %q does not match its directory %q", idt.Issuer, c.TID)
		}
	}
	if len(o.Tenants) > 0 && !slices.ContainsFunc(o.Tenants, func(t string) bool { return strings.EqualFold(t, c.TID) }) {
		return nil, fmt.Errorf("%w: %s", errWrongTenant, c.TID)
	}
	id := &identity{Tenant: c.TID, Object: c.OID}
	if id.Object == "" {
		id.Tenant, id.Object = idt.Issuer, idt.Subject
	}
	for _, e := range []string{c.Email, c.PreferredUsername, c.UPN} {
		if strings.Contains(e, "@") {
			id.Email = e
			break
		}
	}
	return id, nil
}

// oidcFlow is one sign-in under way, kept in the popup's cookie between
// the start and the callback. The cookie needs no signature: the state
// ties the callback to this browser, and the verifier and nonce are
// checked by the provider and by redeem, so a forged cookie gains
// nothing its own browser could not do.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// registerOIDC adds the sign-in routes; page wraps them like every page.
func (s *Server) registerOIDC(mux *http.ServeMux, page func(string, http.HandlerFunc)) {
	page("GET "+oidcPath+"start", s.oidcStart)
	page("GET "+oidcPath+"callback", s.oidcCallback)
	page("POST "+oidcPath+"session", s.oidcSession)
}

// oidcPageData is the popup's page: a one-time code for the panel, or
// why there is none.
type oidcPageData struct {
	*view
	Code    string
	Problem string
}

func (s *Server) oidcProblem(w http.ResponseWriter, v *view, status int, msg string) {
	s.render(w, status, "oidc_popup", oidcPageData{view: v, Problem: msg})
}

// oidcStart begins a sign-in in the popup: a fresh state, nonce and PKCE
// verifier in a short-lived cookie, then the provider's authorization
// endpoint.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	v := s.anonymousView(r)
	if err := s.OIDC.setup(r.Context()); err != nil {
		s.Log.Error("oidc sign-in unavailable", "error", err)
		s.oidcProblem(w, v, http.StatusServiceUnavailable, v.T("oidc.unavailable"))
		return
	}
	f := oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
	b, _ := json.Marshal(f)
	// Lax is enough: the popup is a top-level window, and the provider
	// comes back to the callback with a top-level GET.
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: oidcPath,
		MaxAge: int(oidcFlowTTL / time.Second), HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, s.OIDC.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// takeFlow reads the sign-in under way and forgets it: a callback is
// answered once.
func (s *Server) takeFlow(w http.ResponseWriter, r *http.Request) (*oidcFlow, bool) {
	http.SetCookie(w, &http.Cookie{Name: oidcFlowCookie, Value: "", Path: oidcPath, MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies,
		SameSite: http.SameSiteLaxMode})
	c, err := r.Cookie(oidcFlowCookie)
	if err != nil {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	var f oidcFlow
	if err != nil || json.Unmarshal(b, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return nil, false
	}
	return &f, true
}

// oidcCallback finishes the sign-in in the popup: it checks the state,
// redeems the code, finds the Parley user, and gives the page a one-time
// code that its script posts to the panel.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	v, q, ctx := s.anonymousView(r), r.URL.Query(), r.Context()
	f, ok := s.takeFlow(w, r)
	if !ok || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		s.oidcProblem(w, v, http.StatusBadRequest, v.T("oidc.expired"))
		return
	}
	if e := q.Get("error"); e != "" {
		// The provider's own words (error_description) may carry
		// details of the directory; the log has them, the page its code.
		s.Log.Warn("oidc provider refused the sign-in", "error", e, "description", q.Get("error_description"))
		s.oidcProblem(w, v, http.StatusBadRequest, v.T("oidc.refused", e))
		return
	}
	if err := s.OIDC.setup(ctx); err != nil {
		s.Log.Error("oidc sign-in unavailable", "error", err)
		s.oidcProblem(w, v, http.StatusServiceUnavailable, v.T("oidc.unavailable"))
		return
	}
	id, err := s.OIDC.redeem(ctx, q.Get("code"), f)
	if errors.Is(err, errWrongTenant) {
		s.Log.Warn("oidc sign-in from a directory not allowed", "error", err)
		s.oidcProblem(w, v, http.StatusForbidden, v.T("oidc.wrong_tenant"))
		return
	} else if err != nil {
		s.Log.Warn("oidc sign-in failed", "error", err)
		s.oidcProblem(w, v, http.StatusUnauthorized, v.T("oidc.failed"))
		return
	}
	u, err := s.oidcUser(ctx, id)
	switch code := parley.ErrorCode(err); {
	case err == nil:
	case code == parley.ENOTFOUND && id.Email == "":
		s.oidcProblem(w, v, http.StatusForbidden, v.T("oidc.no_email"))
		return
	case code == parley.ENOTFOUND:
		s.oidcProblem(w, v, http.StatusForbidden, v.T("oidc.no_user", id.Email))
		return
	case code == parley.ECONFLICT:
		s.Log.Warn("oidc account conflicts with a linked user", "email", id.Email, "tid", id.Tenant, "oid", id.Object)
		s.oidcProblem(w, v, http.StatusForbidden, v.T("oidc.other_account", id.Email))
		return
	default:
		s.Log.Error("oidc sign-in", "error", err)
		s.oidcProblem(w, v, http.StatusInternalServerError, v.T("error.internal"))
		return
	}
	code := randomToken()
	if err := s.DB.CreateSignInCode(ctx, u, hashSecret("parley sign-in code", code), s.DB.Now().Add(signInCodeTTL)); err != nil {
		s.Log.Error("oidc sign-in code", "error", err)
		s.oidcProblem(w, v, http.StatusInternalServerError, v.T("error.internal"))
		return
	}
	s.Log.Info("signed in with oidc", "user", u.ID, "tenant", u.TenantID)
	s.render(w, http.StatusOK, "oidc_popup", oidcPageData{view: v, Code: code})
}

// oidcUser is the Parley user of an account: the one linked to it, else
// the one with its email, which is then linked to it for good, so that a
// changed email still finds them and another account with their email
// does not. Emails are unique across tenants (see store.CreateUser), so an
// email names one user of one tenant: there is nothing to choose between.
func (s *Server) oidcUser(ctx context.Context, id *identity) (*parley.User, error) {
	u, err := s.DB.UserByOIDC(ctx, id.Tenant, id.Object)
	if parley.ErrorCode(err) != parley.ENOTFOUND {
		return u, err
	}
	if id.Email == "" {
		return nil, err
	}
	if u, _, err = s.DB.UserByEmail(ctx, id.Email); err != nil {
		return nil, err
	}
	if err := s.DB.LinkOIDC(ctx, u.ID, id.Tenant, id.Object); err != nil {
		return nil, err
	}
	s.Log.Info("linked a user to their oidc account", "user", u.ID, "tid", id.Tenant, "oid", id.Object)
	return u, nil
}

// oidcSession trades the popup's one-time code for the panel's session
// cookie. The panel's script posts it from the iframe: a same-origin
// request (Sec-Fetch-Site: same-origin), which the cross-origin
// protection of every page lets through, while another site's form
// cannot.
func (s *Server) oidcSession(w http.ResponseWriter, r *http.Request) {
	v := s.anonymousView(r)
	u, err := s.DB.TakeSignInCode(r.Context(), hashSecret("parley sign-in code", r.PostFormValue("code")))
	if err != nil {
		if parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			s.Log.Error("take sign-in code", "error", err)
		}
		http.Error(w, v.T("oidc.failed"), statusOf(parley.ErrorCode(err)))
		return
	}
	c, err := s.newPanelSession(r.Context(), u)
	if err != nil {
		s.Log.Error("create panel session", "error", err)
		http.Error(w, v.T("error.internal"), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, c)
	w.WriteHeader(http.StatusNoContent)
}

// panelSignIn is the panel of a visitor without a session, when
// Microsoft sign-in is on: a button that opens the sign-in popup.
func (s *Server) panelSignIn(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusUnauthorized, "panel_signin", struct{ *view }{s.anonymousView(r)})
}
