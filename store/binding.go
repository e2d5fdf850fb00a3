package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parleyhq/parley"
)

// TemplateBindings returns the bindings of a tenant's template name; none
// is an empty map, not an error: most templates are filled by hand.
func (db *DB) TemplateBindings(ctx context.Context, tenantID, name string) (parley.Bindings, error) {
	var raw string
	err := db.read.QueryRowContext(ctx, `SELECT bindings FROM template_bindings WHERE tenant_id = $1 AND template_name = $2`,
		tenantID, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Bindings{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("store: template bindings: %w", err)
	}
	b := parley.Bindings{}
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		return nil, fmt.Errorf("store: template bindings of %q: %w", name, err)
	}
	return b, nil
}

// SetTemplateBindings replaces the bindings of a tenant's template name
// (none removes them) and audits the change. The caller has checked them
// against the template.
func (db *DB) SetTemplateBindings(ctx context.Context, tenantID, name string, b parley.Bindings, by parley.Actor) error {
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		if len(b) == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM template_bindings WHERE tenant_id = $1 AND template_name = $2`, tenantID, name)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO template_bindings (tenant_id, template_name, bindings, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (tenant_id, template_name) DO UPDATE SET bindings = excluded.bindings, updated_at = excluded.updated_at`,
				tenantID, name, mustJSON(b), ms(db.Now()))
		}
		if err != nil {
			return err
		}
		return tx.AddAudit(ctx, tenantID, by, "template.bind", name, map[string]any{"bindings": b})
	})
	if err != nil {
		return fmt.Errorf("store: set template bindings: %w", err)
	}
	return nil
}
