package store

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley"
)

// LinkRecord links a contact to a CRM record. Linking twice is a no-op.
func (tx *Tx) LinkRecord(ctx context.Context, tenantID, contactID string, r parley.Record, by parley.Actor) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO contact_records (tenant_id, record_table, record_id, contact_id, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, tenantID, r.Table, r.ID, contactID, ms(tx.db.Now()))
	if err != nil {
		return fmt.Errorf("store: link record: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return tx.AddAudit(ctx, tenantID, by, "contact.link_record", contactID, map[string]any{"record": r.String()})
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

// RecordsOf returns the CRM records a contact is linked to.
func (db *DB) RecordsOf(ctx context.Context, tenantID, contactID string) ([]parley.Record, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT record_table, record_id FROM contact_records
		WHERE tenant_id = $1 AND contact_id = $2 ORDER BY created_at, record_table, record_id`, tenantID, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: records of contact: %w", err)
	}
	defer rows.Close()
	var out []parley.Record
	for rows.Next() {
		var r parley.Record
		if err := rows.Scan(&r.Table, &r.ID); err != nil {
			return nil, fmt.Errorf("store: records of contact: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
