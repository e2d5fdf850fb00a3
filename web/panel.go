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
// contact's conversation, picked by phone=+E164 or by record=table:id (a
// record the CRM linked to a contact when it asked for the panel's
// token). A contact with no conversation yet gets one, empty, whose closed
// window offers to start with a template.
func (s *Server) panelPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d := panelData{view: ss.view}
	c, err := s.panelTarget(r, ss)
	if err == nil {
		d.Conv, err = s.loadConversation(r.Context(), ss, c)
	}
	if err == nil {
		d.Conv.FillRecord = r.URL.Query().Get("record")
	}
	if err != nil {
		d.Problem = ss.view.message(err)
		s.render(w, statusOf(parley.ErrorCode(err)), "panel", d)
		return
	}
	s.render(w, http.StatusOK, "panel", d)
}

// panelTarget finds the conversation the panel shows: by phone when one
// is given, else by record.
func (s *Server) panelTarget(r *http.Request, ss *session) (*parley.Conversation, error) {
	q := r.URL.Query()
	number, rec := strings.TrimSpace(q.Get("phone")), strings.TrimSpace(q.Get("record"))
	switch {
	case number != "":
		e164, err := phone.E164(number)
		if err != nil {
			return nil, ss.view.Errorf(parley.EINVALID, "panel.bad_phone", number)
		}
		return s.panelConversation(r, ss, store.Identity{Phone: e164}, "", q.Get("channel"))
	case rec != "":
		record, err := parley.ParseRecord(rec)
		if err != nil {
			return nil, err
		}
		ids, err := s.DB.ContactsOfRecord(r.Context(), ss.Tenant.ID, record)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, ss.view.Errorf(parley.ENOTFOUND, "panel.record_unlinked", record.String())
		}
		contact, err := s.DB.FindContact(r.Context(), ss.Tenant.ID, ids[0])
		if err != nil {
			return nil, err
		}
		return s.panelConversation(r, ss, store.Identity{Phone: contact.Phone, WAID: contact.WAID, BSUID: contact.BSUID}, contact.ID, q.Get("channel"))
	}
	return nil, ss.view.Errorf(parley.EINVALID, "panel.no_phone")
}

// panelConversation finds the contact's latest conversation the session
// may see, or opens one on the given channel (by default the tenant's
// first). The contact is contactID, or else the one id finds or creates.
func (s *Server) panelConversation(r *http.Request, ss *session, id store.Identity, contactID, channelID string) (*parley.Conversation, error) {
	ctx := r.Context()
	if contactID == "" {
		contact, err := s.DB.FindContactByPhone(ctx, ss.Tenant.ID, id.Phone)
		if err == nil {
			contactID = contact.ID
		} else if parley.ErrorCode(err) != parley.ENOTFOUND {
			return nil, err
		}
	}
	if contactID != "" {
		list, _, err := s.DB.ListConversations(ctx, ss.Tenant.ID, store.ConversationFilter{ContactID: contactID, VisibleTo: ss.User, Limit: 10})
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			if channelID == "" || c.ChannelID == channelID {
				return c, nil
			}
		}
	}
	if channelID == "" {
		chs, err := s.DB.ListChannels(ctx, ss.Tenant.ID)
		if err != nil {
			return nil, err
		}
		if len(chs) == 0 {
			return nil, ss.view.Errorf(parley.ENOTFOUND, "panel.no_channel")
		}
		channelID = chs[0].ID
	}
	if _, err := s.DB.FindChannel(ctx, ss.Tenant.ID, channelID); err != nil {
		return nil, err
	}
	var c *parley.Conversation
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		contact, _, err := tx.FindOrCreateContact(ctx, ss.Tenant.ID, id)
		if err != nil {
			return err
		}
		c, _, err = tx.ConversationFor(ctx, ss.Tenant.ID, channelID, contact.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	// The conversation may exist already, assigned to someone this agent
	// may not see.
	return s.conversation(ctx, ss, c.ID)
}
