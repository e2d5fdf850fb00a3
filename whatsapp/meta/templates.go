package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// graphTemplateFields are the template fields Parley reads. Graph returns
// only the fields asked for.
const graphTemplateFields = "id,name,language,status,category,components,parameter_format,rejected_reason"

// graphMaxPages stops a paging loop that never ends (a cursor that does
// not advance): 1,000 pages of 100 is far beyond any account's templates.
const graphMaxPages = 1000

// graphTemplateNode is one template as GET /{waba-id}/message_templates
// returns it.
type graphTemplateNode struct {
	ID              string          `json:"id"`
	Name            string          `json:"name"`
	Language        string          `json:"language"`
	Status          string          `json:"status"`
	Category        string          `json:"category"`
	ParameterFormat string          `json:"parameter_format"`
	RejectedReason  string          `json:"rejected_reason"`
	Components      json.RawMessage `json:"components"`
}

// Templates lists the channel's templates, following Graph's paging
// (paging.next) to the end.
func (p *Provider) Templates(ctx context.Context, ch *parley.Channel) ([]parley.Template, error) {
	c, err := p.conn(ch)
	if err == nil {
		err = requireID("WhatsApp Business Account ID", c.cfg.WABAID)
	}
	if err != nil {
		return nil, fmt.Errorf("meta: templates: %w", err)
	}
	next := c.node(c.cfg.WABAID, "message_templates", url.Values{"limit": {"100"}, "fields": {graphTemplateFields}})
	var out []parley.Template
	for page := 0; next != ""; page++ {
		if page == graphMaxPages {
			return nil, fmt.Errorf("meta: templates: %w", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "paging does not end"})
		}
		var resp struct {
			Data   []graphTemplateNode `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := p.doJSON(ctx, c, graphCall{method: http.MethodGet, url: next}, &resp); err != nil {
			return nil, fmt.Errorf("meta: templates: %w", err)
		}
		for i := range resp.Data {
			t, err := graphTemplateFrom(&resp.Data[i])
			if err != nil {
				return nil, fmt.Errorf("meta: templates: %s: %w", resp.Data[i].Name, err)
			}
			out = append(out, t)
		}
		if len(resp.Data) == 0 {
			break
		}
		if next, err = c.nextPage(resp.Paging.Next); err != nil {
			return nil, fmt.Errorf("meta: templates: %w", err)
		}
	}
	return out, nil
}

// nextPage checks a paging.next link before the token is sent to it: it
// must point at the channel's Graph address. Graph may put the access
// token in the link; it is removed, since the header carries it.
func (c *graphConn) nextPage(link string) (string, error) {
	if link == "" {
		return "", nil
	}
	u, err := url.Parse(link)
	base, berr := url.Parse(c.base)
	if err != nil || berr != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return "", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "paging.next does not point at Graph"}
	}
	q := u.Query()
	q.Del("access_token")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// graphTemplateFrom maps a Graph template to Parley's.
func graphTemplateFrom(n *graphTemplateNode) (parley.Template, error) {
	t := parley.Template{
		ProviderTemplateID: n.ID,
		Name:               n.Name,
		Language:           n.Language,
		Category:           strings.ToLower(n.Category),
		Status:             graphTemplateStatus(n.Status),
		Components:         n.Components,
	}
	if r := n.RejectedReason; r != "" && r != "NONE" {
		t.StatusReason = r
	}
	var comps []whatsapp.Component
	if len(n.Components) > 0 {
		if err := json.Unmarshal(n.Components, &comps); err != nil {
			return t, &whatsapp.Error{Kind: whatsapp.Temporary, Message: "unreadable template components: " + err.Error()}
		}
	}
	whatsapp.ApplyComponents(&t, comps)
	if strings.EqualFold(n.ParameterFormat, "named") {
		t.ParameterFormat = "named"
	}
	t.CountParameters()
	return t, nil
}

// graphTemplateStatus lower-cases Meta's review state. APPROVED, PENDING,
// REJECTED, PAUSED and DISABLED are Parley's constants; the others
// (IN_APPEAL, PENDING_DELETION, DELETED, LIMIT_EXCEEDED, ARCHIVED, …) keep
// their name in lower case, and none of them may be sent.
func graphTemplateStatus(s string) string {
	if s == "" {
		return parley.TemplatePending
	}
	return strings.ToLower(s)
}

// Check reads the phone number node (GET /{phone-number-id}?fields=id),
// which needs a valid token with access to the number. Errors classify
// like sends: code 190 is Unauthorized.
func (p *Provider) Check(ctx context.Context, ch *parley.Channel) error {
	c, err := p.conn(ch)
	if err == nil {
		err = requireID("phone number ID", c.cfg.PhoneNumberID)
	}
	if err != nil {
		return fmt.Errorf("meta: check: %w", err)
	}
	var node struct {
		ID string `json:"id"`
	}
	if err := p.doJSON(ctx, c, graphCall{method: http.MethodGet, url: c.node(c.cfg.PhoneNumberID, "", url.Values{"fields": {"id"}})}, &node); err != nil {
		return fmt.Errorf("meta: check: %w", err)
	}
	if node.ID != c.cfg.PhoneNumberID {
		return fmt.Errorf("meta: check: %w", &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: fmt.Sprintf("Graph answered for number %q, not %q", node.ID, c.cfg.PhoneNumberID)})
	}
	return nil
}
