package crm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
)

// Job kinds of the CRM work.
const (
	// JobFlush logs a connector's waiting messages. One runs at a time per
	// connector (its unique key), which keeps each record's activities in
	// order and never creates the same lead twice.
	JobFlush = "crm.flush"
	// JobTrack reads a connector's change tracking.
	JobTrack = "crm.track"
)

// Queue is the job queue of the CRM work, apart from sends: a slow or
// throttled CRM must not hold up messages to customers.
const Queue = "crm"

const (
	// maxBatch is the most activities written in one request: Dataverse
	// takes up to 1,000 in a $batch, but a change set of 100 keeps one
	// throttled or failed request cheap to repeat.
	maxBatch = 100
	// flushChunk is how many waiting messages one pass reads.
	flushChunk = 500
	// flushBudget bounds one flush job; a longer backlog continues in the
	// next job, so a busy connector never holds a worker for long.
	flushBudget = 2 * time.Minute
)

type connectorArgs struct {
	ConnectorID string `json:"connector_id"`
}

// Register hooks the service into the store and the job queue: every
// message written for a tenant with a connector is queued for its CRM in
// the same transaction, and the queue's workers log it.
func (s *Service) Register(ctx context.Context) error {
	if err := s.refreshTenants(ctx); err != nil {
		return err
	}
	s.DB.BeforeCommit(s.queue)
	s.Jobs.Handle(JobFlush, s.workFlush, jobs.HandlerOptions{Timeout: flushBudget + time.Minute})
	s.Jobs.Handle(JobTrack, s.workTrack, jobs.HandlerOptions{Timeout: 10 * time.Minute})
	return nil
}

// refreshTenants reloads which tenants have a connector. Each replica
// keeps the map in memory, because the hook runs in every message's
// transaction; a connector made on another replica is seen at its next
// refresh (RunPeriodic).
func (s *Service) refreshTenants(ctx context.Context) error {
	m, err := s.DB.ConnectorTenants(ctx)
	if err != nil {
		return err
	}
	s.tenants.Store(&m)
	return nil
}

// queue is the BeforeCommit hook: it puts the messages of the events in
// their connector's outbox and makes sure a flush job will run.
func (s *Service) queue(ctx context.Context, tx *store.Tx, events []parley.Event) error {
	tenants := s.tenants.Load()
	if tenants == nil || len(*tenants) == 0 {
		return nil
	}
	byConnector := map[string][]string{}
	tenantOf := map[string]string{}
	var order []string
	for _, e := range events {
		if e.Type != parley.EventMessageCreated && e.Type != parley.EventMessageUpdated {
			continue
		}
		connector, ok := (*tenants)[e.TenantID]
		if !ok {
			continue
		}
		var m struct {
			ID        string           `json:"id"`
			Direction parley.Direction `json:"direction"`
		}
		if err := json.Unmarshal(e.Data, &m); err != nil {
			return fmt.Errorf("crm: queue message of event %s: %w", e.Type, err)
		}
		if m.Direction == parley.Note {
			continue // internal notes and system lines stay in Parley
		}
		if _, seen := byConnector[connector]; !seen {
			order = append(order, connector)
			tenantOf[connector] = e.TenantID
		}
		byConnector[connector] = append(byConnector[connector], m.ID)
	}
	for _, connector := range order {
		if err := tx.QueueForCRM(ctx, connector, tenantOf[connector], byConnector[connector]); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, JobFlush, connector, tenantOf[connector]); err != nil {
			return err
		}
	}
	return nil
}

// enqueue inserts a connector's job unless one is already waiting.
func (s *Service) enqueue(ctx context.Context, tx jobs.DBTX, kind, connectorID, tenantID string) error {
	return s.Jobs.Insert(ctx, tx, jobs.InsertParams{Kind: kind, Queue: Queue, TenantID: tenantID, Args: connectorArgs{ConnectorID: connectorID},
		UniqueKey: kind + ":" + connectorID, MaxAttempts: 100})
}

// workFlush logs a connector's waiting messages, oldest first. What is
// logged leaves the outbox; a throttled or unreachable CRM snoozes the job
// with the rest still waiting, so an outage delays the log and loses
// nothing.
func (s *Service) workFlush(ctx context.Context, job *jobs.Job) error {
	var a connectorArgs
	if err := job.DecodeArgs(&a); err != nil {
		return jobs.Cancel(err)
	}
	deadline := time.Now().Add(flushBudget)
	for time.Now().Before(deadline) {
		entries, err := s.DB.Outbox(ctx, a.ConnectorID, flushChunk)
		if err != nil {
			return err
		}
		// The connector is read at every pass, after its entries: a
		// message queued after an admin changed the settings
		// (create_leads, the tables) is logged with the new ones. The
		// client is kept while the settings stay the same.
		c, cl, err := s.connector(ctx, a.ConnectorID)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			return nil // the connector was deleted, and its outbox with it
		} else if err != nil {
			return err
		}
		if len(entries) == 0 {
			return s.healthy(ctx, c)
		}
		if err := s.flush(ctx, c, cl, entries); err != nil {
			return s.failed(ctx, c, err)
		}
	}
	// More is waiting: the next job continues once this one completes.
	return jobs.Snooze(0)
}

// flush logs one chunk of the outbox: one request for a single message
// (the usual case when idle), change sets of up to maxBatch when a backlog
// has built up.
func (s *Service) flush(ctx context.Context, c *parley.Connector, cl Client, entries []store.OutboxEntry) error {
	acts, first, err := s.activities(ctx, c, cl, entries)
	if err != nil {
		return err
	}
	for start := 0; start < len(acts); start += maxBatch {
		end := min(start+maxBatch, len(acts))
		if err := cl.Log(ctx, acts[start:end]); err != nil {
			return err
		}
		if end < len(acts) {
			// Done up to just before the next activity's first entry: a
			// later update of a logged message may be logged again, which
			// the upsert makes harmless.
			if err := s.DB.DoneWithOutbox(ctx, c.ID, first[end]-1); err != nil {
				return err
			}
		}
	}
	return s.DB.DoneWithOutbox(ctx, c.ID, entries[len(entries)-1].ID)
}

// activities turns outbox entries into activities. A message queued
// several times (sent, delivered, read) is logged once, at its first
// place, with its latest state. first[i] is the outbox entry activity i
// was first queued by, so that progress is kept after each request.
func (s *Service) activities(ctx context.Context, c *parley.Connector, cl Client, entries []store.OutboxEntry) ([]Activity, []int64, error) {
	var acts []Activity
	var first []int64
	seen := map[string]bool{}
	channels := map[string]*parley.Channel{}
	for _, e := range entries {
		if seen[e.MessageID] {
			continue
		}
		seen[e.MessageID] = true
		m, err := s.DB.FindMessage(ctx, e.TenantID, e.MessageID)
		if parley.ErrorCode(err) == parley.ENOTFOUND {
			continue
		} else if err != nil {
			return nil, nil, err
		}
		if m.Direction == parley.Note || m.Type == parley.TypeSystem {
			continue
		}
		contact, err := s.DB.FindContact(ctx, e.TenantID, m.ContactID)
		if err != nil {
			return nil, nil, err
		}
		links, err := s.recordsFor(ctx, c, cl, contact, m.Direction == parley.Inbound)
		if err != nil {
			return nil, nil, err
		}
		if len(links) == 0 && !logsUnlinked(cl) {
			continue // no record to log it on
		}
		ch, ok := channels[m.ChannelID]
		if !ok {
			if ch, err = s.DB.FindChannel(ctx, e.TenantID, m.ChannelID); err != nil {
				return nil, nil, err
			}
			channels[m.ChannelID] = ch
		}
		var act Activity
		if len(links) > 0 {
			t, _ := c.Table(links[0].Table)
			act = s.activity(m, contact, ch, links[0].Record, t)
		} else {
			act = s.activity(m, contact, ch, parley.Record{}, parley.CRMTable{})
		}
		act.Records = links
		acts = append(acts, act)
		first = append(first, e.ID)
	}
	return acts, first, nil
}

// unlinkedLogger is a client that takes messages of customers no record
// matches too (a webhook CRM, which may match or create them itself).
// Dataverse cannot: an activity there must regard a record.
type unlinkedLogger interface{ LogsUnlinked() bool }

func logsUnlinked(cl Client) bool {
	u, ok := cl.(unlinkedLogger)
	return ok && u.LogsUnlinked()
}

// activity is a message as the CRM logs it, regarding the contact's
// primary record.
func (s *Service) activity(m *parley.Message, contact *parley.Contact, ch *parley.Channel, rec parley.Record, t parley.CRMTable) Activity {
	a := Activity{MessageID: m.ID, Regarding: rec, Table: t, Inbound: m.Direction == parley.Inbound, Status: m.Status,
		Body: body(m), Channel: ch.Name, Conversation: m.ConversationID, At: m.Timestamp}
	if a.At.IsZero() {
		a.At = m.CreatedAt
	}
	customer := cmpOr(contact.Phone, contact.WAID, contact.BSUID)
	name := cmpOr(contact.Name, contact.ProfileName, customer)
	if a.Inbound {
		a.From, a.To = customer, ch.PhoneNumber
		a.Subject = "WhatsApp from " + name
	} else {
		a.From, a.To = ch.PhoneNumber, customer
		a.Subject = "WhatsApp to " + name
	}
	if m.Media != nil && m.Media.ID != "" && s.BaseURL != "" {
		a.MediaLink = strings.TrimSuffix(s.BaseURL, "/") + "/console/media/" + m.Media.ID
	}
	if m.Error != nil {
		a.VendorError = strings.TrimSpace(m.Error.Code + " " + m.Error.Message)
	}
	return a
}

// body is the text a CRM user reads for a message.
func body(m *parley.Message) string {
	switch {
	case m.Type == parley.TypeText:
		return m.Text
	case m.Template != nil:
		return "[template " + m.Template.Name + "] " + m.Preview()
	}
	p := m.Preview()
	if m.Text != "" && !strings.Contains(p, m.Text) {
		p += "\n" + m.Text
	}
	return p
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// healthy marks a connector healthy after work went through.
func (s *Service) healthy(ctx context.Context, c *parley.Connector) error {
	if c.Health.Status == parley.HealthHealthy {
		return nil
	}
	return s.DB.SetConnectorHealth(ctx, c.TenantID, c.ID, parley.ChannelHealth{Status: parley.HealthHealthy, CheckedAt: time.Now()})
}

// failed records why a connector's work failed and decides when it is
// tried again: after the CRM's Retry-After when it asked for one (a snooze,
// which does not use up attempts), else on the queue's backoff.
func (s *Service) failed(ctx context.Context, c *parley.Connector, err error) error {
	if ctx.Err() != nil {
		return err
	}
	reason := err.Error()
	if len(reason) > 500 {
		reason = reason[:500]
	}
	if herr := s.DB.SetConnectorHealth(ctx, c.TenantID, c.ID, parley.ChannelHealth{Status: parley.HealthUnhealthy, Reason: reason,
		CheckedAt: time.Now()}); herr != nil {
		s.Log.Error("crm: record connector health", "connector", c.ID, "error", herr)
	}
	var retry *RetryError
	if errors.As(err, &retry) {
		s.Log.Warn("crm: the CRM asked to wait", "connector", c.ID, "after", retry.After, "error", retry.Err)
		return jobs.Snooze(retry.After)
	}
	return err
}

// connector loads a connector and its client. The client is kept while
// the connector's settings stay the same, so that tokens and the request
// limit are shared by every job of the connector in this process.
func (s *Service) connector(ctx context.Context, id string) (*parley.Connector, Client, error) {
	c, err := s.DB.FindConnectorByID(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if oc, ok := s.clients[id]; ok && oc.updated.Equal(c.UpdatedAt) {
		return c, oc.client, nil
	}
	if s.Open == nil {
		return nil, nil, fmt.Errorf("crm: no client for %s connectors", c.Type)
	}
	cl, err := s.Open(c)
	if err != nil {
		return nil, nil, fmt.Errorf("crm: open connector %s: %w", c.ID, err)
	}
	if s.clients == nil {
		s.clients = map[string]openClient{}
	}
	s.clients[id] = openClient{client: cl, updated: c.UpdatedAt}
	return c, cl, nil
}
