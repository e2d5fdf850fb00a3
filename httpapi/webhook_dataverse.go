package httpapi

import (
	"net/http"

	"github.com/parleyhq/parley"
)

// dataverseWebhook receives a Dataverse service-endpoint webhook for one
// connector. Dataverse authenticates it with the key it was registered
// with: as an HttpHeader x-parley-key, a WebhookKey (which Dataverse sends
// as the code query parameter), or in the address (key=, as the connector's
// webhook_url has it).
func (s *Server) dataverseWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxWebhookBody)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	key := r.Header.Get("x-parley-key")
	for _, p := range []string{"key", "code"} {
		if key == "" {
			key = r.URL.Query().Get(p)
		}
	}
	if s.CRM == nil {
		writeError(w, r, s.Log, parley.Errorf(parley.ENOTFOUND, "No CRM is connected."))
		return
	}
	if err := s.CRM.Receive(r.Context(), r.PathValue("connector"), key, body); err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
