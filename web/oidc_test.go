package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	fakeoidc "github.com/parleyhq/parley/internal/fake/oidc"
)

// oidcEnv is the console's handlers on a test server, with Microsoft
// sign-in against the fake provider, and a user of a tenant.
type oidcEnv struct {
	t    *testing.T
	s    *Server
	url  string
	idp  *fakeoidc.Server
	user *parley.User
	now  time.Time
}

func newOIDCEnv(t *testing.T, opts fakeoidc.Options, tenants ...string) *oidcEnv {
	t.Helper()
	ctx := context.Background()
	db := dbtest.SQLite(t)
	e := &oidcEnv{t: t, idp: fakeoidc.New(t, opts), now: time.Now()}
	db.Now = func() time.Time { return e.now }
	tenant, err := db.CreateTenant(ctx, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	e.user = &parley.User{TenantID: tenant.ID, Email: "agent@contoso.test", Name: "Ana Agent", Role: parley.RoleAgent}
	if err := db.CreateUser(ctx, e.user, "hash"); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	e.s = &Server{DB: db, Log: slog.New(slog.NewTextHandler(testLog{t}, nil)), OIDC: &OIDC{Issuer: e.idp.Issuer(),
		ClientID: e.idp.ClientID(), ClientSecret: opts.ClientSecret, RedirectURL: srv.URL + "/auth/oidc/callback", Tenants: tenants}}
	if err := e.s.OIDC.Check(); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Register(mux); err != nil {
		t.Fatal(err)
	}
	return e
}

// popup is a browser window going through the sign-in: it keeps cookies
// and follows nothing by itself.
type popup struct {
	e      *oidcEnv
	client *http.Client
}

func (e *oidcEnv) popup() *popup {
	jar, _ := cookiejar.New(nil)
	return &popup{e: e, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *popup) get(u string) *http.Response {
	p.e.t.Helper()
	resp, err := p.client.Get(u)
	if err != nil {
		p.e.t.Fatal(err)
	}
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// start opens /auth/oidc/start and returns the authorization URL.
func (p *popup) start() *url.URL {
	p.e.t.Helper()
	resp := p.get(p.e.url + "/auth/oidc/start")
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		p.e.t.Fatalf("start: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		p.e.t.Fatal(err)
	}
	return u
}

// authorize goes to the provider, which consents at once, and returns
// the callback URL it sends the browser back to.
func (p *popup) authorize(auth *url.URL) string {
	p.e.t.Helper()
	resp := p.get(auth.String())
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		p.e.t.Fatalf("authorize: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// signIn goes through the whole popup and returns the callback's status
// and page.
func (p *popup) signIn() (int, string) {
	p.e.t.Helper()
	resp := p.get(p.authorize(p.start()))
	return resp.StatusCode, body(p.e.t, resp)
}

var codeAttr = regexp.MustCompile(`data-code="([^"]+)"`)

// code signs in and returns the one-time code the popup page carries.
func (p *popup) code() string {
	p.e.t.Helper()
	status, page := p.signIn()
	m := codeAttr.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		p.e.t.Fatalf("callback: %d without a code: %s", status, page)
	}
	return m[1]
}

// redeem posts a code the way the panel's script does, from the iframe.
func (e *oidcEnv) redeem(code, fetchSite string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+"/auth/oidc/session", strings.NewReader(url.Values{"code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", fetchSite)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestOIDCSignIn: the whole flow, with the fake checking the protocol
// (client, redirect URI, PKCE S256 against the verifier, state and nonce
// round trip, single-use code), ends with a partitioned cookie that opens
// the panel as the user, who is now linked to the account.
func TestOIDCSignIn(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{ClientSecret: "s3cret"})
	p := e.popup()

	// The panel without a session offers the button.
	resp := p.get(e.url + "/panel?phone=%2B5511987654321")
	page := body(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, `id="oidc-signin"`) || !strings.Contains(page, "Sign in with Microsoft") {
		t.Fatalf("the panel without a session: %d %s", resp.StatusCode, page)
	}

	auth := p.start()
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || q.Get("redirect_uri") != e.url+"/auth/oidc/callback" {
		t.Fatalf("the authorization request %s", auth)
	}
	flow := cookieNamed(p.client.Jar.Cookies(mustURL(e.url+"/auth/oidc/callback")), oidcFlowCookie)
	if flow == nil {
		t.Fatal("no flow cookie for the callback")
	}
	resp = p.get(p.authorize(auth))
	page = body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
	// Strict pages: the popup's script is a file, and it keeps its opener.
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("callback CSP %q", csp)
	}
	if coop := resp.Header.Get("Cross-Origin-Opener-Policy"); coop != "unsafe-none" {
		t.Errorf("callback COOP %q", coop)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(page) || !strings.Contains(page, "/static/oidc.") {
		t.Errorf("the callback page has inline script or lacks oidc.js: %s", page)
	}
	if e.idp.Redeemed() != 1 {
		t.Fatalf("the provider redeemed %d codes", e.idp.Redeemed())
	}
	m := codeAttr.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no code in %s", page)
	}

	resp = e.redeem(m[1], "same-origin")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("session: %d", resp.StatusCode)
	}
	var set string
	for _, h := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, panelSessionCookie+"=") {
			set = h
		}
	}
	for _, attr := range []string{"; SameSite=None", "; Secure", "; Partitioned", "; HttpOnly", "; Path=/"} {
		if !strings.Contains(set, attr) {
			t.Errorf("the panel's cookie %q lacks %s", set, attr)
		}
	}
	c, err := http.ParseSetCookie(set)
	if err != nil {
		t.Fatal(err)
	}

	// The cookie opens the panel (here without a phone, which it asks for).
	req, _ := http.NewRequest("GET", e.url+"/panel", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page = body(t, resp)
	if strings.Contains(page, "oidc-signin") || !strings.Contains(page, "record=table:id") {
		t.Fatalf("the panel with the cookie: %d %s", resp.StatusCode, page)
	}
	u, err := e.s.DB.UserByOIDC(context.Background(), e.idp.User().TenantID, e.idp.User().OID)
	if err != nil || u.ID != e.user.ID {
		t.Fatalf("the account is linked to %v (%v), want %s", u, err, e.user.ID)
	}
}

// TestOIDCState: a callback whose state is not the browser's, or without
// the flow cookie, is refused before the code is redeemed.
func TestOIDCState(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{})
	p := e.popup()
	back, err := url.Parse(p.authorize(p.start()))
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	q.Set("state", "forged")
	back.RawQuery = q.Encode()
	resp := p.get(back.String())
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "took too long") {
		t.Fatalf("a forged state: %d %s", resp.StatusCode, page)
	}
	// Another browser (no flow cookie) brings the provider's answer.
	back2 := e.popup().authorize(p.start())
	resp = e.popup().get(back2)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a callback without the flow cookie: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if e.idp.Redeemed() != 0 {
		t.Fatalf("the provider redeemed %d codes", e.idp.Redeemed())
	}
	// The provider's refusal is shown by its error code.
	auth := p.start()
	resp = p.get(e.url + "/auth/oidc/callback?error=access_denied&error_description=AADSTS65004&state=" + auth.Query().Get("state"))
	if page := body(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "access_denied") || strings.Contains(page, "AADSTS") {
		t.Fatalf("the provider's refusal: %d %s", resp.StatusCode, page)
	}
}

// TestOIDCTokenChecks: an ID token that is not for this sign-in, this
// client, or still valid, signs nobody in.
func TestOIDCTokenChecks(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{})
	for name, tamper := range map[string]func(map[string]any){
		"another sign-in's nonce": func(c map[string]any) { c["nonce"] = "replayed" },
		"another client":          func(c map[string]any) { c["aud"] = "someone-else" },
		"expired":                 func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() },
		"another issuer":          func(c map[string]any) { c["iss"] = "https://evil.test/v2.0" },
	} {
		e.idp.Tamper(tamper)
		status, page := e.popup().signIn()
		if status != http.StatusUnauthorized || !strings.Contains(page, "did not complete") {
			t.Errorf("%s: %d %s", name, status, page)
		}
	}
	e.idp.Tamper(nil)
	if status, _ := e.popup().signIn(); status != http.StatusOK {
		t.Fatalf("an untampered sign-in: %d", status)
	}
}

// TestOIDCUserMapping: unknown emails get a page saying so; the first
// sign-in links the account, which then finds the user whatever its email
// becomes; and another account with the user's email is refused.
func TestOIDCUserMapping(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{})
	ctx := context.Background()
	first := e.idp.User()

	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000b2", Email: "nobody@contoso.test", Name: "Nobody"})
	status, page := e.popup().signIn()
	if status != http.StatusForbidden || !strings.Contains(page, "no Parley user for nobody@contoso.test") {
		t.Fatalf("an unknown user: %d %s", status, page)
	}
	// Portuguese, from the browser's language.
	p := e.popup()
	req, _ := http.NewRequest("GET", p.authorize(p.start()), nil)
	req.Header.Set("Accept-Language", "pt-BR")
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); !strings.Contains(page, "Não há usuário do Parley para nobody@contoso.test") {
		t.Errorf("the unknown user's page in Portuguese: %s", page)
	}
	// No email at all: preferred_username is used, then nothing.
	e.idp.SetUser(fakeoidc.User{OID: first.OID, PreferredUsername: "AGENT@contoso.test"})
	if _, err := e.s.DB.UserByOIDC(ctx, first.TenantID, first.OID); parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Fatalf("linked before any sign-in: %v", err)
	}
	e.popup().code()
	u, err := e.s.DB.UserByOIDC(ctx, first.TenantID, first.OID)
	if err != nil || u.ID != e.user.ID {
		t.Fatalf("the account found %v, %v after signing in by preferred_username", u, err)
	}
	// The email changes at Microsoft: the object ID still finds the user.
	e.idp.SetUser(fakeoidc.User{OID: first.OID, Email: "ana.renamed@contoso.test"})
	e.popup().code()
	// Another account claims the user's email: refused.
	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000c3", Email: "agent@contoso.test"})
	status, page = e.popup().signIn()
	if status != http.StatusForbidden || !strings.Contains(page, "linked to another Microsoft account") {
		t.Fatalf("another account with the user's email: %d %s", status, page)
	}
	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000d4"})
	if status, page = e.popup().signIn(); status != http.StatusForbidden || !strings.Contains(page, "no email address") {
		t.Fatalf("an account without an email: %d %s", status, page)
	}
}

// TestOIDCCode: the popup's code works once, for a minute, and only from
// the page's own origin.
func TestOIDCCode(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{})
	code := e.popup().code()
	if resp := e.redeem(code, "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site post of the code: %d", resp.StatusCode)
	}
	if resp := e.redeem(code, "same-origin"); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the code: %d", resp.StatusCode)
	}
	if resp := e.redeem(code, "same-origin"); resp.StatusCode != http.StatusUnauthorized || len(resp.Header.Values("Set-Cookie")) != 0 {
		t.Fatalf("the code again: %d", resp.StatusCode)
	}
	code = e.popup().code()
	e.now = e.now.Add(signInCodeTTL + time.Second)
	if resp := e.redeem(code, "same-origin"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired code: %d", resp.StatusCode)
	}
	if resp := e.redeem("made-up", "same-origin"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a made-up code: %d", resp.StatusCode)
	}
}

// TestOIDCMultiTenant: with Entra's organizations issuer, go-oidc cannot
// check the issuer; Parley checks that each token's issuer is its own
// directory's, and that the directory is one of the configured ones.
func TestOIDCMultiTenant(t *testing.T) {
	const allowed, other = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
	if err := (&OIDC{Issuer: "https://login.microsoftonline.com/organizations/v2.0", ClientID: "x",
		RedirectURL: "https://parley.test/auth/oidc/callback"}).Check(); err == nil {
		t.Error("the organizations issuer without tenants passed the check")
	}
	e := newOIDCEnv(t, fakeoidc.Options{MultiTenant: true}, allowed)
	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000a1", TenantID: allowed, Email: "agent@contoso.test"})
	e.popup().code()
	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000a1", TenantID: other, Email: "agent@contoso.test"})
	if status, page := e.popup().signIn(); status != http.StatusForbidden || !strings.Contains(page, "directory may not sign in") {
		t.Fatalf("another directory: %d %s", status, page)
	}
	// A token of an allowed directory, issued under another's issuer.
	e.idp.SetUser(fakeoidc.User{OID: "00000000-0000-0000-0000-0000000000a1", TenantID: allowed, Email: "agent@contoso.test"})
	e.idp.Tamper(func(c map[string]any) { c["iss"] = e.idp.TenantIssuer(other) })
	if status, _ := e.popup().signIn(); status != http.StatusUnauthorized {
		t.Fatalf("a token whose issuer is not its directory's: %d", status)
	}
}

// TestOIDCOff: without an issuer, the panel offers no Microsoft sign-in
// and the routes do not exist.
func TestOIDCOff(t *testing.T) {
	e := newOIDCEnv(t, fakeoidc.Options{})
	s := &Server{DB: e.s.DB, Log: e.s.Log}
	mux := http.NewServeMux()
	if err := s.Register(mux); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/panel": http.StatusUnauthorized, "/auth/oidc/start": http.StatusNotFound} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want || strings.Contains(w.Body.String(), "oidc-signin") {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
}

// testLog sends the server's log to the test's, shown when it fails.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Helper()
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
