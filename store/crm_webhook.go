package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/phone"
)

// MirrorRecord is a record of a CRM connected through webhooks, as Parley
// keeps it: the CRM cannot be queried, so what it pushed (or the initial
// import read) is what lookups and template bindings read.
type MirrorRecord struct {
	Entity    string
	ID        string
	Name      string
	URL       string // the record's page in the CRM (source_crm_url)
	SourceCRM string
	// Phones are as the CRM wrote them; their digits are what matching
	// uses.
	Phones []string
	// Fields are every field the CRM sent, as text.
	Fields    map[string]string
	Deleted   bool
	UpdatedAt time.Time
}

// mirrorPhoneSuffix is the part of a phone kept for matching: the last
// eight digits, shared by every way of writing one number (crm.PhoneFilter
// explains why), or all of a shorter one's.
func mirrorPhoneSuffix(raw string) string {
	d := phone.Digits(raw)
	if len(d) > 8 {
		return d[len(d)-8:]
	}
	return d
}

// PhoneSuffix is what a phone is matched on in the mirror.
func PhoneSuffix(raw string) string { return mirrorPhoneSuffix(raw) }

// UpsertMirrorRecord stores a record as it now is, replacing what was kept,
// and undeletes it.
func (tx *Tx) UpsertMirrorRecord(ctx context.Context, connectorID string, r MirrorRecord) error {
	fields, err := json.Marshal(r.Fields)
	if err != nil {
		return fmt.Errorf("store: mirror record %s:%s: %w", r.Entity, r.ID, err)
	}
	var digits []string
	suffixes := map[string]bool{}
	for _, p := range r.Phones {
		if d := phone.Digits(p); d != "" {
			digits = append(digits, d)
			suffixes[mirrorPhoneSuffix(p)] = true
		}
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = tx.db.Now()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO crm_records (connector_id, entity, record_id, name, url, source_crm, phones, fields, deleted, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)
		ON CONFLICT (connector_id, entity, record_id) DO UPDATE SET name = excluded.name, url = excluded.url, source_crm = excluded.source_crm,
			phones = excluded.phones, fields = excluded.fields, deleted = 0, updated_at = excluded.updated_at`,
		connectorID, r.Entity, r.ID, r.Name, r.URL, r.SourceCRM, strings.Join(digits, " "), string(fields), ms(r.UpdatedAt)); err != nil {
		return fmt.Errorf("store: mirror record %s:%s: %w", r.Entity, r.ID, err)
	}
	if err := tx.dropMirrorPhones(ctx, connectorID, r.Entity, r.ID); err != nil {
		return err
	}
	for s := range suffixes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO crm_record_phones (connector_id, suffix, entity, record_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT DO NOTHING`, connectorID, s, r.Entity, r.ID); err != nil {
			return fmt.Errorf("store: mirror record %s:%s phones: %w", r.Entity, r.ID, err)
		}
	}
	return nil
}

func (tx *Tx) dropMirrorPhones(ctx context.Context, connectorID, entity, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM crm_record_phones WHERE connector_id = $1 AND entity = $2 AND record_id = $3`,
		connectorID, entity, id); err != nil {
		return fmt.Errorf("store: mirror record %s:%s phones: %w", entity, id, err)
	}
	return nil
}

// DeleteMirrorRecord marks a record deleted in the CRM. The row stays (a
// late update must not bring it back unnoticed, and the console keeps its
// link's address), but no lookup finds it any more.
func (tx *Tx) DeleteMirrorRecord(ctx context.Context, connectorID, entity, id string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO crm_records (connector_id, entity, record_id, deleted, updated_at) VALUES ($1, $2, $3, 1, $4)
		ON CONFLICT (connector_id, entity, record_id) DO UPDATE SET deleted = 1, updated_at = excluded.updated_at`,
		connectorID, entity, id, ms(tx.db.Now())); err != nil {
		return fmt.Errorf("store: delete mirror record %s:%s: %w", entity, id, err)
	}
	return tx.dropMirrorPhones(ctx, connectorID, entity, id)
}

const mirrorColumns = `entity, record_id, name, url, source_crm, fields, deleted, updated_at`

func scanMirror(s scanner) (*MirrorRecord, error) {
	var r MirrorRecord
	var fields string
	var deleted int
	var updated sql.NullInt64
	if err := s.Scan(&r.Entity, &r.ID, &r.Name, &r.URL, &r.SourceCRM, &fields, &deleted, &updated); err != nil {
		return nil, err
	}
	r.Deleted, r.UpdatedAt = deleted != 0, fromMS(updated)
	if err := json.Unmarshal([]byte(fields), &r.Fields); err != nil {
		return nil, fmt.Errorf("decode fields of %s:%s: %w", r.Entity, r.ID, err)
	}
	if r.Fields == nil {
		r.Fields = map[string]string{}
	}
	if p := r.Fields["phones"]; p != "" {
		for _, s := range strings.Split(p, ";") {
			if s = strings.TrimSpace(s); s != "" {
				r.Phones = append(r.Phones, s)
			}
		}
	}
	return &r, nil
}

// MirrorRecord returns a mirrored record, deleted or not; ENOTFOUND if the
// CRM never sent it.
func (db *DB) MirrorRecord(ctx context.Context, connectorID, entity, id string) (*MirrorRecord, error) {
	return mirrorRecord(ctx, db.read, connectorID, entity, id)
}

// MirrorRecord reads a mirrored record inside a transaction.
func (tx *Tx) MirrorRecord(ctx context.Context, connectorID, entity, id string) (*MirrorRecord, error) {
	return mirrorRecord(ctx, tx, connectorID, entity, id)
}

func mirrorRecord(ctx context.Context, q queryer, connectorID, entity, id string) (*MirrorRecord, error) {
	r, err := scanMirror(q.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM crm_records WHERE connector_id = $1 AND entity = $2 AND record_id = $3`,
		connectorID, entity, id))
	if errors.Is(err, sql.ErrNoRows) {
		// Links keep record IDs in lower case (parley.ParseRecord); the
		// CRM's own may not be.
		r, err = scanMirror(q.QueryRowContext(ctx, `SELECT `+mirrorColumns+` FROM crm_records WHERE connector_id = $1 AND entity = $2
			AND lower(record_id) = lower($3) ORDER BY record_id LIMIT 1`, connectorID, entity, id))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "The CRM has sent no record %s:%s.", entity, id)
	} else if err != nil {
		return nil, fmt.Errorf("store: mirror record: %w", err)
	}
	return r, nil
}

// MirrorCandidates returns the live records of an entity with a phone
// ending like the number, at most limit; the caller decides which are the
// number with crm.SamePhone.
func (db *DB) MirrorCandidates(ctx context.Context, connectorID, entity, e164 string, limit int) ([]*MirrorRecord, error) {
	suffix := mirrorPhoneSuffix(e164)
	if suffix == "" {
		return nil, nil
	}
	rows, err := db.read.QueryContext(ctx, `SELECT r.entity, r.record_id, r.name, r.url, r.source_crm, r.fields, r.deleted, r.updated_at
		FROM crm_record_phones p JOIN crm_records r ON r.connector_id = p.connector_id AND r.entity = p.entity AND r.record_id = p.record_id
		WHERE p.connector_id = $1 AND p.suffix = $2 AND p.entity = $3 AND r.deleted = 0 ORDER BY r.record_id LIMIT $4`,
		connectorID, suffix, entity, limit)
	if err != nil {
		return nil, fmt.Errorf("store: mirror candidates: %w", err)
	}
	defer rows.Close()
	var out []*MirrorRecord
	for rows.Next() {
		r, err := scanMirror(rows)
		if err != nil {
			return nil, fmt.Errorf("store: mirror candidates: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountMirrorRecords counts a connector's live mirrored records.
func (db *DB) CountMirrorRecords(ctx context.Context, connectorID string) (int64, error) {
	var n int64
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_records WHERE connector_id = $1 AND deleted = 0`, connectorID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count mirror records: %w", err)
	}
	return n, nil
}

// SeeWebhook records a webhook-id heard from a connector's CRM until
// expires. It reports false when the id was already seen: the webhook is a
// replay (or a redelivery) and must not be applied again. Ids past their
// expiry are dropped on the way: a webhook that old fails its timestamp
// check before it gets here.
func (tx *Tx) SeeWebhook(ctx context.Context, connectorID, webhookID string, expires time.Time) (bool, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM crm_webhook_seen WHERE connector_id = $1 AND expires_at < $2`,
		connectorID, ms(tx.db.Now())); err != nil {
		return false, fmt.Errorf("store: see webhook: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO crm_webhook_seen (connector_id, webhook_id, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (connector_id, webhook_id) DO NOTHING`, connectorID, webhookID, ms(expires))
	if err != nil {
		return false, fmt.Errorf("store: see webhook: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: see webhook: %w", err)
	}
	return n == 1, nil
}

// Import states.
const (
	ImportRunning = "running"
	ImportDone    = "done"
	ImportFailed  = "failed"
)

// ImportState is how far a connector's initial import got.
type ImportState struct {
	Status string `json:"status" enum:"running,done,failed"`
	// Cursor is where the next page is read from: a page's address or a
	// cursor value; empty starts from the first page.
	Cursor     string    `json:"-"`
	Records    int64     `json:"records"`
	Pages      int64     `json:"pages"`
	Error      string    `json:"last_error,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// ImportState returns a connector's import; nil if it never ran.
func (db *DB) ImportState(ctx context.Context, connectorID string) (*ImportState, error) {
	var s ImportState
	var started, updated, finished sql.NullInt64
	err := db.read.QueryRowContext(ctx, `SELECT status, next_cursor, records, pages, error, started_at, updated_at, finished_at FROM crm_imports
		WHERE connector_id = $1`, connectorID).Scan(&s.Status, &s.Cursor, &s.Records, &s.Pages, &s.Error, &started, &updated, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("store: import state: %w", err)
	}
	s.StartedAt, s.UpdatedAt, s.FinishedAt = fromMS(started), fromMS(updated), fromMS(finished)
	return &s, nil
}

// SaveImportState records a connector's import progress.
func (tx *Tx) SaveImportState(ctx context.Context, connectorID string, s *ImportState) error {
	s.UpdatedAt = tx.db.Now().UTC().Truncate(time.Millisecond)
	if s.StartedAt.IsZero() {
		s.StartedAt = s.UpdatedAt
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO crm_imports (connector_id, status, next_cursor, records, pages, error, started_at, updated_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (connector_id) DO UPDATE SET status = excluded.status, next_cursor = excluded.next_cursor, records = excluded.records,
			pages = excluded.pages, error = excluded.error, started_at = excluded.started_at, updated_at = excluded.updated_at,
			finished_at = excluded.finished_at`,
		connectorID, s.Status, s.Cursor, s.Records, s.Pages, s.Error, ms(s.StartedAt), ms(s.UpdatedAt), ms(s.FinishedAt))
	if err != nil {
		return fmt.Errorf("store: save import state: %w", err)
	}
	return nil
}

// SaveImportState records import progress in a transaction of its own.
func (db *DB) SaveImportState(ctx context.Context, connectorID string, s *ImportState) error {
	return db.InTx(ctx, func(tx *Tx) error { return tx.SaveImportState(ctx, connectorID, s) })
}

// Delivery is one attempt to deliver an activity to a CRM.
type Delivery struct {
	ID          int64         `json:"id"`
	ConnectorID string        `json:"-"`
	WebhookID   string        `json:"webhook_id"`
	MessageID   string        `json:"message_id"`
	EventType   string        `json:"event_type"`
	Attempt     int           `json:"attempt"`
	HTTPStatus  int           `json:"http_status"`
	Error       string        `json:"error,omitempty"`
	Duration    time.Duration `json:"-"`
	DurationMS  int64         `json:"duration_ms"`
	At          time.Time     `json:"at"`
}

// AddDelivery records an attempt; its number is one more than the
// attempts of the same webhook-id before it.
func (db *DB) AddDelivery(ctx context.Context, d *Delivery) error {
	if d.At.IsZero() {
		d.At = db.Now().UTC().Truncate(time.Millisecond)
	}
	d.DurationMS = d.Duration.Milliseconds()
	if len(d.Error) > 1000 {
		d.Error = d.Error[:1000]
	}
	return db.InTx(ctx, func(tx *Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) + 1 FROM crm_deliveries WHERE connector_id = $1 AND webhook_id = $2`,
			d.ConnectorID, d.WebhookID).Scan(&d.Attempt); err != nil {
			return fmt.Errorf("store: add delivery: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO crm_deliveries (connector_id, webhook_id, message_id, event_type, attempt, http_status, error,
			duration_ms, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, d.ConnectorID, d.WebhookID, d.MessageID, d.EventType,
			d.Attempt, d.HTTPStatus, d.Error, d.DurationMS, ms(d.At)).Scan(&d.ID); err != nil {
			return fmt.Errorf("store: add delivery: %w", err)
		}
		return nil
	})
}

// Deliveries returns a connector's delivery attempts, newest first: at
// most limit, older than the attempt before (0 for the newest).
func (db *DB) Deliveries(ctx context.Context, connectorID string, before int64, limit int) ([]Delivery, error) {
	if before <= 0 {
		before = 1<<62 - 1
	}
	rows, err := db.read.QueryContext(ctx, `SELECT id, webhook_id, message_id, event_type, attempt, http_status, error, duration_ms, at
		FROM crm_deliveries WHERE connector_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, connectorID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d := Delivery{ConnectorID: connectorID}
		var at sql.NullInt64
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.MessageID, &d.EventType, &d.Attempt, &d.HTTPStatus, &d.Error, &d.DurationMS, &at); err != nil {
			return nil, fmt.Errorf("store: deliveries: %w", err)
		}
		d.Duration, d.At = time.Duration(d.DurationMS)*time.Millisecond, fromMS(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Delivered reports whether a webhook-id, or any event of a message when
// webhookID is empty, reached the CRM (a 2xx answer).
func (db *DB) Delivered(ctx context.Context, connectorID, webhookID, messageID string) (bool, error) {
	q, arg := `webhook_id = $2`, webhookID
	if webhookID == "" {
		q, arg = `message_id = $2`, messageID
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM crm_deliveries WHERE connector_id = $1 AND `+q+`
		AND http_status >= 200 AND http_status < 300`, connectorID, arg).Scan(&n); err != nil {
		return false, fmt.Errorf("store: delivered: %w", err)
	}
	return n > 0, nil
}
