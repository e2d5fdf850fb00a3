package metagraph

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

type templateEntry map[string]json.RawMessage

// SetTemplates replaces a WhatsApp Business Account's templates.
// templates is anything that marshals to a JSON array of template
// objects as Graph returns them (name, language, status, category,
// components, id, parameter_format, …): a []json.RawMessage, a slice of
// maps or structs.
func (s *Server) SetTemplates(wabaID string, templates any) {
	s.t.Helper()
	b, err := json.Marshal(templates)
	if err != nil {
		s.t.Fatalf("metagraph: SetTemplates: %v", err)
	}
	var list []templateEntry
	if err := json.Unmarshal(b, &list); err != nil {
		s.t.Fatalf("metagraph: SetTemplates wants a JSON array of objects: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates[wabaID] = list
}

// listTemplates serves GET /{waba-id}/message_templates with Graph's
// cursor paging: limit (default 25), after, and paging.cursors/next as
// in Meta's example response. With fields, only those fields (and id)
// are returned, as Graph does, so an adapter that forgets to ask for a
// field does not get it.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, wabaID string) {
	tok, ok := s.token(w, r)
	if !ok {
		return
	}
	if !s.ownsWABA(tok, wabaID) {
		writeError(w, http.StatusBadRequest, errNoObject(wabaID))
		return
	}
	if s.injected(w, r) {
		return
	}
	q := r.URL.Query()
	limit := 25
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, errInvalid("limit must be a positive integer"))
			return
		}
		limit = n
	}
	start := 0
	if a := q.Get("after"); a != "" {
		n, err := decodeCursor(a)
		if err != nil {
			writeError(w, http.StatusBadRequest, errInvalid("invalid after cursor"))
			return
		}
		start = n + 1
	}
	var fields []string
	if f := q.Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	s.mu.Lock()
	all := s.templates[wabaID]
	s.mu.Unlock()
	end := min(start+limit, len(all))
	data := []any{}
	for i := start; i < end; i++ {
		data = append(data, project(all[i], fields))
	}
	resp := map[string]any{"data": data}
	if start < end {
		paging := map[string]any{"cursors": map[string]string{"before": cursor(start), "after": cursor(end - 1)}}
		if end < len(all) {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("after", cursor(end-1))
			next.Set("limit", strconv.Itoa(limit))
			paging["next"] = s.URL + r.URL.Path + "?" + next.Encode()
		}
		resp["paging"] = paging
	}
	out, _ := json.Marshal(resp)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) ownsWABA(tok, wabaID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.phones {
		if p.WABAID == wabaID && p.Token == tok {
			return true
		}
	}
	return false
}

func project(t templateEntry, fields []string) templateEntry {
	if fields == nil {
		return t
	}
	out := templateEntry{}
	for _, f := range slices.Concat(fields, []string{"id"}) {
		if v, ok := t[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	return out
}

// Cursors are opaque to clients; like Graph's they are base64.
func cursor(i int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(i))) }

func decodeCursor(c string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}

// getPhone serves GET /{phone-number-id}, the phone number node Parley
// reads as a credential check. Without fields Graph returns id,
// display_phone_number, verified_name and quality_rating.
func (s *Server) getPhone(w http.ResponseWriter, r *http.Request, id string) {
	p, ok := s.phoneFor(w, r, id)
	if !ok {
		return
	}
	if s.injected(w, r) {
		return
	}
	node := templateEntry{}
	for k, v := range map[string]string{
		"id": p.ID, "display_phone_number": "+" + p.DisplayPhone,
		"verified_name": p.VerifiedName, "quality_rating": "GREEN",
		"code_verification_status": "VERIFIED", "name_status": "APPROVED",
	} {
		node[k], _ = json.Marshal(v)
	}
	fields := []string{"display_phone_number", "verified_name", "quality_rating"}
	if f := r.URL.Query().Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	out, _ := json.Marshal(project(node, fields))
	writeJSON(w, http.StatusOK, out)
}
