package web

import (
	"net/http"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/phone"
	"github.com/parleyhq/parley/store"
)

type panelData struct {
	*view
	Conv    *convData
	Problem string
}

// panelPage is the compact chat a CRM embeds next to a record: one
// contact's conversation, picked by phone=+E164 (or record=table:id once a
// CRM is connected). A contact with no conversation yet gets one, empty,
// whose closed window offers to start with a template.
func (s *Server) panelPage(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	d := panelData{view: ss.view}
	number := strings.TrimSpace(q.Get("phone"))
	switch {
	case number == "" && q.Get("record") != "":
		d.Problem = ss.view.T("panel.no_crm")
	case number == "":
		d.Problem = ss.view.T("panel.no_phone")
	}
	if d.Problem != "" {
		s.render(w, http.StatusBadRequest, "panel", d)
		return
	}
	e164, err := phone.E164(number)
	if err != nil {
		d.Problem = ss.view.T("panel.bad_phone", number)
		s.render(w, http.StatusBadRequest, "panel", d)
		return
	}
	c, err := s.panelConversation(r, ss, e164, q.Get("channel"))
	if err != nil {
		d.Problem = parley.ErrorMessage(err)
		s.render(w, statusOf(parley.ErrorCode(err)), "panel", d)
		return
	}
	if d.Conv, err = s.loadConversation(r.Context(), ss, c); err != nil {
		d.Problem = parley.ErrorMessage(err)
		s.render(w, statusOf(parley.ErrorCode(err)), "panel", d)
		return
	}
	s.render(w, http.StatusOK, "panel", d)
}

// panelConversation finds the contact's latest conversation the session
// may see, or opens one on the given channel (by default the tenant's
// first).
func (s *Server) panelConversation(r *http.Request, ss *session, e164, channelID string) (*parley.Conversation, error) {
	ctx := r.Context()
	if contact, err := s.DB.FindContactByPhone(ctx, ss.Tenant.ID, e164); err == nil {
		list, _, err := s.DB.ListConversations(ctx, ss.Tenant.ID, store.ConversationFilter{ContactID: contact.ID, VisibleTo: ss.User, Limit: 10})
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if channelID == "" || c.ChannelID == channelID {
				return c, nil
			}
		}
	} else if parley.ErrorCode(err) != parley.ENOTFOUND {
		return nil, err
	}
	if channelID == "" {
		chs, err := s.DB.ListChannels(ctx, ss.Tenant.ID)
		if err != nil {
			return nil, err
		}
		if len(chs) == 0 {
			return nil, parley.Errorf(parley.ENOTFOUND, "%s", ss.view.T("panel.no_channel"))
		}
		channelID = chs[0].ID
	}
	if _, err := s.DB.FindChannel(ctx, ss.Tenant.ID, channelID); err != nil {
		return nil, err
	}
	var c *parley.Conversation
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		contact, _, err := tx.FindOrCreateContact(ctx, ss.Tenant.ID, store.Identity{Phone: e164})
		if err != nil {
			return err
		}
		c, _, err = tx.ConversationFor(ctx, ss.Tenant.ID, channelID, contact.ID)
		return err
	})
	return c, err
}
