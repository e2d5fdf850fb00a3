package acs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// window is WhatsApp's customer service window.
const window = 24 * time.Hour

// send is POST /messages/notifications:send.
func (s *Server) send(w http.ResponseWriter, r *http.Request, body []byte) {
	rid, first := r.Header.Get("Repeatability-Request-ID"), r.Header.Get("Repeatability-First-Sent")
	var firstSent time.Time
	if rid != "" || first != "" {
		var err error
		firstSent, err = http.ParseTime(first)
		switch {
		case rid == "" || first == "":
			s.t.Errorf("acs fake: send: Repeatability-Request-ID %q and Repeatability-First-Sent %q must come together", rid, first)
			w.Header().Set("Repeatability-Result", "rejected")
			writeError(w, http.StatusBadRequest, "InvalidRepeatabilityHeaders", "Repeatability-Request-ID and Repeatability-First-Sent must both be given.")
			return
		case err != nil:
			s.t.Errorf("acs fake: send: Repeatability-First-Sent %q is not an RFC 1123 date", first)
			w.Header().Set("Repeatability-Result", "rejected")
			writeError(w, http.StatusBadRequest, "InvalidRepeatabilityHeaders", "Repeatability-First-Sent is not an HTTP date.")
			return
		case time.Since(firstSent) > s.RepeatabilityWindow || time.Until(firstSent) > 5*time.Minute:
			w.Header().Set("Repeatability-Result", "rejected")
			writeError(w, http.StatusBadRequest, "InvalidRepeatabilityHeaders", "Repeatability-First-Sent is outside the range of values held by the server.")
			return
		}
		s.mu.Lock()
		prev := s.repeats[rid]
		s.mu.Unlock()
		if prev != nil {
			// The original answer, whatever this body says: the server
			// state reflects a single execution.
			w.Header().Set("Repeatability-Result", "accepted")
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(prev.status)
			w.Write(prev.body)
			return
		}
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		s.t.Errorf("acs fake: send: body is not JSON: %v", err)
		writeError(w, http.StatusBadRequest, "BadRequest", "The request body is not valid JSON.")
		return
	}
	if probs := s.spec.validate("NotificationContent", doc); len(probs) > 0 {
		s.t.Errorf("acs fake: send: body does not match the Swagger NotificationContent:\n  %s\nbody: %s", strings.Join(probs, "\n  "), body)
		writeError(w, http.StatusBadRequest, "BadRequest", "Invalid request: "+strings.Join(probs, "; "))
		return
	}
	var n notification
	json.Unmarshal(body, &n)
	if n.ChannelRegistrationID != s.ChannelRegistrationID {
		writeError(w, http.StatusBadRequest, "InvalidChannelRegistrationId", fmt.Sprintf("Channel registration %s is not registered with this resource.", n.ChannelRegistrationID))
		return
	}
	if len(n.To) != 1 {
		s.t.Errorf("acs fake: send: %d recipients; Parley sends to one", len(n.To))
	}
	if len(n.To) == 0 {
		writeError(w, http.StatusBadRequest, "BadRequest", "At least one recipient is required.")
		return
	}

	s.mu.Lock()
	var fault Fault
	if len(s.faults) > 0 {
		fault, s.faults = s.faults[0], s.faults[1:]
	}
	s.mu.Unlock()
	switch fault {
	case RateLimit:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "TooManyRequests", "Rate limit exceeded. Try again later.")
		return
	case Unauthorized:
		writeError(w, http.StatusUnauthorized, "Denied", "Denied by the resource provider.")
		return
	case Outage:
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable.")
		return
	}

	var receipts []map[string]string
	var failures []Sent
	s.mu.Lock()
	for _, to := range n.To {
		s.seq++
		sent := n.sent(newUUID(), rid, to, body)
		s.fill(&sent, &n)
		if fault == OutsideWindow {
			sent.FailedCode = "131047"
		} else if sent.FailedCode == "" && n.Kind != "template" {
			if at, ok := s.windows[digits(to)]; !ok || time.Since(at) > window {
				sent.FailedCode = "131047"
			}
		}
		s.sent = append(s.sent, sent)
		if sent.FailedCode != "" {
			failures = append(failures, sent)
		}
		receipts = append(receipts, map[string]string{"messageId": sent.MessageID, "to": to})
	}
	resp, _ := json.Marshal(map[string]any{"receipts": receipts})
	if rid != "" {
		s.repeats[rid] = &repeat{firstSent: firstSent, status: http.StatusAccepted, body: resp}
	}
	s.mu.Unlock()

	for _, f := range failures {
		s.postLater(s.StatusDelivery(f.MessageID, "Failed", f.FailedCode))
	}
	if fault == Interrupt {
		hj, ok := w.(http.Hijacker)
		if !ok {
			s.t.Errorf("acs fake: cannot interrupt: no hijacker")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if rid != "" {
		w.Header().Set("Repeatability-Result", "accepted")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	w.Write(resp)
}

// notification is a send body, decoded after it passed the schema.
type notification struct {
	ChannelRegistrationID string   `json:"channelRegistrationId"`
	To                    []string `json:"to"`
	Kind                  string   `json:"kind"`
	Content               string   `json:"content"`
	MediaURI              string   `json:"mediaUri"`
	Caption               string   `json:"caption"`
	Template              *struct {
		Name     string `json:"name"`
		Language string `json:"language"`
		Values   []struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
			Text string `json:"text"`
			URL  string `json:"url"`
		} `json:"values"`
		Bindings *struct {
			Header []struct {
				RefValue string `json:"refValue"`
			} `json:"header"`
			Body []struct {
				RefValue string `json:"refValue"`
			} `json:"body"`
			Buttons []struct {
				SubType  string `json:"subType"`
				RefValue string `json:"refValue"`
			} `json:"buttons"`
		} `json:"bindings"`
	} `json:"template"`
	InteractiveMessage *struct {
		Body struct {
			Text string `json:"text"`
		} `json:"body"`
	} `json:"interactiveMessage"`
}

func (n *notification) sent(id, rid, to string, body []byte) Sent {
	out := Sent{MessageID: id, RepeatabilityID: rid, To: "+" + digits(to), Kind: n.Kind, MediaURI: n.MediaURI, Body: bytes.Clone(body)}
	switch n.Kind {
	case "text":
		out.Text = n.Content
	case "image", "video", "document":
		out.Text = n.Caption
	case "interactive":
		out.Text = n.InteractiveMessage.Body.Text
	}
	return out
}

var placeholderRE = regexp.MustCompile(`\{\{\s*(\d+)\s*\}\}`)

// fill checks a template send against the registered templates, as
// WhatsApp does after ACS accepted it: values must be bound, bindings
// must name values, and the body must get one value per placeholder.
// Called with s.mu held.
func (s *Server) fill(sent *Sent, n *notification) {
	if n.Kind != "template" {
		return
	}
	tm := n.Template
	sent.TemplateName, sent.TemplateLanguage = tm.Name, tm.Language
	sent.Values = map[string]string{}
	urls := map[string]string{}
	for _, v := range tm.Values {
		if _, dup := sent.Values[v.Name]; dup {
			s.t.Errorf("acs fake: template %s: value %q given twice", tm.Name, v.Name)
		}
		sent.Values[v.Name] = v.Text
		if v.URL != "" {
			urls[v.Name] = v.URL
			sent.MediaURI = v.URL
		}
	}
	var def *template
	for i := range s.templates {
		if s.templates[i].Name == tm.Name && s.templates[i].Language == tm.Language {
			def = &s.templates[i]
		}
	}
	if def == nil {
		sent.FailedCode = "132001" // template name does not exist in the translation
		return
	}
	var body []string
	if tm.Bindings != nil {
		for _, b := range tm.Bindings.Body {
			if _, ok := sent.Values[b.RefValue]; !ok {
				s.t.Errorf("acs fake: template %s: body binding %q names no value", tm.Name, b.RefValue)
			}
			body = append(body, sent.Values[b.RefValue])
		}
		for _, b := range tm.Bindings.Header {
			if _, ok := sent.Values[b.RefValue]; !ok {
				s.t.Errorf("acs fake: template %s: header binding %q names no value", tm.Name, b.RefValue)
			}
		}
	} else if len(tm.Values) > 0 {
		s.t.Errorf("acs fake: template %s: values without bindings", tm.Name)
	}
	want := len(placeholderRE.FindAllString(def.body, -1))
	if len(body) != want {
		sent.FailedCode = "132000" // number of parameters does not match
		return
	}
	sent.Text = placeholderRE.ReplaceAllStringFunc(def.body, func(m string) string {
		i, _ := strconv.Atoi(placeholderRE.FindStringSubmatch(m)[1])
		if i >= 1 && i <= len(body) {
			return body[i-1]
		}
		return m
	})
}

// stream is GET /messages/streams/{id}: an inbound file.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	m, ok := s.media[r.PathValue("id")]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "NotFound", "Media not found.")
		return
	}
	w.Header().Set("Content-Type", m.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
	w.Write(m.data)
}

// listTemplates is GET /messages/channels/{id}/templates, paged by
// maxpagesize (default 2, so that paging is exercised) with an absolute
// nextLink.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request, _ []byte) {
	if r.PathValue("id") != s.ChannelRegistrationID {
		writeError(w, http.StatusNotFound, "NotFound", "Channel not found.")
		return
	}
	q := r.URL.Query()
	size := 2
	if v := q.Get("maxpagesize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.t.Errorf("acs fake: templates: maxpagesize %q", v)
			writeError(w, http.StatusBadRequest, "BadRequest", "maxpagesize must be a positive integer.")
			return
		}
		size = n
	}
	skip, _ := strconv.Atoi(q.Get("skipToken"))
	s.mu.Lock()
	all := append([]template(nil), s.templates...)
	s.mu.Unlock()
	page := []template{}
	if skip < len(all) {
		page = all[skip:min(skip+size, len(all))]
	}
	resp := map[string]any{"value": page}
	if skip+size < len(all) {
		next := url.Values{"api-version": {APIVersion}, "maxpagesize": {strconv.Itoa(size)}, "skipToken": {strconv.Itoa(skip + size)}}
		resp["nextLink"] = s.URL + r.URL.Path + "?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, resp)
}
