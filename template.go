package parley

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Template categories, as Meta names them in lower case.
const (
	CategoryMarketing      = "marketing"
	CategoryUtility        = "utility"
	CategoryAuthentication = "authentication"
)

// Template review states. Only approved templates may be sent; paused and
// disabled ones are refused before anything is queued.
const (
	TemplateApproved = "approved"
	TemplatePending  = "pending"
	TemplateRejected = "rejected"
	TemplatePaused   = "paused"
	TemplateDisabled = "disabled"
)

// Template is a message template approved (or not) by WhatsApp for one
// channel's business account.
type Template struct {
	ID                 string `json:"id"`
	TenantID           string `json:"tenant_id"`
	ChannelID          string `json:"channel_id"`
	ProviderTemplateID string `json:"provider_template_id,omitempty"`
	Name               string `json:"name"`
	Language           string `json:"language"`
	Category           string `json:"category"`
	Status             string `json:"status"`
	StatusReason       string `json:"status_reason,omitempty"`

	// ParameterFormat is "positional" ({{1}}) or "named" ({{first_name}}).
	ParameterFormat string           `json:"parameter_format"`
	Header          *TemplateHeader  `json:"header,omitempty"`
	Body            string           `json:"body"`
	BodyParams      []string         `json:"body_params,omitempty"` // "1", "2", … or names, in order of appearance
	Footer          string           `json:"footer,omitempty"`
	Buttons         []TemplateButton `json:"buttons,omitempty"`
	ParameterCount  int              `json:"parameter_count"`

	// Components are the template's definition as the provider gave it.
	Components json.RawMessage `json:"components,omitempty"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// TemplateHeader is a template's header: text (with at most one
// parameter) or a media placeholder filled at send time.
type TemplateHeader struct {
	Format string   `json:"format"` // text, image, video, document or location
	Text   string   `json:"text,omitempty"`
	Params []string `json:"params,omitempty"`
}

// TemplateButton is one of a template's buttons. URL buttons may end in a
// parameter; quick-reply buttons may carry a payload.
type TemplateButton struct {
	Type     string `json:"type"` // quick_reply, url, phone_number, copy_code, flow, …
	Text     string `json:"text,omitempty"`
	URL      string `json:"url,omitempty"`
	HasParam bool   `json:"has_param,omitempty"`
}

// TemplateMessage is a template send: which template, and its parameters.
type TemplateMessage struct {
	Name string `json:"name"`
	// Language may be left out of an API send: Parley then picks it from
	// the customer's language and the tenant's fallback chain.
	Language string `json:"language" required:"false"`
	// Parameters fill a positional body ({{1}}, {{2}}, …) in order.
	Parameters []string `json:"parameters,omitempty"`
	// NamedParameters fill a named body ({{first_name}}).
	NamedParameters map[string]string     `json:"named_parameters,omitempty"`
	Header          *TemplateHeaderParam  `json:"header,omitempty"`
	Buttons         []TemplateButtonParam `json:"buttons,omitempty"`
	Category        string                `json:"category,omitempty"` // copied from the template when queued
}

// TemplateHeaderParam fills a template's header.
type TemplateHeaderParam struct {
	Type     string `json:"type"` // text, image, video or document
	Text     string `json:"text,omitempty"`
	Link     string `json:"link,omitempty"`
	MediaID  string `json:"media_id,omitempty"` // a Parley media ID from POST /v1/media
	Filename string `json:"filename,omitempty"`
}

// TemplateButtonParam fills the button at Index: a quick-reply payload or
// the variable end of a URL.
type TemplateButtonParam struct {
	Index   int    `json:"index"`
	SubType string `json:"sub_type"` // quick_reply or url
	Payload string `json:"payload,omitempty"`
	Text    string `json:"text,omitempty"`
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// Placeholders returns the parameters a template text names, in order of
// first appearance.
func Placeholders(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// CountParameters sets ParameterCount from the header, body and buttons.
func (t *Template) CountParameters() {
	n := len(t.BodyParams)
	if t.Header != nil {
		if t.Header.Format == "text" {
			n += len(t.Header.Params)
		} else if t.Header.Format != "" {
			n++
		}
	}
	for _, b := range t.Buttons {
		if b.HasParam {
			n++
		}
	}
	t.ParameterCount = n
}

// Check enforces what Meta enforces with errors 132000 and 132001, before
// anything is queued: the template is approved, and the send gives every
// parameter the template has, and no others.
func (t *Template) Check(m *TemplateMessage) error {
	if t.Status != TemplateApproved {
		return Errorf(ETEMPLATENOTAPPROVED, "Template %q (%s) is %s, and only approved templates can be sent.", t.Name, t.Language, t.Status)
	}
	if t.ParameterFormat == "named" {
		if len(m.Parameters) > 0 {
			return Errorf(EINVALID, "Template %q uses named parameters; send named_parameters, not parameters.", t.Name)
		}
		for _, name := range t.BodyParams {
			if strings.TrimSpace(m.NamedParameters[name]) == "" {
				return Errorf(EINVALID, "Template %q needs the parameter %q.", t.Name, name)
			}
		}
		if len(m.NamedParameters) != len(t.BodyParams) {
			for name := range m.NamedParameters {
				if !contains(t.BodyParams, name) {
					return Errorf(EINVALID, "Template %q has no parameter %q.", t.Name, name)
				}
			}
		}
	} else {
		if len(m.NamedParameters) > 0 {
			return Errorf(EINVALID, "Template %q uses positional parameters; send parameters, not named_parameters.", t.Name)
		}
		if len(m.Parameters) != len(t.BodyParams) {
			return Errorf(EINVALID, "Template %q takes %d body parameters; %d were given.", t.Name, len(t.BodyParams), len(m.Parameters))
		}
		for i, p := range m.Parameters {
			if strings.TrimSpace(p) == "" {
				return Errorf(EINVALID, "Template %q: body parameter %d is empty.", t.Name, i+1)
			}
		}
	}
	if err := t.checkHeader(m.Header); err != nil {
		return err
	}
	return t.checkButtons(m.Buttons)
}

func (t *Template) checkHeader(p *TemplateHeaderParam) error {
	h := t.Header
	needs := h != nil && (h.Format != "text" || len(h.Params) > 0) && h.Format != "location"
	switch {
	case !needs && p != nil:
		return Errorf(EINVALID, "Template %q has no header parameter.", t.Name)
	case needs && p == nil:
		return Errorf(EINVALID, "Template %q needs a %s header parameter.", t.Name, h.Format)
	case !needs:
		return nil
	case p.Type != h.Format:
		return Errorf(EINVALID, "Template %q needs a %s header, not %s.", t.Name, h.Format, p.Type)
	case h.Format == "text" && strings.TrimSpace(p.Text) == "":
		return Errorf(EINVALID, "Template %q: the header parameter is empty.", t.Name)
	case h.Format != "text" && p.Link == "" && p.MediaID == "":
		return Errorf(EINVALID, "Template %q: the %s header needs a link or a media_id.", t.Name, h.Format)
	}
	return nil
}

func (t *Template) checkButtons(params []TemplateButtonParam) error {
	given := map[int]TemplateButtonParam{}
	for _, p := range params {
		if p.Index < 0 || p.Index >= len(t.Buttons) {
			return Errorf(EINVALID, "Template %q has no button %d.", t.Name, p.Index)
		}
		if _, dup := given[p.Index]; dup {
			return Errorf(EINVALID, "Template %q: button %d is given twice.", t.Name, p.Index)
		}
		b := t.Buttons[p.Index]
		if p.SubType != b.Type {
			return Errorf(EINVALID, "Template %q: button %d is %s, not %s.", t.Name, p.Index, b.Type, p.SubType)
		}
		if p.SubType == "url" && !b.HasParam {
			return Errorf(EINVALID, "Template %q: the URL of button %d takes no parameter.", t.Name, p.Index)
		}
		given[p.Index] = p
	}
	for i, b := range t.Buttons {
		if !b.HasParam {
			continue
		}
		if p, ok := given[i]; !ok || strings.TrimSpace(p.Text) == "" {
			return Errorf(EINVALID, "Template %q: button %d (%s) needs a parameter.", t.Name, i, b.Text)
		}
	}
	return nil
}

// Render fills the body with a send's parameters, for the thread and the
// CRM log to show what the customer read.
func (t *Template) Render(m *TemplateMessage) string {
	return placeholder.ReplaceAllStringFunc(t.Body, func(s string) string {
		key := placeholder.FindStringSubmatch(s)[1]
		if t.ParameterFormat == "named" {
			if v, ok := m.NamedParameters[key]; ok {
				return v
			}
			return s
		}
		if i, err := strconv.Atoi(key); err == nil && i >= 1 && i <= len(m.Parameters) {
			return m.Parameters[i-1]
		}
		return s
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
