package web

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
)

// fanout shares the work of turning one tenant event into console
// fragments between all the agents connected to the tenant. Every agent's
// stream receives the same event at about the same moment; without this,
// each would read the same rows and render the same HTML, and a tenant's
// fifth agent would cost as much as the first. Here the rows are read once
// per event, and the HTML rendered once per language and time zone.
//
// What each agent may see is still decided per agent, on the shared
// conversation.
type fanout struct {
	mu   sync.Mutex
	byID map[int64]*shared
	ring []int64 // event IDs, oldest first once full, to evict
	next int
}

// fanoutSize is how many recent events are kept. An agent whose stream
// lags further behind than that loads the event again: slower, not wrong.
const fanoutSize = 1024

func newFanout() *fanout {
	return &fanout{byID: make(map[int64]*shared, fanoutSize), ring: make([]int64, fanoutSize)}
}

// shared is one event as the consoles need it.
type shared struct {
	once sync.Once
	kind string               // "message", "row", "contact", or "" to skip
	conv *parley.Conversation // for rows, with its contact
	msg  *parley.Message
	// quoted is the message msg replies to, and assignee the name of the
	// conversation's assignee.
	quoted   *parley.Message
	assignee string
	contact  string // for "contact": the contact's ID

	mu   sync.Mutex
	html map[string]string // by template and the view's language, zone and panel token
}

func (f *fanout) get(id int64) *shared {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sh, ok := f.byID[id]; ok {
		return sh
	}
	if old := f.ring[f.next]; old != 0 {
		delete(f.byID, old)
	}
	sh := &shared{}
	f.byID[id] = sh
	f.ring[f.next] = id
	f.next = (f.next + 1) % len(f.ring)
	return sh
}

// prepare loads what an event shows, once. The first agent's request may
// end while others still wait on the load, so it runs on a context of its
// own.
func (s *Server) prepare(ctx context.Context, tenantID string, ev parley.Event) *shared {
	sh := s.fan.get(ev.ID)
	sh.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.load(ctx, tenantID, ev, sh)
	})
	return sh
}

func (s *Server) load(ctx context.Context, tenantID string, ev parley.Event, sh *shared) {
	switch ev.Type {
	case parley.EventMessageCreated, parley.EventMessageUpdated:
		var m parley.Message
		if json.Unmarshal(ev.Data, &m) != nil {
			return
		}
		// Reload: the event's copy lacks what a read joins in (media state,
		// reactions), and may be older than the row.
		fresh, err := s.DB.FindMessage(ctx, tenantID, m.ID)
		if err != nil || !inThread(fresh) {
			return
		}
		if sh.conv, err = s.DB.FindConversation(ctx, tenantID, fresh.ConversationID); err != nil {
			return
		}
		if c := fresh.Context; c != nil && c.ReplyTo != "" {
			sh.quoted, _ = s.DB.FindMessage(ctx, tenantID, c.ReplyTo)
		}
		sh.msg, sh.kind = fresh, "message"
	case parley.EventConversationUpdated:
		var c parley.Conversation
		if json.Unmarshal(ev.Data, &c) != nil {
			return
		}
		conv, err := s.DB.FindConversation(ctx, tenantID, c.ID)
		if err != nil {
			return
		}
		if conv.Contact, err = s.DB.FindContact(ctx, tenantID, conv.ContactID); err != nil {
			return
		}
		if conv.AssigneeID != "" {
			if u, err := s.DB.FindUser(ctx, tenantID, conv.AssigneeID); err == nil {
				sh.assignee = u.DisplayName()
			}
		}
		sh.conv, sh.kind = conv, "row"
	case parley.EventContactUpdated:
		var c parley.Contact
		if json.Unmarshal(ev.Data, &c) != nil {
			return
		}
		sh.contact, sh.kind = c.ID, "contact"
	}
}

// renderShared executes a template for a view, or returns the HTML an earlier
// agent with the same language, zone and panel token got. The data must
// depend on nothing else of the view.
func (s *Server) renderShared(sh *shared, tpl string, v *view, data any) (string, bool) {
	key := tpl + "\x00" + v.Lang + "\x00" + v.Loc.String() + "\x00" + v.PanelToken
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if html, ok := sh.html[key]; ok {
		return html, true
	}
	var b strings.Builder
	if err := s.tpl.ExecuteTemplate(&b, tpl, data); err != nil {
		s.Log.Error("render event", "template", tpl, "error", err)
		return "", false
	}
	if sh.html == nil {
		sh.html = make(map[string]string, 2)
	}
	sh.html[key] = b.String()
	return sh.html[key], true
}
