package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

type contactsOutput struct {
	Body struct {
		Data       []*parley.Contact `json:"data"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}
}

type contactOutput struct {
	Body *parley.Contact
}

// ConsentInput records a contact's opt-in or opt-out.
type ConsentInput struct {
	State  string `json:"state" enum:"opted_in,opted_out"`
	Source string `json:"source" minLength:"1" doc:"Where the consent was given, such as \"web form 2026-05\" or \"signed contract\"."`
}

func (s *Server) registerContacts() {
	register(s, huma.Operation{OperationID: "ListContacts", Method: http.MethodGet, Path: "/v1/contacts", Tags: []string{"Contacts"},
		Summary: "List contacts", Description: "Lists contacts, optionally matching a name or phone."},
		func(ctx context.Context, a *Auth, in *struct {
			Query  string `query:"q" doc:"Part of a name, profile name or phone number."`
			Cursor string `query:"cursor"`
			Limit  int    `query:"limit" minimum:"0" maximum:"500"`
		}) (*contactsOutput, error) {
			list, err := s.DB.ListContacts(ctx, a.Tenant.ID, store.ContactFilter{Query: in.Query, Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &contactsOutput{}
			out.Body.Data = list
			if list == nil {
				out.Body.Data = []*parley.Contact{}
			}
			if len(list) > 0 && len(list) == store.PageSize(in.Limit) {
				out.Body.NextCursor = list[len(list)-1].ID
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "GetContact", Method: http.MethodGet, Path: "/v1/contacts/{id}", Tags: []string{"Contacts"},
		Summary: "Get a contact", Description: "Returns a contact with its consent."},
		func(ctx context.Context, a *Auth, in *struct {
			ID string `path:"id"`
		}) (*contactOutput, error) {
			c, err := s.DB.FindContact(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			return &contactOutput{Body: c}, nil
		})

	register(s, huma.Operation{OperationID: "SetContactConsent", Method: http.MethodPost, Path: "/v1/contacts/{id}/consent", Tags: []string{"Contacts"},
		Summary: "Record consent", Description: "Records an opt-in or opt-out with its source. Opted-out contacts get no marketing templates."},
		func(ctx context.Context, a *Auth, in *struct {
			ID   string `path:"id"`
			Body ConsentInput
		}) (*contactOutput, error) {
			var c *parley.Contact
			err := s.DB.InTx(ctx, func(tx *store.Tx) (err error) {
				c, err = tx.SetConsent(ctx, a.Tenant.ID, in.ID, in.Body.State, in.Body.Source, a.Actor())
				return err
			})
			if err != nil {
				return nil, err
			}
			return &contactOutput{Body: c}, nil
		})
}
