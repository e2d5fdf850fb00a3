package metagraph

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode"
)

// Sent is a message the fake accepted.
type Sent struct {
	PhoneNumberID string
	ID            string          // the wamid returned
	Raw           json.RawMessage // the body as received
	Body          map[string]any  // the body decoded
}

// To is the recipient field.
func (m Sent) To() string { s, _ := m.Body["to"].(string); return s }

// Type is the message type field.
func (m Sent) Type() string { s, _ := m.Body["type"].(string); return s }

// CallbackData is biz_opaque_callback_data.
func (m Sent) CallbackData() string { s, _ := m.Body["biz_opaque_callback_data"].(string); return s }

// Decode unmarshals the body into v.
func (m Sent) Decode(v any) error { return json.Unmarshal(m.Raw, v) }

// Sent returns the messages accepted so far, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// ReadReceipts returns the wamids marked as read, in order.
func (s *Server) ReadReceipts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reads...)
}

// messages serves POST /{phone-number-id}/messages: sends and read
// receipts.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, phoneID string, body []byte) {
	p, ok := s.phoneFor(w, r, phoneID)
	if !ok {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.reject(w, fmt.Sprintf("Content-Type is %q; Parley sends JSON", r.Header.Get("Content-Type")), body)
		return
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		s.reject(w, "body is not a JSON object: "+err.Error(), body)
		return
	}
	_, isRead := fields["status"]
	if problem := s.checkMessage(fields, body, isRead); problem != "" {
		s.reject(w, problem, body)
		return
	}
	if s.injected(w, r) || s.hooked(w, body) {
		return
	}
	if isRead {
		s.mu.Lock()
		s.reads = append(s.reads, fields["message_id"].(string))
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, []byte(`{"success":true}`))
		return
	}
	wamid := fmt.Sprintf("wamid.HBgLFAKE%s%06d", p.ID[len(p.ID)-4:], s.nextSeq())
	s.mu.Lock()
	s.sent = append(s.sent, Sent{PhoneNumberID: p.ID, ID: wamid, Raw: json.RawMessage(body), Body: fields})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, sendResponse(fields["to"].(string), wamid))
}

// checkMessage validates a send against the Message schema, or a read
// receipt against MarkMessageRequestPayload, and adds what the schema
// leaves open but the API requires. It returns the problems, or "".
func (s *Server) checkMessage(fields map[string]any, body []byte, isRead bool) string {
	v := s.schemas.send
	if isRead {
		v = s.schemas.markRead
	}
	if err := v.Validate(body); err != nil {
		return err.Error()
	}
	if fields["messaging_product"] != "whatsapp" {
		return `messaging_product must be "whatsapp"`
	}
	if isRead && fields["status"] != "read" {
		return `a read receipt has status "read"`
	}
	return ""
}

// reject answers Graph error 100 and fails the test: the adapter sent
// something Meta would refuse.
func (s *Server) reject(w http.ResponseWriter, problem string, body []byte) {
	s.t.Errorf("metagraph: Meta would reject this request: %s\nbody: %s", problem, body)
	writeError(w, http.StatusBadRequest, errInvalid(problem))
}

func (s *Server) hooked(w http.ResponseWriter, body []byte) bool {
	s.mu.Lock()
	hook := s.onMessage
	s.mu.Unlock()
	if hook == nil {
		return false
	}
	status, resp, handled := hook(body)
	if handled {
		writeJSON(w, status, resp)
	}
	return handled
}

// sendResponse is the documented answer to a send (MessageResponsePayload):
// the recipient as given and as a WhatsApp ID, and the new message's ID. A
// recipient that is not a phone number (a business-scoped user ID) has no
// wa_id to report.
func sendResponse(to, wamid string) []byte {
	contact := map[string]string{"input": to}
	if waID := digits(to); waID != "" && !strings.ContainsFunc(to, unicode.IsLetter) {
		contact["wa_id"] = waID
	}
	out, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{contact},
		"messages":          []any{map[string]string{"id": wamid}},
	})
	return out
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}
