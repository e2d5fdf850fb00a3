package acs

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

// maxPages stops a paging loop whose nextLink never ends.
const maxPages = 1000

// templateItem is a WhatsAppMessageTemplateItem: content is WhatsApp's
// own component list (BODY, HEADER, FOOTER, BUTTONS), as Meta returns it.
type templateItem struct {
	Name     string          `json:"name"`
	Language string          `json:"language"`
	Status   string          `json:"status"`
	Kind     string          `json:"kind"`
	Content  json.RawMessage `json:"content"`
}

// Templates lists the channel's templates, following nextLink.
func (p *Provider) Templates(ctx context.Context, ch *parley.Channel) ([]parley.Template, error) {
	cfg, err := config(ch)
	if err != nil {
		return nil, fmt.Errorf("acs: templates: %w", err)
	}
	c := call{method: http.MethodGet, path: "/messages/channels/" + url.PathEscape(cfg.ChannelRegistrationID) + "/templates",
		query: url.Values{"maxpagesize": {"100"}}}
	var out []parley.Template
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("acs: templates: %w", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "paging does not end"})
		}
		var resp struct {
			Value    []templateItem `json:"value"`
			NextLink string         `json:"nextLink"`
		}
		if err := p.getJSON(ctx, cfg, c, &resp); err != nil {
			return nil, fmt.Errorf("acs: templates: %w", err)
		}
		for i := range resp.Value {
			t, err := templateFrom(&resp.Value[i])
			if err != nil {
				return nil, fmt.Errorf("acs: templates: %s: %w", resp.Value[i].Name, err)
			}
			out = append(out, t)
		}
		if resp.NextLink == "" || len(resp.Value) == 0 {
			return out, nil
		}
		link, err := nextLink(cfg, resp.NextLink)
		if err != nil {
			return nil, fmt.Errorf("acs: templates: %w", err)
		}
		c = call{method: http.MethodGet, link: link}
	}
}

// nextLink checks that a nextLink points at the resource before the
// request is signed for it, and keeps the api-version on it.
func nextLink(cfg *parley.ACSConfig, link string) (string, error) {
	u, err := url.Parse(link)
	base, berr := url.Parse(cfg.Endpoint)
	if err != nil || berr != nil {
		return "", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "unreadable nextLink"}
	}
	if !u.IsAbs() {
		u = base.ResolveReference(u)
	}
	if u.Scheme != base.Scheme || u.Host != base.Host {
		return "", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "nextLink does not point at the ACS resource"}
	}
	q := u.Query()
	if q.Get("api-version") == "" {
		q.Set("api-version", APIVersion)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

func (p *Provider) getJSON(ctx context.Context, cfg *parley.ACSConfig, c call, v any) error {
	resp, err := p.do(ctx, cfg, c)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return whatsapp.AnswerLost("ACS", err, resp.StatusCode, false) // reads only
	}
	return nil
}

// templateFrom maps an ACS template to Parley's. ACS has no template ID;
// a template is known by its name and language.
func templateFrom(n *templateItem) (parley.Template, error) {
	t := parley.Template{Name: n.Name, Language: n.Language, Status: strings.ToLower(n.Status), Components: n.Content}
	if t.Status == "" {
		t.Status = parley.TemplatePending
	}
	var comps []whatsapp.Component
	if len(n.Content) > 0 && string(n.Content) != "null" {
		if err := json.Unmarshal(n.Content, &comps); err != nil {
			return t, &whatsapp.Error{Kind: whatsapp.Temporary, Message: "unreadable template content: " + err.Error()}
		}
	}
	whatsapp.ApplyComponents(&t, comps)
	t.CountParameters()
	return t, nil
}

// Check lists one template, which needs valid credentials for the
// resource and a channel registration it knows.
func (p *Provider) Check(ctx context.Context, ch *parley.Channel) error {
	cfg, err := config(ch)
	if err != nil {
		return fmt.Errorf("acs: check: %w", err)
	}
	var resp struct {
		Value []templateItem `json:"value"`
	}
	c := call{method: http.MethodGet, path: "/messages/channels/" + url.PathEscape(cfg.ChannelRegistrationID) + "/templates",
		query: url.Values{"maxpagesize": {"1"}}}
	if err := p.getJSON(ctx, cfg, c, &resp); err != nil {
		return fmt.Errorf("acs: check: %w", err)
	}
	return nil
}
