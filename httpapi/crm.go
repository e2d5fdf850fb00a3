package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/store"
)

// DataverseSettings are how Parley reaches a Dataverse environment.
type DataverseSettings struct {
	EnvironmentURL string `json:"environment_url,omitempty" doc:"The environment's address, such as https://contoso.crm4.dynamics.com."`
	EntraTenantID  string `json:"entra_tenant_id,omitempty" doc:"The directory (tenant) ID of the app registration."`
	ClientID       string `json:"client_id,omitempty" doc:"The app registration's application (client) ID."`
	ClientSecret   string `json:"client_secret,omitempty" doc:"A client secret of the app registration. Stored encrypted, never returned."`
	TokenURL       string `json:"token_url,omitempty" doc:"Overrides Entra's token endpoint (for tests)."`
	APIBase        string `json:"api_base,omitempty" doc:"Overrides the Web API base, by default environment_url/api/data/v9.2 (for tests)."`
}

// ConnectorInput connects the tenant's CRM.
type ConnectorInput struct {
	Type             string             `json:"type,omitempty" enum:"dataverse,webhook" doc:"The CRM: dataverse (Dynamics 365 and every model-driven app), the default; or webhook, any CRM through signed webhooks (docs/any-crm.md)."`
	Name             string             `json:"name,omitempty"`
	Dataverse        *DataverseSettings `json:"dataverse,omitempty"`
	Webhook          *WebhookSettings   `json:"webhook,omitempty"`
	Tables           []parley.CRMTable  `json:"tables,omitempty" doc:"Tables to look phones up in, preferred first; default contact, lead, account."`
	CreateLeads      *bool              `json:"create_leads,omitempty" doc:"Create a lead for an inbound number no record has."`
	LanguageColumn   *string            `json:"language_column,omitempty" doc:"A record column holding the customer's language, for templates."`
	LanguageFallback []string           `json:"language_fallback,omitempty" doc:"Template languages to try in turn, such as [\"pt_BR\",\"es\",\"en_US\"]."`
	Verify           *bool              `json:"verify,omitempty" doc:"Check the credentials against Dataverse before saving; default true."`
}

// ConnectorView is a connector as the API shows it: never its secrets.
type ConnectorView struct {
	ID               string               `json:"id"`
	Type             string               `json:"type"`
	Name             string               `json:"name,omitempty"`
	Dataverse        *DataverseSettings   `json:"dataverse,omitempty"`
	Webhook          *WebhookView         `json:"webhook,omitempty"`
	Import           *store.ImportState   `json:"import,omitempty" doc:"The initial import's progress, on a webhook connector that has run one."`
	Tables           []parley.CRMTable    `json:"tables"`
	CreateLeads      bool                 `json:"create_leads"`
	LanguageColumn   string               `json:"language_column,omitempty"`
	LanguageFallback []string             `json:"language_fallback,omitempty"`
	Health           parley.ChannelHealth `json:"health"`
	// WebhookURL is shown once, when the connector is created: it carries
	// the key that authenticates Dataverse's webhooks.
	WebhookURL string    `json:"webhook_url,omitempty" doc:"Where a Dataverse service endpoint may post changes; shown only on creation, as it holds the key."`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func (s *Server) connectorView(c *parley.Connector, withKey bool) *ConnectorView {
	v := &ConnectorView{ID: c.ID, Type: c.Type, Name: c.Name, Tables: c.Tables, CreateLeads: c.CreateLeads, LanguageColumn: c.LanguageColumn,
		LanguageFallback: c.Languages, Health: c.Health, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if d := c.Dataverse; d != nil {
		v.Dataverse = &DataverseSettings{EnvironmentURL: d.EnvironmentURL, EntraTenantID: d.EntraTenantID, ClientID: d.ClientID,
			TokenURL: d.TokenURL, APIBase: d.APIBase}
		if withKey {
			v.WebhookURL = s.BaseURL + "/webhooks/dataverse/" + c.ID + "?key=" + url.QueryEscape(d.WebhookKey)
		}
	}
	if w := c.Webhook; w != nil {
		v.Webhook = s.webhookView(c, withKey)
	}
	return v
}

func (in *ConnectorInput) service() crm.ConnectorInput {
	ci := crm.ConnectorInput{Type: in.Type, Name: in.Name, Tables: in.Tables, CreateLeads: in.CreateLeads, LanguageColumn: in.LanguageColumn,
		Languages: in.LanguageFallback, Verify: in.Verify == nil || *in.Verify}
	if d := in.Dataverse; d != nil {
		ci.Dataverse = &parley.DataverseConfig{EnvironmentURL: d.EnvironmentURL, EntraTenantID: d.EntraTenantID, ClientID: d.ClientID,
			ClientSecret: d.ClientSecret, TokenURL: d.TokenURL, APIBase: d.APIBase}
	}
	if w := in.Webhook; w != nil {
		ci.Webhook = w.config()
	}
	return ci
}

type connectorOutput struct {
	Body *ConnectorView
}

func (s *Server) registerConnectors() {
	register(s, huma.Operation{OperationID: "CreateConnector", Method: http.MethodPost, Path: "/v1/crm-connectors", Tags: []string{"CRM"},
		Summary: "Connect the CRM", DefaultStatus: http.StatusCreated,
		Description: "Connects the tenant to its CRM. The credentials are checked against the CRM first (unless verify is false), " +
			"encrypted at rest and never returned."},
		func(ctx context.Context, a *Auth, in *struct{ Body ConnectorInput }) (*connectorOutput, error) {
			if s.CRM == nil {
				return nil, parley.Errorf(parley.EUNAVAILABLE, "CRM connectors are not served by this instance.")
			}
			ctx, cancel := context.WithTimeout(ctx, providerTimeout)
			defer cancel()
			c, err := s.CRM.Connect(ctx, a.Tenant.ID, in.Body.service())
			if err != nil {
				return nil, err
			}
			return &connectorOutput{Body: s.connectorView(c, true)}, nil
		})

	register(s, huma.Operation{OperationID: "ListConnectors", Method: http.MethodGet, Path: "/v1/crm-connectors", Tags: []string{"CRM"},
		Summary: "List CRM connectors"},
		func(ctx context.Context, a *Auth, _ *struct{}) (*struct {
			Body struct {
				Data []*ConnectorView `json:"data"`
			}
		}, error) {
			cs, err := s.DB.ListConnectors(ctx, a.Tenant.ID)
			if err != nil {
				return nil, err
			}
			out := &struct {
				Body struct {
					Data []*ConnectorView `json:"data"`
				}
			}{}
			out.Body.Data = make([]*ConnectorView, 0, len(cs))
			for _, c := range cs {
				out.Body.Data = append(out.Body.Data, s.connectorView(c, false))
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "GetConnector", Method: http.MethodGet, Path: "/v1/crm-connectors/{id}", Tags: []string{"CRM"},
		Summary: "Get a CRM connector"},
		func(ctx context.Context, a *Auth, in *struct {
			ID string `path:"id"`
		}) (*connectorOutput, error) {
			c, err := s.DB.FindConnector(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			v := s.connectorView(c, false)
			if v.Import, err = s.DB.ImportState(ctx, c.ID); err != nil {
				return nil, err
			}
			return &connectorOutput{Body: v}, nil
		})

	register(s, huma.Operation{OperationID: "UpdateConnector", Method: http.MethodPatch, Path: "/v1/crm-connectors/{id}", Tags: []string{"CRM"},
		Summary: "Update a CRM connector", Description: "Changes settings; absent ones keep their values, so a secret can be rotated alone."},
		func(ctx context.Context, a *Auth, in *struct {
			ID   string `path:"id"`
			Body ConnectorInput
		}) (*connectorOutput, error) {
			if s.CRM == nil {
				return nil, parley.Errorf(parley.EUNAVAILABLE, "CRM connectors are not served by this instance.")
			}
			ctx, cancel := context.WithTimeout(ctx, providerTimeout)
			defer cancel()
			c, err := s.CRM.Update(ctx, a.Tenant.ID, in.ID, in.Body.service())
			if err != nil {
				return nil, err
			}
			return &connectorOutput{Body: s.connectorView(c, false)}, nil
		})

	register(s, huma.Operation{OperationID: "DeleteConnector", Method: http.MethodDelete, Path: "/v1/crm-connectors/{id}", Tags: []string{"CRM"},
		Summary: "Disconnect the CRM", DefaultStatus: http.StatusNoContent,
		Description: "Removes the connector. Record links already found stay on the contacts."},
		func(ctx context.Context, a *Auth, in *struct {
			ID string `path:"id"`
		}) (*struct{}, error) {
			return nil, s.CRM.Delete(ctx, a.Tenant.ID, in.ID)
		})
	s.registerWebhookCRM()
}
