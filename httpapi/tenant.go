package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
)

// TenantView is the caller's tenant.
type TenantView struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	OptOutKeywords []string `json:"opt_out_keywords" doc:"Whole-message keywords that opt a contact out of marketing templates."`
}

type tenantOutput struct {
	Body TenantView
}

type auditOutput struct {
	Body struct {
		Data []parley.AuditEntry `json:"data"`
	}
}

func tenantView(t *parley.Tenant) TenantView {
	kw := t.OptOutKeywords
	if len(kw) == 0 {
		kw = parley.DefaultOptOutKeywords
	}
	return TenantView{ID: t.ID, Name: t.Name, OptOutKeywords: kw}
}

func (s *Server) registerTenant() {
	register(s, huma.Operation{OperationID: "GetTenant", Method: http.MethodGet, Path: "/v1/tenant", Tags: []string{"Tenant"},
		Summary: "Get the tenant", Description: "Returns the tenant the API key belongs to."},
		func(ctx context.Context, a *Auth, _ *struct{}) (*tenantOutput, error) {
			return &tenantOutput{Body: tenantView(a.Tenant)}, nil
		})

	register(s, huma.Operation{OperationID: "SetOptOutKeywords", Method: http.MethodPut, Path: "/v1/tenant/opt-out-keywords", Tags: []string{"Tenant"},
		Summary: "Set opt-out keywords", Description: "Replaces the tenant's opt-out keywords. Matching ignores case and accents; an empty list restores the defaults."},
		func(ctx context.Context, a *Auth, in *struct {
			Body struct {
				Keywords []string `json:"keywords" maxItems:"100"`
			}
		}) (*tenantOutput, error) {
			if err := s.Messaging.SetOptOutKeywords(ctx, a.Tenant.ID, in.Body.Keywords); err != nil {
				return nil, err
			}
			t, err := s.DB.FindTenant(ctx, a.Tenant.ID)
			if err != nil {
				return nil, err
			}
			return &tenantOutput{Body: tenantView(t)}, nil
		})

	register(s, huma.Operation{OperationID: "ListAudit", Method: http.MethodGet, Path: "/v1/audit", Tags: []string{"Tenant"},
		Summary: "Read the audit record", Description: "Lists who did what, newest first, optionally for one record (a message, contact or channel ID)."},
		func(ctx context.Context, a *Auth, in *struct {
			Subject string `query:"subject"`
			Limit   int    `query:"limit" minimum:"0" maximum:"500"`
		}) (*auditOutput, error) {
			list, err := s.DB.ListAudit(ctx, a.Tenant.ID, in.Subject, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &auditOutput{}
			out.Body.Data = list
			if list == nil {
				out.Body.Data = []parley.AuditEntry{}
			}
			return out, nil
		})
}
