package web

import (
	"context"
	"encoding/json"
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
	only := r.URL.Query().Get("conversation")
	if ss.Panel && only == "" {
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
			if s.forward(r.Context(), w, ss, only, ev) != nil {
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
			if err := s.forward(r.Context(), w, ss, only, ev); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// forward renders one tenant event for this user, if it concerns what
// they may see.
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, ss *session, only string, ev parley.Event) error {
	switch ev.Type {
	case parley.EventMessageCreated, parley.EventMessageUpdated:
		var m parley.Message
		if json.Unmarshal(ev.Data, &m) != nil || (only != "" && m.ConversationID != only) {
			return nil
		}
		if _, err := s.conversation(ctx, ss, m.ConversationID); err != nil {
			return nil
		}
		// Reload: the event's copy lacks what a read joins in (media state,
		// reactions), and may be older than the row.
		fresh, err := s.DB.FindMessage(ctx, ss.Tenant.ID, m.ID)
		if err != nil || !inThread(fresh) {
			return nil
		}
		mv := &msgView{view: ss.view, M: fresh}
		if c := fresh.Context; c != nil && c.ReplyTo != "" {
			mv.Quoted, _ = s.DB.FindMessage(ctx, ss.Tenant.ID, c.ReplyTo)
		}
		return s.send(w, ev.ID, "message", "message", mv)
	case parley.EventConversationUpdated:
		var c parley.Conversation
		if json.Unmarshal(ev.Data, &c) != nil || (only != "" && c.ID != only) {
			return nil
		}
		conv, err := s.DB.FindConversation(ctx, ss.Tenant.ID, c.ID)
		if err != nil {
			return nil
		}
		if ok, err := s.mayAccess(ctx, ss.User, conv); err != nil || !ok {
			return writeEvent(w, ev.ID, "remove", conv.ID)
		}
		if conv.Contact, err = s.DB.FindContact(ctx, ss.Tenant.ID, conv.ContactID); err != nil {
			return nil
		}
		names, err := s.userNames(ctx, ss.Tenant.ID)
		if err != nil {
			return nil
		}
		return s.send(w, ev.ID, "row", "inbox_row", &inboxRow{view: ss.view, C: conv, Assignee: names[conv.AssigneeID]})
	case parley.EventContactUpdated:
		var c parley.Contact
		if json.Unmarshal(ev.Data, &c) != nil {
			return nil
		}
		return writeEvent(w, ev.ID, "contact", c.ID)
	}
	return nil
}

// send renders a template as one event.
func (s *Server) send(w http.ResponseWriter, id int64, event, tpl string, data any) error {
	var b strings.Builder
	if err := s.tpl.ExecuteTemplate(&b, tpl, data); err != nil {
		s.Log.Error("render event", "template", tpl, "error", err)
		return nil
	}
	return writeEvent(w, id, event, b.String())
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
