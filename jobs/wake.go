package jobs

import (
	"sync"

	"github.com/parleyhq/parley/store"
)

// hub fans in-process wake-ups out to the fetch loops of every Queue on
// the same database handle. On SQLite it is the only wake-up channel (the
// inserting transaction's AfterCommit calls it); on PostgreSQL the
// LISTEN connection feeds it, and so do this process's own retries and
// snoozes.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // queue → fetch loops
}

// hubs holds one hub per *store.DB, so that a Queue made for inserting
// wakes the workers of another Queue on the same database.
var hubs sync.Map // *store.DB → *hub

func hubFor(db *store.DB) *hub {
	h, _ := hubs.LoadOrStore(db, &hub{subs: map[string]map[chan struct{}]struct{}{}})
	return h.(*hub)
}

// subscribe returns a channel that receives a value (coalesced: at most
// one pending) whenever queue may have new work, and a func to stop.
func (h *hub) subscribe(queue string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[queue] == nil {
		h.subs[queue] = map[chan struct{}]struct{}{}
	}
	h.subs[queue][c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs[queue], c)
		h.mu.Unlock()
	}
}

// wake signals the fetch loops of the named queues without blocking.
func (h *hub) wake(queues ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range queues {
		for c := range h.subs[q] {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}

// wakeAll signals every fetch loop, after notifications may have been
// missed (the LISTEN connection was re-established).
func (h *hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for c := range subs {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
}
