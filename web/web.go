// Package web is the agent console and the chat panel that CRMs embed:
// server-rendered html/template pages, htmx for forms and navigation, and
// a small script for the live stream, the composer and uploads, all
// embedded in the binary so that `parley demo` needs no Node.
//
// Every page is rendered for one user, in their language and time zone.
// Live updates come from the tenant's event stream, filtered by what the
// user may see and rendered as HTML fragments on the server, so the
// browser never assembles markup from data (and so cannot be tricked into
// running a customer's text).
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/panel"
	"github.com/parleyhq/parley/ratelimit"
	"github.com/parleyhq/parley/realtime"
	"github.com/parleyhq/parley/store"
)

// Server serves the console and the panel.
type Server struct {
	DB        *store.DB
	Messaging *messaging.Service
	Broker    *realtime.Broker
	Limiter   *ratelimit.Limiter
	Log       *slog.Logger
	// FrameAncestors may embed the panel (CSP frame-ancestors), e.g.
	// "https://*.dynamics.com". The console itself is never framed.
	FrameAncestors []string
	// Panels checks the tokens that open the panel in a CRM.
	Panels *panel.Signer
	// SecureCookies marks cookies Secure; set when served over HTTPS.
	SecureCookies bool
	// OIDC, when set, signs agents in to the panel with Microsoft (see
	// oidc.go); nil leaves the panel to tokens and console sessions.
	OIDC *OIDC
	// Records reads the CRM records template forms are pre-filled from;
	// nil means no CRM, and forms fall back to what the contact says.
	Records parley.RecordReader

	tpl    *template.Template
	assets *assets
	fan    *fanout
}

// Register adds the console's routes to mux.
func (s *Server) Register(mux *http.ServeMux) error {
	var err error
	if s.assets, err = loadAssets(); err != nil {
		return err
	}
	if s.tpl, err = s.parseTemplates(); err != nil {
		return err
	}
	s.fan = newFanout()
	cop := http.NewCrossOriginProtection()
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.headers(cop.Handler(h))) }
	user := func(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
		page(pattern, s.requireUser(h))
	}
	conv := func(pattern string, h convHandler) { user(pattern, s.inConversation(h)) }

	mux.HandleFunc("GET /static/{name}", s.assets.serve)
	page("GET /login", s.loginPage)
	page("POST /login", s.login)
	page("POST /logout", s.logout)

	user("GET /console", s.consolePage)
	user("GET /console/inbox", s.inboxList)
	conv("GET /console/c/{id}", s.conversationPage)
	conv("GET /console/c/{id}/messages", s.olderMessages)
	conv("GET /console/c/{id}/composer", s.part("composer"))
	conv("GET /console/c/{id}/sidebar", s.part("sidebar"))
	conv("POST /console/c/{id}/read", s.markRead)
	conv("POST /console/c/{id}/send", s.sendText)
	conv("POST /console/c/{id}/note", s.addNote)
	conv("POST /console/c/{id}/media", s.sendMedia)
	conv("GET /console/c/{id}/templates", s.templatePicker)
	conv("GET /console/c/{id}/templates/{tpl}", s.templateForm)
	conv("POST /console/c/{id}/template", s.sendTemplate)
	conv("POST /console/c/{id}/assign", s.assign)
	conv("POST /console/c/{id}/status", s.setStatus)
	user("POST /console/messages/{id}/resend", s.resend)
	user("POST /console/contacts/{id}/consent", s.consent)
	user("GET /console/media/{id}", s.media)
	user("GET /console/events", s.events)
	user("GET /console/supervisor", s.supervisorPage)
	user("GET /console/settings", s.settingsPage)
	user("POST /console/settings", s.saveSettings)
	user("GET "+passwordPath, s.passwordPage)
	user("POST "+passwordPath, s.changePassword)
	user("GET /console/quick-replies", s.quickRepliesPage)
	user("POST /console/quick-replies", s.addQuickReply)
	user("POST /console/quick-replies/{id}/delete", s.deleteQuickReply)
	user("GET /panel", s.panelPage)
	if s.OIDC != nil {
		s.registerOIDC(mux, page)
	}
	return nil
}

// convHandler handles a request about the conversation named by {id},
// which the session may see.
type convHandler func(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation)

// inConversation loads the conversation a request names; one the session
// may not see is "not found", like one that does not exist.
func (s *Server) inConversation(h convHandler) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, ss *session) {
		c, err := s.conversation(r.Context(), ss, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, ss.view, err)
			return
		}
		h(w, r, ss, c)
	}
}

// headers sets the security headers of every console page: a strict
// content security policy (no inline script or style, nothing from other
// origins), and no framing except of the panel, by the configured CRMs.
func (s *Server) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		ancestors := "'none'"
		if r.URL.Path == "/panel" {
			ancestors = "'self'"
			if len(s.FrameAncestors) > 0 {
				ancestors += " " + strings.Join(s.FrameAncestors, " ")
			}
			hd.Del("X-Frame-Options")
		} else {
			hd.Set("X-Frame-Options", "DENY")
		}
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "+
			"media-src 'self' blob:; connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "+ancestors)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, oidcPath) {
			// The sign-in popup must keep its opener, the panel in a
			// CRM's page, to post it the sign-in: same-origin would cut
			// it off, since the CRM's page is of another origin.
			hd.Set("Cross-Origin-Opener-Policy", "unsafe-none")
		} else {
			hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		}
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// view is what every template sees: who is looking, in which language and
// time zone.
type view struct {
	Lang       string
	Loc        *time.Location
	User       *parley.User
	Tenant     *parley.Tenant
	Panel      bool
	PanelToken string
	Now        time.Time
	s          *Server
}

// T translates a visible string.
func (v *view) T(key string, args ...any) string { return translate(v.Lang, key, args...) }

// Static is the cache-busting address of an embedded file.
func (v *view) Static(name string) string {
	u, err := v.s.assets.url(name)
	if err != nil {
		v.s.Log.Error("missing static file", "name", name)
	}
	return u
}

// Clock is a time of day in the viewer's zone.
func (v *view) Clock(t time.Time) string { return t.In(v.Loc).Format("15:04") }

// Day is a calendar day in the viewer's zone and language.
func (v *view) Day(t time.Time) string { return formatDay(v.Lang, t.In(v.Loc)) }

// DayKey names a calendar day in the viewer's zone, for day separators.
func (v *view) DayKey(t time.Time) string { return t.In(v.Loc).Format("2006-01-02") }

// When is a short time for lists: the clock today, the day otherwise.
func (v *view) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if v.DayKey(t) == v.DayKey(v.Now) {
		return v.Clock(t)
	}
	return v.Day(t)
}

// Instant is a machine-readable time, for <time datetime>.
func (v *view) Instant(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Since is how long ago t was, in words.
func (v *view) Since(t time.Time) string { return v.duration(v.Now.Sub(t)) }

// Until is how long until t, in words.
func (v *view) Until(t time.Time) string { return v.duration(t.Sub(v.Now)) }

func (v *view) duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return v.T("duration.now")
	case d < time.Hour:
		return v.T("duration.minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return v.T("duration.hours", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return v.T("duration.days", int(d/(24*time.Hour)))
}

// Size is a file size in words.
func (v *view) Size(n int64) string {
	switch {
	case n >= 1<<20:
		return strings.Replace(formatFloat(float64(n)/(1<<20)), ".", v.T("decimal.point"), 1) + " MB"
	case n >= 1<<10:
		return strings.Replace(formatFloat(float64(n)/(1<<10)), ".", v.T("decimal.point"), 1) + " KB"
	}
	return v.T("size.bytes", n)
}

func (s *Server) parseTemplates() (*template.Template, error) {
	sub, err := fs.Sub(templateFS, "templates")
	if err != nil {
		return nil, err
	}
	return template.New("").Funcs(template.FuncMap{
		"list": func(v ...any) []any { return v },
	}).ParseFS(sub, "*.html")
}

// render writes a template for a request, with the status.
func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var buf strings.Builder
	if err := s.tpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.Log.Error("render template", "template", name, "error", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(buf.String()))
}

// fail answers a request that went wrong: the error's message for an
// htmx request (shown in place by the page), a page otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	code := parley.ErrorCode(err)
	if code == parley.EINTERNAL {
		s.Log.ErrorContext(r.Context(), "console error", "path", r.URL.Path, "error", err)
	}
	// htmx swaps only 2xx answers by default; errors go to the page's
	// alert region through this header, which console.js reads.
	w.Header().Set("HX-Retarget", "#alerts")
	w.Header().Set("HX-Reswap", "innerHTML")
	s.render(w, statusOf(code), "alert", struct {
		*view
		Message string
	}{v, v.message(err)})
}

// Errorf is an error whose message is already in the viewer's language.
func (v *view) Errorf(code, key string, args ...any) error {
	return localized{parley.Errorf(code, "%s", v.T(key, args...))}
}

// localized marks an error written for the console's reader.
type localized struct{ error }

func (l localized) Unwrap() error { return l.error }

// message is what the console says of an error. The core writes its
// errors in English for API clients, with API words ("type \"template\"");
// the console says the same in the agent's language, in its own words,
// keeping the core's details only where they carry information of their own
// (what exactly was invalid).
func (v *view) message(err error) string {
	code := parley.ErrorCode(err)
	var l localized
	switch {
	case errors.As(err, &l):
		return parley.ErrorMessage(err)
	case code == parley.EINTERNAL:
		return v.T("error.internal")
	case code == parley.EINVALID || code == parley.ECONFLICT:
		if v.Lang == "en" {
			return parley.ErrorMessage(err)
		}
		return v.T("error."+code, parley.ErrorMessage(err))
	}
	return v.T("error." + code)
}

func statusOf(code string) int {
	switch code {
	case parley.EINVALID, parley.EOUTSIDEWINDOW, parley.EOPTEDOUT, parley.ETEMPLATENOTAPPROVED:
		return http.StatusUnprocessableEntity
	case parley.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case parley.EFORBIDDEN:
		return http.StatusForbidden
	case parley.ENOTFOUND:
		return http.StatusNotFound
	case parley.ECONFLICT:
		return http.StatusConflict
	case parley.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

func formatFloat(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}

// context key for the session of a request.
type ctxKey int

const sessionKey ctxKey = iota

func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey).(*session)
	return s
}

//go:embed templates/*.html
var templateFS embed.FS
