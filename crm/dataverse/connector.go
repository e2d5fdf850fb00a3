package dataverse

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
)

// Connector is a Dataverse connector as Parley's CRM service uses it
// (crm.Client): the records of a phone, leads, the message log, template
// values and change tracking, in Parley's table and Dataverse's tables.
type Connector struct {
	api *Client
}

var _ crm.Client = (*Connector)(nil)

// Open makes the client of a tenant's Dataverse connector.
func Open(c *parley.Connector, opts ...Option) (*Connector, error) {
	if c.Dataverse == nil {
		return nil, errors.New("dataverse: the connector has no Dataverse settings")
	}
	api, err := New(c.Dataverse, opts...)
	if err != nil {
		return nil, err
	}
	return &Connector{api: api}, nil
}

// candidateLimit bounds the records read for one phone: a number shared
// by more records than this is a switchboard, not a customer.
const candidateLimit = 50

// Check asks Dataverse who Parley is.
func (c *Connector) Check(ctx context.Context) error { return c.retryable(c.api.Check(ctx)) }

// Candidates reads the records whose phone columns end in the number's
// trailing digits.
func (c *Connector) Candidates(ctx context.Context, t parley.CRMTable, e164 string) ([]crm.Row, error) {
	rows, err := c.api.Query(ctx, t.EntitySet, Query{Select: t.Columns(), Filter: crm.PhoneFilter(t.PhoneColumns, e164),
		Top: candidateLimit, Formatted: true})
	if err != nil {
		return nil, c.retryable(err)
	}
	out := make([]crm.Row, 0, len(rows))
	for _, r := range rows {
		out = append(out, row(t, r))
	}
	return out, nil
}

// row keeps a Dataverse row's ID and its table's columns, as people read
// them.
func row(t parley.CRMTable, r Row) crm.Row {
	out := crm.Row{ID: strings.ToLower(r.String(t.IDColumn)), Values: map[string]string{}}
	for _, col := range t.Columns() {
		if v := r.Formatted(col); v != "" {
			out.Values[col] = v
		}
	}
	return out
}

// CreateLead creates a lead with the customer's name and mobile phone. Its
// topic says it came from WhatsApp: Dynamics' lead source choice has no
// WhatsApp option to pick.
func (c *Connector) CreateLead(ctx context.Context, l crm.Lead) (string, error) {
	body := map[string]any{"lastname": clip(l.LastName, 50), "mobilephone": l.Phone, "subject": l.Source,
		"description": "Created by Parley for a customer who wrote on WhatsApp from " + l.Phone + "."}
	if l.FirstName != "" {
		body["firstname"] = clip(l.FirstName, 50)
	}
	id, err := c.api.Create(ctx, "leads", body)
	return id, c.retryable(err)
}

// Log upserts the activities by Parley's message ID: one request for one,
// a change set for several, so that a record's activities keep their
// order and a batch repeated after a failure changes nothing twice.
func (c *Connector) Log(ctx context.Context, acts []crm.Activity) error {
	if len(acts) == 1 {
		return c.retryable(c.api.Upsert(ctx, MessageEntitySet, Key(ColMessageID, acts[0].MessageID), activityBody(acts[0])))
	}
	ops := make([]Op, len(acts))
	for i, a := range acts {
		ops[i] = Op{Method: http.MethodPatch, Path: MessageEntitySet + "(" + Key(ColMessageID, a.MessageID) + ")", Body: activityBody(a)}
	}
	return c.retryable(c.api.Batch(ctx, ops))
}

// activityBody is an activity's columns. The key column is not repeated:
// Dataverse takes it from the key (upsert-alternate-key).
func activityBody(a crm.Activity) map[string]any {
	b := map[string]any{
		"subject":       clip(a.Subject, 200),
		ColBody:         clip(a.Body, 4000),
		ColFrom:         clip(a.From, 32),
		ColTo:           clip(a.To, 32),
		ColChannel:      clip(a.Channel, 100),
		ColConversation: clip(a.Conversation, 64),
		ColVendorError:  clip(a.VendorError, 1000),
		ColMediaLink:    clip(a.MediaLink, 1000),
		ColSentAt:       a.At.UTC().Format(time.RFC3339),
		"regardingobjectid_" + a.Table.Name + "_" + MessageTable + "@odata.bind": "/" + a.Table.EntitySet + "(" + a.Regarding.ID + ")",
	}
	dir := parley.Outbound
	if a.Inbound {
		dir = parley.Inbound
	}
	if v, ok := DirectionOption(dir); ok {
		b[ColDirection] = v
	}
	if v, ok := StatusOption(a.Status); ok {
		b[ColStatus] = v
	}
	return b
}

// Values reads a record whole, so that a lookup named by its column
// (parentaccountid) is found as Dataverse names it (_parentaccountid_value).
func (c *Connector) Values(ctx context.Context, t parley.CRMTable, id string, columns []string) (map[string]string, error) {
	r, err := c.api.Get(ctx, t.EntitySet, id, nil)
	if err != nil {
		return nil, c.retryable(err)
	}
	out := map[string]string{}
	for _, col := range columns {
		if v := r.Formatted(col); v != "" {
			out[col] = v
		}
	}
	return out, nil
}

// Changes reads a table's change tracking.
func (c *Connector) Changes(ctx context.Context, t parley.CRMTable, link string) (crm.Changes, error) {
	ch, err := c.api.Changes(ctx, t.EntitySet, t.Columns(), link)
	if errors.Is(err, ErrDeltaExpired) {
		return crm.Changes{}, crm.ErrDeltaExpired
	} else if err != nil {
		return crm.Changes{}, c.retryable(err)
	}
	out := crm.Changes{Link: ch.DeltaLink, Deleted: ch.Deleted}
	for _, r := range ch.Rows {
		out.Rows = append(out.Rows, row(t, r))
	}
	return out, nil
}

// defaultOutageWait is how long work waits when Dataverse is down or
// unreachable and said nothing of when to come back.
const defaultOutageWait = 30 * time.Second

// retryable marks the errors after which the work should wait and run
// again, without counting as a failed attempt: throttling (after its
// Retry-After), an outage and an unreachable network.
func (c *Connector) retryable(err error) error {
	if err == nil {
		return nil
	}
	if d, ok := RetryAfter(err); ok {
		return &crm.RetryError{After: d, Err: err}
	}
	var e *Error
	if errors.As(err, &e) && e.Status >= 500 {
		return &crm.RetryError{After: cmp.Or(c.api.outage, defaultOutageWait), Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &crm.RetryError{After: cmp.Or(c.api.outage, defaultOutageWait), Err: err}
	}
	return err
}

// clip cuts s to n characters, the column's maximum length: a long
// message is logged cut rather than not at all.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
