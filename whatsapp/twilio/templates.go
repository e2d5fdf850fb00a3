package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// maxPages stops a paging loop whose cursor never ends.
const maxPages = 1000

// contentItem is one entry of GET /v1/ContentAndApprovals.
type contentItem struct {
	SID          string                     `json:"sid"`
	FriendlyName string                     `json:"friendly_name"`
	Language     string                     `json:"language"`
	Variables    map[string]any             `json:"variables"`
	Types        map[string]json.RawMessage `json:"types"`
	Approval     *struct {
		Name            string `json:"name"`
		Category        string `json:"category"`
		Status          string `json:"status"`
		RejectionReason string `json:"rejection_reason"`
	} `json:"approval_requests"`
}

// Templates lists the account's content templates with their WhatsApp
// approval, following meta.next_page_url to the end.
func (p *Provider) Templates(ctx context.Context, ch *parley.Channel) ([]parley.Template, error) {
	c, err := p.conn(ch)
	if err != nil {
		return nil, fmt.Errorf("twilio: templates: %w", err)
	}
	next := c.content + "/v1/ContentAndApprovals?PageSize=100"
	var out []parley.Template
	for page := 0; next != ""; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("twilio: templates: %w", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "paging does not end"})
		}
		var resp struct {
			Contents []contentItem `json:"contents"`
			Meta     struct {
				NextPageURL string `json:"next_page_url"`
			} `json:"meta"`
		}
		if err := p.doJSON(ctx, c, call{method: http.MethodGet, url: next}, &resp); err != nil {
			return nil, fmt.Errorf("twilio: templates: %w", err)
		}
		for i := range resp.Contents {
			out = append(out, templateFrom(&resp.Contents[i]))
		}
		if len(resp.Contents) == 0 {
			break
		}
		if next, err = c.nextPage(resp.Meta.NextPageURL); err != nil {
			return nil, fmt.Errorf("twilio: templates: %w", err)
		}
	}
	return out, nil
}

// nextPage checks a next_page_url before the credentials are sent to it:
// it must point at the channel's Content API address.
func (c *conn) nextPage(link string) (string, error) {
	if link == "" {
		return "", nil
	}
	u, err := url.Parse(link)
	base, berr := url.Parse(c.content)
	if err != nil || berr != nil || u.Scheme != base.Scheme || u.Host != base.Host {
		return "", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "next_page_url does not point at the Content API"}
	}
	return link, nil
}

// templateFrom maps a content template to Parley's. The body is the
// twilio/text body, or else the body of the first type that has one;
// its {{n}} placeholders are the parameters.
func templateFrom(it *contentItem) parley.Template {
	t := parley.Template{
		ProviderTemplateID: it.SID,
		Name:               it.FriendlyName,
		Language:           it.Language,
		Status:             "unsubmitted",
		ParameterFormat:    "positional",
	}
	if it.Approval != nil {
		t.Category = strings.ToLower(it.Approval.Category)
		t.Status = approvalStatus(it.Approval.Status)
		t.StatusReason = it.Approval.RejectionReason
	}
	t.Body, t.Buttons = contentBody(it.Types)
	t.BodyParams = sortedParams(parley.Placeholders(t.Body))
	for _, p := range t.BodyParams {
		if _, err := strconv.Atoi(p); err != nil {
			t.ParameterFormat = "named"
		}
	}
	if raw, err := json.Marshal(it.Types); err == nil {
		t.Components = raw
	}
	t.CountParameters()
	return t
}

// approvalStatus maps WhatsApp's approval as Twilio reports it. Twilio
// says "received" for a submitted, not yet reviewed template.
func approvalStatus(s string) string {
	switch s = strings.ToLower(s); s {
	case "", "unsubmitted":
		return "unsubmitted"
	case "received", "pending", "in_review":
		return parley.TemplatePending
	}
	return s
}

// contentBody picks the body and the buttons of a template's types.
func contentBody(types map[string]json.RawMessage) (string, []parley.TemplateButton) {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	if _, ok := types["twilio/text"]; ok {
		names = append([]string{"twilio/text"}, names...)
	}
	var body string
	var buttons []parley.TemplateButton
	for _, n := range names {
		var ty struct {
			Body    string `json:"body"`
			Actions []struct {
				Type  string `json:"type"`
				Title string `json:"title"`
				URL   string `json:"url"`
			} `json:"actions"`
		}
		if json.Unmarshal(types[n], &ty) != nil {
			continue
		}
		if body == "" {
			body = ty.Body
		}
		if buttons == nil {
			for _, a := range ty.Actions {
				typ := strings.ToLower(a.Type)
				if typ == "quick_reply" || n == "twilio/quick-reply" {
					typ = "quick_reply"
				}
				buttons = append(buttons, parley.TemplateButton{Type: typ, Text: a.Title, URL: a.URL})
			}
		}
	}
	return body, buttons
}

// sortedParams orders numeric placeholders by number, since
// ContentVariables are sent as "1", "2", … from the parameters in order.
func sortedParams(ps []string) []string {
	sort.SliceStable(ps, func(i, j int) bool {
		a, ea := strconv.Atoi(ps[i])
		b, eb := strconv.Atoi(ps[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return false
	})
	return ps
}

// Check reads the account (GET /2010-04-01/Accounts/{sid}.json), which
// needs valid credentials, and requires it to be active.
func (p *Provider) Check(ctx context.Context, ch *parley.Channel) error {
	c, err := p.conn(ch)
	if err != nil {
		return fmt.Errorf("twilio: check: %w", err)
	}
	var acct struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	if err := p.doJSON(ctx, c, call{method: http.MethodGet, url: c.account() + ".json"}, &acct); err != nil {
		return fmt.Errorf("twilio: check: %w", err)
	}
	if acct.SID != c.cfg.AccountSID {
		return fmt.Errorf("twilio: check: %w", &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: fmt.Sprintf("Twilio answered for account %q, not %q", acct.SID, c.cfg.AccountSID)})
	}
	if acct.Status != "" && acct.Status != "active" {
		return fmt.Errorf("twilio: check: %w", &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the Twilio account is " + acct.Status})
	}
	return nil
}
