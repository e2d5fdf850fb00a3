package web

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/parleyhq/parley"
)

// passwordPath is where users change their password, and where a user
// who signed in with a one-time password is sent until they do.
const passwordPath = "/account/password"

type passwordData struct {
	*view
	// Forced is set while the user still has a one-time password: the
	// page then explains why and offers nothing but signing out.
	Forced bool
	Error  string
	// Field names the input the error is about ("current", "new" or
	// "confirm"), for aria-describedby.
	Field string
}

func (s *Server) passwordPage(w http.ResponseWriter, r *http.Request, ss *session) {
	if s.refusePanel(w, r, ss) {
		return
	}
	s.render(w, http.StatusOK, "password", passwordData{view: ss.view, Forced: ss.User.MustChangePassword})
}

// refusePanel turns away the CRM's panel: its session comes from a token,
// and may not even have a user of its own.
func (s *Server) refusePanel(w http.ResponseWriter, r *http.Request, ss *session) bool {
	if ss.Panel {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EFORBIDDEN, "password.panel"))
	}
	return ss.Panel
}

// changePassword checks the current password and sets the new one. That
// ends every session of the user, so whoever else knew the old password
// is signed out; this browser gets a new session instead.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, ss *session) {
	if s.refusePanel(w, r, ss) {
		return
	}
	v := ss.view
	current, next, confirm := r.PostFormValue("current_password"), r.PostFormValue("new_password"), r.PostFormValue("confirm_password")
	data := passwordData{view: v, Forced: ss.User.MustChangePassword}
	refuse := func(status int, field, msg string) {
		data.Field, data.Error = field, msg
		s.render(w, status, "password", data)
	}
	// The new password is checked first: those mistakes need no guess at
	// the current one, so they do not count against the rate limit.
	switch {
	case utf8.RuneCountInString(next) < 10:
		refuse(http.StatusUnprocessableEntity, "new", v.T("password.too_short"))
		return
	case len(next) > 72: // bcrypt reads no further
		refuse(http.StatusUnprocessableEntity, "new", v.T("password.too_long"))
		return
	case next != confirm:
		refuse(http.StatusUnprocessableEntity, "confirm", v.T("password.mismatch"))
		return
	}
	// A stolen session must not become a way to guess the password.
	if s.Limiter != nil {
		ok, retry, err := s.Limiter.Allow(r.Context(), "password:user:"+ss.User.ID, signInRate)
		if err != nil {
			s.Log.Error("password rate limit", "error", err)
		} else if !ok {
			refuse(http.StatusTooManyRequests, "current", v.T("login.throttled", int(retry.Seconds())+1))
			return
		}
	}
	u, hash, err := s.DB.UserByEmail(r.Context(), ss.User.Email)
	if err == nil && u.ID != ss.User.ID {
		err = fmt.Errorf("web: the session's user %s has the email of user %s", ss.User.ID, u.ID)
	}
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(current)) != nil {
		refuse(http.StatusUnprocessableEntity, "current", v.T("password.wrong"))
		return
	}
	if next == current {
		refuse(http.StatusUnprocessableEntity, "new", v.T("password.same"))
		return
	}
	newHash, err := HashPassword(next)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	if err := s.DB.SetPassword(r.Context(), u.ID, newHash, false); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		// The password is changed; only this browser's new session is
		// missing, and signing in again makes one.
		s.Log.Error("create session", "error", err)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/console/settings?password=changed", http.StatusSeeOther)
}
