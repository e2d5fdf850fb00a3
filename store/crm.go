package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parleyhq/parley"
)

// connectorSettings is the plain part of a connector row: what Parley
// decides with, readable without the master key.
type connectorSettings struct {
	Tables         []parley.CRMTable `json:"tables"`
	CreateLeads    bool              `json:"create_leads,omitempty"`
	LanguageColumn string            `json:"language_column,omitempty"`
	Languages      []string          `json:"language_fallback,omitempty"`
}

// connectorConfig is the encrypted part: the credentials, and every other
// setting of the type, so that a new secret needs no migration.
type connectorConfig struct {
	Dataverse *parley.DataverseConfig  `json:"dataverse,omitempty"`
	Webhook   *parley.WebhookCRMConfig `json:"webhook,omitempty"`
}

func (db *DB) sealConnector(c *parley.Connector) (settings string, sealed []byte, err error) {
	if db.Secrets == nil {
		return "", nil, errors.New("store: no master key configured to encrypt CRM credentials")
	}
	s, err := json.Marshal(connectorSettings{Tables: c.Tables, CreateLeads: c.CreateLeads, LanguageColumn: c.LanguageColumn, Languages: c.Languages})
	if err != nil {
		return "", nil, err
	}
	plain, err := json.Marshal(connectorConfig{Dataverse: c.Dataverse, Webhook: c.Webhook})
	if err != nil {
		return "", nil, err
	}
	return string(s), db.Secrets.Seal(plain, []byte(c.ID)), nil
}

func (db *DB) openConnector(c *parley.Connector, settings string, sealed []byte) error {
	var s connectorSettings
	if err := json.Unmarshal([]byte(settings), &s); err != nil {
		return fmt.Errorf("decode connector %s settings: %w", c.ID, err)
	}
	c.Tables, c.CreateLeads, c.LanguageColumn, c.Languages = s.Tables, s.CreateLeads, s.LanguageColumn, s.Languages
	if db.Secrets == nil {
		return errors.New("store: no master key configured to decrypt CRM credentials")
	}
	plain, err := db.Secrets.Open(sealed, []byte(c.ID))
	if err != nil {
		return fmt.Errorf("decrypt connector %s credentials (is PARLEY_MASTER_KEY the key they were saved with?): %w", c.ID, err)
	}
	var cfg connectorConfig
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return fmt.Errorf("decode connector %s credentials: %w", c.ID, err)
	}
	c.Dataverse, c.Webhook = cfg.Dataverse, cfg.Webhook
	return nil
}

// CreateConnector stores a tenant's connector. A tenant has one of a type.
func (db *DB) CreateConnector(ctx context.Context, c *parley.Connector) error {
	now := db.Now().UTC().Truncate(1e6)
	if c.ID == "" {
		c.ID = parley.NewID(parley.PrefixConnector)
	}
	c.CreatedAt, c.UpdatedAt = now, now
	if c.Health.Status == "" {
		c.Health.Status = parley.HealthHealthy
	}
	settings, sealed, err := db.sealConnector(c)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_connectors WHERE tenant_id = $1 AND type = $2`, c.TenantID, c.Type).Scan(&n); err != nil {
			return fmt.Errorf("store: create connector: %w", err)
		}
		if n > 0 {
			return parley.Errorf(parley.ECONFLICT, "This tenant already has a %s connector; change it instead.", c.Type)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO crm_connectors (id, tenant_id, type, name, settings, config, health_status, health_reason,
			health_checked_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			c.ID, c.TenantID, c.Type, c.Name, settings, sealed, c.Health.Status, c.Health.Reason, ms(c.Health.CheckedAt), ms(now))
		if err != nil {
			return fmt.Errorf("store: create connector: %w", err)
		}
		return nil
	})
}

// UpdateConnector saves a connector's settings and credentials. New
// settings make it healthy again: the next request will tell if not.
func (db *DB) UpdateConnector(ctx context.Context, c *parley.Connector) error {
	c.UpdatedAt = db.Now().UTC().Truncate(1e6)
	c.Health = parley.ChannelHealth{Status: parley.HealthHealthy, CheckedAt: c.UpdatedAt}
	settings, sealed, err := db.sealConnector(c)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE crm_connectors SET name = $1, settings = $2, config = $3, health_status = $4, health_reason = '',
			health_checked_at = $5, updated_at = $5 WHERE id = $6 AND tenant_id = $7`,
			c.Name, settings, sealed, c.Health.Status, ms(c.UpdatedAt), c.ID, c.TenantID)
		if err != nil {
			return fmt.Errorf("store: update connector: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Connector not found.")
		}
		return nil
	})
}

// SetConnectorHealth records whether a connector can reach its CRM.
func (db *DB) SetConnectorHealth(ctx context.Context, tenantID, id string, h parley.ChannelHealth) error {
	if h.CheckedAt.IsZero() {
		h.CheckedAt = db.Now()
	}
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE crm_connectors SET health_status = $1, health_reason = $2, health_checked_at = $3
			WHERE id = $4 AND tenant_id = $5`, h.Status, h.Reason, ms(h.CheckedAt), id, tenantID)
		if err != nil {
			return fmt.Errorf("store: set connector health: %w", err)
		}
		return nil
	})
}

// DeleteConnector removes a connector. The record links it found stay:
// they are the contacts' history.
func (db *DB) DeleteConnector(ctx context.Context, tenantID, id string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM crm_connectors WHERE id = $1 AND tenant_id = $2`, id, tenantID)
		if err != nil {
			return fmt.Errorf("store: delete connector: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Connector not found.")
		}
		// What was waiting for this CRM goes with it: a new connector
		// starts from its own messages, not the old one's backlog.
		for _, table := range []string{"crm_outbox", "crm_lookups", "crm_sync", "crm_snapshots",
			"crm_records", "crm_record_phones", "crm_webhook_seen", "crm_imports", "crm_deliveries"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE connector_id = $1`, id); err != nil {
				return fmt.Errorf("store: delete connector: %w", err)
			}
		}
		return nil
	})
}

const connectorColumns = `id, tenant_id, type, name, settings, config, health_status, health_reason, health_checked_at, created_at, updated_at`

func (db *DB) scanConnector(s scanner) (*parley.Connector, error) {
	var c parley.Connector
	var settings string
	var sealed []byte
	var checked, created, updated sql.NullInt64
	if err := s.Scan(&c.ID, &c.TenantID, &c.Type, &c.Name, &settings, &sealed, &c.Health.Status, &c.Health.Reason, &checked,
		&created, &updated); err != nil {
		return nil, err
	}
	c.Health.CheckedAt, c.CreatedAt, c.UpdatedAt = fromMS(checked), fromMS(created), fromMS(updated)
	if err := db.openConnector(&c, settings, sealed); err != nil {
		return nil, err
	}
	return &c, nil
}

func (db *DB) findConnectors(ctx context.Context, where string, args ...any) ([]*parley.Connector, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+connectorColumns+` FROM crm_connectors `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: find connectors: %w", err)
	}
	defer rows.Close()
	var out []*parley.Connector
	for rows.Next() {
		c, err := db.scanConnector(rows)
		if err != nil {
			return nil, fmt.Errorf("store: find connectors: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindConnector returns one of a tenant's connectors.
func (db *DB) FindConnector(ctx context.Context, tenantID, id string) (*parley.Connector, error) {
	cs, err := db.findConnectors(ctx, `WHERE id = $1 AND tenant_id = $2`, id, tenantID)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "Connector not found.")
	}
	return cs[0], nil
}

// ConnectorOf returns a tenant's connector of a type.
func (db *DB) ConnectorOf(ctx context.Context, tenantID, typ string) (*parley.Connector, error) {
	cs, err := db.findConnectors(ctx, `WHERE tenant_id = $1 AND type = $2`, tenantID, typ)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "This tenant has no %s connector.", typ)
	}
	return cs[0], nil
}

// ListConnectors returns a tenant's connectors.
func (db *DB) ListConnectors(ctx context.Context, tenantID string) ([]*parley.Connector, error) {
	return db.findConnectors(ctx, `WHERE tenant_id = $1 ORDER BY id`, tenantID)
}

// AllConnectors returns every tenant's connectors, for the workers that
// poll CRMs for changes.
func (db *DB) AllConnectors(ctx context.Context) ([]*parley.Connector, error) {
	return db.findConnectors(ctx, `ORDER BY id`)
}

// FindConnectorByID returns a connector whatever its tenant, for the CRM's
// webhooks, which name only the connector. The caller authenticates the
// request with the connector's own key before trusting it.
func (db *DB) FindConnectorByID(ctx context.Context, id string) (*parley.Connector, error) {
	cs, err := db.findConnectors(ctx, `WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "Connector not found.")
	}
	return cs[0], nil
}
