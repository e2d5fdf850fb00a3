package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// messageContent is the type-specific part of a message, kept as one JSON
// column: new message kinds need no migration, and no query filters on it.
type messageContent struct {
	PreviewURL  bool                    `json:"preview_url,omitempty"`
	Media       *parley.Media           `json:"media,omitempty"`
	Template    *parley.TemplateMessage `json:"template,omitempty"`
	Interactive *parley.Interactive     `json:"interactive,omitempty"`
	Reply       *parley.Reply           `json:"reply,omitempty"`
	Location    *parley.Location        `json:"location,omitempty"`
	Contacts    json.RawMessage         `json:"contacts,omitempty"`
	Reaction    *parley.Reaction        `json:"reaction,omitempty"`
	Order       json.RawMessage         `json:"order,omitempty"`
	System      *parley.System          `json:"system,omitempty"`
	Referral    *parley.Referral        `json:"referral,omitempty"`
	Context     *parley.Context         `json:"context,omitempty"`
	Revises     string                  `json:"revises,omitempty"`
	Unsupported *parley.Unsupported     `json:"unsupported,omitempty"`
}

func contentOf(m *parley.Message) string {
	c := messageContent{PreviewURL: m.PreviewURL, Template: m.Template, Interactive: m.Interactive, Reply: m.Reply,
		Location: m.Location, Contacts: m.Contacts, Reaction: m.Reaction, Order: m.Order, System: m.System, Referral: m.Referral,
		Context: m.Context, Revises: m.Revises, Unsupported: m.Unsupported}
	if m.Media != nil {
		// Download state lives in the media row; only what the message
		// itself says is kept here.
		md := *m.Media
		md.Status, md.Error, md.Size, md.SHA256 = "", "", 0, ""
		c.Media = &md
	}
	return mustJSON(c)
}

func (c *messageContent) apply(m *parley.Message) {
	m.PreviewURL, m.Media, m.Template, m.Interactive, m.Reply = c.PreviewURL, c.Media, c.Template, c.Interactive, c.Reply
	m.Location, m.Contacts, m.Reaction, m.Order, m.System = c.Location, c.Contacts, c.Reaction, c.Order, c.System
	m.Referral, m.Context, m.Revises, m.Unsupported = c.Referral, c.Context, c.Revises, c.Unsupported
}

// InsertMessage stores a message. A message whose provider ID the channel
// already has is skipped and reported as not inserted: that is how a
// redelivered webhook leaves the same state.
func (tx *Tx) InsertMessage(ctx context.Context, m *parley.Message) (bool, error) {
	inserted, err := tx.InsertMessages(ctx, []*parley.Message{m})
	return inserted[m.ID], err
}

const messageColumns = `m.id, m.tenant_id, m.channel_id, m.conversation_id, m.contact_id, m.direction, m.type, m.status,
	m.provider_message_id, m.text, m.content, m.sent_by_kind, m.sent_by_id, m.sent_by_name,
	m.error_code, m.error_reason, m.error_title, m.error_message, m.error_details, m.timestamp, m.created_at, m.updated_at,
	md.id, md.status, md.error, md.size, md.sha256, md.mime_type, md.filename`

const messageFrom = ` FROM messages m LEFT JOIN media md ON md.id = m.media_id `

func scanMessage(s scanner) (*parley.Message, error) {
	var m parley.Message
	var dir, typ, status, content, kind string
	var pid, mdID, mdStatus, mdErr, mdSHA, mdMIME, mdName sql.NullString
	var mdSize, ts, created, updated sql.NullInt64
	var e parley.MessageError
	if err := s.Scan(&m.ID, &m.TenantID, &m.ChannelID, &m.ConversationID, &m.ContactID, &dir, &typ, &status,
		&pid, &m.Text, &content, &kind, &m.SentBy.ID, &m.SentBy.Name,
		&e.Code, &e.Reason, &e.Title, &e.Message, &e.Details, &ts, &created, &updated,
		&mdID, &mdStatus, &mdErr, &mdSize, &mdSHA, &mdMIME, &mdName); err != nil {
		return nil, err
	}
	m.Direction, m.Type, m.Status, m.SentBy.Kind = parley.Direction(dir), parley.MessageType(typ), parley.Status(status), parley.ActorKind(kind)
	m.ProviderMessageID = pid.String
	m.Timestamp, m.CreatedAt, m.UpdatedAt = fromMS(ts), fromMS(created), fromMS(updated)
	if e.Code != "" {
		m.Error = &e
	}
	var c messageContent
	if err := json.Unmarshal([]byte(content), &c); err != nil {
		return nil, fmt.Errorf("message %s content: %w", m.ID, err)
	}
	c.apply(&m)
	if mdID.Valid {
		if m.Media == nil {
			m.Media = &parley.Media{}
		}
		m.Media.ID, m.Media.Status, m.Media.Error, m.Media.Size, m.Media.SHA256 = mdID.String, mdStatus.String, mdErr.String, mdSize.Int64, mdSHA.String
		if m.Media.MIMEType == "" {
			m.Media.MIMEType = mdMIME.String
		}
		if m.Media.Filename == "" {
			m.Media.Filename = mdName.String
		}
	}
	return &m, nil
}

func findMessage(ctx context.Context, q queryer, where string, args ...any) (*parley.Message, error) {
	m, err := scanMessage(q.QueryRowContext(ctx, `SELECT `+messageColumns+messageFrom+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Message not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find message: %w", err)
	}
	return m, nil
}

// FindMessage returns one of a tenant's messages with its status timeline
// and reactions.
func (db *DB) FindMessage(ctx context.Context, tenantID, id string) (*parley.Message, error) {
	m, err := findMessage(ctx, db.read, `WHERE m.id = $1 AND m.tenant_id = $2`, id, tenantID)
	if err != nil {
		return nil, err
	}
	if m.Timeline, err = timeline(ctx, db.read, m.ID); err != nil {
		return nil, err
	}
	return m, attachReactions(ctx, db.read, []*parley.Message{m})
}

// FindMessage returns one of a tenant's messages, inside the transaction.
func (tx *Tx) FindMessage(ctx context.Context, tenantID, id string) (*parley.Message, error) {
	return findMessage(ctx, tx, `WHERE m.id = $1 AND m.tenant_id = $2`, id, tenantID)
}

// MessageByProviderID finds a channel's message by the vendor's ID.
func (tx *Tx) MessageByProviderID(ctx context.Context, channelID, providerID string) (*parley.Message, error) {
	return findMessage(ctx, tx, `WHERE m.channel_id = $1 AND m.provider_message_id = $2`, channelID, providerID)
}

// ListMessages returns up to limit messages of a conversation that come
// before the message named by before (the newest when before is empty),
// oldest first, so a thread pages upward from its end.
func (db *DB) ListMessages(ctx context.Context, tenantID, conversationID, before string, max int) ([]*parley.Message, error) {
	q := `WHERE m.conversation_id = $1 AND m.tenant_id = $2`
	args := []any{conversationID, tenantID}
	if before != "" {
		q += ` AND m.id < $3`
		args = append(args, before)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+messageColumns+messageFrom+q+fmt.Sprintf(` ORDER BY m.id DESC LIMIT %d`, limit(max)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list messages: %w", err)
	}
	defer rows.Close()
	var out []*parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list messages: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, attachReactions(ctx, db.read, out)
}

// PendingBefore reports whether an earlier outbound message of the same
// conversation is still waiting to go out. Sends wait for it, so that a
// customer reads an agent's messages in the order they were written.
func (db *DB) PendingBefore(ctx context.Context, m *parley.Message) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'out'
		AND status IN ('queued', 'sending') AND id < $2`, m.ConversationID, m.ID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: pending before: %w", err)
	}
	return n > 0, nil
}

// RecordStatus adds a step to a message's timeline and moves its status
// forward if the step is ahead of it. The guard is in the UPDATE itself, so
// two deliveries racing cannot move a status backwards. It reports whether
// the message's status changed.
func (tx *Tx) RecordStatus(ctx context.Context, m *parley.Message, sc parley.StatusChange) (bool, error) {
	var e parley.MessageError
	if sc.Error != nil {
		e = *sc.Error
	}
	var billable any
	if sc.Billable != nil {
		billable = 0
		if *sc.Billable {
			billable = 1
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO message_statuses (message_id, status, at, error_code, error_reason, error_title, error_message,
		error_details, pricing_category, billable) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
		m.ID, string(sc.Status), ms(sc.At), e.Code, e.Reason, e.Title, e.Message, e.Details, sc.PricingCategory, billable)
	if err != nil {
		return false, fmt.Errorf("store: record status: %w", err)
	}
	return tx.advance(ctx, m, sc.Status, sc.Error)
}

// advance moves a message to status if that is forward. A failure carries
// its error onto the message, where agents and API callers see it.
func (tx *Tx) advance(ctx context.Context, m *parley.Message, status parley.Status, e *parley.MessageError) (bool, error) {
	var behind []string
	for _, s := range []parley.Status{parley.StatusQueued, parley.StatusSending, parley.StatusSent, parley.StatusReceived,
		parley.StatusFailed, parley.StatusDelivered, parley.StatusRead, parley.StatusPlayed} {
		if s.Rank() < status.Rank() {
			behind = append(behind, "'"+string(s)+"'")
		}
	}
	if len(behind) == 0 {
		return false, nil
	}
	now := tx.db.Now().UTC()
	q := `UPDATE messages SET status = $1, updated_at = $2 WHERE id = $3 AND status IN (` + strings.Join(behind, ",") + `)`
	args := []any{string(status), ms(now), m.ID}
	if status == parley.StatusFailed && e != nil {
		q = `UPDATE messages SET status = $1, updated_at = $2, error_code = $4, error_reason = $5, error_title = $6, error_message = $7,
			error_details = $8 WHERE id = $3 AND status IN (` + strings.Join(behind, ",") + `)`
		args = append(args, e.Code, e.Reason, e.Title, e.Message, e.Details)
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("store: advance status: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	m.Status, m.UpdatedAt = status, now
	if status == parley.StatusFailed && e != nil {
		m.Error = e
	}
	return true, nil
}

// SendState is what the send worker records about an outbound message.
type SendState struct {
	Status            parley.Status
	ProviderMessageID string
	Error             *parley.MessageError // nil clears a previous attempt's error
}

// SetSendState moves an outbound message between the send worker's states
// (queued, sending, sent, failed). Unlike RecordStatus it may go back from
// sending to queued, when an attempt fails and will be retried; it never
// touches a message a webhook has already moved past sent.
func (tx *Tx) SetSendState(ctx context.Context, m *parley.Message, st SendState) error {
	var e parley.MessageError
	if st.Error != nil {
		e = *st.Error
	}
	now := tx.db.Now().UTC()
	pid := st.ProviderMessageID
	if pid == "" {
		pid = m.ProviderMessageID
	}
	res, err := tx.ExecContext(ctx, `UPDATE messages SET status = $1, provider_message_id = $2, error_code = $3, error_reason = $4,
		error_title = $5, error_message = $6, error_details = $7, updated_at = $8, send_slot = NULL
		WHERE id = $9 AND status IN ('queued', 'sending', 'sent')`,
		string(st.Status), null(pid), e.Code, e.Reason, e.Title, e.Message, e.Details, ms(now), m.ID)
	if err != nil {
		return fmt.Errorf("store: set send state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	m.Status, m.ProviderMessageID, m.Error, m.UpdatedAt = st.Status, pid, st.Error, now
	if st.Status == parley.StatusSent || st.Status == parley.StatusFailed {
		_, err = tx.ExecContext(ctx, `INSERT INTO message_statuses (message_id, status, at, error_code, error_reason, error_title, error_message,
			error_details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
			m.ID, string(st.Status), ms(now), e.Code, e.Reason, e.Title, e.Message, e.Details)
		if err != nil {
			return fmt.Errorf("store: set send state: %w", err)
		}
	}
	return nil
}

func timeline(ctx context.Context, q queryer, messageID string) ([]parley.StatusChange, error) {
	rows, err := q.QueryContext(ctx, `SELECT status, at, error_code, error_reason, error_title, error_message, error_details, pricing_category, billable
		FROM message_statuses WHERE message_id = $1 ORDER BY at, status`, messageID)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []parley.StatusChange
	for rows.Next() {
		var sc parley.StatusChange
		var status string
		var at, billable sql.NullInt64
		var e parley.MessageError
		if err := rows.Scan(&status, &at, &e.Code, &e.Reason, &e.Title, &e.Message, &e.Details, &sc.PricingCategory, &billable); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		sc.Status, sc.At = parley.Status(status), fromMS(at)
		if e.Code != "" {
			sc.Error = &e
		}
		if billable.Valid {
			b := billable.Int64 == 1
			sc.Billable = &b
		}
		out = append(out, sc)
	}
	return out, rows.Err()
}

// SetReaction puts (or with an empty emoji removes) one party's reaction
// on a message. Each party has at most one reaction per message, as in
// WhatsApp.
func (tx *Tx) SetReaction(ctx context.Context, messageID, actor, emoji string, at int64) error {
	var err error
	if emoji == "" {
		_, err = tx.ExecContext(ctx, `DELETE FROM message_reactions WHERE message_id = $1 AND actor = $2`, messageID, actor)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO message_reactions (message_id, actor, emoji, at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (message_id, actor) DO UPDATE SET emoji = excluded.emoji, at = excluded.at`, messageID, actor, emoji, at)
	}
	if err != nil {
		return fmt.Errorf("store: set reaction: %w", err)
	}
	return nil
}

func attachReactions(ctx context.Context, q queryer, msgs []*parley.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[string]*parley.Message, len(msgs))
	args := make([]any, len(msgs))
	ph := make([]string, len(msgs))
	for i, m := range msgs {
		byID[m.ID] = m
		args[i] = m.ID
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	rows, err := q.QueryContext(ctx, `SELECT message_id, actor, emoji FROM message_reactions WHERE message_id IN (`+strings.Join(ph, ",")+`)
		ORDER BY at`, args...)
	if err != nil {
		return fmt.Errorf("store: reactions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r parley.Reaction
		if err := rows.Scan(&id, &r.From, &r.Emoji); err != nil {
			return fmt.Errorf("store: reactions: %w", err)
		}
		if m := byID[id]; m != nil {
			m.Reactions = append(m.Reactions, r)
		}
	}
	return rows.Err()
}

// AddOrphanStatus keeps a status for a message not stored yet (an echo
// may arrive after its own status), to be applied when it is.
func (tx *Tx) AddOrphanStatus(ctx context.Context, channelID, providerID string, status parley.Status, payload any) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO orphan_statuses (channel_id, provider_message_id, status, payload, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, channelID, providerID, string(status), mustJSON(payload), ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: add orphan status: %w", err)
	}
	return nil
}

// TakeOrphanStatuses removes and returns the statuses waiting for a
// message, as their JSON payloads.
func (tx *Tx) TakeOrphanStatuses(ctx context.Context, channelID, providerID string) ([]json.RawMessage, error) {
	rows, err := tx.QueryContext(ctx, `SELECT payload FROM orphan_statuses WHERE channel_id = $1 AND provider_message_id = $2`, channelID, providerID)
	if err != nil {
		return nil, fmt.Errorf("store: take orphan statuses: %w", err)
	}
	var out []json.RawMessage
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: take orphan statuses: %w", err)
		}
		out = append(out, json.RawMessage(p))
	}
	rows.Close()
	if len(out) == 0 {
		return nil, rows.Err()
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM orphan_statuses WHERE channel_id = $1 AND provider_message_id = $2`, channelID, providerID)
	if err != nil {
		return nil, fmt.Errorf("store: take orphan statuses: %w", err)
	}
	return out, nil
}

// AddUnhandled keeps a part of a webhook delivery Parley did not
// interpret, verbatim, so nothing a provider sends is silently dropped. Its
// ID is derived from the content, so a redelivery stores nothing new.
func (tx *Tx) AddUnhandled(ctx context.Context, tenantID, channelID, provider, field, reason string, payload []byte) error {
	h := sha256.New()
	for _, s := range []string{provider, channelID, field, string(payload)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	id := "unh_" + hex.EncodeToString(h.Sum(nil))[:32]
	_, err := tx.ExecContext(ctx, `INSERT INTO unhandled_events (id, tenant_id, channel_id, provider, field, reason, payload, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, id, null(tenantID), null(channelID), provider, field, reason,
		string(payload), ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: add unhandled event: %w", err)
	}
	return nil
}

// CountUnhandled returns how many unhandled events a tenant has.
func (db *DB) CountUnhandled(ctx context.Context, tenantID string) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM unhandled_events WHERE tenant_id = $1`, tenantID).Scan(&n)
	return n, err
}

// RecordQueued starts an outbound message's timeline.
func (tx *Tx) RecordQueued(ctx context.Context, m *parley.Message) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO message_statuses (message_id, status, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		m.ID, string(parley.StatusQueued), ms(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: record queued: %w", err)
	}
	return nil
}

// WaitingSends returns the IDs of a channel's outbound messages that have
// not gone out yet (queued, or sending with the outcome unknown).
func (db *DB) WaitingSends(ctx context.Context, tenantID, channelID string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id FROM messages WHERE tenant_id = $1 AND channel_id = $2 AND direction = 'out'
		AND status IN ('queued', 'sending')`, tenantID, channelID)
	if err != nil {
		return nil, fmt.Errorf("store: waiting sends: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: waiting sends: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: waiting sends: %w", err)
	}
	return ids, nil
}

// SendSlot returns the throughput slot a queued message reserved, or zero.
func (db *DB) SendSlot(ctx context.Context, messageID string) (time.Time, error) {
	var slot sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT send_slot FROM messages WHERE id = $1`, messageID).Scan(&slot); err != nil {
		return time.Time{}, fmt.Errorf("store: send slot: %w", err)
	}
	return fromMS(slot), nil
}

// SetSendSlot records the throughput slot a queued message reserved. Any
// change of its send state clears it.
func (db *DB) SetSendSlot(ctx context.Context, messageID string, slot time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET send_slot = $1 WHERE id = $2`, ms(slot), messageID); err != nil {
			return fmt.Errorf("store: set send slot: %w", err)
		}
		return nil
	})
}

// LatestInbound returns a conversation's newest message from the customer.
func (db *DB) LatestInbound(ctx context.Context, tenantID, conversationID string) (*parley.Message, error) {
	return findMessage(ctx, db.read, `WHERE m.conversation_id = $1 AND m.tenant_id = $2 AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1`,
		conversationID, tenantID)
}
