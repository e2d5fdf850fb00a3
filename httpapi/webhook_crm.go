package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/parleyhq/parley"
)

// crmWebhook receives a webhook CRM's record changes, signed the Standard
// Webhooks way with the connector's inbound secret. It answers 200 once
// the changes are committed, and 200 as well for a webhook-id already
// applied (the CRM's retry of a webhook whose answer it lost); a bad
// signature gets 401 and changes nothing.
func (s *Server) crmWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxWebhookBody)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	if s.AnyCRM == nil {
		writeError(w, r, s.Log, parley.Errorf(parley.ENOTFOUND, "No CRM is connected."))
		return
	}
	rc, err := s.AnyCRM.Receive(r.Context(), r.PathValue("connector"), r.Header, body)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rc)
}
