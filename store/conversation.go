package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

const conversationColumns = `id, tenant_id, channel_id, contact_id, status, last_inbound_at, last_message_at, last_message,
	unread_count, created_at, updated_at, assignee_id, team_id, waiting_since`

// conversationScan holds a conversation row's nullable columns while it
// is scanned.
type conversationScan struct {
	c                                             parley.Conversation
	inbound, last, created, updated, waitingSince sql.NullInt64
	assignee, team                                sql.NullString
}

func (s *conversationScan) dest() []any {
	c := &s.c
	return []any{&c.ID, &c.TenantID, &c.ChannelID, &c.ContactID, &c.Status, &s.inbound, &s.last, &c.LastMessage,
		&c.UnreadCount, &s.created, &s.updated, &s.assignee, &s.team, &s.waitingSince}
}

func (s *conversationScan) finish() *parley.Conversation {
	c := s.c
	c.LastInboundAt, c.LastMessageAt = fromMS(s.inbound), fromMS(s.last)
	c.CreatedAt, c.UpdatedAt, c.WaitingSince = fromMS(s.created), fromMS(s.updated), fromMS(s.waitingSince)
	c.AssigneeID, c.TeamID = s.assignee.String, s.team.String
	return &c
}

func scanConversation(row scanner) (*parley.Conversation, error) {
	var s conversationScan
	if err := row.Scan(s.dest()...); err != nil {
		return nil, err
	}
	return s.finish(), nil
}

// ConversationFor returns the thread between a channel and a contact,
// creating it on first contact.
func (tx *Tx) ConversationFor(ctx context.Context, tenantID, channelID, contactID string) (*parley.Conversation, bool, error) {
	where := `WHERE tenant_id = $1 AND channel_id = $2 AND contact_id = $3`
	c, err := findConversation(ctx, tx, where, tenantID, channelID, contactID)
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
		c, err = findConversation(ctx, tx, where, tenantID, channelID, contactID)
		return c, false, err
	}
	return c, true, nil
}

// TouchConversation moves a thread forward for one new message, by the
// rules of TouchConversations.
func (tx *Tx) TouchConversation(ctx context.Context, conv *parley.Conversation, m *parley.Message) error {
	t := Touch{ConversationID: conv.ID}
	t.Add(m)
	touched, err := tx.TouchConversations(ctx, []Touch{t})
	if err != nil {
		return err
	}
	if len(touched) == 1 {
		*conv = *touched[0]
	}
	return nil
}

// Add accounts for a new message of the touched conversation. Messages are
// added in the order they happened.
func (t *Touch) Add(m *parley.Message) {
	if m.Direction == parley.Note {
		return // notes are for colleagues: they move nothing the customer sees
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = m.CreatedAt
	}
	if !ts.Before(t.LastAt) {
		t.LastAt, t.Preview = ts, m.Preview()
	}
	switch {
	case m.Direction == parley.Inbound && m.Type != parley.TypeReaction && m.Type != parley.TypeSystem:
		t.Inbound++
		if ts.After(t.InboundAt) {
			t.InboundAt = ts
		}
		if t.WaitingFrom.IsZero() {
			t.WaitingFrom = ts
		}
		t.Answered = false
	case m.Direction == parley.Outbound && m.Type != parley.TypeReaction:
		t.Answered, t.WaitingFrom = true, time.Time{}
	}
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
	// AssigneeID keeps the conversations assigned to one user;
	// Unassigned those assigned to nobody.
	AssigneeID string
	Unassigned bool
	// VisibleTo keeps what an agent may see: their own conversations,
	// their teams' and the unassigned ones. Empty: all.
	VisibleTo *parley.User
	// Query matches the contact's name, profile name or phone, or the
	// text of a message.
	Query string
	// ByWaiting orders by how long the customer has waited, longest
	// first, instead of by the latest activity.
	ByWaiting bool
	Cursor    string // from the previous page's NextCursor
	Limit     int
}

// ListConversations returns a page of a tenant's conversations, the most
// recently active first, with their contacts, and the cursor of the next
// page ("" on the last).
func (db *DB) ListConversations(ctx context.Context, tenantID string, f ConversationFilter) ([]*parley.Conversation, string, error) {
	where, args := []string{"v.tenant_id = $1"}, []any{tenantID}
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
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
	if f.AssigneeID != "" {
		add("v.assignee_id = ?", f.AssigneeID)
	}
	if f.Unassigned {
		add("v.assignee_id IS NULL AND v.team_id IS NULL")
	}
	if u := f.VisibleTo; u != nil && !u.SeesAll() {
		add(`(v.assignee_id = ? OR (v.assignee_id IS NULL AND (v.team_id IS NULL OR v.team_id IN
			(SELECT team_id FROM team_members WHERE user_id = ?))))`, u.ID, u.ID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		like := "%" + strings.ToLower(q) + "%"
		add(`(lower(c.name) LIKE ? OR lower(c.profile_name) LIKE ? OR c.phone LIKE ? OR EXISTS
			(SELECT 1 FROM messages m WHERE m.conversation_id = v.id AND lower(m.text) LIKE ?))`, like, like, phoneLike(q, like), like)
	}
	order := `COALESCE(v.last_message_at, 0) DESC, v.id DESC`
	sortKey := func(c *parley.Conversation) int64 { return msOrZero(c.LastMessageAt) }
	if f.ByWaiting {
		// Waiting customers first, the longest waiting at the top.
		order = `CASE WHEN v.waiting_since IS NULL THEN 1 ELSE 0 END, COALESCE(v.waiting_since, 0), v.id DESC`
		sortKey = nil
	}
	if f.Cursor != "" {
		if sortKey == nil {
			return nil, "", parley.Errorf(parley.EINVALID, "Paging is not available when sorting by waiting time.")
		}
		at, id, ok := strings.Cut(f.Cursor, "_cv_")
		n, err := strconv.ParseInt(at, 10, 64)
		if !ok || err != nil {
			return nil, "", parley.Errorf(parley.EINVALID, "Invalid cursor.")
		}
		add("(COALESCE(v.last_message_at, 0) < ? OR (COALESCE(v.last_message_at, 0) = ? AND v.id < ?))", n, n, "cv_"+id)
	}
	lim := limit(f.Limit)
	cols := "v." + strings.ReplaceAll(conversationColumns, ", ", ", v.")
	ccols := "c." + strings.ReplaceAll(contactColumns, ", ", ", c.")
	rows, err := db.read.QueryContext(ctx, `SELECT `+cols+`, `+ccols+` FROM conversations v JOIN contacts c ON c.id = v.contact_id
		WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY %s LIMIT %d`, order, lim+1), args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list conversations: %w", err)
	}
	defer rows.Close()
	var out []*parley.Conversation
	for rows.Next() {
		var vs conversationScan
		var cs contactScan
		if err := rows.Scan(append(vs.dest(), cs.dest()...)...); err != nil {
			return nil, "", fmt.Errorf("store: list conversations: %w", err)
		}
		v := vs.finish()
		v.Contact = cs.finish()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list conversations: %w", err)
	}
	next := ""
	if len(out) > lim {
		out = out[:lim]
		if sortKey != nil {
			last := out[lim-1]
			next = strconv.FormatInt(sortKey(last), 10) + "_" + last.ID
		}
	}
	return out, next, nil
}

// MarkConversationRead clears a conversation's unread count.
func (tx *Tx) MarkConversationRead(ctx context.Context, tenantID, id string) (*parley.Conversation, error) {
	return tx.updateConversation(ctx, tenantID, id, `unread_count = 0`)
}

// updateConversation sets columns of one of a tenant's conversations and
// returns it. The SET clause's parameters start at $4.
func (tx *Tx) updateConversation(ctx context.Context, tenantID, id, set string, args ...any) (*parley.Conversation, error) {
	c, err := scanConversation(tx.QueryRowContext(ctx, `UPDATE conversations SET `+set+`, updated_at = $1
		WHERE id = $2 AND tenant_id = $3 RETURNING `+conversationColumns, append([]any{ms(tx.db.Now()), id, tenantID}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: update conversation: %w", err)
	}
	return c, nil
}

// Assign gives a conversation to a user, to a team, or (both empty) to
// nobody, and records who did it. The assignee must be one of the tenant's
// active users, and the team one of its teams.
func (tx *Tx) Assign(ctx context.Context, tenantID, id, userID, teamID string, by parley.Actor) (*parley.Conversation, error) {
	if userID != "" {
		if _, err := tx.FindUser(ctx, tenantID, userID); err != nil {
			return nil, err
		}
	}
	if teamID != "" {
		if _, err := tx.FindTeam(ctx, tenantID, teamID); err != nil {
			return nil, err
		}
	}
	before, err := tx.FindConversation(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	c, err := tx.updateConversation(ctx, tenantID, id, `assignee_id = $4, team_id = $5`, null(userID), null(teamID))
	if err != nil {
		return nil, err
	}
	action := "conversation.assign"
	if before.AssigneeID != "" || before.TeamID != "" {
		action = "conversation.transfer"
	}
	detail := map[string]any{"from_user": before.AssigneeID, "from_team": before.TeamID, "to_user": userID, "to_team": teamID}
	if err := tx.AddAudit(ctx, tenantID, by, action, id, detail); err != nil {
		return nil, err
	}
	return c, tx.AddEvent(ctx, tenantID, parley.EventConversationUpdated, c)
}

// SetConversationStatus resolves or reopens a conversation, and records
// who did it.
func (tx *Tx) SetConversationStatus(ctx context.Context, tenantID, id, status string, by parley.Actor) (*parley.Conversation, error) {
	if status != parley.ConversationOpen && status != parley.ConversationResolved {
		return nil, parley.Errorf(parley.EINVALID, "A conversation is open or resolved.")
	}
	c, err := tx.updateConversation(ctx, tenantID, id, `status = $4`, status)
	if err != nil {
		return nil, err
	}
	action := "conversation.resolve"
	if status == parley.ConversationOpen {
		action = "conversation.reopen"
	}
	if err := tx.AddAudit(ctx, tenantID, by, action, id, nil); err != nil {
		return nil, err
	}
	return c, tx.AddEvent(ctx, tenantID, parley.EventConversationUpdated, c)
}

// phoneLike is the pattern for phones that match q. Agents type numbers
// as people write them, "+55 (11) 91111-0003"; phones are stored as
// digits, so a query of only phone characters matches by its digits.
func phoneLike(q, like string) string {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case strings.ContainsRune(" +-().", r):
			return -1
		}
		return 'x'
	}, q)
	if len(digits) < 3 || strings.Contains(digits, "x") {
		return like
	}
	return "%" + digits + "%"
}
