package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// EventsChannel is the PostgreSQL NOTIFY channel on which committed events
// are announced to the other replicas.
const EventsChannel = "parley_events"

// AddEvent records a realtime event in the transaction (the outbox), and
// hands it to the subscribers once the transaction commits.
func (tx *Tx) AddEvent(ctx context.Context, tenantID, typ string, data any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("store: encode %s event: %w", typ, err)
	}
	ev := parley.Event{TenantID: tenantID, Type: typ, At: tx.db.Now().UTC().Truncate(time.Millisecond), Data: payload}
	err = tx.QueryRowContext(ctx, `INSERT INTO events (tenant_id, type, at, data) VALUES ($1, $2, $3, $4) RETURNING id`,
		tenantID, typ, ms(ev.At), string(payload)).Scan(&ev.ID)
	if err != nil {
		return fmt.Errorf("store: add %s event: %w", typ, err)
	}
	tx.events = append(tx.events, ev)
	return nil
}

// flushEvents announces the transaction's events to other replicas. NOTIFY
// is transactional on PostgreSQL: it is delivered only if the commit is.
func (tx *Tx) flushEvents(ctx context.Context) error {
	if len(tx.events) == 0 || tx.db.dialect != Postgres {
		return nil
	}
	// Payloads are limited to 8000 bytes, so announce IDs and let the
	// listeners read the rows.
	var b strings.Builder
	b.WriteString(tx.db.instance)
	for _, ev := range tx.events {
		if b.Len() > 7000 {
			if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, EventsChannel, b.String()); err != nil {
				return fmt.Errorf("store: notify events: %w", err)
			}
			b.Reset()
			b.WriteString(tx.db.instance)
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(ev.ID, 10))
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, EventsChannel, b.String()); err != nil {
		return fmt.Errorf("store: notify events: %w", err)
	}
	return nil
}

// ParseNotification splits an events notification into the announcing
// instance and the event IDs.
func ParseNotification(payload string) (instance string, ids []int64) {
	f := strings.Fields(payload)
	if len(f) == 0 {
		return "", nil
	}
	for _, s := range f[1:] {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return f[0], ids
}

// Instance names this process in event notifications, so it can ignore
// its own.
func (db *DB) Instance() string { return db.instance }

// Subscribe registers f to receive the events of every transaction this
// process commits, in commit order.
func (db *DB) Subscribe(f func([]parley.Event)) {
	db.mu.Lock()
	db.subscribers = append(db.subscribers, f)
	db.mu.Unlock()
}

func (db *DB) publish(events []parley.Event) {
	if len(events) == 0 {
		return
	}
	db.mu.Lock()
	subs := db.subscribers
	db.mu.Unlock()
	for _, f := range subs {
		f(events)
	}
}

const eventColumns = `id, tenant_id, type, at, data`

func scanEvents(rows *sql.Rows) ([]parley.Event, error) {
	defer rows.Close()
	var out []parley.Event
	for rows.Next() {
		var ev parley.Event
		var at sql.NullInt64
		var data string
		if err := rows.Scan(&ev.ID, &ev.TenantID, &ev.Type, &at, &data); err != nil {
			return nil, err
		}
		ev.At, ev.Data = fromMS(at), json.RawMessage(data)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// EventsAfter returns a tenant's events after the given ID, oldest first:
// what an SSE client missed while it was away.
func (db *DB) EventsAfter(ctx context.Context, tenantID string, after int64, limit int) ([]parley.Event, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events after: %w", err)
	}
	return scanEvents(rows)
}

// EventsByID returns the events with the given IDs, in ID order.
func (db *DB) EventsByID(ctx context.Context, ids []int64) ([]parley.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	ph := make([]string, len(ids))
	for i, id := range ids {
		args[i] = id
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE id IN (`+strings.Join(ph, ",")+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: events by id: %w", err)
	}
	return scanEvents(rows)
}

// PruneEvents deletes events older than the cutoff; clients away longer
// than that reload instead of resuming.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE at < $1`, ms(before))
		if err != nil {
			return fmt.Errorf("store: prune events: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
