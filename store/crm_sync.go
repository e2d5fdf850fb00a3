package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ConnectorTenants maps each tenant with a CRM connector to its
// connector's ID. It reads no credentials, so it is cheap to refresh.
func (db *DB) ConnectorTenants(ctx context.Context) (map[string]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT tenant_id, id FROM crm_connectors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: connector tenants: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var tenant, id string
		if err := rows.Scan(&tenant, &id); err != nil {
			return nil, fmt.Errorf("store: connector tenants: %w", err)
		}
		if _, ok := out[tenant]; !ok {
			out[tenant] = id
		}
	}
	return out, rows.Err()
}

// OutboxEntry is a message waiting to be logged in a CRM.
type OutboxEntry struct {
	ID          int64
	ConnectorID string
	TenantID    string
	MessageID   string
}

// QueueForCRM adds messages to a connector's outbox.
func (tx *Tx) QueueForCRM(ctx context.Context, connectorID, tenantID string, messageIDs []string) error {
	now := ms(tx.db.Now())
	for start := 0; start < len(messageIDs); start += chunkRows {
		chunk := messageIDs[start:min(start+chunkRows, len(messageIDs))]
		args := make([]any, 0, 4*len(chunk))
		for _, id := range chunk {
			args = append(args, connectorID, tenantID, id, now)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO crm_outbox (connector_id, tenant_id, message_id, created_at) VALUES `+
			tx.db.dialect.placeholders(len(chunk), 4, 1, nil), args...); err != nil {
			return fmt.Errorf("store: queue for crm: %w", err)
		}
	}
	return nil
}

// Outbox returns the first n messages waiting for a connector, oldest
// first: a record's activities are written in the order they happened.
func (db *DB) Outbox(ctx context.Context, connectorID string, n int) ([]OutboxEntry, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, connector_id, tenant_id, message_id FROM crm_outbox WHERE connector_id = $1
		ORDER BY id LIMIT $2`, connectorID, n)
	if err != nil {
		return nil, fmt.Errorf("store: outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		if err := rows.Scan(&e.ID, &e.ConnectorID, &e.TenantID, &e.MessageID); err != nil {
			return nil, fmt.Errorf("store: outbox: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// OutboxPending returns the connectors with messages waiting.
func (db *DB) OutboxPending(ctx context.Context) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT DISTINCT connector_id FROM crm_outbox`)
	if err != nil {
		return nil, fmt.Errorf("store: outbox pending: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: outbox pending: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// DoneWithOutbox removes logged entries: every entry of the connector up
// to and including the last one logged.
func (db *DB) DoneWithOutbox(ctx context.Context, connectorID string, upTo int64) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM crm_outbox WHERE connector_id = $1 AND id <= $2`, connectorID, upTo); err != nil {
			return fmt.Errorf("store: done with outbox: %w", err)
		}
		return nil
	})
}

// LookedUp returns when a contact's records were last looked up through a
// connector, or the zero time.
func (db *DB) LookedUp(ctx context.Context, connectorID, contactID string) (time.Time, error) {
	var at int64
	err := db.read.QueryRowContext(ctx, `SELECT looked_up_at FROM crm_lookups WHERE connector_id = $1 AND contact_id = $2`,
		connectorID, contactID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	} else if err != nil {
		return time.Time{}, fmt.Errorf("store: looked up: %w", err)
	}
	return time.UnixMilli(at), nil
}

// SetLookedUp records a lookup of a contact's records (at zero forgets
// it, so the next message looks again).
func (tx *Tx) SetLookedUp(ctx context.Context, connectorID, contactID string, at time.Time) error {
	if at.IsZero() {
		_, err := tx.ExecContext(ctx, `DELETE FROM crm_lookups WHERE connector_id = $1 AND contact_id = $2`, connectorID, contactID)
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO crm_lookups (connector_id, contact_id, looked_up_at) VALUES ($1, $2, $3)
		ON CONFLICT (connector_id, contact_id) DO UPDATE SET looked_up_at = excluded.looked_up_at`, connectorID, contactID, ms(at))
	if err != nil {
		return fmt.Errorf("store: set looked up: %w", err)
	}
	return nil
}

// ForgetLookups makes every contact's next message look its records up
// again: the CRM changed a phone, or a record was created.
func (db *DB) ForgetLookups(ctx context.Context, connectorID string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM crm_lookups WHERE connector_id = $1`, connectorID)
		return err
	})
}

// DeltaLink returns where a table's change tracking last stopped.
func (db *DB) DeltaLink(ctx context.Context, connectorID, table string) (string, error) {
	var link string
	err := db.read.QueryRowContext(ctx, `SELECT delta_link FROM crm_sync WHERE connector_id = $1 AND record_table = $2`,
		connectorID, table).Scan(&link)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("store: delta link: %w", err)
	}
	return link, nil
}

// SetDeltaLink records where a table's change tracking stopped ("" starts
// over with a full read).
func (tx *Tx) SetDeltaLink(ctx context.Context, connectorID, table, link string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO crm_sync (connector_id, record_table, delta_link, synced_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (connector_id, record_table) DO UPDATE SET delta_link = excluded.delta_link, synced_at = excluded.synced_at`,
		connectorID, table, link, ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: set delta link: %w", err)
	}
	return nil
}
