package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
)

// CreateTenant creates a tenant.
func (db *DB) CreateTenant(ctx context.Context, name string) (*parley.Tenant, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, parley.Errorf(parley.EINVALID, "A tenant needs a name.")
	}
	t := &parley.Tenant{ID: parley.NewID(parley.PrefixTenant), Name: name, CreatedAt: db.Now().UTC().Truncate(1e6)}
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, opt_out_keywords, created_at) VALUES ($1, $2, '[]', $3)`,
			t.ID, t.Name, ms(t.CreatedAt))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: create tenant: %w", err)
	}
	return t, nil
}

const tenantColumns = `id, name, opt_out_keywords, created_at`

func scanTenant(s scanner) (*parley.Tenant, error) {
	var t parley.Tenant
	var kw string
	var created sql.NullInt64
	if err := s.Scan(&t.ID, &t.Name, &kw, &created); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMS(created)
	if err := json.Unmarshal([]byte(kw), &t.OptOutKeywords); err != nil {
		return nil, fmt.Errorf("opt-out keywords: %w", err)
	}
	return &t, nil
}

// FindTenant returns a tenant by ID.
func (db *DB) FindTenant(ctx context.Context, id string) (*parley.Tenant, error) {
	return findTenant(ctx, db.read, `WHERE id = $1`, id)
}

// FindTenantByName returns the first tenant with the given name.
func (db *DB) FindTenantByName(ctx context.Context, name string) (*parley.Tenant, error) {
	return findTenant(ctx, db.read, `WHERE name = $1 ORDER BY id LIMIT 1`, name)
}

func findTenant(ctx context.Context, q queryer, where string, args ...any) (*parley.Tenant, error) {
	t, err := scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantColumns+` FROM tenants `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Tenant not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find tenant: %w", err)
	}
	return t, nil
}

// SetOptOutKeywords replaces a tenant's opt-out keywords; an empty list
// restores the defaults.
func (db *DB) SetOptOutKeywords(ctx context.Context, tenantID string, keywords []string) error {
	var clean []string
	for _, k := range keywords {
		if k = strings.TrimSpace(k); k != "" {
			clean = append(clean, k)
		}
	}
	if clean == nil {
		clean = []string{}
	}
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET opt_out_keywords = $1 WHERE id = $2`, mustJSON(clean), tenantID)
		if err != nil {
			return fmt.Errorf("store: set opt-out keywords: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Tenant not found.")
		}
		return nil
	})
}

// apiKeyPrefix marks Parley API keys, so secret scanners can spot a leaked
// one and so a key pasted in the wrong place is recognisable.
const apiKeyPrefix = "pk_"

// HashAPIKey is how API keys are stored: a SHA-256 digest. Keys are 256
// random bits, so a fast hash is enough; there is nothing to brute-force.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// CreateAPIKey makes a new key for a tenant and returns its plaintext,
// which is never stored and cannot be shown again.
func (db *DB) CreateAPIKey(ctx context.Context, tenantID, name string) (string, *parley.APIKey, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, fmt.Errorf("store: create api key: %w", err)
	}
	plain := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	k := &parley.APIKey{
		ID:        parley.NewID(parley.PrefixAPIKey),
		TenantID:  tenantID,
		Name:      name,
		Hint:      plain[len(plain)-4:],
		CreatedAt: db.Now().UTC().Truncate(1e6),
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, hash, hint, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, k.TenantID, k.Name, HashAPIKey(plain), k.Hint, ms(k.CreatedAt))
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("store: create api key: %w", err)
	}
	return plain, k, nil
}

// Authenticate returns the tenant and key for a plaintext API key.
func (db *DB) Authenticate(ctx context.Context, plain string) (*parley.Tenant, *parley.APIKey, error) {
	if !strings.HasPrefix(plain, apiKeyPrefix) {
		return nil, nil, parley.Errorf(parley.EUNAUTHORIZED, "Invalid API key.")
	}
	var k parley.APIKey
	var created sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT id, tenant_id, name, hint, created_at FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`,
		HashAPIKey(plain)).Scan(&k.ID, &k.TenantID, &k.Name, &k.Hint, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, parley.Errorf(parley.EUNAUTHORIZED, "Invalid API key.")
	} else if err != nil {
		return nil, nil, fmt.Errorf("store: authenticate: %w", err)
	}
	k.CreatedAt = fromMS(created)
	t, err := db.FindTenant(ctx, k.TenantID)
	if err != nil {
		return nil, nil, err
	}
	return t, &k, nil
}
