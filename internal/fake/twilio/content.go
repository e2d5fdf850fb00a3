package twilio

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// content is a content template with its WhatsApp approval.
type content struct {
	sid, name, language, body string
	status                    string
	created                   time.Time
}

// AddTemplate adds an approved twilio/text content template whose body
// may name variables {{1}}, {{2}}, …, and returns its SID (HX…).
func (s *Server) AddTemplate(name, language, body string) string {
	return s.AddTemplateStatus(name, language, body, "approved")
}

// AddTemplateStatus adds a template whose WhatsApp approval is status
// (approved, pending, rejected, unsubmitted, …).
func (s *Server) AddTemplateStatus(name, language, body, status string) string {
	c := &content{sid: newSID("HX"), name: name, language: language, body: body, status: status, created: s.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.templates = append(s.templates, c)
	return c.sid
}

// listContent answers GET /v1/ContentAndApprovals, paged with PageSize
// and PageToken as Twilio's document shows (meta.next_page_url).
func (s *Server) listContent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := s.PageSize
	if v, err := strconv.Atoi(q.Get("PageSize")); err == nil && v > 0 && v <= 1000 && v < size {
		size = v
	} else if q.Get("PageSize") != "" && (err != nil || v < 1 || v > 1000) {
		writeError(w, apiError{Status: http.StatusBadRequest, Code: 20001, Message: "Invalid PageSize"})
		return
	}
	page, _ := strconv.Atoi(q.Get("Page"))
	start := 0
	if tok := q.Get("PageToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "PT"))
		if err != nil || n < 0 {
			writeError(w, apiError{Status: http.StatusBadRequest, Code: 20001, Message: "Invalid PageToken"})
			return
		}
		start = n
	}
	s.mu.Lock()
	all := append([]*content(nil), s.templates...)
	s.mu.Unlock()
	end := min(start+size, len(all))
	start = min(start, end)
	items := make([]map[string]any, 0, end-start)
	for _, c := range all[start:end] {
		items = append(items, s.contentJSON(c))
	}
	pageURL := func(p int, token string) string {
		v := url.Values{"PageSize": {strconv.Itoa(size)}, "Page": {strconv.Itoa(p)}}
		if token != "" {
			v.Set("PageToken", token)
		}
		return s.URL + "/v1/ContentAndApprovals?" + v.Encode()
	}
	var next any
	if end < len(all) {
		next = pageURL(page+1, "PT"+strconv.Itoa(end))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"contents": items,
		"meta": map[string]any{
			"page": page, "page_size": size, "first_page_url": pageURL(0, ""), "previous_page_url": nil,
			"next_page_url": next, "url": r.URL.String(), "key": "contents",
		},
	})
}

func (s *Server) contentJSON(c *content) map[string]any {
	vars := map[string]string{}
	for i, p := range placeholders(c.body) {
		vars[p] = "sample" + strconv.Itoa(i+1)
	}
	return map[string]any{
		"date_created": c.created.UTC().Format(time.RFC3339), "date_updated": c.created.UTC().Format(time.RFC3339),
		"sid": c.sid, "account_sid": s.AccountSID, "friendly_name": c.name, "language": c.language,
		"variables": vars,
		"types":     map[string]any{"twilio/text": map[string]string{"body": c.body}},
		"approval_requests": map[string]any{
			"name": c.name, "category": "UTILITY", "content_type": "twilio/text",
			"status": c.status, "rejection_reason": "", "allow_category_change": true,
		},
	}
}

// placeholders lists the {{n}} variables of a body in order.
func placeholders(body string) []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i+1 < len(body); i++ {
		if body[i] != '{' || body[i+1] != '{' {
			continue
		}
		j := i + 2
		for j < len(body) && body[j] != '}' {
			j++
		}
		name := body[i+2 : j]
		if j+1 < len(body) && body[j+1] == '}' && name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
		i = j
	}
	return out
}
