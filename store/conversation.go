package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
)

const conversationColumns = `id, tenant_id, channel_id, contact_id, status, last_inbound_at, last_message_at, last_message,
	unread_count, created_at, updated_at`

func scanConversation(s scanner) (*parley.Conversation, error) {
	var c parley.Conversation
	var inbound, last, created, updated sql.NullInt64
	if err := s.Scan(&c.ID, &c.TenantID, &c.ChannelID, &c.ContactID, &c.Status, &inbound, &last, &c.LastMessage,
		&c.UnreadCount, &created, &updated); err != nil {
		return nil, err
	}
	c.LastInboundAt, c.LastMessageAt = fromMS(inbound), fromMS(last)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return &c, nil
}

// ConversationFor returns the thread between a channel and a contact,
// creating it on first contact.
func (tx *Tx) ConversationFor(ctx context.Context, tenantID, channelID, contactID string) (*parley.Conversation, bool, error) {
	c, err := findConversation(ctx, tx, `WHERE channel_id = $1 AND contact_id = $2 AND tenant_id = $3`, channelID, contactID, tenantID)
	if err == nil {
		return c, false, nil
	} else if parley.ErrorCode(err) != parley.ENOTFOUND {
		return nil, false, err
	}
	now := tx.db.Now().UTC()
	c = &parley.Conversation{ID: parley.NewID(parley.PrefixConversation), TenantID: tenantID, ChannelID: channelID, ContactID: contactID,
		Status: parley.ConversationOpen, CreatedAt: now, UpdatedAt: now}
	res, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, tenant_id, channel_id, contact_id, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING`, c.ID, tenantID, channelID, contactID, c.Status, ms(now))
	if err != nil {
		return nil, false, fmt.Errorf("store: create conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		c, err = findConversation(ctx, tx, `WHERE channel_id = $1 AND contact_id = $2 AND tenant_id = $3`, channelID, contactID, tenantID)
		return c, false, err
	}
	return c, true, nil
}

// TouchConversation moves a thread forward for a new message: its preview
// and time, and for an inbound message the window, the unread count, and a
// resolved thread reopening. The arithmetic is done in SQL, so concurrent
// writers on PostgreSQL cannot lose an update, and values only move
// forward, so a late, older message cannot shorten the window.
func (tx *Tx) TouchConversation(ctx context.Context, conv *parley.Conversation, m *parley.Message) error {
	ts := m.Timestamp
	if ts.IsZero() {
		ts = m.CreatedAt
	}
	inbound := 0
	if m.Direction == parley.Inbound && m.Type != parley.TypeReaction && m.Type != parley.TypeSystem {
		inbound = 1
	}
	g := tx.db.dialect.greatest()
	c, err := scanConversation(tx.QueryRowContext(ctx, `UPDATE conversations SET
		last_message = CASE WHEN COALESCE(last_message_at, 0) <= $1 THEN $2 ELSE last_message END,
		last_message_at = `+g+`(COALESCE(last_message_at, 0), $1),
		last_inbound_at = CASE WHEN $3 = 1 THEN `+g+`(COALESCE(last_inbound_at, 0), $1) ELSE last_inbound_at END,
		unread_count = unread_count + $3,
		status = CASE WHEN $3 = 1 THEN 'open' ELSE status END,
		updated_at = $4
		WHERE id = $5 RETURNING `+conversationColumns,
		ts.UnixMilli(), m.Preview(), inbound, ms(tx.db.Now()), conv.ID))
	if err != nil {
		return fmt.Errorf("store: touch conversation: %w", err)
	}
	*conv = *c
	return nil
}

// FindConversation returns one of a tenant's conversations.
func (db *DB) FindConversation(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	return findConversation(ctx, db.read, `WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

// FindConversation returns one of a tenant's conversations, inside the
// transaction.
func (tx *Tx) FindConversation(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	return findConversation(ctx, tx, `WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

func findConversation(ctx context.Context, q queryer, where string, args ...any) (*parley.Conversation, error) {
	c, err := scanConversation(q.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find conversation: %w", err)
	}
	return c, nil
}

// ConversationFilter narrows a conversation listing.
type ConversationFilter struct {
	Status    string
	ChannelID string
	ContactID string
	Cursor    string // from the previous page's NextCursor
	Limit     int
}

// ListConversations returns a page of a tenant's conversations, the most
// recently active first, with their contacts, and the cursor of the next
// page ("" on the last).
func (db *DB) ListConversations(ctx context.Context, tenantID string, f ConversationFilter) ([]*parley.Conversation, string, error) {
	where, args := []string{"v.tenant_id = $1"}, []any{tenantID}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Status != "" {
		add("v.status = ?", f.Status)
	}
	if f.ChannelID != "" {
		add("v.channel_id = ?", f.ChannelID)
	}
	if f.ContactID != "" {
		add("v.contact_id = ?", f.ContactID)
	}
	if f.Cursor != "" {
		at, id, ok := strings.Cut(f.Cursor, "_cv_")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, "", parley.Errorf(parley.EINVALID, "Invalid cursor.")
		}
		args = append(args, n, "cv_"+id)
		where = append(where, fmt.Sprintf("(COALESCE(v.last_message_at, 0) < $%d OR (COALESCE(v.last_message_at, 0) = $%d AND v.id < $%d))",
			len(args)-1, len(args)-1, len(args)))
	}
	lim := limit(f.Limit)
	cols := "v." + strings.ReplaceAll(conversationColumns, ", ", ", v.")
	ccols := "c." + strings.ReplaceAll(contactColumns, ", ", ", c.")
	rows, err := db.read.QueryContext(ctx, `SELECT `+cols+`, `+ccols+` FROM conversations v JOIN contacts c ON c.id = v.contact_id
		WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY COALESCE(v.last_message_at, 0) DESC, v.id DESC LIMIT %d`, lim+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list conversations: %w", err)
	}
	defer rows.Close()
	var out []*parley.Conversation
	for rows.Next() {
		var inbound, last, created, updated sql.NullInt64
		var v parley.Conversation
		var c parley.Contact
		var waid, bsuid, ph sql.NullString
		var consentAt, optInAt, ccreated, cupdated sql.NullInt64
		if err := rows.Scan(&v.ID, &v.TenantID, &v.ChannelID, &v.ContactID, &v.Status, &inbound, &last, &v.LastMessage, &v.UnreadCount,
			&created, &updated, &c.ID, &c.TenantID, &waid, &bsuid, &ph, &c.Name, &c.ProfileName, &c.Language,
			&c.Consent.State, &c.Consent.Source, &consentAt, &c.Consent.OptInSource, &optInAt, &ccreated, &cupdated); err != nil {
			return nil, "", fmt.Errorf("store: list conversations: %w", err)
		}
		v.LastInboundAt, v.LastMessageAt, v.CreatedAt, v.UpdatedAt = fromMS(inbound), fromMS(last), fromMS(created), fromMS(updated)
		c.WAID, c.BSUID, c.Phone = waid.String, bsuid.String, ph.String
		c.Consent.At, c.Consent.OptInAt, c.CreatedAt, c.UpdatedAt = fromMS(consentAt), fromMS(optInAt), fromMS(ccreated), fromMS(cupdated)
		v.Contact = &c
		out = append(out, &v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list conversations: %w", err)
	}
	next := ""
	if len(out) > lim {
		out = out[:lim]
		last := out[lim-1]
		next = strconv.FormatInt(msOrZero(last.LastMessageAt), 10) + "_" + last.ID
	}
	return out, next, nil
}

// MarkConversationRead clears a conversation's unread count.
func (tx *Tx) MarkConversationRead(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	c, err := scanConversation(tx.QueryRowContext(ctx, `UPDATE conversations SET unread_count = 0, updated_at = $1
		WHERE id = $2 AND tenant_id = $3 RETURNING `+conversationColumns, ms(tx.db.Now()), id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: mark conversation read: %w", err)
	}
	return c, nil
}
