package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley"
)

// UserByOIDC returns the active user linked to an identity provider's
// account: its tenant (Entra's tid) and object ID (oid).
func (db *DB) UserByOIDC(ctx context.Context, tenantID, objectID string) (*parley.User, error) {
	if objectID == "" {
		return nil, parley.Errorf(parley.ENOTFOUND, "User not found.")
	}
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users
		WHERE oidc_tenant_id = $1 AND oidc_object_id = $2 AND disabled_at IS NULL`, tenantID, objectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find user by oidc account: %w", err)
	}
	return u, nil
}

// LinkOIDC links a user to an identity provider's account, so that the
// account signs them in from then on whatever its email becomes. A user
// already linked to another account is not relinked (ECONFLICT): that
// would let anyone whose provider claims the user's email take the user
// over. Linking the same account again is a no-op.
func (db *DB) LinkOIDC(ctx context.Context, userID, tenantID, objectID string) error {
	if objectID == "" {
		return parley.Errorf(parley.EINVALID, "An account to link needs an object ID.")
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE oidc_tenant_id = $1 AND oidc_object_id = $2 AND id <> $3`,
			tenantID, objectID, userID).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: link oidc account: %w", err)
		}
		if n > 0 {
			return parley.Errorf(parley.ECONFLICT, "This account is linked to another user.")
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET oidc_tenant_id = $1, oidc_object_id = $2, updated_at = $3
			WHERE id = $4 AND (oidc_object_id = '' OR (oidc_tenant_id = $1 AND oidc_object_id = $2))`,
			tenantID, objectID, ms(db.Now()), userID)
		if err != nil {
			return fmt.Errorf("store: link oidc account: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ECONFLICT, "The user is linked to another account.")
		}
		return nil
	})
}

// CreateSignInCode stores the hash of a one-time code that signs u in
// until expires. Expired codes nobody took are deleted on the way.
func (db *DB) CreateSignInCode(ctx context.Context, u *parley.User, codeHash string, expires time.Time) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_codes WHERE expires_at <= $1`, ms(db.Now())); err != nil {
			return fmt.Errorf("store: create sign-in code: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sign_in_codes (id, user_id, tenant_id, expires_at) VALUES ($1, $2, $3, $4)`,
			codeHash, u.ID, u.TenantID, ms(expires))
		if err != nil {
			return fmt.Errorf("store: create sign-in code: %w", err)
		}
		return nil
	})
}

// TakeSignInCode uses up a one-time code and returns its user. A code
// works once: it is deleted as it is read, so of two concurrent takes
// only one finds it. An unknown, used or expired code is EUNAUTHORIZED.
func (db *DB) TakeSignInCode(ctx context.Context, codeHash string) (*parley.User, error) {
	var u *parley.User
	err := db.InTx(ctx, func(tx *Tx) error {
		var userID, tenantID string
		var expires int64
		err := tx.QueryRowContext(ctx, `DELETE FROM sign_in_codes WHERE id = $1 RETURNING user_id, tenant_id, expires_at`, codeHash).
			Scan(&userID, &tenantID, &expires)
		if errors.Is(err, sql.ErrNoRows) || err == nil && expires <= db.Now().UnixMilli() {
			return parley.Errorf(parley.EUNAUTHORIZED, "The sign-in code has expired or was used; sign in again.")
		} else if err != nil {
			return fmt.Errorf("store: take sign-in code: %w", err)
		}
		if u, err = tx.FindUser(ctx, tenantID, userID); parley.ErrorCode(err) == parley.ENOTFOUND {
			return parley.Errorf(parley.EUNAUTHORIZED, "The user of the sign-in code is disabled.")
		}
		return err
	})
	return u, err
}
