package web

import (
	"net/http"

	"github.com/parleyhq/parley"
)

// media serves a conversation's file to the console: the same file as
// GET /v1/media/{id}, for a signed-in user who may see the conversation.
func (s *Server) media(w http.ResponseWriter, r *http.Request, ss *session) {
	rec, err := s.DB.FindMedia(r.Context(), ss.Tenant.ID, r.PathValue("id"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if rec.MessageID != "" {
		m, err := s.DB.FindMessage(r.Context(), ss.Tenant.ID, rec.MessageID)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if _, err := s.conversation(r.Context(), ss, m.ConversationID); err != nil {
			http.NotFound(w, r)
			return
		}
	}
	if rec.Status != parley.MediaReady {
		http.Error(w, ss.view.T("media.not_ready"), http.StatusConflict)
		return
	}
	s.Messaging.Blobs.Serve(w, r, rec.SHA256, rec.MIMEType, rec.Filename, r.URL.Query().Get("download") != "")
}
