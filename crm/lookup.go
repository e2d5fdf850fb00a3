package crm

import (
	"context"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// DefaultLookupTTL is how long a contact's records are trusted.
const DefaultLookupTTL = 10 * time.Minute

// crmActor is who links records and creates leads.
var crmActor = parley.Actor{Kind: parley.ActorSystem, Name: "crm"}

// recordsFor returns the connector's records of a contact, the primary one
// first, looking them up in the CRM when the last lookup is older than the
// TTL. A customer writing in from a number no record has gets a new lead
// when the tenant asked for it.
func (s *Service) recordsFor(ctx context.Context, c *parley.Connector, cl Client, contact *parley.Contact, inbound bool) ([]parley.RecordLink, error) {
	at, err := s.DB.LookedUp(ctx, c.ID, contact.ID)
	if err != nil {
		return nil, err
	}
	if at.IsZero() || time.Since(at) >= cmpDur(s.LookupTTL, DefaultLookupTTL) {
		if err := s.lookup(ctx, c, cl, contact, inbound); err != nil {
			return nil, err
		}
	}
	return s.linked(ctx, c, contact.ID)
}

// linked returns a contact's links to the connector's tables.
func (s *Service) linked(ctx context.Context, c *parley.Connector, contactID string) ([]parley.RecordLink, error) {
	all, err := s.DB.RecordsOf(ctx, c.TenantID, contactID)
	if err != nil {
		return nil, err
	}
	var out []parley.RecordLink
	for _, l := range all {
		if _, ok := c.Table(l.Table); ok && (l.ConnectorID == c.ID || l.ConnectorID == "") {
			out = append(out, l)
		}
	}
	return out, nil
}

// match is a record found for a contact, with its watched columns.
type match struct {
	link parley.RecordLink
	vals map[string]string
}

// lookup asks the CRM for the records of a contact's phone, in each table
// in order, and links every match: the first table's first match is the
// primary record. The watched columns of each are kept, so that their
// next change can be told apart.
func (s *Service) lookup(ctx context.Context, c *parley.Connector, cl Client, contact *parley.Contact, inbound bool) error {
	var found []match
	if contact.Phone != "" {
		for _, t := range c.Tables {
			rows, err := cl.Candidates(ctx, t, contact.Phone)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if !matchesPhone(t, r, contact.Phone) {
					continue
				}
				found = append(found, match{link: parley.RecordLink{Record: parley.Record{Table: t.Name, ID: lower(r.ID)},
					ConnectorID: c.ID, Name: r.Values[t.NameColumn], Primary: len(found) == 0}, vals: watched(t, r.Values)})
			}
		}
		if len(found) == 0 && inbound && c.CreateLeads {
			m, err := s.createLead(ctx, c, cl, contact)
			if err != nil {
				return err
			}
			found = append(found, m)
		}
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, m := range found {
			if err := tx.LinkRecord(ctx, c.TenantID, contact.ID, m.link, crmActor); err != nil {
				return err
			}
			if err := tx.SaveSnapshot(ctx, c.ID, m.link.Record, m.vals); err != nil {
				return err
			}
		}
		return tx.SetLookedUp(ctx, c.ID, contact.ID, time.Now())
	})
}

// createLead makes a lead for an unknown number: the WhatsApp profile's
// name, the phone, and WhatsApp as its source.
func (s *Service) createLead(ctx context.Context, c *parley.Connector, cl Client, contact *parley.Contact) (match, error) {
	var m match
	name := cmpOr(contact.Name, contact.ProfileName, contact.Phone)
	first, last := splitName(name)
	id, err := cl.CreateLead(ctx, Lead{FirstName: first, LastName: last, Phone: contact.Phone, Source: "WhatsApp"})
	if err != nil {
		return m, err
	}
	s.Log.Info("crm: created a lead for a new number", "connector", c.ID, "contact", contact.ID, "lead", id)
	m.link = parley.RecordLink{Record: parley.Record{Table: "lead", ID: lower(id)}, ConnectorID: c.ID, Name: name, Primary: true}
	m.vals = map[string]string{}
	return m, nil
}

// splitName splits a profile name into first and last names; a lead
// needs a last name, so a single word is the last name.
func splitName(name string) (string, string) {
	name = strings.TrimSpace(name)
	i := strings.LastIndex(name, " ")
	if i < 0 {
		return "", name
	}
	return strings.TrimSpace(name[:i]), name[i+1:]
}

// matchesPhone reports whether any of a row's phone columns is the number.
func matchesPhone(t parley.CRMTable, r Row, e164 string) bool {
	for _, col := range t.PhoneColumns {
		if SamePhone(r.Values[col], e164) {
			return true
		}
	}
	return false
}

// watched keeps the columns whose changes are told in the thread.
func watched(t parley.CRMTable, vals map[string]string) map[string]string {
	out := map[string]string{}
	for _, col := range append([]string{t.NameColumn}, t.WatchColumns...) {
		if col != "" {
			out[col] = vals[col]
		}
	}
	return out
}

func cmpDur(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
