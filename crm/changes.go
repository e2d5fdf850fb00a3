package crm

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/phone"
	"github.com/parleyhq/parley/store"
)

// DefaultPollEvery is how often change tracking is read.
const DefaultPollEvery = 30 * time.Second

// RunPeriodic keeps the CRM work going until ctx ends: it refreshes which
// tenants have a connector, queues a flush for every connector with
// messages waiting (a job discarded after a long outage is started again,
// so nothing waits forever), and reads change tracking. Every replica runs
// it; the jobs' unique keys make the work run once.
func (s *Service) RunPeriodic(ctx context.Context) {
	tick := time.NewTicker(cmpDur(s.PollEvery, DefaultPollEvery))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := s.periodic(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("crm: periodic work failed", "error", err)
		}
	}
}

func (s *Service) periodic(ctx context.Context) error {
	if err := s.refreshTenants(ctx); err != nil {
		return err
	}
	pending, err := s.DB.OutboxPending(ctx)
	if err != nil {
		return err
	}
	tenants := *s.tenants.Load()
	for _, id := range pending {
		if err := s.enqueue(ctx, s.DB.Writer(), JobFlush, id, ""); err != nil {
			return err
		}
	}
	for tenant, id := range tenants {
		if err := s.enqueue(ctx, s.DB.Writer(), JobTrack, id, tenant); err != nil {
			return err
		}
	}
	return nil
}

// workTrack reads each table's changes since the stored position. A first
// read, or one after the position expired, only takes note of the records
// (nothing is told: those are not changes); later reads tell the changes
// of linked records and forget the lookups they may affect.
func (s *Service) workTrack(ctx context.Context, job *jobs.Job) error {
	var a connectorArgs
	if err := job.DecodeArgs(&a); err != nil {
		return jobs.Cancel(err)
	}
	c, cl, err := s.connector(ctx, a.ConnectorID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	for _, t := range c.Tables {
		if err := s.track(ctx, c, cl, t); err != nil {
			return s.failed(ctx, c, err)
		}
	}
	return s.healthy(ctx, c)
}

func (s *Service) track(ctx context.Context, c *parley.Connector, cl Client, t parley.CRMTable) error {
	link, err := s.DB.DeltaLink(ctx, c.ID, t.Name)
	if err != nil {
		return err
	}
	ch, err := cl.Changes(ctx, t, link)
	if errors.Is(err, ErrDeltaExpired) {
		s.Log.Warn("crm: change tracking position expired; reading the table again", "connector", c.ID, "table", t.Name)
		link = ""
		ch, err = cl.Changes(ctx, t, "")
	}
	if err != nil {
		return err
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := s.applyChanges(ctx, tx, c, t, ch, link != ""); err != nil {
			return err
		}
		return tx.SetDeltaLink(ctx, c.ID, t.Name, ch.Link)
	})
}

// Apply takes in a table's changes heard of from outside change tracking
// (a Dataverse webhook): they are told like tracked ones.
func (s *Service) Apply(ctx context.Context, c *parley.Connector, t parley.CRMTable, ch Changes) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return s.applyChanges(ctx, tx, c, t, ch, true) })
}

// ApplyTx takes in a table's changes inside the caller's transaction, so
// that what the changes came with (a webhook CRM's mirror, its seen
// webhook-id) commits with them. tell is false for a full read, such as an
// initial import: snapshots and lookups are refreshed, nothing is told.
func (s *Service) ApplyTx(ctx context.Context, tx *store.Tx, c *parley.Connector, t parley.CRMTable, ch Changes, tell bool) error {
	return s.applyChanges(ctx, tx, c, t, ch, tell)
}

// applyChanges records a table's changes. For a record linked to contacts, the
// watched columns that differ from the snapshot are written as a line in
// each contact's latest conversation and published as a
// crm.record.changed event; tell is false on a full read, which only
// refreshes the snapshots. Any record whose phones changed may now belong
// to other contacts, so their lookups are forgotten.
func (s *Service) applyChanges(ctx context.Context, tx *store.Tx, c *parley.Connector, t parley.CRMTable, ch Changes, tell bool) error {
	var suffixes []string
	for _, row := range ch.Rows {
		rec := parley.Record{Table: t.Name, ID: lower(row.ID)}
		for _, col := range t.PhoneColumns {
			if d := phone.Digits(row.Values[col]); len(d) >= 8 {
				suffixes = append(suffixes, d[len(d)-8:])
			}
		}
		contacts, err := s.DB.ContactsOfRecord(ctx, c.TenantID, rec)
		if err != nil {
			return err
		}
		if len(contacts) == 0 {
			continue
		}
		old, had, err := tx.Snapshot(ctx, c.ID, rec)
		if err != nil {
			return err
		}
		now := watched(t, row.Values)
		for col, v := range old {
			if _, ok := row.Values[col]; !ok {
				now[col] = v // a webhook names only the columns it changed
			}
		}
		if err := tx.SaveSnapshot(ctx, c.ID, rec, now); err != nil {
			return err
		}
		if err := tx.ForgetLookupsOf(ctx, c.ID, contacts); err != nil {
			return err
		}
		changed := map[string]string{}
		for _, col := range t.WatchColumns {
			if _, ok := row.Values[col]; ok && had && old[col] != now[col] {
				changed[col] = now[col]
			}
		}
		if !tell || len(changed) == 0 {
			continue
		}
		name := cmpOr(now[t.NameColumn], old[t.NameColumn])
		if err := s.tell(ctx, tx, c, parley.RecordChange{ConnectorID: c.ID, Record: rec, Name: name, ContactIDs: contacts, Changes: changed}); err != nil {
			return err
		}
	}
	for _, id := range ch.Deleted {
		rec := parley.Record{Table: t.Name, ID: lower(id)}
		contacts, err := tx.UnlinkRecord(ctx, c.TenantID, c.ID, rec)
		if err != nil {
			return err
		}
		if err := tx.ForgetLookupsOf(ctx, c.ID, contacts); err != nil {
			return err
		}
		if tell && len(contacts) > 0 {
			if err := tx.AddEvent(ctx, c.TenantID, parley.EventRecordChanged, parley.RecordChange{ConnectorID: c.ID, Record: rec,
				ContactIDs: contacts, Changes: map[string]string{}, Deleted: true}); err != nil {
				return err
			}
		}
	}
	return tx.ForgetLookupsByPhone(ctx, c.TenantID, c.ID, suffixes)
}

// tell publishes a record's change and writes it in the latest
// conversation of each linked contact, for the agents to see.
func (s *Service) tell(ctx context.Context, tx *store.Tx, c *parley.Connector, rc parley.RecordChange) error {
	if err := tx.AddEvent(ctx, c.TenantID, parley.EventRecordChanged, rc); err != nil {
		return err
	}
	cols := make([]string, 0, len(rc.Changes))
	for col := range rc.Changes {
		cols = append(cols, col)
	}
	sort.Strings(cols)
	var changes []parley.ColumnChange
	for _, col := range cols {
		changes = append(changes, parley.ColumnChange{Column: col, Value: rc.Changes[col]})
	}
	link := parley.RecordLink{Record: rc.Record, ConnectorID: c.ID, Name: rc.Name}
	for _, contactID := range rc.ContactIDs {
		conv, err := tx.LatestConversation(ctx, c.TenantID, contactID)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		m := &parley.Message{TenantID: c.TenantID, ChannelID: conv.ChannelID, ConversationID: conv.ID, ContactID: contactID,
			Direction: parley.Note, Type: parley.TypeSystem, Status: parley.StatusReceived, SentBy: crmActor,
			System: &parley.System{Kind: parley.SystemCRMChange, Body: SummarizeChange(rc.Record.Table, changes), Record: &link, Changes: changes}}
		if _, err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, c.TenantID, parley.EventMessageCreated, m); err != nil {
			return err
		}
	}
	return nil
}

// SummarizeChange is a change in plain English, "Lead status: Qualified",
// for the API and the CRM; the console says it in the agent's language.
func SummarizeChange(table string, changes []parley.ColumnChange) string {
	s := ""
	for i, ch := range changes {
		if i > 0 {
			s += "; "
		}
		s += TableLabel(table) + " " + ColumnLabel(ch.Column) + ": " + ch.Value
	}
	return s
}

// TableLabel is a table's name for people, in English.
func TableLabel(table string) string {
	switch table {
	case "lead":
		return "Lead"
	case "contact":
		return "Contact"
	case "account":
		return "Account"
	}
	return table
}

// ColumnLabel is a well-known column's name for people, in English; other
// columns keep their logical name.
func ColumnLabel(col string) string {
	switch col {
	case "statuscode":
		return "status"
	case "statecode":
		return "state"
	case "_ownerid_value", "ownerid":
		return "owner"
	case "fullname", "name":
		return "name"
	}
	return col
}

func lower(id string) string {
	r, err := parley.ParseRecord("x:" + id)
	if err != nil {
		return id
	}
	return r.ID
}
