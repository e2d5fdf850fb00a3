package twilio

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Sent is a message the fake accepted.
type Sent struct {
	SID string
	// OurID is the "m" query parameter of the StatusCallback: Parley's
	// message ID.
	OurID      string
	To         string // E.164, without "whatsapp:"
	Body       string
	ContentSID string
	Variables  map[string]string // ContentVariables, decoded
	MediaURLs  []string
	Form       url.Values // the whole request, as sent
}

// message is a sent message's state, for status callbacks.
type message struct {
	Sent
	from     string
	callback string
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// maxBody is Twilio's limit on Body.
const maxBody = 1600

// createMessage answers POST /2010-04-01/Accounts/{AccountSid}/Messages.json.
func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	form, problem := readForm(r)
	if problem == "" {
		problem = s.checkForm(form)
	}
	if problem != "" {
		s.t.Errorf("fake twilio: Twilio would refuse this send: %s\nform: %s", problem, form.Encode())
		writeError(w, apiError{Status: http.StatusBadRequest, Code: 21602, Message: problem})
		return
	}
	if e, ok := s.refuse(form); ok {
		writeError(w, e)
		return
	}
	f := s.nextFault()
	if f.refuses() {
		f.write(w)
		return
	}
	m := s.record(form)
	if f == Interrupt {
		s.interrupt(w)
		return
	}
	writeJSON(w, http.StatusCreated, s.resource(m))
	if f == OutsideWindow || (m.ContentSID == "" && !s.windowOpenFor(m.To)) {
		s.failLater(m, "63016")
	}
}

// readForm parses a form body, which must be form-encoded.
func readForm(r *http.Request) (url.Values, string) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != formType {
		return nil, fmt.Sprintf("Content-Type is %q, not %s", r.Header.Get("Content-Type"), formType)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, "unreadable body: " + err.Error()
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, "body is not form-encoded: " + err.Error()
	}
	return form, ""
}

// checkForm finds what makes a send invalid by the published document
// and Twilio's documented rules for WhatsApp. It reports the first
// problem.
func (s *Server) checkForm(form url.Values) string {
	sc, _ := schemas()
	var unknown []string
	for name := range form {
		if !sc.params[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Sprintf("unknown parameters %v (CreateMessageRequest has no such property)", unknown)
	}
	for _, name := range sc.required {
		if form.Get(name) == "" {
			return "the required parameter " + name + " is missing"
		}
	}
	if err := sc.create.ValidateForm(form); err != nil {
		return err.Error()
	}
	checks := []func(url.Values) string{checkAddresses, s.checkSender, checkContent, checkVariables, checkCallback, checkMedia}
	for _, check := range checks {
		if p := check(form); p != "" {
			return p
		}
	}
	return ""
}

// checkAddresses: To (and From) are WhatsApp channel addresses.
func checkAddresses(form url.Values) string {
	for _, name := range []string{"To", "From"} {
		v, ok := form[name]
		if !ok {
			continue
		}
		if len(v) != 1 {
			return name + " is given more than once"
		}
		num, found := strings.CutPrefix(v[0], "whatsapp:")
		if !found || !e164.MatchString(num) {
			return fmt.Sprintf("%s is %q, not a WhatsApp address (whatsapp:+E.164)", name, v[0])
		}
	}
	return ""
}

// checkSender: From or MessagingServiceSid (x-twilio conditional), and
// the sender is this account's.
func (s *Server) checkSender(form url.Values) string {
	from, svc := form.Get("From"), form.Get("MessagingServiceSid")
	switch {
	case from == "" && svc == "":
		return "neither From nor MessagingServiceSid is given"
	case svc != "" && svc != s.MessagingServiceSID:
		return fmt.Sprintf("MessagingServiceSid %q is not this account's (%s)", svc, s.MessagingServiceSID)
	case from != "" && from != "whatsapp:"+s.PhoneNumber:
		return fmt.Sprintf("From is %q; this account's WhatsApp sender is whatsapp:%s", from, s.PhoneNumber)
	}
	return ""
}

// checkContent: one of Body, MediaUrl and ContentSid (x-twilio
// conditional); a content template is sent without Body or MediaUrl.
func checkContent(form url.Values) string {
	body, media, sid := form.Get("Body"), form["MediaUrl"], form.Get("ContentSid")
	switch {
	case body == "" && len(media) == 0 && sid == "":
		return "none of Body, MediaUrl and ContentSid is given"
	case sid != "" && (body != "" || len(media) > 0):
		return "ContentSid is sent together with Body or MediaUrl; a content template carries its own"
	case utf8.RuneCountInString(body) > maxBody:
		return fmt.Sprintf("Body has %d characters; at most %d are allowed", utf8.RuneCountInString(body), maxBody)
	case len(media) > 10:
		return fmt.Sprintf("%d MediaUrl given; at most 10 are allowed", len(media))
	}
	return ""
}

// checkVariables: ContentVariables is a JSON object of strings, and only
// with ContentSid.
func checkVariables(form url.Values) string {
	raw, ok := form["ContentVariables"]
	if !ok {
		return ""
	}
	if form.Get("ContentSid") == "" {
		return "ContentVariables without ContentSid (error 21654)"
	}
	var vars map[string]string
	if err := json.Unmarshal([]byte(raw[0]), &vars); err != nil {
		return "ContentVariables is not a JSON object of strings (error 21656): " + err.Error()
	}
	for k, v := range vars {
		if strings.TrimSpace(v) == "" {
			return fmt.Sprintf("ContentVariables %q is empty (error 21656)", k)
		}
	}
	return ""
}

// checkCallback: an absolute http(s) URL whose host has no underscore.
func checkCallback(form url.Values) string {
	cb := form.Get("StatusCallback")
	if cb == "" {
		return ""
	}
	u, err := url.Parse(cb)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "_") {
		return fmt.Sprintf("StatusCallback %q is not an http(s) URL with a valid host", cb)
	}
	return ""
}

// checkMedia: every MediaUrl is an absolute http(s) URL Twilio can fetch.
func checkMedia(form url.Values) string {
	for _, m := range form["MediaUrl"] {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Sprintf("MediaUrl %q is not an absolute http(s) URL", m)
		}
	}
	return ""
}

// refuse answers what Twilio refuses at once although the request is
// well formed: an unknown or unapproved content template.
func (s *Server) refuse(form url.Values) (apiError, bool) {
	sid := form.Get("ContentSid")
	if sid == "" {
		return apiError{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.templates {
		if c.sid == sid {
			return apiError{}, false
		}
	}
	return apiError{Status: http.StatusBadRequest, Code: 21655, Message: "The ContentSid is Invalid"}, true
}

// record stores an accepted send.
func (s *Server) record(form url.Values) *message {
	m := &message{from: form.Get("From"), callback: form.Get("StatusCallback")}
	m.SID = newSID("SM")
	if len(form["MediaUrl"]) > 0 {
		m.SID = newSID("MM")
	}
	m.To = strings.TrimPrefix(form.Get("To"), "whatsapp:")
	m.Body = form.Get("Body")
	m.ContentSID = form.Get("ContentSid")
	m.MediaURLs = form["MediaUrl"]
	m.Form = form
	if v := form.Get("ContentVariables"); v != "" {
		json.Unmarshal([]byte(v), &m.Variables)
	}
	if u, err := url.Parse(m.callback); err == nil {
		m.OurID = u.Query().Get("m")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m.Sent)
	s.messages[m.SID] = m
	return m
}

func (s *Server) windowOpenFor(e164 string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowOpen(e164)
}

// resource is the Message resource of an accepted send.
func (s *Server) resource(m *message) map[string]any {
	now := rfc2822(s.Now())
	from := any(m.from)
	if m.from == "" {
		from = nil
	}
	svc := any(nil)
	if v := m.Form.Get("MessagingServiceSid"); v != "" {
		svc = v
	}
	uri := s.accountPath() + "/Messages/" + m.SID
	return map[string]any{
		"account_sid": s.AccountSID, "api_version": "2010-04-01", "body": m.Body,
		"date_created": now, "date_sent": nil, "date_updated": now, "direction": "outbound-api",
		"error_code": nil, "error_message": nil, "from": from, "messaging_service_sid": svc,
		"num_media": fmt.Sprint(len(m.MediaURLs)), "num_segments": "1", "price": nil, "price_unit": nil,
		"sid": m.SID, "status": "queued", "to": "whatsapp:" + m.To, "uri": uri + ".json",
		"subresource_uris": map[string]string{"media": uri + "/Media.json"},
	}
}

// Sent returns the accepted sends, oldest first.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// failLater posts the failed status callback of m with code, after the
// send's answer, as Twilio reports WhatsApp's refusals.
func (s *Server) failLater(m *message, code string) {
	if m.callback == "" {
		return
	}
	d := s.StatusDelivery(m.SID, "failed", code)
	s.async.Add(1)
	go func() {
		defer s.async.Done()
		s.postTo(d.URL, d.Form, true)
	}()
}
