package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strings"
)

// Sign computes X-Twilio-Signature for a form posted to u: HMAC-SHA1,
// keyed with the auth token, of the URL followed by each parameter's name
// and value, sorted by name (values of a repeated name sorted too). It is
// written apart from Parley's checker so that the two test each other.
func Sign(authToken, u string, form url.Values) string {
	var b strings.Builder
	b.WriteString(u)
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vals := append([]string(nil), form[name]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(name)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Delivery is a webhook the fake will post: where, and what.
type Delivery struct {
	URL  string
	Form url.Values
}

// Post sends a delivery, signed, and returns Parley's HTTP status. A
// delivery may be posted several times, as Twilio retries.
func (s *Server) Post(d Delivery) int {
	return s.post(d.URL, d.Form)
}

// Inbound posts a text message from the customer at from (E.164) to the
// webhook URL, and opens the 24-hour window for that number.
func (s *Server) Inbound(from, profileName, text string) int {
	form := s.inboundForm(newSID("SM"), from, profileName)
	form.Set("Body", text)
	form.Set("NumMedia", "0")
	form.Set("MessageType", "text")
	return s.deliverInbound(from, form)
}

// InboundMedia posts a message with one file, which the fake then serves
// at MediaUrl0 to requests with the account's credentials.
func (s *Server) InboundMedia(from, mimeType string, data []byte, caption string) int {
	sid := newSID("MM")
	form := s.inboundForm(sid, from, "")
	form.Set("Body", caption)
	form.Set("NumMedia", "1")
	form.Set("MediaUrl0", s.storeMedia(sid, mimeType, data))
	form.Set("MediaContentType0", mimeType)
	form.Set("MessageType", messageType(mimeType))
	return s.deliverInbound(from, form)
}

// InboundForm posts any inbound form (button replies, locations, …) from
// the customer at from, filling the parameters Twilio always sends that
// extra does not set.
func (s *Server) InboundForm(from string, extra url.Values) int {
	form := s.inboundForm(newSID("SM"), from, "")
	form.Set("NumMedia", "0")
	for k, v := range extra {
		form[k] = v
	}
	return s.deliverInbound(from, form)
}

func (s *Server) deliverInbound(from string, form url.Values) int {
	s.mu.Lock()
	u := s.webhookURL
	s.windows[from] = s.Now()
	s.mu.Unlock()
	if u == "" {
		s.t.Errorf("fake twilio: no webhook URL; call SetWebhookURL first")
		return 0
	}
	return s.post(u, form)
}

// inboundForm holds what every inbound WhatsApp webhook carries.
func (s *Server) inboundForm(sid, from, profileName string) url.Values {
	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsMessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("AccountSid", s.AccountSID)
	f.Set("From", "whatsapp:"+from)
	f.Set("To", "whatsapp:"+s.PhoneNumber)
	f.Set("NumSegments", "1")
	f.Set("SmsStatus", "received")
	f.Set("ApiVersion", "2010-04-01")
	f.Set("ReferralNumMedia", "0")
	f.Set("WaId", strings.TrimPrefix(from, "+"))
	if profileName != "" {
		f.Set("ProfileName", profileName)
	}
	return f
}

func messageType(mimeType string) string {
	switch {
	case strings.HasPrefix(mimeType, "image/"):
		return "image"
	case strings.HasPrefix(mimeType, "video/"):
		return "video"
	case strings.HasPrefix(mimeType, "audio/"):
		return "audio"
	}
	return "document"
}

// Status posts the status callback of a sent message to its
// StatusCallback URL.
func (s *Server) Status(sid, status, errorCode string) int {
	d := s.StatusDelivery(sid, status, errorCode)
	if d.URL == "" {
		return 0
	}
	return s.Post(d)
}

// StatusDelivery builds the status callback of a sent message, to be
// posted (several times, or out of order) with Post.
func (s *Server) StatusDelivery(sid, status, errorCode string) Delivery {
	s.mu.Lock()
	m, ok := s.messages[sid]
	s.mu.Unlock()
	if !ok {
		s.t.Errorf("fake twilio: no sent message %s", sid)
		return Delivery{}
	}
	if m.callback == "" {
		s.t.Errorf("fake twilio: message %s was sent without a StatusCallback", sid)
		return Delivery{}
	}
	f := url.Values{}
	f.Set("MessageSid", sid)
	f.Set("SmsSid", sid)
	f.Set("MessageStatus", status)
	f.Set("SmsStatus", status)
	f.Set("AccountSid", s.AccountSID)
	f.Set("From", "whatsapp:"+s.PhoneNumber)
	f.Set("To", "whatsapp:"+m.To)
	f.Set("ApiVersion", "2010-04-01")
	f.Set("ChannelPrefix", "whatsapp")
	f.Set("ChannelInstallSid", "XE"+strings.Repeat("0", 32))
	f.Set("ChannelToAddress", m.To)
	if svc := m.Form.Get("MessagingServiceSid"); svc != "" {
		f.Set("MessagingServiceSid", svc)
	}
	if ev, ok := map[string]string{"delivered": "DELIVERED", "read": "READ", "undelivered": "UNDELIVERED"}[status]; ok {
		f.Set("EventType", ev)
	}
	if errorCode != "" {
		f.Set("ErrorCode", errorCode)
		f.Set("ErrorMessage", errorText(errorCode))
	}
	return Delivery{URL: m.callback, Form: f}
}

// errorText is Twilio's title of the WhatsApp errors tests use.
func errorText(code string) string {
	if t, ok := map[string]string{
		"63016": "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template.",
		"63003": "Channel could not find To address",
		"63024": "Invalid message recipient",
		"63018": "Rate limit exceeded for Channel",
		"63032": "User's number is part of an experiment",
		"30008": "Unknown error",
	}[code]; ok {
		return t
	}
	return "Error " + code
}
