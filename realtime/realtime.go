// Package realtime fans committed events out to the clients of each tenant
// (agents' consoles, SSE API clients). Events come from this process's own
// commits and, on PostgreSQL, from the other replicas' through
// LISTEN/NOTIFY, so an agent connected to any replica sees every change.
//
// Delivery to a client never blocks the writer: a client that falls behind
// is disconnected, and it resumes from its Last-Event-ID, reading what it
// missed from the events table. Nothing is lost; a slow client only costs
// itself a reconnect.
package realtime

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// bufferSize is how many events a client may fall behind by before it is
// told to reconnect and resume.
const bufferSize = 512

// Broker routes events to subscriptions by tenant.
type Broker struct {
	db  *store.DB
	log *slog.Logger

	mu   sync.RWMutex
	subs map[string]map[*Subscription]struct{}
}

// Subscription receives one tenant's events on C. C is closed when the
// subscriber falls too far behind or unsubscribes.
type Subscription struct {
	C      <-chan parley.Event
	c      chan parley.Event
	tenant string
	closed bool
}

// New returns a broker fed by db's commits.
func New(db *store.DB, log *slog.Logger) *Broker {
	if log == nil {
		log = slog.Default()
	}
	b := &Broker{db: db, log: log, subs: map[string]map[*Subscription]struct{}{}}
	db.Subscribe(b.Publish)
	return b
}

// Subscribe starts receiving a tenant's events.
func (b *Broker) Subscribe(tenantID string) *Subscription {
	c := make(chan parley.Event, bufferSize)
	s := &Subscription{C: c, c: c, tenant: tenantID}
	b.mu.Lock()
	if b.subs[tenantID] == nil {
		b.subs[tenantID] = map[*Subscription]struct{}{}
	}
	b.subs[tenantID][s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Unsubscribe stops a subscription and closes its channel.
func (b *Broker) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	b.drop(s)
	b.mu.Unlock()
}

// drop must be called with mu held.
func (b *Broker) drop(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	delete(b.subs[s.tenant], s)
	if len(b.subs[s.tenant]) == 0 {
		delete(b.subs, s.tenant)
	}
}

// Subscribers counts the open subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, m := range b.subs {
		n += len(m)
	}
	return n
}

// Publish hands events to their tenants' subscribers without blocking.
func (b *Broker) Publish(events []parley.Event) {
	var lagging []*Subscription
	b.mu.RLock()
	for _, ev := range events {
		for s := range b.subs[ev.TenantID] {
			select {
			case s.c <- ev:
			default:
				lagging = append(lagging, s)
			}
		}
	}
	b.mu.RUnlock()
	if len(lagging) > 0 {
		b.mu.Lock()
		for _, s := range lagging {
			b.drop(s)
		}
		b.mu.Unlock()
	}
}

// Listen relays the other replicas' events until ctx ends. It is needed
// only on PostgreSQL; on SQLite there is one process.
func (b *Broker) Listen(ctx context.Context) {
	if b.db.Dialect() != store.Postgres {
		return
	}
	backoff := time.Second
	for ctx.Err() == nil {
		err := b.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("event listener disconnected; reconnecting (clients may resume to catch up)", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (b *Broker) listen(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.db.URL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+store.EventsChannel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		from, ids := store.ParseNotification(n.Payload)
		if from == b.db.Instance() || len(ids) == 0 {
			continue // our own commits were published in-process
		}
		events, err := b.db.EventsByID(ctx, ids)
		if err != nil {
			b.log.Error("could not read announced events", "error", err)
			continue
		}
		b.Publish(events)
	}
}
