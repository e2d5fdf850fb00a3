package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
)

// Sealer encrypts secrets at rest (secret.Box does). The associated data
// binds a ciphertext to its row, so it cannot be copied to another channel.
type Sealer interface {
	Seal(plaintext, associatedData []byte) []byte
	Open(sealed, associatedData []byte) ([]byte, error)
}

// channelConfig is the encrypted part of a channel row: every provider
// setting, secret or not, so that adding a secret needs no migration.
type channelConfig struct {
	Meta    *parley.MetaConfig    `json:"meta,omitempty"`
	Twilio  *parley.TwilioConfig  `json:"twilio,omitempty"`
	ACS     *parley.ACSConfig     `json:"acs,omitempty"`
	Sandbox *parley.SandboxConfig `json:"sandbox,omitempty"`
}

// HashToken is how verify tokens are stored for lookup: the handshake must
// find a channel by its token, which is itself encrypted.
func HashToken(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("parley verify token\x00" + token))
	return hex.EncodeToString(sum[:])
}

func (db *DB) sealConfig(ch *parley.Channel) ([]byte, error) {
	if db.Secrets == nil {
		return nil, errors.New("store: no master key configured to encrypt channel secrets")
	}
	plain, err := json.Marshal(channelConfig{Meta: ch.Meta, Twilio: ch.Twilio, ACS: ch.ACS, Sandbox: ch.Sandbox})
	if err != nil {
		return nil, err
	}
	return db.Secrets.Seal(plain, []byte(ch.ID)), nil
}

func (db *DB) openConfig(ch *parley.Channel, sealed []byte) error {
	if db.Secrets == nil {
		return errors.New("store: no master key configured to decrypt channel secrets")
	}
	plain, err := db.Secrets.Open(sealed, []byte(ch.ID))
	if err != nil {
		return fmt.Errorf("decrypt channel %s settings (is PARLEY_MASTER_KEY the key they were saved with?): %w", ch.ID, err)
	}
	var cfg channelConfig
	if err := json.Unmarshal(plain, &cfg); err != nil {
		return fmt.Errorf("decode channel %s settings: %w", ch.ID, err)
	}
	ch.Meta, ch.Twilio, ch.ACS, ch.Sandbox = cfg.Meta, cfg.Twilio, cfg.ACS, cfg.Sandbox
	return nil
}

func verifyTokenOf(ch *parley.Channel) string {
	if ch.Meta != nil {
		return ch.Meta.VerifyToken
	}
	return ""
}

// CreateChannel stores a new channel. A number already connected through
// the same provider account, by any tenant, is a conflict: webhooks could
// not tell the two apart.
func (db *DB) CreateChannel(ctx context.Context, ch *parley.Channel) error {
	now := db.Now().UTC().Truncate(1e6)
	if ch.ID == "" {
		ch.ID = parley.NewID(parley.PrefixChannel)
	}
	ch.CreatedAt, ch.UpdatedAt = now, now
	if ch.Health.Status == "" {
		ch.Health.Status = parley.HealthHealthy
	}
	sealed, err := db.sealConfig(ch)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM channels WHERE provider = $1 AND account_id = $2`, ch.Provider, ch.AccountID).Scan(&exists)
		if err != nil {
			return fmt.Errorf("store: create channel: %w", err)
		}
		if exists > 0 {
			return parley.Errorf(parley.ECONFLICT, "This number (%s account %s) is already connected.", ch.Provider, ch.AccountID)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO channels (id, tenant_id, provider, phone_number, name, account_id, business_account_id,
			verify_token_hash, rate_per_second, config, health_status, health_reason, health_checked_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			ch.ID, ch.TenantID, ch.Provider, ch.PhoneNumber, ch.Name, ch.AccountID, null(ch.BusinessAccountID),
			null(HashToken(verifyTokenOf(ch))), ch.RatePerSecond, sealed, ch.Health.Status, ch.Health.Reason,
			ms(ch.Health.CheckedAt), ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("store: create channel: %w", err)
		}
		return tx.AddEvent(ctx, ch.TenantID, parley.EventChannelUpdated, ch)
	})
}

// UpdateChannel saves a channel's settings, name and pace. Saving new
// settings marks the channel healthy again: the admin has fixed what made
// it unhealthy, and the next send will tell if not.
func (db *DB) UpdateChannel(ctx context.Context, ch *parley.Channel) error {
	ch.UpdatedAt = db.Now().UTC().Truncate(1e6)
	ch.Health = parley.ChannelHealth{Status: parley.HealthHealthy, CheckedAt: ch.UpdatedAt}
	sealed, err := db.sealConfig(ch)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE channels SET name = $1, phone_number = $2, business_account_id = $3, verify_token_hash = $4,
			rate_per_second = $5, config = $6, health_status = $7, health_reason = '', health_checked_at = $8, updated_at = $8
			WHERE id = $9 AND tenant_id = $10`,
			ch.Name, ch.PhoneNumber, null(ch.BusinessAccountID), null(HashToken(verifyTokenOf(ch))), ch.RatePerSecond, sealed,
			ch.Health.Status, ms(ch.UpdatedAt), ch.ID, ch.TenantID)
		if err != nil {
			return fmt.Errorf("store: update channel: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Channel not found.")
		}
		return tx.AddEvent(ctx, ch.TenantID, parley.EventChannelUpdated, ch)
	})
}

// SetChannelHealth records whether a channel can send, and why not.
func (db *DB) SetChannelHealth(ctx context.Context, tenantID, channelID string, h parley.ChannelHealth) error {
	if h.CheckedAt.IsZero() {
		h.CheckedAt = db.Now()
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE channels SET health_status = $1, health_reason = $2, health_checked_at = $3
			WHERE id = $4 AND tenant_id = $5`, h.Status, h.Reason, ms(h.CheckedAt), channelID, tenantID)
		if err != nil {
			return fmt.Errorf("store: set channel health: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Channel not found.")
		}
		return tx.AddEvent(ctx, tenantID, parley.EventChannelUpdated, map[string]any{"id": channelID, "health": h})
	})
}

const channelColumns = `id, tenant_id, provider, phone_number, name, account_id, business_account_id, rate_per_second, config,
	health_status, health_reason, health_checked_at, created_at, updated_at`

func (db *DB) scanChannel(s scanner) (*parley.Channel, error) {
	var ch parley.Channel
	var business sql.NullString
	var sealed []byte
	var checked, created, updated sql.NullInt64
	if err := s.Scan(&ch.ID, &ch.TenantID, &ch.Provider, &ch.PhoneNumber, &ch.Name, &ch.AccountID, &business, &ch.RatePerSecond, &sealed,
		&ch.Health.Status, &ch.Health.Reason, &checked, &created, &updated); err != nil {
		return nil, err
	}
	ch.BusinessAccountID = business.String
	ch.Health.CheckedAt, ch.CreatedAt, ch.UpdatedAt = fromMS(checked), fromMS(created), fromMS(updated)
	if err := db.openConfig(&ch, sealed); err != nil {
		return nil, err
	}
	return &ch, nil
}

func (db *DB) findChannels(ctx context.Context, where string, args ...any) ([]*parley.Channel, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: find channels: %w", err)
	}
	defer rows.Close()
	var out []*parley.Channel
	for rows.Next() {
		ch, err := db.scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("store: find channels: %w", err)
		}
		out = append(out, ch)
	}
	return out, rows.Err()
}

func (db *DB) findChannel(ctx context.Context, where string, args ...any) (*parley.Channel, error) {
	chs, err := db.findChannels(ctx, where, args...)
	if err != nil {
		return nil, err
	}
	if len(chs) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "Channel not found.")
	}
	return chs[0], nil
}

// FindChannel returns one of a tenant's channels.
func (db *DB) FindChannel(ctx context.Context, tenantID, id string) (*parley.Channel, error) {
	return db.findChannel(ctx, `WHERE id = $1 AND tenant_id = $2`, id, tenantID)
}

// ChannelByID routes a webhook whose address names its channel (Twilio,
// ACS), across tenants: the webhook's signature, checked with that
// channel's own secret, is what proves it belongs there.
func (db *DB) ChannelByID(ctx context.Context, id string) (*parley.Channel, error) {
	return db.findChannel(ctx, `WHERE id = $1`, id)
}

// ListChannels returns a tenant's channels, oldest first.
func (db *DB) ListChannels(ctx context.Context, tenantID string) ([]*parley.Channel, error) {
	return db.findChannels(ctx, `WHERE tenant_id = $1 ORDER BY id`, tenantID)
}

// FindChannelByAccount routes a webhook to its channel, across tenants.
func (db *DB) FindChannelByAccount(ctx context.Context, provider, accountID string) (*parley.Channel, error) {
	return db.findChannel(ctx, `WHERE provider = $1 AND account_id = $2`, provider, accountID)
}

// ChannelsByVerifyToken finds the channels a webhook handshake token
// belongs to.
func (db *DB) ChannelsByVerifyToken(ctx context.Context, provider, token string) ([]*parley.Channel, error) {
	if strings.TrimSpace(token) == "" {
		return nil, nil
	}
	return db.findChannels(ctx, `WHERE provider = $1 AND verify_token_hash = $2`, provider, HashToken(token))
}

// ChannelsByBusinessAccount returns the channels of one business account
// (Meta WABA), which share its templates.
func (db *DB) ChannelsByBusinessAccount(ctx context.Context, provider, businessAccountID string) ([]*parley.Channel, error) {
	return db.findChannels(ctx, `WHERE provider = $1 AND business_account_id = $2 ORDER BY id`, provider, businessAccountID)
}

// ChannelsByProvider returns every channel of a provider, across tenants,
// for periodic work such as template sync.
func (db *DB) ChannelsByProvider(ctx context.Context, provider string) ([]*parley.Channel, error) {
	return db.findChannels(ctx, `WHERE provider = $1 ORDER BY id`, provider)
}
