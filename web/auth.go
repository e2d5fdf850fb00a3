package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/ratelimit"
)

const (
	sessionCookie = "parley_session"
	tzCookie      = "parley_tz"
	sessionTTL    = 12 * time.Hour
	// panelHeader carries a panel token on the panel's own requests; the
	// panel runs in a CRM's iframe, where cookies of Parley's origin are
	// third-party and usually blocked.
	panelHeader = "X-Parley-Panel"
	panelParam  = "panel_token"
)

// session is who makes a console request.
type session struct {
	User   *parley.User
	Tenant *parley.Tenant
	// Panel is set for requests authenticated by a panel token, whose
	// token is then carried on the panel's links, or by the session
	// cookie of a panel signed in inside a CRM's iframe.
	Panel      bool
	PanelToken string
	view       *view
	as         *parley.Actor // who acts, when not the user
}

// actor is who the audit record says did an action.
func (ss *session) actor() parley.Actor {
	if ss.as != nil {
		return *ss.as
	}
	return ss.User.Actor()
}

// HashPassword hashes a password for storage with bcrypt.
func HashPassword(password string) (string, error) {
	if len(password) < 10 {
		return "", parley.Errorf(parley.EINVALID, "A password needs at least 10 characters.")
	}
	if len(password) > 72 {
		return "", parley.Errorf(parley.EINVALID, "A password has at most 72 bytes.")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewPassword is a random one-time password, easy to type.
func NewPassword() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// dummyHash is compared against when the email is unknown, so that a wrong
// email takes as long as a wrong password and reveals nothing.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("parley dummy password"), bcrypt.DefaultCost)

func hashToken(token string) string { return hashSecret("parley session", token) }

// hashSecret is how a secret handed to a browser is kept: a SHA-256 of
// it, under a label of its kind, so that a session token and a sign-in
// code never hash alike.
func hashSecret(kind, secret string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// signInRate throttles sign-in attempts per address and per email.
var signInRate = ratelimit.Rate{Events: 10, Per: time.Minute, Burst: 10}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if ss, err := s.authenticate(r); err == nil && !ss.Panel {
		http.Redirect(w, r, "/console", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", loginData{view: s.anonymousView(r), Next: safeNext(r.URL.Query().Get("next"))})
}

type loginData struct {
	*view
	Email, Next, Error string
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	v := s.anonymousView(r)
	email, password := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	data := loginData{view: v, Email: email, Next: safeNext(r.PostFormValue("next"))}
	if s.Limiter != nil {
		for _, key := range []string{"signin:ip:" + clientIP(r), "signin:email:" + strings.ToLower(email)} {
			ok, retry, err := s.Limiter.Allow(r.Context(), key, signInRate)
			if err != nil {
				s.Log.Error("sign-in rate limit", "error", err)
			} else if !ok {
				data.Error = v.T("login.throttled", int(retry.Seconds())+1)
				s.render(w, http.StatusTooManyRequests, "login", data)
				return
			}
		}
	}
	u, hash, err := s.DB.UserByEmail(r.Context(), email)
	if err != nil {
		bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		data.Error = v.T("login.wrong")
		s.render(w, http.StatusUnauthorized, "login", data)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		data.Error = v.T("login.wrong")
		s.render(w, http.StatusUnauthorized, "login", data)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.Log.Error("create session", "error", err)
		data.Error = v.T("error.internal")
		s.render(w, http.StatusInternalServerError, "login", data)
		return
	}
	next := data.Next
	if u.MustChangePassword {
		// Every other page would send them there anyway.
		next = passwordPath
	} else if next == "" {
		next = "/console"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession signs u in on this browser: a new session, whose token
// only the cookie holds (the database keeps its hash).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *parley.User) error {
	c, err := s.NewSession(r.Context(), u)
	if err != nil {
		return err
	}
	http.SetCookie(w, c)
	return nil
}

// NewSession starts a console session for a user and returns its cookie.
// Signing in ends here; tools that drive the console (the SSE benchmark)
// use it to skip the password.
func (s *Server) NewSession(ctx context.Context, u *parley.User) (*http.Cookie, error) {
	c, err := s.createSession(ctx, u, sessionCookie)
	if err != nil {
		return nil, err
	}
	c.Secure, c.SameSite = s.SecureCookies, http.SameSiteLaxMode
	return c, nil
}

// newPanelSession starts a session for the panel in a CRM's iframe, and
// returns its cookie. The iframe is a cross-site context, where a browser
// sends and keeps only SameSite=None cookies, which must be Secure; and
// where browsers that block third-party cookies still keep Partitioned
// ones (CHIPS), in a jar of the CRM's site. Browsers take Secure cookies
// from http://localhost, so this works in development too, but elsewhere
// it needs HTTPS.
func (s *Server) newPanelSession(ctx context.Context, u *parley.User) (*http.Cookie, error) {
	c, err := s.createSession(ctx, u, panelSessionCookie)
	if err != nil {
		return nil, err
	}
	c.Secure, c.SameSite, c.Partitioned = true, http.SameSiteNoneMode, true
	return c, nil
}

// createSession records a new session of u, whose token only the cookie
// holds (the database keeps its hash).
func (s *Server) createSession(ctx context.Context, u *parley.User, name string) (*http.Cookie, error) {
	token := randomToken()
	expires := s.DB.Now().Add(sessionTTL)
	if err := s.DB.CreateSession(ctx, u, hashToken(token), expires); err != nil {
		return nil, err
	}
	return &http.Cookie{Name: name, Value: token, Path: "/", Expires: expires, HttpOnly: true}, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.DB.DeleteSession(r.Context(), hashToken(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies,
		SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") {
		return ""
	}
	return next
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate finds the session of a request: a panel token, or the
// console's cookie.
func (s *Server) authenticate(r *http.Request) (*session, error) {
	if tok := r.Header.Get(panelHeader); tok != "" {
		return s.panelSession(r.Context(), tok)
	}
	if tok := r.URL.Query().Get(panelParam); tok != "" {
		return s.panelSession(r.Context(), tok)
	}
	// The console's cookie, else the one of a panel signed in inside a
	// CRM's iframe, which acts as the panel does.
	panel := false
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		panel = true
		if c, err = r.Cookie(panelSessionCookie); err != nil || c.Value == "" {
			return nil, parley.Errorf(parley.EUNAUTHORIZED, "Sign in first.")
		}
	}
	u, err := s.DB.SessionUser(r.Context(), hashToken(c.Value))
	if err != nil {
		return nil, err
	}
	t, err := s.DB.FindTenant(r.Context(), u.TenantID)
	if err != nil {
		return nil, err
	}
	return &session{User: u, Tenant: t, Panel: panel}, nil
}

// requireUser runs h for signed-in users, and sends others to sign in.
func (s *Server) requireUser(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.authenticate(r)
		if err != nil && (r.Header.Get(panelHeader) != "" || r.URL.Query().Get(panelParam) != "") {
			// In a CRM's frame, the login page would not help: the CRM
			// must open the panel again with a fresh token.
			v := s.anonymousView(r)
			if r.URL.Path == "/panel" {
				s.render(w, http.StatusUnauthorized, "panel", panelData{view: v, Problem: v.T("panel.bad_token")})
				return
			}
			s.fail(w, r, v, v.Errorf(parley.EUNAUTHORIZED, "panel.bad_token"))
			return
		}
		if err != nil && r.URL.Path == "/panel" && s.OIDC != nil {
			// In a CRM's iframe without a token: the agent signs in
			// with Microsoft.
			s.panelSignIn(w, r)
			return
		}
		if err != nil {
			if r.Header.Get("HX-Request") != "" {
				// htmx follows this header with a full page load.
				w.Header().Set("HX-Redirect", "/login")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.Method == http.MethodGet && r.URL.Path != "/console/events" && r.URL.Path != "/panel" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, parley.ErrorMessage(err), http.StatusUnauthorized)
			return
		}
		ss.view = s.viewFor(r, ss)
		// Panel sessions come from a CRM's token, not from a password.
		if ss.User.MustChangePassword && !ss.Panel && r.URL.Path != passwordPath {
			s.passwordFirst(w, r, ss)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), sessionKey, ss)), ss)
	}
}

// passwordFirst turns a user who signed in with a one-time password away
// from everything but choosing their own: pages send them to the form,
// and actions are refused. Signing out is not behind requireUser.
func (s *Server) passwordFirst(w http.ResponseWriter, r *http.Request, ss *session) {
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EFORBIDDEN, "password.required"))
	case r.Header.Get("HX-Request") != "":
		// htmx would swap a redirected page into a fragment's place;
		// this header makes it load the form as a whole page instead.
		w.Header().Set("HX-Redirect", passwordPath)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Redirect(w, r, passwordPath, http.StatusSeeOther)
	}
}

// viewFor is the template view of a session: the user's language, else
// the browser's, and the user's time zone, else the browser's (which the
// console's script stores in a cookie), else UTC.
func (s *Server) viewFor(r *http.Request, ss *session) *view {
	v := s.anonymousView(r)
	v.User, v.Tenant, v.Panel, v.PanelToken = ss.User, ss.Tenant, ss.Panel, ss.PanelToken
	v.Lang = pickLanguage(ss.User.Language, r.Header.Get("Accept-Language"))
	if loc, err := time.LoadLocation(ss.User.TimeZone); ss.User.TimeZone != "" && err == nil {
		v.Loc = loc
	}
	return v
}

func (s *Server) anonymousView(r *http.Request) *view {
	v := &view{Lang: pickLanguage("", r.Header.Get("Accept-Language")), Loc: time.UTC, Now: s.DB.Now(), s: s}
	if c, err := r.Cookie(tzCookie); err == nil {
		if name, err := url.QueryUnescape(c.Value); err == nil {
			if loc, err := time.LoadLocation(name); err == nil {
				v.Loc = loc
			}
		}
	}
	return v
}

// errBadToken is any failure to open a panel token; the panel says so in
// the viewer's language (panel.bad_token), and tells nothing more.
var errBadToken = parley.Errorf(parley.EUNAUTHORIZED, "The panel link has expired or is not valid; open it again from the CRM.")

// panelSession checks a panel token and returns its session. A token
// without a user acts as a "CRM user" of the tenant, seen by the audit
// record as the API key that issued it.
func (s *Server) panelSession(ctx context.Context, token string) (*session, error) {
	c, err := s.Panels.Verify(token)
	if err != nil {
		return nil, errBadToken
	}
	t, err := s.DB.FindTenant(ctx, c.TenantID)
	if err != nil {
		return nil, errBadToken
	}
	ss := &session{Tenant: t, Panel: true, PanelToken: token}
	if c.UserID != "" {
		if ss.User, err = s.DB.FindUser(ctx, t.ID, c.UserID); err != nil {
			return nil, errBadToken
		}
	} else {
		// A CRM user Parley does not know: they see what a supervisor sees
		// of the one contact the panel shows, and act under the name of the
		// API key that opened the panel.
		ss.User = &parley.User{TenantID: t.ID, Name: "CRM", Role: parley.RoleSupervisor}
		ss.as = &parley.Actor{Kind: parley.ActorAPIKey, ID: c.KeyID, Name: "CRM panel"}
	}
	return ss, nil
}
