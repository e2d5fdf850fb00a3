package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

type templatesOutput struct {
	Body struct {
		Data []*parley.Template `json:"data"`
	}
}

func (s *Server) registerTemplates() {
	register(s, huma.Operation{OperationID: "ListTemplates", Method: http.MethodGet, Path: "/v1/templates", Tags: []string{"Templates"},
		Summary: "List templates", Description: "Lists the templates of the tenant's numbers with their status, category, language and parameter count."},
		func(ctx context.Context, a *Auth, in *struct {
			ChannelID string `query:"channel_id"`
			Name      string `query:"name"`
			Language  string `query:"language"`
			Status    string `query:"status" enum:"approved,pending,rejected,paused,disabled,"`
		}) (*templatesOutput, error) {
			list, err := s.DB.ListTemplates(ctx, a.Tenant.ID, store.TemplateFilter{ChannelID: in.ChannelID, Name: in.Name, Language: in.Language,
				Status: in.Status})
			if err != nil {
				return nil, err
			}
			out := &templatesOutput{}
			out.Body.Data = list
			if list == nil {
				out.Body.Data = []*parley.Template{}
			}
			return out, nil
		})
}
