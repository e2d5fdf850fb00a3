package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
)

// templateDefinition is the JSON column holding a template's parsed shape.
type templateDefinition struct {
	ParameterFormat string                  `json:"parameter_format"`
	Header          *parley.TemplateHeader  `json:"header,omitempty"`
	Body            string                  `json:"body"`
	BodyParams      []string                `json:"body_params,omitempty"`
	Footer          string                  `json:"footer,omitempty"`
	Buttons         []parley.TemplateButton `json:"buttons,omitempty"`
	Components      json.RawMessage         `json:"components,omitempty"`
}

const templateColumns = `id, tenant_id, channel_id, provider_template_id, name, language, category, status, status_reason,
	parameter_count, definition, updated_at`

func scanTemplate(s scanner) (*parley.Template, error) {
	var t parley.Template
	var def string
	var updated sql.NullInt64
	if err := s.Scan(&t.ID, &t.TenantID, &t.ChannelID, &t.ProviderTemplateID, &t.Name, &t.Language, &t.Category, &t.Status,
		&t.StatusReason, &t.ParameterCount, &def, &updated); err != nil {
		return nil, err
	}
	var d templateDefinition
	if err := json.Unmarshal([]byte(def), &d); err != nil {
		return nil, fmt.Errorf("template %s definition: %w", t.ID, err)
	}
	t.ParameterFormat, t.Header, t.Body, t.BodyParams, t.Footer, t.Buttons, t.Components =
		d.ParameterFormat, d.Header, d.Body, d.BodyParams, d.Footer, d.Buttons, d.Components
	t.UpdatedAt = fromMS(updated)
	return &t, nil
}

// ReplaceTemplates makes a channel's templates what the provider listed:
// new ones are added, known ones updated, and those the provider no longer
// has are removed. It returns how many were added, updated and removed.
func (db *DB) ReplaceTemplates(ctx context.Context, ch *parley.Channel, list []parley.Template) (added, updated, removed int, err error) {
	err = db.InTx(ctx, func(tx *Tx) error {
		existing := map[string]*parley.Template{}
		rows, err := tx.QueryContext(ctx, `SELECT `+templateColumns+` FROM templates WHERE channel_id = $1`, ch.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanTemplate(rows)
			if err != nil {
				rows.Close()
				return err
			}
			existing[t.Name+"\x00"+t.Language] = t
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := ms(db.Now())
		for i := range list {
			t := &list[i]
			t.TenantID, t.ChannelID = ch.TenantID, ch.ID
			t.CountParameters()
			def := mustJSON(templateDefinition{ParameterFormat: t.ParameterFormat, Header: t.Header, Body: t.Body, BodyParams: t.BodyParams,
				Footer: t.Footer, Buttons: t.Buttons, Components: t.Components})
			key := t.Name + "\x00" + t.Language
			if old := existing[key]; old != nil {
				delete(existing, key)
				t.ID = old.ID
				if _, err := tx.ExecContext(ctx, `UPDATE templates SET provider_template_id = $1, category = $2, status = $3, status_reason = $4,
					parameter_count = $5, definition = $6, updated_at = $7 WHERE id = $8`, t.ProviderTemplateID, t.Category, t.Status,
					t.StatusReason, t.ParameterCount, def, now, t.ID); err != nil {
					return err
				}
				updated++
				continue
			}
			t.ID = parley.NewID(parley.PrefixTemplate)
			if _, err := tx.ExecContext(ctx, `INSERT INTO templates (id, tenant_id, channel_id, provider_template_id, name, language, category,
				status, status_reason, parameter_count, definition, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				t.ID, t.TenantID, t.ChannelID, t.ProviderTemplateID, t.Name, t.Language, t.Category, t.Status, t.StatusReason,
				t.ParameterCount, def, now); err != nil {
				return err
			}
			added++
		}
		for _, old := range existing {
			if _, err := tx.ExecContext(ctx, `DELETE FROM templates WHERE id = $1`, old.ID); err != nil {
				return err
			}
			removed++
		}
		if added+updated+removed > 0 {
			return tx.AddEvent(ctx, ch.TenantID, parley.EventTemplateUpdated, map[string]any{"channel_id": ch.ID})
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("store: replace templates: %w", err)
	}
	return added, updated, removed, nil
}

// TemplateStatusUpdate is a template's new review state, as a provider
// reported it.
type TemplateStatusUpdate struct {
	ProviderTemplateID string
	Name, Language     string
	Status, Reason     string
	Category           string
}

// ApplyTemplateStatus updates the matching templates of a channel (by the
// provider's template ID, else by name and language) and reports whether
// any matched. An update for a template Parley has not synced yet matches
// nothing; the caller then schedules a sync.
func (tx *Tx) ApplyTemplateStatus(ctx context.Context, ch *parley.Channel, u TemplateStatusUpdate) (bool, error) {
	q := `UPDATE templates SET status = $1, status_reason = $2, updated_at = $3`
	args := []any{u.Status, u.Reason, ms(tx.db.Now())}
	if u.Category != "" {
		q += `, category = $4`
		args = append(args, u.Category)
	}
	// An update without the provider's ID matches by name and language
	// only: '' would match every template synced without one.
	match := func(i int) string {
		return fmt.Sprintf(`channel_id = $%d AND ((provider_template_id = $%d AND provider_template_id <> '') OR (name = $%d AND language = $%d))`,
			i, i+1, i+2, i+3)
	}
	keys := []any{ch.ID, u.ProviderTemplateID, u.Name, u.Language}
	// Only a change is written and announced, so a redelivered review
	// leaves the same state and says nothing new.
	res, err := tx.ExecContext(ctx, q+` WHERE `+match(len(args)+1)+` AND (status <> $1 OR status_reason <> $2)`, append(args, keys...)...)
	if err != nil {
		return false, fmt.Errorf("store: apply template status: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		var known int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM templates WHERE `+match(1), keys...).Scan(&known); err != nil {
			return false, fmt.Errorf("store: apply template status: %w", err)
		}
		return known > 0, nil
	}
	return true, tx.AddEvent(ctx, ch.TenantID, parley.EventTemplateUpdated, map[string]any{"channel_id": ch.ID, "name": u.Name,
		"language": u.Language, "status": u.Status})
}

// TemplateFilter narrows a template listing.
type TemplateFilter struct {
	ChannelID string
	Name      string
	Language  string
	Status    string
}

// ListTemplates returns a tenant's templates by name and language.
func (db *DB) ListTemplates(ctx context.Context, tenantID string, f TemplateFilter) ([]*parley.Template, error) {
	where, args := []string{"tenant_id = $1"}, []any{tenantID}
	for _, c := range []struct{ col, v string }{{"channel_id", f.ChannelID}, {"name", f.Name}, {"language", f.Language}, {"status", f.Status}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+templateColumns+` FROM templates WHERE `+strings.Join(where, " AND ")+
		` ORDER BY name, language, channel_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list templates: %w", err)
	}
	defer rows.Close()
	var out []*parley.Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list templates: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// FindTemplate returns a channel's template by name and language.
func (db *DB) FindTemplate(ctx context.Context, tenantID, channelID, name, language string) (*parley.Template, error) {
	t, err := scanTemplate(db.read.QueryRowContext(ctx, `SELECT `+templateColumns+` FROM templates
		WHERE tenant_id = $1 AND channel_id = $2 AND name = $3 AND language = $4`, tenantID, channelID, name, language))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Template %q in language %q is not known for this channel; sync the channel's templates or check the name.", name, language)
	} else if err != nil {
		return nil, fmt.Errorf("store: find template: %w", err)
	}
	return t, nil
}
