// Package messaging is Parley's core pipeline. It applies what providers
// report (inbound messages, statuses, template reviews) to the store in one
// transaction per delivery, and it turns send requests into a stored
// message and a send job, after the WhatsApp rules in package parley have
// been checked. The jobs it registers carry out everything that needs the
// network: sending, downloading media, syncing templates, checking a
// channel's credentials.
//
// Nothing here knows a vendor's wire format: providers are reached through
// the whatsapp.Provider port.
package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/ratelimit"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
)

// Job kinds.
const (
	JobSend          = "message.send"
	JobMarkRead      = "message.read"
	JobMediaDownload = "media.download"
	JobTemplateSync  = "templates.sync"
	JobChannelCheck  = "channel.check"
)

// Service is the messaging core.
type Service struct {
	DB        *store.DB
	Jobs      *jobs.Queue
	Blobs     *blob.Store
	Limiter   *ratelimit.Limiter
	Providers map[string]whatsapp.Provider
	Log       *slog.Logger
	Now       func() time.Time

	// MaxSendAttempts bounds retries of a send that keeps failing for
	// temporary reasons; then the message fails with the last error.
	MaxSendAttempts int
	// ReconcileWait is how long a send whose outcome is unknown (a timeout
	// after the request went out, or a worker that died mid-send) waits
	// for a status webhook before it is sent again.
	ReconcileWait time.Duration
	// SendTimeout bounds one call to a provider.
	SendTimeout time.Duration
	// PairRate paces messages to one recipient (Meta's pair rate limit).
	PairRate ratelimit.Rate
	// MediaURL returns a signed, expiring public address of an uploaded
	// file, for providers that fetch media themselves.
	MediaURL func(*store.MediaRecord) string

	tenants sync.Map // tenant ID → cachedTenant
}

type cachedTenant struct {
	t  *parley.Tenant
	at time.Time
}

// New returns a service with defaults for every tunable.
func New(db *store.DB, q *jobs.Queue, blobs *blob.Store, lim *ratelimit.Limiter, providers map[string]whatsapp.Provider, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{
		DB: db, Jobs: q, Blobs: blobs, Limiter: lim, Providers: providers, Log: log, Now: time.Now,
		MaxSendAttempts: 8,
		ReconcileWait:   2 * time.Minute,
		SendTimeout:     30 * time.Second,
		PairRate:        ratelimit.DefaultRecipientRate,
	}
}

func (s *Service) provider(name string) (whatsapp.Provider, error) {
	p, ok := s.Providers[name]
	if !ok {
		return nil, fmt.Errorf("messaging: no provider %q is configured", name)
	}
	return p, nil
}

// tenant returns a tenant, cached briefly: ingestion needs its opt-out
// keywords for every message, and they change rarely.
func (s *Service) tenant(ctx context.Context, id string) (*parley.Tenant, error) {
	if v, ok := s.tenants.Load(id); ok {
		c := v.(cachedTenant)
		if s.Now().Sub(c.at) < 30*time.Second {
			return c.t, nil
		}
	}
	t, err := s.DB.FindTenant(ctx, id)
	if err != nil {
		return nil, err
	}
	s.tenants.Store(id, cachedTenant{t: t, at: s.Now()})
	return t, nil
}

// SetOptOutKeywords replaces a tenant's opt-out keywords. The cached
// tenant is dropped, so that the next message this replica ingests is
// already checked against the new keywords rather than for up to the
// cache's lifetime against the old ones.
func (s *Service) SetOptOutKeywords(ctx context.Context, tenantID string, keywords []string) error {
	if err := s.DB.SetOptOutKeywords(ctx, tenantID, keywords); err != nil {
		return err
	}
	s.tenants.Delete(tenantID)
	return nil
}

// jitter spreads d by ±20%, so that jobs deferred together do not come
// back together.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}
