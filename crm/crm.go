// Package crm is the CRM port: it connects a tenant to its CRM, finds the
// records of a customer's phone, logs every message on them, and hears of
// the CRM's changes. The CRMs themselves are adapters in subpackages
// (dataverse); this package holds what does not depend on which one.
package crm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
)

// Client is one connector's CRM, as the service needs it. Each adapter
// implements it; the service opens one per connector through Open and
// keeps it, so that its tokens and its request limit are shared.
type Client interface {
	// Check proves the credentials work, by asking the CRM who Parley is.
	Check(ctx context.Context) error
	// Candidates returns the records of a table whose phone columns may
	// hold the number (see PhoneFilter), with the table's Columns. The
	// service decides which are the customer's with SamePhone.
	Candidates(ctx context.Context, t parley.CRMTable, e164 string) ([]Row, error)
	// CreateLead creates a lead and returns its ID.
	CreateLead(ctx context.Context, l Lead) (string, error)
	// Log writes messages as activities on their records, in order. It is
	// an upsert by message ID: a message logged twice is one activity.
	Log(ctx context.Context, acts []Activity) error
	// Values reads columns of one record as people read them (the names
	// of choices and lookups); a column without a value is absent.
	Values(ctx context.Context, t parley.CRMTable, id string, columns []string) (map[string]string, error)
	// Changes returns a table's records changed since link, with the
	// table's Columns, and the link to read the next changes from. An
	// empty link reads every record and starts tracking; an expired one
	// fails with ErrDeltaExpired.
	Changes(ctx context.Context, t parley.CRMTable, link string) (Changes, error)
}

// Row is a CRM record: its ID and the columns read, formatted.
type Row struct {
	ID     string
	Values map[string]string
}

// Lead is a lead created for an unknown number.
type Lead struct {
	FirstName, LastName string
	Phone               string // E.164
	// Source says where the lead came from ("WhatsApp").
	Source string
}

// Activity is a message as the CRM logs it.
type Activity struct {
	MessageID string
	// Regarding is the record the activity is logged on, in Table.
	Regarding parley.Record
	Table     parley.CRMTable
	// Records are every record of the contact, the primary one first,
	// for CRMs that log an activity on several.
	Records   []parley.RecordLink
	Subject   string
	Inbound   bool
	Status    parley.Status
	Body      string
	MediaLink string
	From, To  string
	Channel   string
	// Conversation is Parley's conversation ID.
	Conversation string
	VendorError  string
	At           time.Time
}

// Changes are a table's changes since the last read.
type Changes struct {
	Rows    []Row
	Deleted []string // IDs of deleted records
	Link    string   // where to read the next changes from
}

// ErrDeltaExpired is a change-tracking position the CRM no longer knows
// (Dataverse keeps them for a configurable number of days): the table is
// read in full again.
var ErrDeltaExpired = errors.New("crm: change tracking position expired")

// RetryError is the CRM asking to be called again later: throttling or an
// outage. The work waits (the job is snoozed) instead of failing.
type RetryError struct {
	After time.Duration
	Err   error
}

func (e *RetryError) Error() string { return fmt.Sprintf("%v (retry after %s)", e.Err, e.After) }
func (e *RetryError) Unwrap() error { return e.Err }

// Service manages connectors and runs the CRM work of every tenant: it
// logs messages (log.go), finds records (lookup.go) and follows changes
// (changes.go).
type Service struct {
	DB   *store.DB
	Jobs *jobs.Queue
	Log  *slog.Logger
	// Open makes the client for a connector. Tests replace it.
	Open func(*parley.Connector) (Client, error)
	// BaseURL is Parley's public address, for links to media in the log.
	BaseURL string
	// LookupTTL is how long a contact's records are trusted before the
	// CRM is asked again (10 minutes by default); CRM changes to a
	// record or a phone forget them sooner.
	LookupTTL time.Duration
	// PollEvery is how often change tracking is read (30 s by default).
	PollEvery time.Duration

	mu      sync.Mutex
	clients map[string]openClient // by connector ID
	tenants atomic.Pointer[map[string]string]
}

// openClient is a connector's client and the settings it was opened with.
type openClient struct {
	client  Client
	updated time.Time
}

// ConnectorInput connects a tenant to its CRM, or changes the connection.
type ConnectorInput struct {
	Type           string
	Name           string
	Dataverse      *parley.DataverseConfig
	Webhook        *parley.WebhookCRMConfig
	Tables         []parley.CRMTable
	CreateLeads    *bool
	LanguageColumn *string
	Languages      []string
	// Verify checks the credentials against the CRM before saving them.
	Verify bool
}

// Connect stores a new connector, after checking its settings and, when
// asked, that the CRM accepts its credentials: a connector saved with a
// wrong secret would fail every log in the background instead of now.
func (s *Service) Connect(ctx context.Context, tenantID string, in ConnectorInput) (*parley.Connector, error) {
	if in.Type == "" {
		in.Type = parley.ConnectorDataverse
	}
	c := &parley.Connector{ID: parley.NewID(parley.PrefixConnector), TenantID: tenantID, Type: in.Type, Name: in.Name, Tables: in.Tables}
	switch in.Type {
	case parley.ConnectorDataverse:
		if in.Dataverse == nil {
			return nil, parley.Errorf(parley.EINVALID, "A dataverse connector needs its dataverse settings.")
		}
		if len(c.Tables) == 0 {
			c.Tables = parley.DefaultCRMTables()
		}
		dv := *in.Dataverse
		dv.WebhookKey = newKey()
		c.Dataverse = &dv
	case parley.ConnectorWebhook:
		if in.Webhook == nil {
			return nil, parley.Errorf(parley.EINVALID, "A webhook connector needs its webhook settings: at least activity_url.")
		}
		if len(c.Tables) == 0 {
			c.Tables = parley.WebhookCRMTables()
		}
		wh := *in.Webhook
		// Secrets left out are made here, and shown once in the answer.
		if wh.SigningSecret == "" {
			wh.SigningSecret = parley.NewWebhookSecret()
		}
		if wh.InboundSecret == "" {
			wh.InboundSecret = parley.NewWebhookSecret()
		}
		c.Webhook = &wh
	default:
		return nil, parley.Errorf(parley.EINVALID, "The connector type is %q; it must be %q or %q.", in.Type, parley.ConnectorDataverse,
			parley.ConnectorWebhook)
	}
	if err := s.apply(c, in); err != nil {
		return nil, err
	}
	if err := s.verify(ctx, c, in.Verify); err != nil {
		return nil, err
	}
	if err := s.DB.CreateConnector(ctx, c); err != nil {
		return nil, err
	}
	return c, s.Forget(ctx, c.ID)
}

// Update changes a connector. Settings left empty keep their values, so a
// client secret can be rotated alone.
func (s *Service) Update(ctx context.Context, tenantID, id string, in ConnectorInput) (*parley.Connector, error) {
	c, err := s.DB.FindConnector(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if in.Type != "" && in.Type != c.Type {
		return nil, parley.Errorf(parley.EINVALID, "A connector's type cannot be changed.")
	}
	if in.Name != "" {
		c.Name = in.Name
	}
	if len(in.Tables) > 0 {
		c.Tables = in.Tables
	}
	if d := in.Dataverse; d != nil && c.Dataverse != nil {
		merged := *c.Dataverse
		for dst, src := range map[*string]string{&merged.EnvironmentURL: d.EnvironmentURL, &merged.EntraTenantID: d.EntraTenantID,
			&merged.ClientID: d.ClientID, &merged.ClientSecret: d.ClientSecret, &merged.TokenURL: d.TokenURL, &merged.APIBase: d.APIBase} {
			if src != "" {
				*dst = src
			}
		}
		c.Dataverse = &merged
	}
	if w := in.Webhook; w != nil && c.Webhook != nil {
		merged := *c.Webhook
		for dst, src := range map[*string]string{&merged.ActivityURL: w.ActivityURL, &merged.SigningSecret: w.SigningSecret,
			&merged.InboundSecret: w.InboundSecret} {
			if src != "" {
				*dst = src
			}
		}
		if w.Import != nil {
			merged.Import = w.Import
		}
		c.Webhook = &merged
	}
	if err := s.apply(c, in); err != nil {
		return nil, err
	}
	if err := s.verify(ctx, c, in.Verify); err != nil {
		return nil, err
	}
	if err := s.DB.UpdateConnector(ctx, c); err != nil {
		return nil, err
	}
	return c, s.Forget(ctx, c.ID)
}

// Delete disconnects a tenant's CRM. Messages still waiting to be logged
// are dropped with it; record links stay on the contacts.
func (s *Service) Delete(ctx context.Context, tenantID, id string) error {
	if err := s.DB.DeleteConnector(ctx, tenantID, id); err != nil {
		return err
	}
	return s.Forget(ctx, id)
}

// apply checks a connector's settings and sets the optional ones given.
func (s *Service) apply(c *parley.Connector, in ConnectorInput) error {
	if c.Dataverse != nil {
		if err := c.Dataverse.Check(); err != nil {
			return err
		}
	}
	if c.Webhook != nil {
		if err := c.Webhook.Check(); err != nil {
			return err
		}
	}
	tables, err := parley.CheckTables(c.Tables)
	if err != nil {
		return err
	}
	c.Tables = tables
	if in.CreateLeads != nil {
		c.CreateLeads = *in.CreateLeads
	}
	if in.LanguageColumn != nil {
		c.LanguageColumn = *in.LanguageColumn
	}
	if in.Languages != nil {
		c.Languages = in.Languages
	}
	if c.CreateLeads {
		if _, ok := c.Table("lead"); !ok {
			return parley.Errorf(parley.EINVALID, "create_leads needs the lead table among the tables.")
		}
	}
	return nil
}

func (s *Service) verify(ctx context.Context, c *parley.Connector, want bool) error {
	if !want || s.Open == nil {
		return nil
	}
	cl, err := s.Open(c)
	if err != nil {
		return err
	}
	if err := cl.Check(ctx); err != nil {
		who := "Dataverse"
		if c.Type != parley.ConnectorDataverse {
			who = "The CRM"
		}
		return parley.Errorf(parley.EINVALID, "%s refused the connection: %s", who, parley.ErrorMessage(err))
	}
	return nil
}

// newKey is a random key for a CRM's webhooks to Parley.
func newKey() string { return parley.NewSecret() }

// RecordValues reads columns of one of a tenant's CRM records as people
// read them, for template variables bound to record.<column>. The record
// is read from the tenant's connector that lists its table, else from its
// first; a table the connector does not list is read by Dataverse's naming
// (lead → leads).
func (s *Service) RecordValues(ctx context.Context, tenantID string, rec parley.Record, columns []string) (map[string]string, error) {
	conns, err := s.DB.ListConnectors(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if len(conns) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "This tenant has no CRM connector.")
	}
	conn := conns[0]
	for _, cn := range conns {
		if _, ok := cn.Table(rec.Table); ok {
			conn = cn
			break
		}
	}
	c, cl, err := s.connector(ctx, conn.ID)
	if err != nil {
		return nil, err
	}
	t, ok := c.Table(rec.Table)
	if !ok {
		derived, err := parley.CheckTables([]parley.CRMTable{{Name: rec.Table, PhoneColumns: []string{"telephone1"}}})
		if err != nil {
			return nil, err
		}
		t = derived[0]
	}
	return cl.Values(ctx, t, rec.ID, columns)
}

// Forget drops what the service keeps of a connector after it changed or
// was deleted, and reloads which tenants have one.
func (s *Service) Forget(ctx context.Context, connectorID string) error {
	s.mu.Lock()
	delete(s.clients, connectorID)
	s.mu.Unlock()
	return s.refreshTenants(ctx)
}
