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

// BindingsView is a template name's bindings, with the variables it has.
type BindingsView struct {
	Name      string          `json:"name"`
	Variables []string        `json:"variables" doc:"The template's body variables, across its languages: \"1\", \"2\", … or names."`
	Bindings  parley.Bindings `json:"bindings" doc:"Variable → expression: record.<column>, contact.name, contact.first_name, contact.phone, agent.name, tenant.name or literal:<text>."`
}

type bindingsOutput struct {
	Body *BindingsView
}

type templateNameInput struct {
	Name string `path:"name" doc:"The template's name; bindings hold for all its languages and numbers."`
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

	register(s, huma.Operation{OperationID: "GetTemplateBindings", Method: http.MethodGet, Path: "/v1/templates/{name}/bindings",
		Tags: []string{"Templates"}, Summary: "Get a template's bindings",
		Description: "Returns what fills each variable of a template name when a send leaves it out, and the variables the template has."},
		func(ctx context.Context, a *Auth, in *templateNameInput) (*bindingsOutput, error) {
			return s.bindings(ctx, a.Tenant.ID, in.Name)
		})

	register(s, huma.Operation{OperationID: "SetTemplateBindings", Method: http.MethodPut, Path: "/v1/templates/{name}/bindings",
		Tags: []string{"Templates"}, Summary: "Bind a template's variables",
		Description: "Replaces the bindings of a template name, for all its languages and numbers: each variable (\"1\", or a name such as " +
			"\"first_name\") is bound to record.<column>, contact.name, contact.first_name, contact.phone, agent.name, tenant.name or " +
			"literal:<text>. An empty object removes them. A malformed expression is invalid; variables the template does not have " +
			"get the error code unknown_variable, naming them."},
		func(ctx context.Context, a *Auth, in *struct {
			Name string `path:"name"`
			Body struct {
				Bindings parley.Bindings `json:"bindings" doc:"Variable → expression."`
			}
		}) (*bindingsOutput, error) {
			if err := s.Messaging.SetTemplateBindings(ctx, a.Tenant.ID, in.Name, in.Body.Bindings, a.Actor()); err != nil {
				return nil, err
			}
			return s.bindings(ctx, a.Tenant.ID, in.Name)
		})
}

func (s *Server) bindings(ctx context.Context, tenantID, name string) (*bindingsOutput, error) {
	vars, err := s.Messaging.TemplateVariables(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	b, err := s.DB.TemplateBindings(ctx, tenantID, name)
	if err != nil {
		return nil, err
	}
	return &bindingsOutput{Body: &BindingsView{Name: name, Variables: vars, Bindings: b}}, nil
}
