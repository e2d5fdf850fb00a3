package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parleyhq/parley"
)

// Snapshot returns a record's watched columns as last read, and whether
// there was a snapshot at all.
func (db *DB) Snapshot(ctx context.Context, connectorID string, r parley.Record) (map[string]string, bool, error) {
	return snapshot(ctx, db.read, connectorID, r)
}

// Snapshot reads a snapshot inside a transaction.
func (tx *Tx) Snapshot(ctx context.Context, connectorID string, r parley.Record) (map[string]string, bool, error) {
	return snapshot(ctx, tx, connectorID, r)
}

func snapshot(ctx context.Context, q queryer, connectorID string, r parley.Record) (map[string]string, bool, error) {
	var raw string
	err := q.QueryRowContext(ctx, `SELECT vals FROM crm_snapshots WHERE connector_id = $1 AND record_table = $2 AND record_id = $3`,
		connectorID, r.Table, r.ID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("store: snapshot: %w", err)
	}
	vals := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &vals); err != nil {
		return nil, false, fmt.Errorf("store: snapshot of %s: %w", r, err)
	}
	return vals, true, nil
}

// SaveSnapshot replaces a record's snapshot.
func (tx *Tx) SaveSnapshot(ctx context.Context, connectorID string, r parley.Record, vals map[string]string) error {
	b, err := json.Marshal(vals)
	if err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO crm_snapshots (connector_id, record_table, record_id, vals, updated_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (connector_id, record_table, record_id) DO UPDATE SET vals = excluded.vals, updated_at = excluded.updated_at`,
		connectorID, r.Table, r.ID, string(b), ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: save snapshot: %w", err)
	}
	return nil
}

// UnlinkRecord removes a record deleted in the CRM: its links to contacts
// and its snapshot. It returns the contacts that were linked to it.
func (tx *Tx) UnlinkRecord(ctx context.Context, tenantID, connectorID string, r parley.Record) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT contact_id FROM contact_records WHERE tenant_id = $1 AND record_table = $2 AND record_id = $3
		ORDER BY contact_id`, tenantID, r.Table, r.ID)
	if err != nil {
		return nil, fmt.Errorf("store: unlink record: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: unlink record: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unlink record: %w", err)
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM contact_records WHERE tenant_id = $1 AND record_table = $2 AND record_id = $3`, []any{tenantID, r.Table, r.ID}},
		{`DELETE FROM crm_snapshots WHERE connector_id = $1 AND record_table = $2 AND record_id = $3`, []any{connectorID, r.Table, r.ID}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return nil, fmt.Errorf("store: unlink record: %w", err)
		}
	}
	return ids, nil
}

// ForgetLookupsOf makes these contacts' next message look their records up
// again.
func (tx *Tx) ForgetLookupsOf(ctx context.Context, connectorID string, contactIDs []string) error {
	for _, id := range contactIDs {
		if _, err := tx.ExecContext(ctx, `DELETE FROM crm_lookups WHERE connector_id = $1 AND contact_id = $2`, connectorID, id); err != nil {
			return fmt.Errorf("store: forget lookups: %w", err)
		}
	}
	return nil
}

// ForgetLookupsByPhone forgets the lookups of the tenant's contacts whose
// phone ends in one of the digit strings: a CRM record with that phone was
// created or changed, so those contacts may now have a record to link.
func (tx *Tx) ForgetLookupsByPhone(ctx context.Context, tenantID, connectorID string, suffixes []string) error {
	for _, s := range suffixes {
		if s == "" {
			continue
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM crm_lookups WHERE connector_id = $1 AND contact_id IN
			(SELECT id FROM contacts WHERE tenant_id = $2 AND phone LIKE $3)`, connectorID, tenantID, "%"+s)
		if err != nil {
			return fmt.Errorf("store: forget lookups by phone: %w", err)
		}
	}
	return nil
}

// LatestConversation returns a contact's most recently active
// conversation, where a CRM change is written; ENOTFOUND if it has none.
func (tx *Tx) LatestConversation(ctx context.Context, tenantID, contactID string) (*parley.Conversation, error) {
	return findConversation(ctx, tx, `WHERE tenant_id = $1 AND contact_id = $2 ORDER BY COALESCE(last_message_at, 0) DESC, id DESC LIMIT 1`, tenantID, contactID)
}
