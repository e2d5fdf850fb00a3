package messaging

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// AddNote writes an internal note in a conversation: colleagues see it in
// the thread; it is never sent, so no job is queued, and it changes
// nothing the customer sees (window, preview, unread count).
func (s *Service) AddNote(ctx context.Context, tenantID, conversationID, text string, by parley.Actor) (*parley.Message, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, parley.Errorf(parley.EINVALID, "A note needs text.")
	}
	if n := utf8.RuneCountInString(text); n > maxTextLen {
		return nil, parley.Errorf(parley.EINVALID, "The note is %d characters; at most %d fit.", n, maxTextLen)
	}
	var m *parley.Message
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		conv, err := tx.FindConversation(ctx, tenantID, conversationID)
		if err != nil {
			return err
		}
		m = &parley.Message{TenantID: tenantID, ChannelID: conv.ChannelID, ConversationID: conv.ID, ContactID: conv.ContactID,
			Direction: parley.Note, Type: parley.TypeText, Status: parley.StatusReceived, Text: text, SentBy: by}
		if _, err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, tenantID, by, "conversation.note", conv.ID, map[string]any{"message_id": m.ID}); err != nil {
			return err
		}
		return tx.AddEvent(ctx, tenantID, parley.EventMessageCreated, m)
	})
	return m, err
}

// Resend sends a failed message again, as a new message with the same
// content: the failed one stays in the thread with its error, so the
// history says what happened.
func (s *Service) Resend(ctx context.Context, tenantID, messageID string, by parley.Actor) (*parley.Message, error) {
	m, err := s.DB.FindMessage(ctx, tenantID, messageID)
	if err != nil {
		return nil, err
	}
	if m.Direction != parley.Outbound || m.Status != parley.StatusFailed {
		return nil, parley.Errorf(parley.EINVALID, "Only a failed message can be sent again.")
	}
	req := SendRequest{ChannelID: m.ChannelID, To: m.ContactID, Type: m.Type, Text: m.Text, PreviewURL: m.PreviewURL,
		Template: m.Template, Interactive: m.Interactive, Location: m.Location, By: by}
	if m.Context != nil {
		req.ReplyTo = m.Context.ReplyTo
	}
	if m.Reaction != nil {
		req.ReactTo, req.Emoji = m.Reaction.MessageID, m.Reaction.Emoji
	}
	if m.Type == parley.TypeTemplate {
		req.Text = ""
	}
	if md := m.Media; md != nil {
		req.Media = &MediaInput{Link: md.Link, MediaID: md.ID, Caption: m.Text, Filename: md.Filename}
		if md.Link != "" {
			req.Media.MediaID = ""
		}
		req.Text = ""
	}
	return s.Send(ctx, tenantID, req)
}
