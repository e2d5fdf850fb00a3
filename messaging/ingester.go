package messaging

import (
	"context"
	"errors"
	"sync"
)

// ErrIngesterClosed is returned by Submit after the ingester stopped.
var ErrIngesterClosed = errors.New("messaging: ingester stopped")

// Ingester commits concurrent webhook deliveries together (group commit).
// Durability costs one disk sync per commit, whatever the commit holds, so
// a handler that waits for its own commit caps ingestion at the disk's
// sync rate. Handlers instead hand their deliveries to the ingester and
// wait; each loop takes everything waiting, applies it in one transaction,
// syncs once and answers every handler. A webhook is still acknowledged
// only after its own content is committed.
type Ingester struct {
	svc      *Service
	reqs     chan *ingestReq
	maxBatch int

	wg sync.WaitGroup
	// mu orders Submit and Close: a submission either reaches the queue
	// before Close, and is drained, or sees closed and is refused.
	mu       sync.RWMutex
	isClosed bool
	closed   chan struct{}
}

type ingestReq struct {
	ds   []Delivery
	done chan error
}

func (r *ingestReq) size() int {
	n := 0
	for _, d := range r.ds {
		n += d.Batch.Len()
	}
	return n
}

// NewIngester starts loops workers (one suits SQLite, which has a single
// writer; several suit PostgreSQL) committing up to maxBatch events each.
func (s *Service) NewIngester(loops, maxBatch int) *Ingester {
	g := &Ingester{svc: s, reqs: make(chan *ingestReq, 4*maxBatch), maxBatch: maxBatch, closed: make(chan struct{})}
	for range max(loops, 1) {
		g.wg.Add(1)
		go g.loop()
	}
	return g
}

// Submit applies deliveries and returns once they are committed. If ctx
// ends first the deliveries may still be committed later; the provider's
// redelivery is then harmless.
func (g *Ingester) Submit(ctx context.Context, ds ...Delivery) error {
	r := &ingestReq{ds: ds, done: make(chan error, 1)}
	g.mu.RLock()
	if g.isClosed {
		g.mu.RUnlock()
		return ErrIngesterClosed
	}
	select {
	case g.reqs <- r:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the loops after they have committed everything submitted.
// Stop the HTTP server first, so nothing is submitted meanwhile.
func (g *Ingester) Close() {
	g.mu.Lock()
	if !g.isClosed {
		g.isClosed = true
		close(g.closed)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *Ingester) loop() {
	defer g.wg.Done()
	for {
		var first *ingestReq
		select {
		case first = <-g.reqs:
		case <-g.closed:
			// Drain what was submitted before the close.
			select {
			case first = <-g.reqs:
			default:
				return
			}
		}
		batch, n := []*ingestReq{first}, first.size()
	fill:
		for n < g.maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
				n += r.size()
			default:
				break fill
			}
		}
		g.commit(batch)
	}
}

// commit applies a batch in one transaction. If that fails, each request
// is retried alone, so one bad delivery cannot fail its neighbours.
func (g *Ingester) commit(batch []*ingestReq) {
	// Not the requests' contexts: one caller giving up must not roll back
	// the others' deliveries.
	ctx := context.Background()
	var all []Delivery
	for _, r := range batch {
		all = append(all, r.ds...)
	}
	err := g.svc.Ingest(ctx, all...)
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	g.svc.Log.Warn("a grouped ingestion failed; retrying its deliveries one by one", "deliveries", len(batch), "error", err)
	for _, r := range batch {
		r.done <- g.svc.Ingest(ctx, r.ds...)
	}
}
