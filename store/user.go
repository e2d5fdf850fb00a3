package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

const userColumns = `id, tenant_id, email, name, role, language, time_zone, must_change_password, created_at`

func scanUser(row scanner, more ...any) (*parley.User, error) {
	var u parley.User
	var created sql.NullInt64
	var mustChange int64
	if err := row.Scan(append([]any{&u.ID, &u.TenantID, &u.Email, &u.Name, &u.Role, &u.Language, &u.TimeZone, &mustChange, &created},
		more...)...); err != nil {
		return nil, err
	}
	u.MustChangePassword = mustChange != 0
	u.CreatedAt = fromMS(created)
	return &u, nil
}

// NormalizeEmail is how emails are compared: trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CreateUser stores a console user with a password hash (see package web
// for the hashing). An email signs in to one tenant only. A user with
// MustChangePassword is asked for a new password at the next sign-in.
func (db *DB) CreateUser(ctx context.Context, u *parley.User, passwordHash string) error {
	u.Email = NormalizeEmail(u.Email)
	if !strings.Contains(u.Email, "@") {
		return parley.Errorf(parley.EINVALID, "%q is not an email address.", u.Email)
	}
	if !parley.ValidRole(u.Role) {
		return parley.Errorf(parley.EINVALID, "The role is agent, supervisor or admin, not %q.", u.Role)
	}
	if u.ID == "" {
		u.ID = parley.NewID(parley.PrefixUser)
	}
	u.CreatedAt = db.Now().UTC().Truncate(time.Millisecond)
	return db.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE email = $1`, u.Email).Scan(&n); err != nil {
			return fmt.Errorf("store: create user: %w", err)
		}
		if n > 0 {
			return parley.Errorf(parley.ECONFLICT, "A user with the email %s already exists.", u.Email)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, tenant_id, email, name, role, password_hash, language, time_zone,
			must_change_password, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`, u.ID, u.TenantID, u.Email, u.Name, u.Role, passwordHash, u.Language,
			u.TimeZone, boolInt(u.MustChangePassword), ms(u.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: create user: %w", err)
		}
		return nil
	})
}

// UserByEmail returns an active user and the hash of their password, for
// signing in.
func (db *DB) UserByEmail(ctx context.Context, email string) (*parley.User, string, error) {
	var hash string
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+`, password_hash FROM users
		WHERE email = $1 AND disabled_at IS NULL`, NormalizeEmail(email)), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", parley.Errorf(parley.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, "", fmt.Errorf("store: find user: %w", err)
	}
	return u, hash, nil
}

// FindUser returns one of a tenant's active users.
func (db *DB) FindUser(ctx context.Context, tenantID, id string) (*parley.User, error) {
	return findUser(ctx, db.read, tenantID, id)
}

// FindUser returns one of a tenant's active users, inside the transaction.
func (tx *Tx) FindUser(ctx context.Context, tenantID, id string) (*parley.User, error) {
	return findUser(ctx, tx, tenantID, id)
}

func findUser(ctx context.Context, q queryer, tenantID, id string) (*parley.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND tenant_id = $2 AND disabled_at IS NULL`,
		id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find user: %w", err)
	}
	return u, nil
}

// ListUsers returns a tenant's active users by name.
func (db *DB) ListUsers(ctx context.Context, tenantID string) ([]*parley.User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND disabled_at IS NULL
		ORDER BY lower(name), email`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []*parley.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetPassword replaces a user's password hash and ends their sessions, so
// that whoever knew the old one is signed out everywhere. mustChange asks
// the user to choose another at the next sign-in: set it for a password
// someone else chose.
func (db *DB) SetPassword(ctx context.Context, userID, hash string, mustChange bool) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4`,
			hash, boolInt(mustChange), ms(db.Now()), userID); err != nil {
			return fmt.Errorf("store: set password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("store: set password: %w", err)
		}
		return nil
	})
}

// SetUserPreferences saves a user's language and time zone.
func (db *DB) SetUserPreferences(ctx context.Context, tenantID, userID, language, timeZone string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET language = $1, time_zone = $2, updated_at = $3 WHERE id = $4 AND tenant_id = $5`,
			language, timeZone, ms(db.Now()), userID, tenantID)
		if err != nil {
			return fmt.Errorf("store: set preferences: %w", err)
		}
		return nil
	})
}

// CreateSession records a signed-in session by the hash of its token.
func (db *DB) CreateSession(ctx context.Context, u *parley.User, tokenHash string, expires time.Time) error {
	now := ms(db.Now())
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, tenant_id, created_at, expires_at, last_seen_at)
			VALUES ($1, $2, $3, $4, $5, $4)`, tokenHash, u.ID, u.TenantID, now, ms(expires))
		if err != nil {
			return fmt.Errorf("store: create session: %w", err)
		}
		return nil
	})
}

// SessionUser returns the user of a live session.
func (db *DB) SessionUser(ctx context.Context, tokenHash string) (*parley.User, error) {
	cols := "u." + strings.ReplaceAll(userColumns, ", ", ", u.")
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+cols+` FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL`, tokenHash, ms(db.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.EUNAUTHORIZED, "Your session has ended; sign in again.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	return u, nil
}

// DeleteSession signs a session out.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, tokenHash)
		return err
	})
}

// PruneSessions deletes expired sessions.
func (db *DB) PruneSessions(ctx context.Context) error {
	return db.InTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, ms(db.Now()))
		return err
	})
}

// CreateTeam makes a team.
func (db *DB) CreateTeam(ctx context.Context, tenantID, name string) (*parley.Team, error) {
	t := &parley.Team{ID: parley.NewID(parley.PrefixTeam), TenantID: tenantID, Name: strings.TrimSpace(name)}
	if t.Name == "" {
		return nil, parley.Errorf(parley.EINVALID, "A team needs a name.")
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO teams (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			t.ID, tenantID, t.Name, ms(db.Now()))
		if err != nil {
			return fmt.Errorf("store: create team: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ECONFLICT, "A team named %q already exists.", t.Name)
		}
		return nil
	})
	return t, err
}

// AddTeamMember puts one of the tenant's users in one of its teams.
func (db *DB) AddTeamMember(ctx context.Context, tenantID, teamID, userID string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.FindTeam(ctx, tenantID, teamID); err != nil {
			return err
		}
		if _, err := tx.FindUser(ctx, tenantID, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, userID)
		return err
	})
}

// FindTeam returns one of a tenant's teams.
func (tx *Tx) FindTeam(ctx context.Context, tenantID, id string) (*parley.Team, error) {
	var t parley.Team
	err := tx.QueryRowContext(ctx, `SELECT id, tenant_id, name FROM teams WHERE id = $1 AND tenant_id = $2`, id, tenantID).Scan(&t.ID, &t.TenantID, &t.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Team not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find team: %w", err)
	}
	return &t, nil
}

// ListTeams returns a tenant's teams by name.
func (db *DB) ListTeams(ctx context.Context, tenantID string) ([]*parley.Team, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, tenant_id, name FROM teams WHERE tenant_id = $1 ORDER BY name`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: list teams: %w", err)
	}
	defer rows.Close()
	var out []*parley.Team
	for rows.Next() {
		var t parley.Team
		if err := rows.Scan(&t.ID, &t.TenantID, &t.Name); err != nil {
			return nil, fmt.Errorf("store: list teams: %w", err)
		}
		out = append(out, &t)
	}
	return out, rows.Err()
}

// CreateQuickReply adds a canned answer, inserted in the composer by
// typing /shortcut.
func (db *DB) CreateQuickReply(ctx context.Context, tenantID, shortcut, text string) (*parley.QuickReply, error) {
	q := &parley.QuickReply{ID: parley.NewID(parley.PrefixQuickReply), TenantID: tenantID,
		Shortcut: strings.TrimPrefix(strings.TrimSpace(shortcut), "/"), Text: strings.TrimSpace(text)}
	if q.Shortcut == "" || strings.ContainsAny(q.Shortcut, " \t\n") || q.Text == "" {
		return nil, parley.Errorf(parley.EINVALID, "A quick reply needs a one-word shortcut and a text.")
	}
	err := db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO quick_replies (id, tenant_id, shortcut, text, created_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, q.ID, tenantID, q.Shortcut, q.Text, ms(db.Now()))
		if err != nil {
			return fmt.Errorf("store: create quick reply: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ECONFLICT, "The shortcut /%s is taken.", q.Shortcut)
		}
		return nil
	})
	return q, err
}

// ListQuickReplies returns a tenant's quick replies by shortcut.
func (db *DB) ListQuickReplies(ctx context.Context, tenantID string) ([]*parley.QuickReply, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, tenant_id, shortcut, text FROM quick_replies WHERE tenant_id = $1 ORDER BY shortcut`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: list quick replies: %w", err)
	}
	defer rows.Close()
	var out []*parley.QuickReply
	for rows.Next() {
		var q parley.QuickReply
		if err := rows.Scan(&q.ID, &q.TenantID, &q.Shortcut, &q.Text); err != nil {
			return nil, fmt.Errorf("store: list quick replies: %w", err)
		}
		out = append(out, &q)
	}
	return out, rows.Err()
}

// DeleteQuickReply removes one of a tenant's quick replies.
func (db *DB) DeleteQuickReply(ctx context.Context, tenantID, id string) error {
	return db.InTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM quick_replies WHERE id = $1 AND tenant_id = $2`, id, tenantID)
		if err != nil {
			return fmt.Errorf("store: delete quick reply: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ENOTFOUND, "Quick reply not found.")
		}
		return nil
	})
}

// UserTeams returns the IDs of the teams a user belongs to.
func (db *DB) UserTeams(ctx context.Context, userID string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT team_id FROM team_members WHERE user_id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: user teams: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: user teams: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
