package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/parleyhq/parley"
)

// heartbeat keeps idle streams alive through proxies that cut silent
// connections.
const heartbeat = 25 * time.Second

// events streams the tenant's events as Server-Sent Events. A client that
// reconnects with Last-Event-ID first gets what it missed, from the
// events table, then the live stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, r, s.Log, fmt.Errorf("httpapi: response writer cannot stream"))
		return
	}
	var last int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	} else if v := r.URL.Query().Get("last_event_id"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	}
	// Subscribe before reading the backlog, so nothing committed in
	// between is missed; events seen twice are skipped by ID.
	sub := s.Broker.Subscribe(a.Tenant.ID)
	defer s.Broker.Unsubscribe(sub)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")

	sent := map[int64]bool{}
	if last > 0 {
		for {
			backlog, err := s.DB.EventsAfter(r.Context(), a.Tenant.ID, last, 1000)
			if err != nil {
				s.Log.Error("read event backlog", "error", err)
				return
			}
			for _, ev := range backlog {
				if err := writeEvent(w, ev); err != nil {
					return
				}
				sent[ev.ID] = true
				last = ev.ID
			}
			if len(backlog) < 1000 {
				break
			}
		}
	}
	flusher.Flush()

	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				// Fell behind: end the stream; the client reconnects with
				// its Last-Event-ID and catches up from the table.
				return
			}
			if sent[ev.ID] {
				continue
			}
			if err := writeEvent(w, ev); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

func writeEvent(w http.ResponseWriter, ev parley.Event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data)
	return err
}
