package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/phone"
)

// Identity is what is known of a customer when a message arrives or is
// sent: any of WhatsApp ID, BSUID and E.164 phone.
type Identity struct {
	WAID        string
	BSUID       string
	Phone       string // E.164
	ProfileName string
}

// rawPhone is the identity's number as given: the E.164 phone, or the
// WhatsApp ID with a plus. It is enough to match (phone.Key is cheap), so
// the costly validation in normalize runs only when a contact is written.
func (id Identity) rawPhone() string {
	if id.Phone != "" {
		return id.Phone
	}
	return phone.FromWAID(id.WAID)
}

// normalize returns a number in today's valid form (a Brazilian wa_id
// without the ninth digit gets it back), or as it is when it is no valid
// number: WhatsApp IDs outside the phone-number metadata still exist.
func normalize(p string) string {
	if p == "" {
		return ""
	}
	if n, err := phone.Normalize(p, ""); err == nil {
		return n
	}
	return p
}

const contactColumns = `id, tenant_id, wa_id, bsuid, phone, name, profile_name, language,
	consent_state, consent_source, consent_at, opt_in_source, opt_in_at, created_at, updated_at`

// contactScan holds a contact row's nullable columns while it is scanned.
type contactScan struct {
	c                                    parley.Contact
	waid, bsuid, phone                   sql.NullString
	consentAt, optInAt, created, updated sql.NullInt64
}

func (s *contactScan) dest() []any {
	c := &s.c
	return []any{&c.ID, &c.TenantID, &s.waid, &s.bsuid, &s.phone, &c.Name, &c.ProfileName, &c.Language,
		&c.Consent.State, &c.Consent.Source, &s.consentAt, &c.Consent.OptInSource, &s.optInAt, &s.created, &s.updated}
}

func (s *contactScan) finish() *parley.Contact {
	c := s.c
	c.WAID, c.BSUID, c.Phone = s.waid.String, s.bsuid.String, s.phone.String
	c.Consent.At, c.Consent.OptInAt = fromMS(s.consentAt), fromMS(s.optInAt)
	c.CreatedAt, c.UpdatedAt = fromMS(s.created), fromMS(s.updated)
	return &c
}

func scanContact(row scanner) (*parley.Contact, error) {
	var s contactScan
	if err := row.Scan(s.dest()...); err != nil {
		return nil, err
	}
	return s.finish(), nil
}

// FindOrCreateContact returns the tenant's contact for an identity,
// creating it if none matches, and fills in what the identity adds (a
// BSUID learnt later, a new profile name). Phones match through phone.Key,
// so Brazil's ninth digit and the Argentine and Mexican mobile prefixes do
// not split one person into two contacts.
func (tx *Tx) FindOrCreateContact(ctx context.Context, tenantID string, id Identity) (c *parley.Contact, created bool, err error) {
	raw := id.rawPhone()
	key := phone.Key(raw)
	if key == "" && id.BSUID == "" {
		return nil, false, parley.Errorf(parley.EINVALID, "The contact has neither a valid phone number nor a WhatsApp user ID.")
	}
	c, err = tx.matchContact(ctx, tenantID, key, id.BSUID)
	if err != nil {
		return nil, false, err
	}
	if c == nil {
		e164 := normalize(raw)
		now := tx.db.Now().UTC()
		c = &parley.Contact{ID: parley.NewID(parley.PrefixContact), TenantID: tenantID, WAID: id.WAID, BSUID: id.BSUID,
			Phone: e164, ProfileName: id.ProfileName, Language: phone.Language(e164), Consent: parley.Consent{State: parley.ConsentUnknown},
			CreatedAt: now, UpdatedAt: now}
		res, err := tx.ExecContext(ctx, `INSERT INTO contacts (id, tenant_id, wa_id, bsuid, phone, phone_key, profile_name, language, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT DO NOTHING`,
			c.ID, tenantID, null(c.WAID), null(c.BSUID), null(c.Phone), null(key), c.ProfileName, c.Language, ms(now))
		if err != nil {
			return nil, false, fmt.Errorf("store: create contact: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return c, true, nil
		}
		// Another replica created it between our read and our write.
		c, err = tx.matchContact(ctx, tenantID, key, id.BSUID)
		if err != nil || c == nil {
			return nil, false, fmt.Errorf("store: create contact: lost a race and found nothing: %v", err)
		}
	}
	return c, false, tx.completeContact(ctx, c, id, raw, key)
}

func (tx *Tx) matchContact(ctx context.Context, tenantID, key, bsuid string) (*parley.Contact, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts
		WHERE tenant_id = $1 AND (phone_key = $2 OR bsuid = $3) ORDER BY id LIMIT 2`, tenantID, null(key), null(bsuid))
	if err != nil {
		return nil, fmt.Errorf("store: match contact: %w", err)
	}
	defer rows.Close()
	var found []*parley.Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: match contact: %w", err)
		}
		found = append(found, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: match contact: %w", err)
	}
	// When the phone and the BSUID name two contacts (the BSUID arrived
	// alone first), the phone's contact wins: CRMs link by phone.
	for _, c := range found {
		if key != "" && phone.Key(c.Phone) == key {
			return c, nil
		}
	}
	if len(found) > 0 {
		return found[0], nil
	}
	return nil, nil
}

// completeContact adds what the identity knows and the contact does not.
// Most messages change nothing, and then nothing is written.
func (tx *Tx) completeContact(ctx context.Context, c *parley.Contact, id Identity, raw, key string) error {
	var sets []string
	var args []any
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if id.WAID != "" && c.WAID != id.WAID {
		c.WAID = id.WAID
		set("wa_id", id.WAID)
	}
	if id.BSUID != "" && c.BSUID == "" {
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE tenant_id = $1 AND bsuid = $2`, c.TenantID, id.BSUID).Scan(&taken); err != nil {
			return fmt.Errorf("store: complete contact: %w", err)
		}
		if taken == 0 {
			c.BSUID = id.BSUID
			set("bsuid", id.BSUID)
		}
	}
	if c.Phone == "" && raw != "" {
		c.Phone = normalize(raw)
		set("phone", c.Phone)
		set("phone_key", key)
	}
	if id.ProfileName != "" && c.ProfileName != id.ProfileName {
		c.ProfileName = id.ProfileName
		set("profile_name", id.ProfileName)
	}
	if len(sets) == 0 {
		return nil
	}
	c.UpdatedAt = tx.db.Now().UTC()
	set("updated_at", ms(c.UpdatedAt))
	args = append(args, c.ID)
	_, err := tx.ExecContext(ctx, `UPDATE contacts SET `+strings.Join(sets, ", ")+fmt.Sprintf(` WHERE id = $%d`, len(args)), args...)
	if err != nil {
		return fmt.Errorf("store: complete contact: %w", err)
	}
	return nil
}

// FindContact returns one of a tenant's contacts.
func (db *DB) FindContact(ctx context.Context, tenantID, id string) (*parley.Contact, error) {
	return findContact(ctx, db.read, tenantID, id)
}

// FindContact returns one of a tenant's contacts, inside the transaction.
func (tx *Tx) FindContact(ctx context.Context, tenantID, id string) (*parley.Contact, error) {
	return findContact(ctx, tx, tenantID, id)
}

func findContact(ctx context.Context, q queryer, tenantID, id string) (*parley.Contact, error) {
	c, err := scanContact(q.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = $1 AND tenant_id = $2`, id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Contact not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find contact: %w", err)
	}
	return c, nil
}

// FindContactByPhone returns the tenant's contact for a phone number in
// any of its mobile-prefix forms.
func (db *DB) FindContactByPhone(ctx context.Context, tenantID, e164 string) (*parley.Contact, error) {
	key := phone.Key(e164)
	if key == "" {
		return nil, parley.Errorf(parley.EINVALID, "%q is not a valid phone number.", e164)
	}
	c, err := scanContact(db.read.QueryRowContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE tenant_id = $1 AND phone_key = $2`, tenantID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, parley.Errorf(parley.ENOTFOUND, "Contact not found.")
	} else if err != nil {
		return nil, fmt.Errorf("store: find contact by phone: %w", err)
	}
	return c, nil
}

// ContactFilter narrows a contact listing.
type ContactFilter struct {
	Query  string // matches name, profile name or phone
	Cursor string // the last contact ID of the previous page
	Limit  int
}

// ListContacts returns a page of a tenant's contacts in ID order.
func (db *DB) ListContacts(ctx context.Context, tenantID string, f ContactFilter) ([]*parley.Contact, error) {
	where, args := []string{"tenant_id = $1"}, []any{tenantID}
	if f.Cursor != "" {
		args = append(args, f.Cursor)
		where = append(where, fmt.Sprintf("id > $%d", len(args)))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		args = append(args, "%"+strings.ToLower(q)+"%")
		n := len(args)
		where = append(where, fmt.Sprintf("(lower(name) LIKE $%d OR lower(profile_name) LIKE $%d OR phone LIKE $%d)", n, n, n))
	}
	args = append(args, limit(f.Limit))
	rows, err := db.read.QueryContext(ctx, `SELECT `+contactColumns+` FROM contacts WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list contacts: %w", err)
	}
	defer rows.Close()
	var out []*parley.Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list contacts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetConsent records an opt-in or opt-out with its source, and audits who
// did it.
func (tx *Tx) SetConsent(ctx context.Context, tenantID, contactID, state, source string, by parley.Actor) (*parley.Contact, error) {
	if state != parley.ConsentOptedIn && state != parley.ConsentOptedOut {
		return nil, parley.Errorf(parley.EINVALID, "Consent must be %q or %q.", parley.ConsentOptedIn, parley.ConsentOptedOut)
	}
	now := tx.db.Now().UTC()
	q := `UPDATE contacts SET consent_state = $1, consent_source = $2, consent_at = $3, updated_at = $3 WHERE id = $4 AND tenant_id = $5`
	if state == parley.ConsentOptedIn {
		q = `UPDATE contacts SET consent_state = $1, consent_source = $2, consent_at = $3, opt_in_source = $2, opt_in_at = $3, updated_at = $3
			WHERE id = $4 AND tenant_id = $5`
	}
	res, err := tx.ExecContext(ctx, q, state, source, ms(now), contactID, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: set consent: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "Contact not found.")
	}
	action := "consent.opt_in"
	if state == parley.ConsentOptedOut {
		action = "consent.opt_out"
	}
	if err := tx.AddAudit(ctx, tenantID, by, action, contactID, map[string]any{"source": source}); err != nil {
		return nil, err
	}
	c, err := tx.FindContact(ctx, tenantID, contactID)
	if err != nil {
		return nil, err
	}
	return c, tx.AddEvent(ctx, tenantID, parley.EventContactUpdated, c)
}

// PageSize is the number of rows a listing returns for a requested limit:
// 50 when none is given, at most 500.
func PageSize(n int) int { return limit(n) }

func limit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}
