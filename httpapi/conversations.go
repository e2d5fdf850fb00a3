package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

type conversationsOutput struct {
	Body struct {
		Data       []*parley.Conversation `json:"data"`
		NextCursor string                 `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page."`
	}
}

type conversationOutput struct {
	Body *parley.Conversation
}

type messagesOutput struct {
	Body struct {
		Data []*parley.Message `json:"data" doc:"Oldest first."`
		// Before pages further up the thread.
		Before string `json:"before,omitempty" doc:"Pass as before for the previous (older) page."`
	}
}

func (s *Server) registerConversations() {
	register(s, huma.Operation{OperationID: "ListConversations", Method: http.MethodGet, Path: "/v1/conversations", Tags: []string{"Conversations"},
		Summary: "List conversations", Description: "Lists conversations, the most recently active first, with their contacts."},
		func(ctx context.Context, a *Auth, in *struct {
			Status    string `query:"status" enum:"open,resolved," doc:"Only open or only resolved conversations."`
			ChannelID string `query:"channel_id"`
			ContactID string `query:"contact_id"`
			Cursor    string `query:"cursor"`
			Limit     int    `query:"limit" minimum:"0" maximum:"500" doc:"Default 50."`
		}) (*conversationsOutput, error) {
			list, next, err := s.DB.ListConversations(ctx, a.Tenant.ID, store.ConversationFilter{Status: in.Status, ChannelID: in.ChannelID,
				ContactID: in.ContactID, Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &conversationsOutput{}
			out.Body.Data, out.Body.NextCursor = list, next
			if out.Body.Data == nil {
				out.Body.Data = []*parley.Conversation{}
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "GetConversation", Method: http.MethodGet, Path: "/v1/conversations/{id}", Tags: []string{"Conversations"},
		Summary: "Get a conversation", Description: "Returns a conversation with its contact, and when its 24-hour window closes."},
		func(ctx context.Context, a *Auth, in *struct {
			ID string `path:"id"`
		}) (*conversationOutput, error) {
			c, err := s.DB.FindConversation(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			if c.Contact, err = s.DB.FindContact(ctx, a.Tenant.ID, c.ContactID); err != nil {
				return nil, err
			}
			return &conversationOutput{Body: c}, nil
		})

	register(s, huma.Operation{OperationID: "ListConversationMessages", Method: http.MethodGet, Path: "/v1/conversations/{id}/messages",
		Tags: []string{"Conversations"}, Summary: "List a conversation's messages",
		Description: "Returns the latest messages of a conversation, oldest first. Pass before to page upward."},
		func(ctx context.Context, a *Auth, in *struct {
			ID     string `path:"id"`
			Before string `query:"before" doc:"Only messages older than this message ID."`
			Limit  int    `query:"limit" minimum:"0" maximum:"500" doc:"Default 50."`
		}) (*messagesOutput, error) {
			if _, err := s.DB.FindConversation(ctx, a.Tenant.ID, in.ID); err != nil {
				return nil, err
			}
			list, err := s.DB.ListMessages(ctx, a.Tenant.ID, in.ID, in.Before, in.Limit)
			if err != nil {
				return nil, err
			}
			out := &messagesOutput{}
			out.Body.Data = list
			if out.Body.Data == nil {
				out.Body.Data = []*parley.Message{}
			}
			if len(list) > 0 && len(list) == store.PageSize(in.Limit) {
				out.Body.Before = list[0].ID
			}
			return out, nil
		})
}
