package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// inboxFilter is what the inbox shows.
type inboxFilter struct {
	Scope  string // mine, unassigned or all
	Status string // open or resolved
	Query  string
}

func filterFrom(r *http.Request) inboxFilter {
	q := r.URL.Query()
	f := inboxFilter{Scope: q.Get("scope"), Status: q.Get("status"), Query: strings.TrimSpace(q.Get("q"))}
	if f.Scope != "mine" && f.Scope != "unassigned" {
		f.Scope = "all"
	}
	if f.Status != parley.ConversationResolved {
		f.Status = parley.ConversationOpen
	}
	return f
}

// inboxRow is one conversation in the inbox list.
type inboxRow struct {
	*view
	C        *parley.Conversation
	Assignee string
	Active   bool
}

// Name is the row's title.
func (r *inboxRow) Name() string { return r.C.Contact.DisplayName() }

// inboxList is the rows of the inbox.
type inboxList struct {
	*view
	Rows []*inboxRow
}

type consoleData struct {
	*view
	Filter inboxFilter
	Inbox  inboxList
	Conv   *convData
}

func (s *Server) consolePage(w http.ResponseWriter, r *http.Request, ss *session) {
	if ss.Panel {
		http.Redirect(w, r, "/panel", http.StatusSeeOther)
		return
	}
	s.renderConsole(w, r, ss, nil)
}

// renderConsole renders the whole console, with a conversation open or not.
func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, ss *session, conv *convData) {
	f := filterFrom(r)
	active := ""
	if conv != nil {
		active = conv.C.ID
	}
	rows, err := s.inbox(r.Context(), ss, f, active)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "console", consoleData{view: ss.view, Filter: f, Inbox: inboxList{ss.view, rows}, Conv: conv})
}

func (s *Server) inbox(ctx context.Context, ss *session, f inboxFilter, active string) ([]*inboxRow, error) {
	lf := store.ConversationFilter{Status: f.Status, Query: f.Query, VisibleTo: ss.User, Limit: 100}
	switch f.Scope {
	case "mine":
		lf.AssigneeID = ss.User.ID
	case "unassigned":
		lf.Unassigned = true
	}
	list, _, err := s.DB.ListConversations(ctx, ss.Tenant.ID, lf)
	if err != nil {
		return nil, err
	}
	names, err := s.userNames(ctx, ss.Tenant.ID)
	if err != nil {
		return nil, err
	}
	rows := make([]*inboxRow, len(list))
	for i, c := range list {
		rows[i] = &inboxRow{view: ss.view, C: c, Assignee: names[c.AssigneeID], Active: c.ID == active}
	}
	return rows, nil
}

func (s *Server) userNames(ctx context.Context, tenantID string) (map[string]string, error) {
	users, err := s.DB.ListUsers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	names := make(map[string]string, len(users))
	for _, u := range users {
		names[u.ID] = u.DisplayName()
	}
	return names, nil
}

// inboxList is the inbox alone, for filter changes.
func (s *Server) inboxList(w http.ResponseWriter, r *http.Request, ss *session) {
	rows, err := s.inbox(r.Context(), ss, filterFrom(r), r.URL.Query().Get("active"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "inbox_rows", inboxList{ss.view, rows})
}

// convData is an open conversation: its thread, composer and sidebar.
type convData struct {
	*view
	C            *parley.Conversation
	Contact      *parley.Contact
	Channel      *parley.Channel
	Messages     []*msgView
	Before       string
	Users        []*parley.User
	Teams        []*parley.Team
	QuickReplies []*parley.QuickReply
	Others       []*parley.Conversation
	Records      []recordView // the CRM records the contact is linked to
	MediaRules   string       // JSON, for the composer's checks before upload
	FillRecord   string       // the record the panel was opened for, to fill templates from
}

// WindowOpen reports whether free text may be sent now.
func (d *convData) WindowOpen() bool { return d.C.WindowOpen(d.Now) }

// pageSize is how many messages a thread shows at once; older ones load
// as the agent scrolls up.
const pageSize = 50

func (s *Server) loadConversation(ctx context.Context, ss *session, c *parley.Conversation) (*convData, error) {
	d := &convData{view: ss.view, C: c}
	var err error
	if d.Contact, err = s.DB.FindContact(ctx, ss.Tenant.ID, c.ContactID); err != nil {
		return nil, err
	}
	c.Contact = d.Contact
	if d.Channel, err = s.DB.FindChannel(ctx, ss.Tenant.ID, c.ChannelID); err != nil {
		return nil, err
	}
	if d.Messages, d.Before, err = s.messages(ctx, ss, c, ""); err != nil {
		return nil, err
	}
	if d.Users, err = s.DB.ListUsers(ctx, ss.Tenant.ID); err != nil {
		return nil, err
	}
	if d.Teams, err = s.DB.ListTeams(ctx, ss.Tenant.ID); err != nil {
		return nil, err
	}
	if d.QuickReplies, err = s.DB.ListQuickReplies(ctx, ss.Tenant.ID); err != nil {
		return nil, err
	}
	others, _, err := s.DB.ListConversations(ctx, ss.Tenant.ID, store.ConversationFilter{ContactID: c.ContactID, VisibleTo: ss.User, Limit: 20})
	if err != nil {
		return nil, err
	}
	if d.Records, err = s.recordViews(ctx, ss.Tenant.ID, c.ContactID); err != nil {
		return nil, err
	}
	for _, o := range others {
		if o.ID != c.ID {
			d.Others = append(d.Others, o)
		}
	}
	rules := map[string]map[string]any{}
	for t, r := range parley.MediaRules {
		rules[string(t)] = map[string]any{"max": r.MaxSize, "types": r.Types}
	}
	b, _ := json.Marshal(rules)
	d.MediaRules = string(b)
	return d, nil
}

// msgView is a message as the thread shows it.
type msgView struct {
	*view
	M      *parley.Message
	Quoted *parley.Message
}

// MediaURL is where the browser fetches the message's file.
func (m *msgView) MediaURL() string {
	if m.M.Media == nil || m.M.Media.ID == "" {
		return ""
	}
	return m.mediaURL(m.M.Media.ID)
}

// DownloadURL fetches the message's file as a download.
func (m *msgView) DownloadURL() string {
	u := m.MediaURL()
	if strings.Contains(u, "?") {
		return u + "&download=1"
	}
	return u + "?download=1"
}

func (v *view) mediaURL(id string) string {
	u := "/console/media/" + id
	if v.Panel {
		u += "?" + panelParam + "=" + v.PanelToken
	}
	return u
}

// Contacts are the shared contacts of a contacts message.
func (m *msgView) Contacts() []sharedContact { return parseContacts(m.M.Contacts) }

// MapURL links a location to a map.
func (m *msgView) MapURL() string {
	l := m.M.Location
	if l == nil {
		return ""
	}
	return "https://www.openstreetmap.org/?mlat=" + ftoa(l.Latitude) + "&mlon=" + ftoa(l.Longitude) + "#map=17/" + ftoa(l.Latitude) + "/" + ftoa(l.Longitude)
}

// CRMChange is a CRM change line in the viewer's language: "Lead status:
// Qualified". Tables and columns Parley knows get their names; others keep
// the CRM's logical names. The values are the CRM's, as it formats them.
func (m *msgView) CRMChange() string {
	sys := m.M.System
	if sys == nil || sys.Record == nil {
		return ""
	}
	table := m.label("crm.table."+sys.Record.Table, sys.Record.Table)
	var parts []string
	for _, ch := range sys.Changes {
		col := m.label("crm.column."+strings.TrimSuffix(strings.TrimPrefix(ch.Column, "_"), "_value"), ch.Column)
		parts = append(parts, m.T("crm.change", table, col, ch.Value))
	}
	if len(parts) == 0 {
		return sys.Body
	}
	return strings.Join(parts, "; ")
}

// label translates key, or gives fallback when the catalog has no entry.
func (v *view) label(key, fallback string) string {
	if s := v.T(key); s != key {
		return s
	}
	return fallback
}

// Tick names the delivery state of an outbound message, for its icon.
func (m *msgView) Tick() string { return string(m.M.Status) }

// inThread reports whether a message is a bubble of its own. A reaction
// to a message Parley has shows on that message instead, as on the phone.
func inThread(m *parley.Message) bool {
	return m.Type != parley.TypeReaction || m.Reaction == nil || m.Reaction.MessageID == ""
}

func (s *Server) messages(ctx context.Context, ss *session, c *parley.Conversation, before string) ([]*msgView, string, error) {
	list, err := s.DB.ListMessages(ctx, ss.Tenant.ID, c.ID, before, pageSize)
	if err != nil {
		return nil, "", err
	}
	byID := make(map[string]*parley.Message, len(list))
	for _, m := range list {
		byID[m.ID] = m
	}
	out := make([]*msgView, 0, len(list))
	for _, m := range list {
		if !inThread(m) {
			continue
		}
		mv := &msgView{view: ss.view, M: m}
		if ctxm := m.Context; ctxm != nil && ctxm.ReplyTo != "" {
			mv.Quoted = byID[ctxm.ReplyTo]
			if mv.Quoted == nil {
				mv.Quoted, _ = s.DB.FindMessage(ctx, ss.Tenant.ID, ctxm.ReplyTo)
			}
		}
		out = append(out, mv)
	}
	next := ""
	if len(list) == pageSize {
		next = list[0].ID
	}
	return out, next, nil
}

// conversationPage opens a conversation: the whole console on a normal
// request, only the conversation for htmx.
func (s *Server) conversationPage(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	d, err := s.loadConversation(r.Context(), ss, c)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-History-Restore-Request") == "" {
		s.render(w, http.StatusOK, "conversation", d)
		return
	}
	s.renderConsole(w, r, ss, d)
}

// olderMessages is the page of messages before one, as the agent scrolls up.
func (s *Server) olderMessages(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	msgs, before, err := s.messages(r.Context(), ss, c, r.URL.Query().Get("before"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "older", &convData{view: ss.view, C: c, Messages: msgs, Before: before})
}

// markRead clears the unread count when an agent opens a conversation, and
// shows the customer blue ticks on their latest message.
func (s *Server) markRead(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	if c.UnreadCount > 0 {
		last, err := s.DB.LatestInbound(r.Context(), ss.Tenant.ID, c.ID)
		if err == nil {
			_, err = s.Messaging.MarkRead(r.Context(), ss.Tenant.ID, last.ID)
		}
		if err != nil && parley.ErrorCode(err) != parley.ENOTFOUND {
			s.fail(w, r, ss.view, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// supervisorRow is one open conversation in the supervisor's view.
type supervisorRow struct {
	C        *parley.Conversation
	Assignee string
	Team     string
	Waiting  time.Duration
}

type supervisorData struct {
	*view
	Rows []supervisorRow
	Sort string
}

// supervisorPage lists every open conversation with its assignee and how
// long the customer has waited, the longest first (or the latest first).
func (s *Server) supervisorPage(w http.ResponseWriter, r *http.Request, ss *session) {
	if !ss.User.SeesAll() || ss.Panel {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EFORBIDDEN, "error.supervisors_only"))
		return
	}
	sort := r.URL.Query().Get("sort")
	f := store.ConversationFilter{Status: parley.ConversationOpen, Limit: 500, ByWaiting: sort != "recent"}
	list, _, err := s.DB.ListConversations(r.Context(), ss.Tenant.ID, f)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	names, err := s.userNames(r.Context(), ss.Tenant.ID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	teams, err := s.DB.ListTeams(r.Context(), ss.Tenant.ID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	teamNames := map[string]string{}
	for _, t := range teams {
		teamNames[t.ID] = t.Name
	}
	d := supervisorData{view: ss.view, Sort: sort}
	for _, c := range list {
		row := supervisorRow{C: c, Assignee: names[c.AssigneeID], Team: teamNames[c.TeamID]}
		if !c.WaitingSince.IsZero() {
			row.Waiting = ss.view.Now.Sub(c.WaitingSince)
		}
		d.Rows = append(d.Rows, row)
	}
	if sort != "recent" {
		d.Sort = "waiting"
	}
	s.render(w, http.StatusOK, "supervisor", d)
}

// recordView is a CRM record as the sidebar lists it, with its address in
// the CRM when the connector that found it knows one.
type recordView struct {
	parley.RecordLink
	URL string
}

func (s *Server) recordViews(ctx context.Context, tenantID, contactID string) ([]recordView, error) {
	links, err := s.DB.RecordsOf(ctx, tenantID, contactID)
	if err != nil {
		return nil, err
	}
	out := make([]recordView, len(links))
	connectors := map[string]*parley.Connector{}
	for i, l := range links {
		out[i].RecordLink = l
		if l.ConnectorID == "" {
			continue
		}
		c, ok := connectors[l.ConnectorID]
		if !ok {
			c, _ = s.DB.FindConnector(ctx, tenantID, l.ConnectorID) // gone: the link stays, without an address
			connectors[l.ConnectorID] = c
		}
		switch {
		case c != nil && c.Dataverse != nil:
			out[i].URL = c.Dataverse.DeepLink(l.Record)
		case c != nil && c.Webhook != nil:
			// A webhook CRM sends each record's address (source_crm_url).
			if r, err := s.DB.MirrorRecord(ctx, c.ID, l.Table, l.ID); err == nil {
				out[i].URL = r.URL
			}
		}
	}
	return out, nil
}
