package metagraph

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Status describes a status webhook for a message the fake accepted.
type Status struct {
	MessageID string    // the wamid the fake returned
	Status    string    // sent, delivered, read, played or failed
	Timestamp time.Time // now when zero
	// Error is the failure of a failed status.
	Error *GraphError
	// PricingCategory adds a pricing object (PMP, "regular") when set,
	// e.g. "marketing", "utility", "service".
	PricingCategory string
}

// StatusWebhook builds the webhook Meta would deliver for a status of a
// sent message, in the shape of Meta's documented examples (entry →
// changes → value.statuses), with the send's biz_opaque_callback_data
// echoed. It returns the body and its X-Hub-Signature-256 header value.
// Like Meta's, the body escapes non-ASCII characters as \uXXXX, so a
// receiver that re-serializes before checking the signature fails.
func (s *Server) StatusWebhook(st Status) (body []byte, signature string) {
	s.t.Helper()
	s.mu.Lock()
	var sent *Sent
	for i := range s.sent {
		if s.sent[i].ID == st.MessageID {
			sent = &s.sent[i]
		}
	}
	var p Phone
	if sent != nil {
		p = s.phones[sent.PhoneNumberID]
	}
	s.mu.Unlock()
	if sent == nil {
		s.t.Fatalf("metagraph: StatusWebhook: no sent message %s", st.MessageID)
		return nil, ""
	}
	if st.Timestamp.IsZero() {
		st.Timestamp = time.Now()
	}
	status := map[string]any{
		"id":           st.MessageID,
		"status":       st.Status,
		"timestamp":    strconv.FormatInt(st.Timestamp.Unix(), 10),
		"recipient_id": digits(sent.To()),
	}
	if cb := sent.CallbackData(); cb != "" {
		status["biz_opaque_callback_data"] = cb
	}
	if st.PricingCategory != "" {
		status["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "type": "regular", "category": st.PricingCategory}
	}
	if e := st.Error; e != nil {
		title := e.UserTitle
		if title == "" {
			title = e.Message
		}
		se := map[string]any{
			"code": e.Code, "title": title, "message": title,
			"href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
		}
		if e.Details != "" {
			se["error_data"] = map[string]string{"details": e.Details}
		}
		status["errors"] = []any{se}
	}
	payload := map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id": p.WABAID,
			"changes": []any{map[string]any{
				"field": "messages",
				"value": map[string]any{
					"messaging_product": "whatsapp",
					"metadata":          map[string]string{"display_phone_number": p.DisplayPhone, "phone_number_id": p.ID},
					"statuses":          []any{status},
				},
			}},
		}},
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		s.t.Fatalf("metagraph: StatusWebhook: %v", err)
	}
	body = EscapeNonASCII(raw)
	return body, s.Sign(body)
}

// Sign returns the X-Hub-Signature-256 value of a body under the fake's
// app secret: "sha256=" and the hex HMAC-SHA256 of the raw bytes.
func (s *Server) Sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(s.appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// EscapeNonASCII rewrites non-ASCII characters of valid JSON as \uXXXX
// escapes (surrogate pairs above the BMP), as Meta sends them. Outside
// strings JSON is ASCII, so escaping every such rune is safe.
func EscapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf:
			out.WriteByte(b[0])
		case r > 0xFFFF:
			r -= 0x10000
			fmt.Fprintf(&out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out.Bytes()
}
