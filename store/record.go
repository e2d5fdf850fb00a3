package store

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley"
)

// LinkRecord links a contact to a CRM record, or renews the link's name
// and primary flag. A contact has one primary record: marking one clears
// the others. Only a new link is audited.
func (tx *Tx) LinkRecord(ctx context.Context, tenantID, contactID string, l parley.RecordLink, by parley.Actor) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contact_records WHERE tenant_id = $1 AND record_table = $2 AND record_id = $3
		AND contact_id = $4`, tenantID, l.Table, l.ID, contactID).Scan(&n)
	if err != nil {
		return fmt.Errorf("store: link record: %w", err)
	}
	if l.Primary {
		if _, err := tx.ExecContext(ctx, `UPDATE contact_records SET is_primary = 0 WHERE tenant_id = $1 AND contact_id = $2`,
			tenantID, contactID); err != nil {
			return fmt.Errorf("store: link record: %w", err)
		}
	}
	if n > 0 {
		_, err = tx.ExecContext(ctx, `UPDATE contact_records SET connector_id = $1, record_name = $2, is_primary = $3
			WHERE tenant_id = $4 AND record_table = $5 AND record_id = $6 AND contact_id = $7`,
			l.ConnectorID, l.Name, boolInt(l.Primary), tenantID, l.Table, l.ID, contactID)
		if err != nil {
			return fmt.Errorf("store: link record: %w", err)
		}
		return nil
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO contact_records (tenant_id, record_table, record_id, contact_id, connector_id, record_name,
		is_primary, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		tenantID, l.Table, l.ID, contactID, l.ConnectorID, l.Name, boolInt(l.Primary), ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: link record: %w", err)
	}
	return tx.AddAudit(ctx, tenantID, by, "contact.link_record", contactID, map[string]any{"record": l.String()})
}

// ContactsOfRecord returns the IDs of the contacts linked to a record,
// the first linked first.
func (db *DB) ContactsOfRecord(ctx context.Context, tenantID string, r parley.Record) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT contact_id FROM contact_records
		WHERE tenant_id = $1 AND record_table = $2 AND record_id = $3 ORDER BY created_at, contact_id`, tenantID, r.Table, r.ID)
	if err != nil {
		return nil, fmt.Errorf("store: contacts of record: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: contacts of record: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// RecordsOf returns the CRM records a contact is linked to, the primary
// one first.
func (db *DB) RecordsOf(ctx context.Context, tenantID, contactID string) ([]parley.RecordLink, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT record_table, record_id, connector_id, record_name, is_primary FROM contact_records
		WHERE tenant_id = $1 AND contact_id = $2 ORDER BY is_primary DESC, created_at, record_table, record_id`, tenantID, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: records of contact: %w", err)
	}
	defer rows.Close()
	var out []parley.RecordLink
	for rows.Next() {
		var l parley.RecordLink
		var primary int64
		if err := rows.Scan(&l.Table, &l.ID, &l.ConnectorID, &l.Name, &primary); err != nil {
			return nil, fmt.Errorf("store: records of contact: %w", err)
		}
		l.Primary = primary != 0
		out = append(out, l)
	}
	return out, rows.Err()
}
