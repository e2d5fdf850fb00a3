package httpapi

import (
	"context"
	"net/http"
	"sort"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// WebhookSettings connect a CRM through webhooks.
type WebhookSettings struct {
	ActivityURL   string          `json:"activity_url,omitempty" doc:"Where every message and status is posted, signed with signing_secret."`
	SigningSecret string          `json:"signing_secret,omitempty" doc:"Standard Webhooks secret (whsec_…) Parley signs its posts with; generated when absent. Stored encrypted, shown only on creation."`
	InboundSecret string          `json:"inbound_secret,omitempty" doc:"Standard Webhooks secret (whsec_…) the CRM signs its webhooks with; generated when absent. Stored encrypted, shown only on creation."`
	Import        *ImportSettings `json:"import,omitempty" doc:"A paginated JSON endpoint the initial import reads records from."`
}

// ImportSettings describe a paginated JSON endpoint of the CRM's records.
type ImportSettings struct {
	URL         string            `json:"url" doc:"The first page's address."`
	ItemsPath   string            `json:"items_path,omitempty" doc:"Dotted path of the page's list of records, such as data or results; empty when the page is the list."`
	NextPath    string            `json:"next_path,omitempty" doc:"Dotted path of the next page's address, such as paging.next.link."`
	CursorParam string            `json:"cursor_param,omitempty" doc:"Query parameter the next cursor is sent as, with cursor_path."`
	CursorPath  string            `json:"cursor_path,omitempty" doc:"Dotted path of the next cursor in a page, such as paging.next.after."`
	Headers     map[string]string `json:"headers,omitempty" doc:"Headers sent with each page request (an Authorization header, say); stored encrypted, never returned."`
}

// WebhookView is a webhook connector's settings as the API shows them.
type WebhookView struct {
	ActivityURL string `json:"activity_url"`
	// InboundURL is where the CRM posts its records.
	InboundURL    string      `json:"inbound_url" doc:"Where the CRM posts record changes, signed with inbound_secret."`
	SigningSecret string      `json:"signing_secret,omitempty" doc:"Shown only on creation."`
	InboundSecret string      `json:"inbound_secret,omitempty" doc:"Shown only on creation."`
	Import        *ImportView `json:"import,omitempty"`
}

// ImportView is an import endpoint's settings, its header values left out.
type ImportView struct {
	URL         string   `json:"url"`
	ItemsPath   string   `json:"items_path,omitempty"`
	NextPath    string   `json:"next_path,omitempty"`
	CursorParam string   `json:"cursor_param,omitempty"`
	CursorPath  string   `json:"cursor_path,omitempty"`
	Headers     []string `json:"headers,omitempty" doc:"The names of the headers sent; their values are never returned."`
}

func (w *WebhookSettings) config() *parley.WebhookCRMConfig {
	c := &parley.WebhookCRMConfig{ActivityURL: w.ActivityURL, SigningSecret: w.SigningSecret, InboundSecret: w.InboundSecret}
	if im := w.Import; im != nil {
		c.Import = &parley.WebhookImport{URL: im.URL, ItemsPath: im.ItemsPath, NextPath: im.NextPath, CursorParam: im.CursorParam,
			CursorPath: im.CursorPath, Headers: im.Headers}
	}
	return c
}

func (s *Server) webhookView(c *parley.Connector, withSecrets bool) *WebhookView {
	w := c.Webhook
	v := &WebhookView{ActivityURL: w.ActivityURL, InboundURL: s.BaseURL + "/webhooks/crm/" + c.ID}
	if withSecrets {
		v.SigningSecret, v.InboundSecret = w.SigningSecret, w.InboundSecret
	}
	if im := w.Import; im != nil {
		v.Import = &ImportView{URL: im.URL, ItemsPath: im.ItemsPath, NextPath: im.NextPath, CursorParam: im.CursorParam, CursorPath: im.CursorPath}
		for k := range im.Headers {
			v.Import.Headers = append(v.Import.Headers, k)
		}
		sort.Strings(v.Import.Headers)
	}
	return v
}

// deliveriesOutput is a page of the delivery log.
type deliveriesOutput struct {
	Body struct {
		Data []store.Delivery `json:"data"`
		// NextBefore reads the next (older) page as ?before=.
		NextBefore int64 `json:"next_before,omitempty" doc:"Pass as before to read older attempts; absent on the last page."`
	}
}

func (s *Server) registerWebhookCRM() {
	register(s, huma.Operation{OperationID: "StartConnectorImport", Method: http.MethodPost, Path: "/v1/crm-connectors/{id}/import",
		Tags: []string{"CRM"}, Summary: "Import the CRM's records", DefaultStatus: http.StatusAccepted,
		Description: "Starts the initial import of a webhook connector from its import endpoint, page by page, in the background. " +
			"A failed import resumes from the page it failed on; a finished one starts over. GET the connector to follow its progress."},
		func(ctx context.Context, a *Auth, in *struct {
			ID string `path:"id"`
		}) (*struct{ Body *store.ImportState }, error) {
			if s.AnyCRM == nil {
				return nil, parley.Errorf(parley.EUNAVAILABLE, "CRM connectors are not served by this instance.")
			}
			st, err := s.AnyCRM.StartImport(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			return &struct{ Body *store.ImportState }{Body: st}, nil
		})

	register(s, huma.Operation{OperationID: "ListConnectorDeliveries", Method: http.MethodGet, Path: "/v1/crm-connectors/{id}/deliveries",
		Tags: []string{"CRM"}, Summary: "List deliveries to the CRM",
		Description: "Every attempt to post an activity to a webhook connector's activity URL, newest first: its webhook-id, " +
			"message, event type, attempt number, HTTP status, error and duration."},
		func(ctx context.Context, a *Auth, in *struct {
			ID     string `path:"id"`
			Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Attempts per page."`
			Before int64  `query:"before" doc:"Only attempts older than this id (next_before of the previous page)."`
		}) (*deliveriesOutput, error) {
			c, err := s.DB.FindConnector(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			limit := in.Limit
			if limit <= 0 {
				limit = 50
			}
			ds, err := s.DB.Deliveries(ctx, c.ID, in.Before, limit+1)
			if err != nil {
				return nil, err
			}
			out := &deliveriesOutput{}
			if len(ds) > limit {
				ds = ds[:limit]
				out.Body.NextBefore = ds[limit-1].ID
			}
			out.Body.Data = ds
			return out, nil
		})
}
