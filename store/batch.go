package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/phone"
)

// Set-based statements for ingestion. Under load the ingester commits
// hundreds of messages in one transaction; one statement per message and
// table would cost a round trip each on PostgreSQL and a statement parse
// each on SQLite. These take whole sets instead.

// chunkRows bounds the rows of one multi-row statement, well under both
// databases' limits on parameters.
const chunkRows = 400

// placeholders returns "(…), (…)" for rows of cols parameters starting at
// $start. SQLite gets "?": it resolves each "$n" by a linear search of the
// statement's names, which makes a statement of thousands of "$n" slow to
// prepare; anonymous parameters are numbered in order of appearance.
func (d Dialect) placeholders(rows, cols, start int, wrap func(i int, p string) string) string {
	var b strings.Builder
	n := start
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteString(", ")
			}
			p := "?"
			if d == Postgres {
				p = "$" + strconv.Itoa(n)
			}
			if wrap != nil {
				p = wrap(c, p)
			}
			b.WriteString(p)
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// list returns "p1, p2, …" for n parameters starting at $start.
func (d Dialect) list(n, start int) string {
	s := d.placeholders(n, 1, start, nil)
	return strings.NewReplacer("(", "", ")", "").Replace(s)
}

// FindOrCreateContacts is FindOrCreateContact for many identities: one
// query finds the known contacts, and only the new (or changed) ones cost
// a statement of their own. Identities with neither a phone nor a BSUID
// are left out of the result.
func (tx *Tx) FindOrCreateContacts(ctx context.Context, tenantID string, ids []Identity) (map[Identity]*parley.Contact, error) {
	out := make(map[Identity]*parley.Contact, len(ids))
	var keys, bsuids []any
	seen := map[string]bool{}
	for _, id := range ids {
		if k := phone.Key(id.rawPhone()); k != "" && !seen["k"+k] {
			seen["k"+k] = true
			keys = append(keys, k)
		}
		if id.BSUID != "" && !seen["b"+id.BSUID] {
			seen["b"+id.BSUID] = true
			bsuids = append(bsuids, id.BSUID)
		}
	}
	byKey, byBSUID := map[string]*parley.Contact{}, map[string]*parley.Contact{}
	// Two queries, not one with OR: each then uses its own index, where
	// SQLite would scan all the tenant's contacts for the OR of two lists.
	for _, by := range []struct {
		col    string
		values []any
	}{{"phone_key", keys}, {"bsuid", bsuids}} {
		for start := 0; start < len(by.values); start += chunkRows {
			chunk := by.values[start:min(start+chunkRows, len(by.values))]
			q := `SELECT ` + contactColumns + ` FROM contacts WHERE tenant_id = ` + tx.db.dialect.list(1, 1) +
				` AND ` + by.col + ` IN (` + tx.db.dialect.list(len(chunk), 2) + `)`
			if err := tx.scanContacts(ctx, q, append([]any{tenantID}, chunk...), byKey, byBSUID); err != nil {
				return nil, err
			}
		}
	}
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		raw := id.rawPhone()
		key := phone.Key(raw)
		c := byKey[key]
		if key == "" || c == nil {
			c = byBSUID[id.BSUID]
		}
		if c == nil || (key != "" && c.Phone == "") || needsCompletion(c, id) {
			// New, or it learns something: the one-by-one path creates
			// and completes, with its race handling.
			got, _, err := tx.FindOrCreateContact(ctx, tenantID, id)
			if parley.ErrorCode(err) == parley.EINVALID {
				continue
			} else if err != nil {
				return nil, err
			}
			c = got
			if k := phone.Key(c.Phone); k != "" {
				byKey[k] = c
			}
			if c.BSUID != "" {
				byBSUID[c.BSUID] = c
			}
		}
		out[id] = c
	}
	return out, nil
}

// needsCompletion reports whether an identity adds something to a known
// contact (see completeContact).
func needsCompletion(c *parley.Contact, id Identity) bool {
	return (id.WAID != "" && c.WAID != id.WAID) || (id.BSUID != "" && c.BSUID == "") ||
		(id.ProfileName != "" && c.ProfileName != id.ProfileName)
}

func (tx *Tx) scanContacts(ctx context.Context, q string, args []any, byKey, byBSUID map[string]*parley.Contact) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: find contacts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return fmt.Errorf("store: find contacts: %w", err)
		}
		if k := phone.Key(c.Phone); k != "" {
			byKey[k] = c
		}
		if c.BSUID != "" {
			byBSUID[c.BSUID] = c
		}
	}
	return rows.Err()
}

// ConversationsFor is ConversationFor for many contacts of one channel,
// keyed by contact ID.
func (tx *Tx) ConversationsFor(ctx context.Context, tenantID, channelID string, contactIDs []string) (map[string]*parley.Conversation, error) {
	out := make(map[string]*parley.Conversation, len(contactIDs))
	ids := uniqueStrings(contactIDs)
	for start := 0; start < len(ids); start += chunkRows {
		chunk := ids[start:min(start+chunkRows, len(ids))]
		args := []any{tenantID, channelID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE tenant_id = `+tx.db.dialect.list(1, 1)+
			` AND channel_id = `+tx.db.dialect.list(1, 2)+` AND contact_id IN (`+tx.db.dialect.list(len(chunk), 3)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: find conversations: %w", err)
		}
		for rows.Next() {
			c, err := scanConversation(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: find conversations: %w", err)
			}
			out[c.ContactID] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: find conversations: %w", err)
		}
	}
	for _, id := range ids {
		if out[id] != nil {
			continue
		}
		c, _, err := tx.ConversationFor(ctx, tenantID, channelID, id)
		if err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, nil
}

func uniqueStrings(list []string) []string {
	seen := make(map[string]bool, len(list))
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// MessagesByProviderIDs returns a channel's messages with the given vendor
// IDs, keyed by vendor ID.
func (tx *Tx) MessagesByProviderIDs(ctx context.Context, channelID string, providerIDs []string) (map[string]*parley.Message, error) {
	out := map[string]*parley.Message{}
	ids := uniqueStrings(providerIDs)
	for start := 0; start < len(ids); start += chunkRows {
		chunk := ids[start:min(start+chunkRows, len(ids))]
		args := []any{channelID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+messageColumns+messageFrom+`WHERE m.channel_id = `+tx.db.dialect.list(1, 1)+
			` AND m.provider_message_id IN (`+tx.db.dialect.list(len(chunk), 2)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: find messages: %w", err)
		}
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: find messages: %w", err)
			}
			out[m.ProviderMessageID] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: find messages: %w", err)
		}
	}
	return out, nil
}

// messageInsertColumns is the column list of a message row, in the order
// messageRow gives the values.
const messageInsertColumns = `id, tenant_id, channel_id, conversation_id, contact_id, direction, type, status,
	provider_message_id, text, content, media_id, reply_to_id, sent_by_kind, sent_by_id, sent_by_name,
	error_code, error_reason, error_title, error_message, error_details, timestamp, created_at, updated_at`

const messageInsertCount = 24

// messageRow readies a message for insertion and returns its values.
func (tx *Tx) messageRow(m *parley.Message, now time.Time) []any {
	if m.ID == "" {
		m.ID = parley.NewID(parley.PrefixMessage)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = m.CreatedAt
	}
	// The database keeps milliseconds; so does what callers are shown.
	m.CreatedAt, m.Timestamp, m.UpdatedAt = m.CreatedAt.Truncate(time.Millisecond), m.Timestamp.Truncate(time.Millisecond), now.Truncate(time.Millisecond)
	var mediaID, replyTo string
	if m.Media != nil {
		mediaID = m.Media.ID
	}
	if m.Context != nil {
		replyTo = m.Context.ReplyTo
	}
	var e parley.MessageError
	if m.Error != nil {
		e = *m.Error
	}
	return []any{m.ID, m.TenantID, m.ChannelID, m.ConversationID, m.ContactID, string(m.Direction), string(m.Type), string(m.Status),
		null(m.ProviderMessageID), m.Text, contentOf(m), null(mediaID), null(replyTo), string(m.SentBy.Kind), m.SentBy.ID, m.SentBy.Name,
		e.Code, e.Reason, e.Title, e.Message, e.Details, ms(m.Timestamp), ms(m.CreatedAt), ms(now)}
}

// InsertMessages stores messages in multi-row statements and returns the
// IDs of those inserted: a message whose vendor ID the channel already has
// (a redelivery) is skipped, as with InsertMessage.
func (tx *Tx) InsertMessages(ctx context.Context, msgs []*parley.Message) (map[string]bool, error) {
	inserted := make(map[string]bool, len(msgs))
	now := tx.db.Now().UTC()
	for start := 0; start < len(msgs); start += chunkRows {
		chunk := msgs[start:min(start+chunkRows, len(msgs))]
		args := make([]any, 0, len(chunk)*messageInsertCount)
		for _, m := range chunk {
			args = append(args, tx.messageRow(m, now)...)
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO messages (`+messageInsertColumns+`) VALUES `+
			tx.db.dialect.placeholders(len(chunk), messageInsertCount, 1, nil)+` ON CONFLICT DO NOTHING RETURNING id`, args...)
		if err != nil {
			return nil, fmt.Errorf("store: insert messages: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: insert messages: %w", err)
			}
			inserted[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: insert messages: %w", err)
		}
	}
	return inserted, nil
}

// Touch is what a set of new messages does to one conversation. Build it
// with Add, message by message in the order they happened.
type Touch struct {
	ConversationID string
	LastAt         time.Time // the newest message's time
	Preview        string    // the newest message's preview
	InboundAt      time.Time // the newest customer message's time; zero if none
	Inbound        int       // customer messages, for the unread count
	// Answered is set when the business spoke last, which ends the
	// customer's wait; WaitingFrom is the first customer message after
	// the business last spoke, which starts it.
	Answered    bool
	WaitingFrom time.Time
}

// TouchConversations moves threads forward for new messages, in one
// statement: preview and time, and for customer messages the window, the
// unread count, the waiting time, and a resolved thread reopening. The
// arithmetic is done in SQL, so concurrent writers on PostgreSQL cannot
// lose an update, and values only move forward, so a late, older message
// cannot shorten the window. It returns the updated conversations.
func (tx *Tx) TouchConversations(ctx context.Context, touches []Touch) ([]*parley.Conversation, error) {
	var out []*parley.Conversation
	g := tx.db.dialect.greatest()
	types := []string{"TEXT", "BIGINT", "TEXT", "BIGINT", "INTEGER", "INTEGER", "BIGINT"}
	cast := func(i int, p string) string { return "CAST(" + p + " AS " + types[i] + ")" }
	for start := 0; start < len(touches); start += chunkRows {
		chunk := touches[start:min(start+chunkRows, len(touches))]
		// Parameters in textual order: SQLite's "?" are numbered so.
		args := make([]any, 0, len(types)*len(chunk)+1)
		for _, t := range chunk {
			answered := 0
			if t.Answered {
				answered = 1
			}
			args = append(args, t.ConversationID, t.LastAt.UnixMilli(), t.Preview, msOrZero(t.InboundAt), t.Inbound, answered,
				msOrZero(t.WaitingFrom))
		}
		args = append(args, ms(tx.db.Now()))
		now := tx.db.dialect.list(1, len(args))
		// The CTE's columns are named apart from the table's, so the
		// RETURNING list (which may name only the updated table) is clear.
		rows, err := tx.QueryContext(ctx, `WITH v (cid, ts, preview, its, n, answered, wf) AS (VALUES `+
			tx.db.dialect.placeholders(len(chunk), len(types), 1, cast)+`)
			UPDATE conversations SET
				last_message = CASE WHEN COALESCE(conversations.last_message_at, 0) <= v.ts THEN v.preview ELSE conversations.last_message END,
				last_message_at = `+g+`(COALESCE(conversations.last_message_at, 0), v.ts),
				last_inbound_at = CASE WHEN v.its > 0 THEN `+g+`(COALESCE(conversations.last_inbound_at, 0), v.its) ELSE conversations.last_inbound_at END,
				unread_count = conversations.unread_count + v.n,
				status = CASE WHEN v.n > 0 THEN 'open' ELSE conversations.status END,
				waiting_since = CASE WHEN v.answered = 1 THEN NULL
					WHEN v.wf > 0 THEN COALESCE(conversations.waiting_since, v.wf) ELSE conversations.waiting_since END,
				updated_at = `+now+`
			FROM v WHERE conversations.id = v.cid RETURNING `+conversationColumns, args...)
		if err != nil {
			return nil, fmt.Errorf("store: touch conversations: %w", err)
		}
		for rows.Next() {
			c, err := scanConversation(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: touch conversations: %w", err)
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: touch conversations: %w", err)
		}
	}
	return out, nil
}

// NewEvent is an event to record with AddEvents.
type NewEvent struct {
	TenantID string
	Type     string
	Data     any
}

// AddEvents is AddEvent for many events, in multi-row statements.
func (tx *Tx) AddEvents(ctx context.Context, evs []NewEvent) error {
	at := tx.db.Now().UTC().Truncate(time.Millisecond)
	for start := 0; start < len(evs); start += chunkRows {
		chunk := evs[start:min(start+chunkRows, len(evs))]
		args := make([]any, 0, 4*len(chunk))
		made := make([]parley.Event, len(chunk))
		for i, e := range chunk {
			payload, err := json.Marshal(e.Data)
			if err != nil {
				return fmt.Errorf("store: encode %s event: %w", e.Type, err)
			}
			made[i] = parley.Event{TenantID: e.TenantID, Type: e.Type, At: at, Data: payload}
			args = append(args, e.TenantID, e.Type, ms(at), string(payload))
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO events (tenant_id, type, at, data) VALUES `+
			tx.db.dialect.placeholders(len(chunk), 4, 1, nil)+` RETURNING id`, args...)
		if err != nil {
			return fmt.Errorf("store: add events: %w", err)
		}
		ids, err := scanIDs(rows)
		if err != nil {
			return fmt.Errorf("store: add events: %w", err)
		}
		if len(ids) != len(chunk) {
			return fmt.Errorf("store: add events: %d rows inserted, %d returned", len(chunk), len(ids))
		}
		// Rows take increasing IDs in the order of the VALUES list on both
		// databases; RETURNING, though, promises no order.
		slices.Sort(ids)
		for i := range made {
			made[i].ID = ids[i]
		}
		tx.events = append(tx.events, made...)
	}
	return nil
}

func scanIDs(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
