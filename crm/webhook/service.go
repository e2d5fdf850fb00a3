package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
)

// Service runs the webhook CRMs of every tenant: it opens their clients
// for the crm service, receives their webhooks and runs their imports.
type Service struct {
	DB   *store.DB
	CRM  *crm.Service
	Jobs *jobs.Queue
	Log  *slog.Logger
	// HTTP posts activities and reads import pages; nil uses a client with
	// a 30-second timeout.
	HTTP *http.Client
	// Now is the clock webhooks' timestamps are checked against.
	Now func() time.Time
	// OutageWait is how long deliveries wait after the CRM failed without
	// saying when to come back (30 s by default; tests shorten it).
	OutageWait time.Duration
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) client() *http.Client {
	if s.HTTP != nil {
		return s.HTTP
	}
	return defaultClient
}

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// Open makes the crm.Client of a webhook connector.
func (s *Service) Open(c *parley.Connector) (*Connector, error) {
	if c.Webhook == nil {
		return nil, errors.New("webhook: the connector has no webhook settings")
	}
	return &Connector{s: s, c: c}, nil
}

// Receipt is what a webhook was answered.
type Receipt struct {
	Applied int `json:"applied"`
	// Replayed says the webhook-id was seen before: nothing was applied
	// again.
	Replayed bool `json:"replayed,omitempty"`
}

// seenFor is how long a webhook-id is remembered: past twice the
// timestamp tolerance, a replay fails the timestamp check anyway.
const seenFor = 2 * Tolerance

// Receive takes in a CRM's webhook for a connector: it checks the
// signature with the connector's inbound secret, refuses a body it cannot
// read (nothing is applied), acknowledges a webhook-id seen before without
// applying it again, and otherwise applies every event in one
// transaction with its webhook-id.
func (s *Service) Receive(ctx context.Context, connectorID string, h http.Header, body []byte) (Receipt, error) {
	c, err := s.DB.FindConnectorByID(ctx, connectorID)
	if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
		return Receipt{}, err
	}
	if err != nil || c.Webhook == nil {
		// An unknown connector and a bad signature look the same.
		return Receipt{}, parley.Errorf(parley.EUNAUTHORIZED, "The webhook's signature does not match its body and the connector's inbound secret.")
	}
	id, err := Verify(c.Webhook.InboundSecret, h, body, s.now())
	if err != nil {
		return Receipt{}, err
	}
	recs, err := ParseEvents(body)
	if err != nil {
		return Receipt{}, err
	}
	var rc Receipt
	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		fresh, err := tx.SeeWebhook(ctx, c.ID, id, s.now().Add(seenFor))
		if err != nil {
			return err
		}
		if !fresh {
			rc.Replayed = true
			return nil
		}
		rc.Applied = len(recs)
		return s.apply(ctx, tx, c, recs, true)
	})
	if err != nil {
		return Receipt{}, err
	}
	return rc, nil
}

// Store applies records read by an import: mirrored and linked contacts'
// snapshots refreshed, without telling anyone (they are not changes).
func (s *Service) Store(ctx context.Context, c *parley.Connector, recs []Record) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return s.apply(ctx, tx, c, recs, false) })
}

// apply mirrors records and hands those of the connector's tables to the
// crm service's change path, which tells watched-column changes to the
// linked contacts' threads (when tell), unlinks deleted records, and
// forgets the lookups a change may affect.
func (s *Service) apply(ctx context.Context, tx *store.Tx, c *parley.Connector, recs []Record, tell bool) error {
	for _, r := range recs {
		var ch crm.Changes
		if r.Deleted {
			if err := tx.DeleteMirrorRecord(ctx, c.ID, r.Entity, r.ID); err != nil {
				return err
			}
			ch.Deleted = []string{r.ID}
		} else {
			prev, err := tx.MirrorRecord(ctx, c.ID, r.Entity, r.ID)
			if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
				return err
			}
			m := r.merge(prev)
			if err := tx.UpsertMirrorRecord(ctx, c.ID, m); err != nil {
				return err
			}
			ch.Rows = []crm.Row{{ID: r.ID, Values: row(&m, "", crm.SamePhone)}}
			// Every phone, not only the first the row names, may be a
			// contact's whose lookup found nothing until now.
			var suffixes []string
			for _, p := range m.Phones {
				suffixes = append(suffixes, store.PhoneSuffix(p))
			}
			if err := tx.ForgetLookupsByPhone(ctx, c.TenantID, c.ID, suffixes); err != nil {
				return err
			}
		}
		t, ok := c.Table(r.Entity)
		if !ok {
			continue // mirrored for template bindings; not looked up
		}
		if err := s.CRM.ApplyTx(ctx, tx, c, t, ch, tell); err != nil {
			return fmt.Errorf("webhook: apply %s:%s: %w", r.Entity, r.ID, err)
		}
	}
	return nil
}
