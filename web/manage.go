package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// conversationChanged renders the parts of an open conversation that an
// action changes (its header and sidebar), for htmx to swap in.
func (s *Server) conversationChanged(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	d, err := s.loadConversation(r.Context(), ss, c)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "conversation", d)
}

// part renders one part of an open conversation (its composer, its
// sidebar), for the page's script to refresh.
func (s *Server) part(name string) convHandler {
	return func(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
		d, err := s.loadConversation(r.Context(), ss, c)
		if err != nil {
			s.fail(w, r, ss.view, err)
			return
		}
		s.render(w, http.StatusOK, name, d)
	}
}

// assign gives a conversation to the agent, to another agent, to a team,
// or to nobody: value "me", "user:ID", "team:ID" or "".
func (s *Server) assign(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	var userID, teamID string
	switch to := r.PostFormValue("to"); {
	case to == "me":
		userID = ss.User.ID
	case strings.HasPrefix(to, "user:"):
		userID = strings.TrimPrefix(to, "user:")
	case strings.HasPrefix(to, "team:"):
		teamID = strings.TrimPrefix(to, "team:")
	}
	if userID == "" && ss.as != nil && r.PostFormValue("to") == "me" {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EINVALID, "error.panel_no_user"))
		return
	}
	err := s.DB.InTx(r.Context(), func(tx *store.Tx) (err error) {
		c, err = tx.Assign(r.Context(), ss.Tenant.ID, c.ID, userID, teamID, ss.actor())
		return err
	})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.conversationChanged(w, r, ss, c)
}

// setStatus resolves or reopens a conversation.
func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	err := s.DB.InTx(r.Context(), func(tx *store.Tx) (err error) {
		c, err = tx.SetConversationStatus(r.Context(), ss.Tenant.ID, c.ID, r.PostFormValue("status"), ss.actor())
		return err
	})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.conversationChanged(w, r, ss, c)
}

// consent records an opt-in or opt-out, with who did it.
func (s *Server) consent(w http.ResponseWriter, r *http.Request, ss *session) {
	contact, err := s.DB.FindContact(r.Context(), ss.Tenant.ID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	c, err := s.conversation(r.Context(), ss, r.PostFormValue("conversation"))
	if err != nil || c.ContactID != contact.ID {
		s.fail(w, r, ss.view, parley.Errorf(parley.ENOTFOUND, "Contact not found."))
		return
	}
	source := strings.TrimSpace(r.PostFormValue("source"))
	if source == "" {
		source = ss.view.T("consent.source_console", ss.actor().Name)
	}
	err = s.DB.InTx(r.Context(), func(tx *store.Tx) error {
		_, err := tx.SetConsent(r.Context(), ss.Tenant.ID, contact.ID, r.PostFormValue("state"), source, ss.actor())
		return err
	})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.conversationChanged(w, r, ss, c)
}

type settingsData struct {
	*view
	Zones           []string
	Saved           bool
	PasswordChanged bool
}

// timeZones offered in settings: the first users' regions, then the rest
// of the world's main ones.
var timeZones = []string{"America/Sao_Paulo", "America/Manaus", "America/Recife", "Europe/Lisbon", "Atlantic/Azores", "Europe/Madrid",
	"Atlantic/Canary", "America/Mexico_City", "America/Bogota", "America/Lima", "America/Santiago", "America/Argentina/Buenos_Aires",
	"America/Montevideo", "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London", "Europe/Paris", "Africa/Luanda",
	"Africa/Maputo", "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "UTC"}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	s.render(w, http.StatusOK, "settings", settingsData{view: ss.view, Zones: timeZones, Saved: q.Get("saved") != "",
		PasswordChanged: q.Get("password") == "changed"})
}

func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request, ss *session) {
	if ss.Panel {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EFORBIDDEN, "error.panel_no_user"))
		return
	}
	lang, tz := r.PostFormValue("language"), r.PostFormValue("time_zone")
	if lang != "" && !isLanguage(lang) {
		lang = ""
	}
	if _, err := time.LoadLocation(tz); tz != "" && err != nil {
		tz = ""
	}
	if err := s.DB.SetUserPreferences(r.Context(), ss.Tenant.ID, ss.User.ID, lang, tz); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	http.Redirect(w, r, "/console/settings?saved=1", http.StatusSeeOther)
}

type quickRepliesData struct {
	*view
	List  []*parley.QuickReply
	Error string
}

func (s *Server) quickRepliesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	list, err := s.DB.ListQuickReplies(r.Context(), ss.Tenant.ID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "quick_replies", quickRepliesData{view: ss.view, List: list})
}

// Quick replies are the tenant's: admins keep them.
func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request, ss *session) bool {
	if ss.User.Role != parley.RoleAdmin || ss.Panel {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EFORBIDDEN, "error.admins_only"))
		return false
	}
	return true
}

func (s *Server) addQuickReply(w http.ResponseWriter, r *http.Request, ss *session) {
	if !s.requireAdmin(w, r, ss) {
		return
	}
	if _, err := s.DB.CreateQuickReply(r.Context(), ss.Tenant.ID, r.PostFormValue("shortcut"), r.PostFormValue("text")); err != nil {
		if parley.ErrorCode(err) == parley.EINTERNAL {
			s.fail(w, r, ss.view, err)
			return
		}
		// The form again, with what was wrong: not through the address,
		// where anyone could write a message for the page to show.
		list, lerr := s.DB.ListQuickReplies(r.Context(), ss.Tenant.ID)
		if lerr != nil {
			s.fail(w, r, ss.view, lerr)
			return
		}
		s.render(w, statusOf(parley.ErrorCode(err)), "quick_replies", quickRepliesData{view: ss.view, List: list, Error: ss.view.message(err)})
		return
	}
	http.Redirect(w, r, "/console/quick-replies", http.StatusSeeOther)
}

func (s *Server) deleteQuickReply(w http.ResponseWriter, r *http.Request, ss *session) {
	if !s.requireAdmin(w, r, ss) {
		return
	}
	if err := s.DB.DeleteQuickReply(r.Context(), ss.Tenant.ID, r.PathValue("id")); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	http.Redirect(w, r, "/console/quick-replies", http.StatusSeeOther)
}
