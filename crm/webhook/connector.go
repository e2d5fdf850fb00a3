package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/store"
)

// Connector is a webhook CRM as the crm service uses it: records are read
// from the mirror, activities and leads are posted to the activity URL.
type Connector struct {
	s *Service
	c *parley.Connector
}

var _ crm.Client = (*Connector)(nil)

// candidateLimit bounds the records read for one phone, as Dataverse's.
const candidateLimit = 50

// Check succeeds: there is nothing to call. A CRM that is down when the
// connector is made is found out by the delivery log, not by refusing the
// connector.
func (k *Connector) Check(context.Context) error { return nil }

// Candidates reads the mirror's records of a table with a phone ending
// like the number. Each row's phones column holds the phone that is the
// number, if any, for the service's matching.
func (k *Connector) Candidates(ctx context.Context, t parley.CRMTable, e164 string) ([]crm.Row, error) {
	recs, err := k.s.DB.MirrorCandidates(ctx, k.c.ID, t.Name, e164, candidateLimit)
	if err != nil {
		return nil, err
	}
	out := make([]crm.Row, 0, len(recs))
	for _, r := range recs {
		vals := row(r, e164, crm.SamePhone)
		// The table's phone and name columns are read by their names,
		// whatever the connector calls them.
		for _, col := range t.PhoneColumns {
			vals[col] = vals["phones"]
		}
		if t.NameColumn != "" {
			vals[t.NameColumn] = r.Name
		}
		out = append(out, crm.Row{ID: r.ID, Values: vals})
	}
	return out, nil
}

// Values reads a mirrored record's fields, for template bindings
// (record.plan reads the field plan).
func (k *Connector) Values(ctx context.Context, t parley.CRMTable, id string, columns []string) (map[string]string, error) {
	r, err := k.s.DB.MirrorRecord(ctx, k.c.ID, t.Name, id)
	if err != nil {
		return nil, err
	}
	vals := row(r, "", nil)
	out := map[string]string{}
	for _, col := range columns {
		if v := vals[col]; v != "" {
			out[col] = v
		}
	}
	return out, nil
}

// Changes reports nothing: a webhook CRM's changes arrive as webhooks and
// are applied as they come (Service.Receive).
func (k *Connector) Changes(context.Context, parley.CRMTable, string) (crm.Changes, error) {
	return crm.Changes{Link: "webhook"}, nil
}

// Activity is what the CRM's activity URL receives, as the data of a
// message.created or message.updated event.
type Activity struct {
	MessageID    string      `json:"message_id"`
	Direction    string      `json:"direction"` // inbound or outbound
	Status       string      `json:"status"`
	Subject      string      `json:"subject"`
	Body         string      `json:"body"`
	MediaURL     string      `json:"media_url,omitempty"`
	From         string      `json:"from"`
	To           string      `json:"to"`
	Channel      string      `json:"channel,omitempty"`
	Conversation string      `json:"conversation_id"`
	Error        string      `json:"error,omitempty"`
	Records      []RecordRef `json:"records"`
	At           time.Time   `json:"timestamp"`
}

// RecordRef is a record an activity concerns, in the CRM's own terms.
type RecordRef struct {
	Entity      string `json:"entity"`
	SourceCRMID string `json:"source_crm_id"`
	URL         string `json:"source_crm_url,omitempty"`
	Name        string `json:"name,omitempty"`
	Primary     bool   `json:"primary,omitempty"`
}

// Envelope is every body Parley posts: the Standard Webhooks payload
// shape.
type Envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Event types Parley posts.
const (
	MessageCreated = "message.created"
	MessageUpdated = "message.updated"
	LeadCreate     = "lead.create"
)

// Log posts the activities in order, one request each. Each event's
// webhook-id is the message's ID and status, so a retried event keeps its
// id (a receiver can drop what it has seen) and an event the CRM already
// took is not sent again. The first throttled (429), failed (5xx) or
// unreachable request stops the rest, as a *crm.RetryError: the flush job
// waits and starts again from it, which keeps each record's activities in
// order and loses none. Any other refusal (4xx) is the CRM rejecting that
// activity; it is kept in the delivery log and the next one goes.
func (k *Connector) Log(ctx context.Context, acts []crm.Activity) error {
	for _, a := range acts {
		id := "evt_" + a.MessageID + "_" + string(a.Status)
		if done, err := k.s.DB.Delivered(ctx, k.c.ID, id, ""); err != nil {
			return err
		} else if done {
			continue
		}
		typ := MessageCreated
		if seen, err := k.s.DB.Delivered(ctx, k.c.ID, "", a.MessageID); err != nil {
			return err
		} else if seen {
			typ = MessageUpdated
		}
		body, err := json.Marshal(Envelope{Type: typ, Timestamp: a.At.UTC(), Data: k.activity(ctx, a)})
		if err != nil {
			return fmt.Errorf("webhook: encode activity %s: %w", a.MessageID, err)
		}
		if _, err := k.post(ctx, id, a.MessageID, typ, body); err != nil {
			var rejected *rejectedError
			if errors.As(err, &rejected) {
				k.s.Log.Warn("crm webhook: the CRM refused an activity", "connector", k.c.ID, "message", a.MessageID, "status", rejected.status)
				continue
			}
			return err
		}
	}
	return nil
}

// LogsUnlinked says the CRM gets every message, with an empty records
// list when no record matches the customer's phone: the CRM can match or
// create the record itself, and nothing said on the number is missing
// from it.
func (k *Connector) LogsUnlinked() bool { return true }

// activity is an activity as the CRM receives it, its records with the
// IDs and addresses the CRM gave them.
func (k *Connector) activity(ctx context.Context, a crm.Activity) Activity {
	dir := "outbound"
	if a.Inbound {
		dir = "inbound"
	}
	out := Activity{MessageID: a.MessageID, Direction: dir, Status: string(a.Status), Subject: a.Subject, Body: a.Body,
		MediaURL: a.MediaLink, From: a.From, To: a.To, Channel: a.Channel, Conversation: a.Conversation, Error: a.VendorError,
		At: a.At.UTC(), Records: []RecordRef{}}
	links := a.Records
	if len(links) == 0 && a.Regarding.ID != "" {
		links = []parley.RecordLink{{Record: a.Regarding, Primary: true}}
	}
	for _, l := range links {
		ref := RecordRef{Entity: l.Table, SourceCRMID: l.ID, Name: l.Name, Primary: l.Primary}
		if m, err := k.s.DB.MirrorRecord(ctx, k.c.ID, l.Table, l.ID); err == nil {
			ref.SourceCRMID, ref.URL = m.ID, m.URL
			ref.Name = cmpOr(m.Name, ref.Name)
		}
		out.Records = append(out.Records, ref)
	}
	return out
}

// rejectedError is the CRM refusing a request for good (a 4xx other
// than 408 and 429): repeating it would not help.
type rejectedError struct {
	status int
	body   string
}

func (e *rejectedError) Error() string {
	return fmt.Sprintf("the CRM answered %d: %s", e.status, e.body)
}

// maxAnswer is the most of an answer read: enough for an ID or an error.
const maxAnswer = 64 << 10

// post sends one signed event to the activity URL and keeps the attempt
// in the delivery log. It returns the answer's body on a 2xx; a
// *crm.RetryError when the CRM should be asked again later; a
// *rejectedError when it refused.
func (k *Connector) post(ctx context.Context, id, messageID, typ string, body []byte) ([]byte, error) {
	start := time.Now()
	h, err := SignedHeaders(k.c.Webhook.SigningSecret, id, k.s.now(), body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, k.c.Webhook.ActivityURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook: %s to the activity URL: %w", typ, err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley")
	d := &store.Delivery{ConnectorID: k.c.ID, WebhookID: id, MessageID: messageID, EventType: typ}
	var answer []byte
	resp, err := k.s.client().Do(req)
	if err == nil {
		answer, _ = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
		d.HTTPStatus = resp.StatusCode
	}
	d.Duration = time.Since(start)
	var out error
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err() // stopping: not the CRM's failure
		}
		d.Error = err.Error()
		out = &crm.RetryError{After: k.outageWait(), Err: fmt.Errorf("webhook: %s to the activity URL: %w", typ, err)}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
	case resp.StatusCode == http.StatusTooManyRequests:
		d.Error = "throttled: " + snippet(answer)
		out = &crm.RetryError{After: retryAfter(resp.Header.Get("Retry-After"), k.outageWait(), k.s.now()),
			Err: fmt.Errorf("webhook: %s: the CRM is throttling (429)", typ)}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		d.Error = snippet(answer)
		after := k.outageWait()
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			after = retryAfter(ra, after, k.s.now())
		}
		out = &crm.RetryError{After: after, Err: fmt.Errorf("webhook: %s: the CRM answered %d", typ, resp.StatusCode)}
	default:
		d.Error = snippet(answer)
		out = &rejectedError{status: resp.StatusCode, body: snippet(answer)}
	}
	if lerr := k.s.DB.AddDelivery(context.WithoutCancel(ctx), d); lerr != nil {
		return nil, lerr
	}
	return answer, out
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

func (k *Connector) outageWait() time.Duration {
	if k.s.OutageWait > 0 {
		return k.s.OutageWait
	}
	return 30 * time.Second
}

// retryAfter reads a Retry-After header, in seconds or as an HTTP date.
func retryAfter(v string, def time.Duration, now time.Time) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return def
}

// CreateLead asks the CRM to create a lead, posting a lead.create event to
// the activity URL; a 2xx answer with {"id": "…"} (and, if it likes,
// "source_crm_url") is the new lead, which is mirrored at once so the
// next lookup finds it. A CRM that does not create leads answers
// anything else, and gets an error saying so: leave create_leads off.
func (k *Connector) CreateLead(ctx context.Context, l crm.Lead) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	id := "lead_" + hex.EncodeToString(b[:])
	name := strings.TrimSpace(l.FirstName + " " + l.LastName)
	body, err := json.Marshal(Envelope{Type: LeadCreate, Timestamp: k.s.now().UTC(), Data: map[string]any{
		"first_name": l.FirstName, "last_name": l.LastName, "name": name, "phone": l.Phone, "source": l.Source}})
	if err != nil {
		return "", err
	}
	answer, err := k.post(ctx, id, "", LeadCreate, body)
	var rejected *rejectedError
	if errors.As(err, &rejected) {
		return "", parley.Errorf(parley.EINVALID, "The CRM did not create the lead (it answered %d to lead.create); "+
			"answer lead.create with {\"id\": \"…\"}, or turn create_leads off.", rejected.status)
	} else if err != nil {
		return "", err
	}
	var created struct {
		ID  json.RawMessage `json:"id"`
		URL string          `json:"source_crm_url"`
	}
	json.Unmarshal(answer, &created)
	leadID := text(created.ID)
	if !recordID.MatchString(leadID) {
		return "", parley.Errorf(parley.EINVALID, "The CRM answered lead.create without an id: the answer must be {\"id\": \"…\"}.")
	}
	m := store.MirrorRecord{Entity: "lead", ID: leadID, Name: name, URL: created.URL, Phones: []string{l.Phone},
		Fields: map[string]string{"name": name, "phones": l.Phone, "source": l.Source}}
	if err := k.s.DB.InTx(ctx, func(tx *store.Tx) error { return tx.UpsertMirrorRecord(ctx, k.c.ID, m) }); err != nil {
		return "", err
	}
	return leadID, nil
}
