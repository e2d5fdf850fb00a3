package acs

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"time"
)

// Event types ACS publishes to Event Grid, and the validation event.
const (
	EventReceived   = "Microsoft.Communication.AdvancedMessageReceived"
	EventStatus     = "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated"
	EventValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// keyID names the fake's signing key in its JWKS.
const keyID = "acs-fake-eventgrid-1"

// Inbound posts a text message from a customer (from: E.164 or digits),
// opening their 24-hour window, and returns Parley's HTTP status.
// profileName is not sent: ACS's AdvancedMessageReceived event carries no
// profile name in the 2024-11-15 event schema, so Parley never learns it.
func (s *Server) Inbound(from, profileName, text string) int {
	_ = profileName
	return s.Post(s.received(from, map[string]any{"messageType": "text", "content": text}))
}

// InboundMedia posts a media message whose file the fake keeps at
// /messages/streams/{id}; its messageType follows the MIME type.
func (s *Server) InboundMedia(from, mimeType string, data []byte, caption string) int {
	id := newUUID()
	s.mu.Lock()
	s.media[id] = stored{mimeType: mimeType, data: bytes.Clone(data)}
	s.mu.Unlock()
	kind := "document"
	switch {
	case mimeType == "image/webp":
		kind = "sticker"
	case strings.HasPrefix(mimeType, "image/"):
		kind = "image"
	case strings.HasPrefix(mimeType, "video/"):
		kind = "video"
	case strings.HasPrefix(mimeType, "audio/"):
		kind = "audio"
	}
	media := map[string]any{"mimeType": mimeType, "id": id}
	if caption != "" {
		media["caption"] = caption
	}
	if kind == "document" {
		media["fileName"] = "file"
	}
	return s.Post(s.received(from, map[string]any{"messageType": kind, "media": media}))
}

// received builds a customer's message event and opens their window.
func (s *Server) received(from string, data map[string]any) Delivery {
	now := time.Now().UTC()
	s.mu.Lock()
	s.windows[digits(from)] = now
	s.mu.Unlock()
	data["channelType"] = "whatsapp"
	data["from"] = digits(from)
	data["to"] = s.ChannelRegistrationID
	data["receivedTimestamp"] = now.Format("2006-01-02T15:04:05-07:00")
	data["messageId"] = newUUID()
	return s.delivery(EventReceived, "advancedMessage/sender/"+digits(from)+"/recipient/"+s.ChannelRegistrationID, data, now)
}

// Status posts a delivery status for a sent message; status is as ACS
// writes it ("Sent", "Delivered", "Read", "Failed"), and channelCode,
// when given, is WhatsApp's error code.
func (s *Server) Status(messageID, status, channelCode string) int {
	return s.Post(s.StatusDelivery(messageID, status, channelCode))
}

// StatusDelivery builds a status delivery without posting it.
func (s *Server) StatusDelivery(messageID, status, channelCode string) Delivery {
	to := ""
	s.mu.Lock()
	for _, m := range s.sent {
		if m.MessageID == messageID {
			to = digits(m.To)
		}
	}
	s.mu.Unlock()
	now := time.Now().UTC()
	data := map[string]any{
		"messageId": messageID, "status": status, "channelType": "whatsapp",
		"from": s.ChannelRegistrationID, "to": to, "receivedTimestamp": now.Format("2006-01-02T15:04:05-07:00"),
	}
	if channelCode != "" {
		data["error"] = map[string]string{"channelCode": channelCode, "channelMessage": channelMessages[channelCode]}
	}
	return s.delivery(EventStatus, "advancedMessage/"+messageID+"/status/"+status, data, now)
}

// channelMessages are WhatsApp's titles for the codes the fake reports.
var channelMessages = map[string]string{
	"131047": "Re-engagement message",
	"131026": "Message Undeliverable.",
	"132000": "Number of parameters does not match the expected number of params",
	"132001": "Template name does not exist in the translation",
}

// delivery wraps one event as Event Grid delivers it.
func (s *Server) delivery(eventType, subject string, data map[string]any, now time.Time) Delivery {
	topic := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/parley-test/providers/Microsoft.Communication/communicationServices/fake"
	if s.CloudEvents {
		ev := map[string]any{"id": newUUID(), "source": topic, "subject": subject, "data": data, "type": eventType,
			"specversion": "1.0", "time": now.Format(time.RFC3339Nano)}
		b, _ := json.Marshal(ev)
		return Delivery{Body: b, ContentType: "application/cloudevents+json; charset=utf-8", EventType: eventType}
	}
	ev := map[string]any{"id": newUUID(), "topic": topic, "subject": subject, "data": data, "eventType": eventType,
		"dataVersion": "1.0", "metadataVersion": "1", "eventTime": now.Format(time.RFC3339Nano)}
	b, _ := json.Marshal([]any{ev})
	return Delivery{Body: b, ContentType: "application/json", EventType: eventType}
}

// Post delivers d to the webhook and returns Parley's HTTP status (0 when
// the request failed).
func (s *Server) Post(d Delivery) int {
	s.t.Helper()
	resp, err := s.post(d)
	if err != nil {
		s.t.Errorf("acs fake: post %s: %v", d.EventType, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *Server) post(d Delivery) (*http.Response, error) {
	s.mu.Lock()
	u, aud := s.webhookURL, s.audience
	s.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(d.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", d.ContentType)
	req.Header.Set("aeg-event-type", "Notification")
	req.Header.Set("aeg-subscription-name", "PARLEY")
	req.Header.Set("aeg-delivery-count", "0")
	if s.CloudEvents {
		req.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
	}
	if aud != "" {
		req.Header.Set("Authorization", "Bearer "+s.EventToken(aud))
	}
	return s.hc.Do(req)
}

// postLater posts d from another goroutine, as ACS reports WhatsApp's
// verdict after answering the send. Close waits for it.
func (s *Server) postLater(d Delivery) {
	s.posters.Add(1)
	go func() {
		defer s.posters.Done()
		status := 0
		if resp, err := s.post(d); err == nil {
			resp.Body.Close()
			status = resp.StatusCode
		}
		s.mu.Lock()
		s.posted = append(s.posted, status)
		s.mu.Unlock()
	}()
}

// Handshake posts a SubscriptionValidationEvent, as Event Grid does when
// the subscription is created, and reports Parley's status and whether it
// answered with the validation code.
func (s *Server) Handshake() (status int, validated bool) {
	code := newUUID()
	ev := []any{map[string]any{
		"id": newUUID(), "topic": "/subscriptions/00000000-0000-0000-0000-000000000000", "subject": "",
		"data":      map[string]string{"validationCode": code, "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/parley/validate?id=" + code},
		"eventType": EventValidation, "eventTime": time.Now().UTC().Format(time.RFC3339Nano), "metadataVersion": "1", "dataVersion": "1",
	}}
	b, _ := json.Marshal(ev)
	s.mu.Lock()
	u, aud := s.webhookURL, s.audience
	s.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("aeg-event-type", "SubscriptionValidation")
	if aud != "" {
		req.Header.Set("Authorization", "Bearer "+s.EventToken(aud))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Errorf("acs fake: handshake: %v", err)
		return 0, false
	}
	defer resp.Body.Close()
	var out struct {
		ValidationResponse string `json:"validationResponse"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.StatusCode == http.StatusOK && out.ValidationResponse == code
}

// OptionsHandshake makes the CloudEvents abuse-protection request and
// reports Parley's status and whether it allowed Event Grid's origin.
func (s *Server) OptionsHandshake() (status int, allowed bool) {
	s.mu.Lock()
	u, aud := s.webhookURL, s.audience
	s.mu.Unlock()
	req, _ := http.NewRequest(http.MethodOptions, u, nil)
	req.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
	req.Header.Set("WebHook-Request-Rate", "120")
	if aud != "" {
		req.Header.Set("Authorization", "Bearer "+s.EventToken(aud))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Errorf("acs fake: options handshake: %v", err)
		return 0, false
	}
	resp.Body.Close()
	origin := resp.Header.Get("WebHook-Allowed-Origin")
	return resp.StatusCode, resp.StatusCode == http.StatusOK && (origin == "eventgrid.azure.net" || origin == "*")
}

// EventIssuer is the issuer of the delivery tokens: Entra's v2.0 issuer
// for the fake's directory, with a discovery document and JWKS.
func (s *Server) EventIssuer() string { return s.URL + "/" + s.TenantID + "/v2.0" }

// EventToken mints an RS256 token such as Event Grid presents on an
// Entra-authenticated delivery: issued by EventIssuer, for audience, to
// Event Grid's application.
func (s *Server) EventToken(audience string) string {
	now := time.Now()
	claims := map[string]any{
		"iss": s.EventIssuer(), "aud": audience, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"tid": s.TenantID, "appid": "4962773b-9cdb-44cf-a8bf-237846a00ab7", "azp": "4962773b-9cdb-44cf-a8bf-237846a00ab7",
		"sub": "eventgrid", "ver": "2.0",
	}
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": keyID})
	payload, _ := json.Marshal(claims)
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		s.t.Errorf("acs fake: sign: %v", err)
	}
	return input + "." + b64(sig)
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != s.TenantID {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_tenant"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.EventIssuer(),
		"jwks_uri":                              s.URL + "/discovery/v2.0/keys",
		"token_endpoint":                        s.URL + "/" + s.TenantID + "/oauth2/v2.0/token",
		"authorization_endpoint":                s.URL + "/" + s.TenantID + "/oauth2/v2.0/authorize",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token"},
		"subject_types_supported":               []string{"pairwise"},
	})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	pub := s.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []any{map[string]string{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": keyID,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
