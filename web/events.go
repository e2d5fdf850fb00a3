package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// events streams the console's live updates: server-rendered fragments
// for the messages and conversations this user may see. The page's script
// puts them in place (see static/console.js).
//
//	event: message   data: a message's HTML (new or changed)
//	event: row       data: an inbox row's HTML
//	event: remove    data: a conversation ID the user may no longer see
//	event: contact   data: a contact ID whose details changed
//
// A panel's stream is narrowed to its one conversation.
func (s *Server) events(w http.ResponseWriter, r *http.Request, ss *session) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	st := &stream{ss: ss, only: r.URL.Query().Get("conversation")}
	if ss.Panel && st.only == "" {
		http.Error(w, "the panel's stream names its conversation", http.StatusBadRequest)
		return
	}
	sub := s.Broker.Subscribe(ss.Tenant.ID)
	defer s.Broker.Unsubscribe(sub)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")

	var last int64
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	}
	seen := map[int64]bool{}
	if last > 0 {
		backlog, err := s.DB.EventsAfter(r.Context(), ss.Tenant.ID, last, 1000)
		if err != nil {
			return
		}
		for _, ev := range backlog {
			seen[ev.ID] = true
			if s.forward(r.Context(), w, st, ev) != nil {
				return
			}
		}
	}
	flusher.Flush()
	tick := time.NewTicker(25 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
			flusher.Flush()
		case ev, ok := <-sub.C:
			if !ok {
				return // fell behind: the browser reconnects and catches up
			}
			if seen[ev.ID] {
				continue
			}
			if err := s.forward(r.Context(), w, st, ev); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// stream is one console's live connection.
type stream struct {
	ss   *session
	only string // the one conversation of a panel
	// teams are the agent's teams, reloaded every minute: a stream lasts
	// for hours, and team changes are rare.
	teams   []string
	teamsAt time.Time
}

// may reports whether the stream's user may see a conversation now.
func (st *stream) may(ctx context.Context, s *Server, c *parley.Conversation) bool {
	u := st.ss.User
	if !u.SeesAll() && c.AssigneeID == "" && c.TeamID != "" && time.Since(st.teamsAt) > time.Minute {
		teams, err := s.DB.UserTeams(ctx, u.ID)
		if err != nil {
			return false
		}
		st.teams, st.teamsAt = teams, time.Now()
	}
	return visible(u, c, st.teams)
}

// forward writes one tenant event to a stream, if it concerns what its
// user may see. The loading and rendering are shared with the tenant's
// other streams (see fanout).
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, st *stream, ev parley.Event) error {
	ss := st.ss
	sh := s.prepare(ctx, ss.Tenant.ID, ev)
	switch sh.kind {
	case "message":
		if (st.only != "" && sh.conv.ID != st.only) || !st.may(ctx, s, sh.conv) {
			return nil
		}
		html, ok := s.renderShared(sh, "message", ss.view, &msgView{view: ss.view, M: sh.msg, Quoted: sh.quoted})
		if !ok {
			return nil
		}
		return writeEvent(w, ev.ID, "message", html)
	case "row":
		if st.only != "" && sh.conv.ID != st.only {
			return nil
		}
		if !st.may(ctx, s, sh.conv) {
			return writeEvent(w, ev.ID, "remove", sh.conv.ID)
		}
		html, ok := s.renderShared(sh, "inbox_row", ss.view, &inboxRow{view: ss.view, C: sh.conv, Assignee: sh.assignee})
		if !ok {
			return nil
		}
		return writeEvent(w, ev.ID, "row", html)
	case "contact":
		return writeEvent(w, ev.ID, "contact", sh.contact)
	}
	return nil
}

// writeEvent writes one server-sent event; each line of data gets its own
// "data:" field, as the format requires.
func writeEvent(w http.ResponseWriter, id int64, event, data string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %d\nevent: %s\n", id, event)
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: ")
		b.WriteString(strings.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := fmt.Fprint(w, b.String())
	return err
}
