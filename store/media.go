package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parleyhq/parley"
)

// MediaRecord is a stored file's row: an inbound download or an upload.
type MediaRecord struct {
	ID              string
	TenantID        string
	ChannelID       string
	MessageID       string
	ProviderMediaID string
	Link            string
	MIMEType        string
	Filename        string
	Size            int64
	SHA256          string // hex; names the file in the blob store
	Status          string
	Error           string
	Attempts        int
}

// CreateMedia stores a media row.
func (tx *Tx) CreateMedia(ctx context.Context, r *MediaRecord) error {
	if r.ID == "" {
		r.ID = parley.NewID(parley.PrefixMedia)
	}
	now := ms(tx.db.Now())
	_, err := tx.ExecContext(ctx, `INSERT INTO media (id, tenant_id, channel_id, message_id, provider_media_id, link, mime_type, filename,
		size, sha256, status, error, attempts, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)`,
		r.ID, r.TenantID, null(r.ChannelID), null(r.MessageID), null(r.ProviderMediaID), r.Link, r.MIMEType, r.Filename,
		r.Size, r.SHA256, r.Status, r.Error, r.Attempts, now)
	if err != nil {
		return fmt.Errorf("store: create media: %w", err)
	}
	return nil
}

// CreateMedia stores a media row in its own transaction.
func (db *DB) CreateMedia(ctx context.Context, r *MediaRecord) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.CreateMedia(ctx, r) })
}

// FindMedia returns one of a tenant's media rows.
func (db *DB) FindMedia(ctx context.Context, tenantID, id string) (*MediaRecord, error) {
	return findMedia(ctx, db.read, tenantID, id)
}

// FindMedia returns one of a tenant's media rows, inside the transaction.
func (tx *Tx) FindMedia(ctx context.Context, tenantID, id string) (*MediaRecord, error) {
	return findMedia(ctx, tx, tenantID, id)
}

func findMedia(ctx context.Context, q queryer, tenantID, id string) (*MediaRecord, error) {
	var r MediaRecord
	var ch, msg, pid sql.NullString
	err := q.QueryRowContext(ctx, `SELECT id, tenant_id, channel_id, message_id, provider_media_id, link, mime_type, filename, size,
		sha256, status, error, attempts FROM media WHERE id = $1 AND tenant_id = $2`, id, tenantID).Scan(&r.ID, &r.TenantID, &ch, &msg, &pid,
		&r.Link, &r.MIMEType, &r.Filename, &r.Size, &r.SHA256, &r.Status, &r.Error, &r.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Media not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find media: %w", err)
	}
	r.ChannelID, r.MessageID, r.ProviderMediaID = ch.String, msg.String, pid.String
	return &r, nil
}

// FinishMedia records the outcome of a download attempt: the stored
// file's hash, size and type, or the error and the attempt count.
func (tx *Tx) FinishMedia(ctx context.Context, r *MediaRecord) error {
	_, err := tx.ExecContext(ctx, `UPDATE media SET status = $1, error = $2, attempts = $3, sha256 = $4, size = $5, mime_type = $6,
		updated_at = $7 WHERE id = $8 AND tenant_id = $9`, r.Status, r.Error, r.Attempts, r.SHA256, r.Size, r.MIMEType, ms(tx.db.Now()),
		r.ID, r.TenantID)
	if err != nil {
		return fmt.Errorf("store: finish media: %w", err)
	}
	return nil
}
