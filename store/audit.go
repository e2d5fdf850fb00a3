package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/parleyhq/parley"
)

// AddAudit records who did what to which record, in the same transaction
// as the change, so the record cannot miss a change or invent one.
func (tx *Tx) AddAudit(ctx context.Context, tenantID string, by parley.Actor, action, subject string, detail map[string]any) error {
	d := "{}"
	if len(detail) > 0 {
		d = mustJSON(detail)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (id, tenant_id, at, actor_kind, actor_id, actor_name, action, subject, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		parley.NewID(parley.PrefixAudit), tenantID, ms(tx.db.Now()), string(by.Kind), by.ID, by.Name, action, subject, d)
	if err != nil {
		return fmt.Errorf("store: audit %s: %w", action, err)
	}
	return nil
}

// ListAudit returns a tenant's audit entries for one subject (or all when
// subject is empty), newest first.
func (db *DB) ListAudit(ctx context.Context, tenantID, subject string, max int) ([]parley.AuditEntry, error) {
	q := `SELECT id, tenant_id, at, actor_kind, actor_id, actor_name, action, subject, detail FROM audit WHERE tenant_id = $1`
	args := []any{tenantID}
	if subject != "" {
		q += ` AND subject = $2`
		args = append(args, subject)
	}
	q += fmt.Sprintf(` ORDER BY at DESC, id DESC LIMIT %d`, limit(max))
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []parley.AuditEntry
	for rows.Next() {
		var e parley.AuditEntry
		var at sql.NullInt64
		var kind, detail string
		if err := rows.Scan(&e.ID, &e.TenantID, &at, &kind, &e.Actor.ID, &e.Actor.Name, &e.Action, &e.Subject, &detail); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		e.At, e.Actor.Kind = fromMS(at), parley.ActorKind(kind)
		if detail != "{}" {
			json.Unmarshal([]byte(detail), &e.Detail)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
