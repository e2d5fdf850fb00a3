package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
)

// Delivery is one channel's share of a webhook delivery.
type Delivery struct {
	Channel *parley.Channel
	Batch   *whatsapp.Batch
}

// Ingest applies deliveries in one transaction. When it returns nil
// everything in them is committed, and only then may the webhook be
// acknowledged. Applying the same delivery twice leaves the same state.
func (s *Service) Ingest(ctx context.Context, ds ...Delivery) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, d := range ds {
			if err := s.apply(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// ingestion holds what one transaction has learnt, so a delivery of many
// messages from one customer looks the contact up once and announces the
// conversation once.
type ingestion struct {
	tx       *store.Tx
	ch       *parley.Channel
	tenant   *parley.Tenant
	contacts map[store.Identity]*parley.Contact
	convs    map[string]*parley.Conversation // by contact ID
	touched  map[string]*parley.Conversation // by ID: to announce once
}

func (s *Service) apply(ctx context.Context, tx *store.Tx, d Delivery) error {
	t, err := s.tenant(ctx, d.Channel.TenantID)
	if err != nil {
		return err
	}
	in := &ingestion{tx: tx, ch: d.Channel, tenant: t, contacts: map[store.Identity]*parley.Contact{}, convs: map[string]*parley.Conversation{},
		touched: map[string]*parley.Conversation{}}
	for i := range d.Batch.Messages {
		if err := s.applyMessage(ctx, in, &d.Batch.Messages[i]); err != nil {
			return err
		}
	}
	for i := range d.Batch.Statuses {
		if err := s.applyStatus(ctx, in, &d.Batch.Statuses[i]); err != nil {
			return err
		}
	}
	for i := range d.Batch.Templates {
		if err := s.applyTemplate(ctx, in, &d.Batch.Templates[i]); err != nil {
			return err
		}
	}
	for _, u := range d.Batch.Unhandled {
		if err := tx.AddUnhandled(ctx, in.ch.TenantID, in.ch.ID, in.ch.Provider, u.Field, u.Reason, u.Raw); err != nil {
			return err
		}
	}
	for _, conv := range in.touched {
		if err := tx.AddEvent(ctx, in.ch.TenantID, parley.EventConversationUpdated, conv); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) contactFor(ctx context.Context, in *ingestion, c whatsapp.Contact, echo bool) (*parley.Contact, error) {
	id := store.Identity{WAID: c.WAID, BSUID: c.BSUID}
	if !echo {
		id.ProfileName = c.ProfileName
	}
	if got := in.contacts[id]; got != nil {
		return got, nil
	}
	contact, _, err := in.tx.FindOrCreateContact(ctx, in.ch.TenantID, id)
	if err != nil {
		return nil, err
	}
	in.contacts[id] = contact
	return contact, nil
}

func (s *Service) conversationFor(ctx context.Context, in *ingestion, contactID string) (*parley.Conversation, error) {
	if conv := in.convs[contactID]; conv != nil {
		return conv, nil
	}
	conv, _, err := in.tx.ConversationFor(ctx, in.ch.TenantID, in.ch.ID, contactID)
	if err != nil {
		return nil, err
	}
	in.convs[contactID] = conv
	return conv, nil
}

func (s *Service) applyMessage(ctx context.Context, in *ingestion, wm *whatsapp.Message) error {
	tx, ch := in.tx, in.ch
	contact, err := s.contactFor(ctx, in, wm.Contact, wm.Echo)
	if parley.ErrorCode(err) == parley.EINVALID {
		// No usable identity: keep the message verbatim rather than drop it.
		raw, _ := json.Marshal(wm)
		return tx.AddUnhandled(ctx, ch.TenantID, ch.ID, ch.Provider, "messages", parley.ErrorMessage(err), raw)
	} else if err != nil {
		return err
	}
	conv, err := s.conversationFor(ctx, in, contact.ID)
	if err != nil {
		return err
	}
	m := wm.Content
	m.ID = parley.NewID(parley.PrefixMessage)
	m.TenantID, m.ChannelID, m.ConversationID, m.ContactID = ch.TenantID, ch.ID, conv.ID, contact.ID
	m.CreatedAt = s.Now().UTC()
	if m.Timestamp.IsZero() || m.Timestamp.After(m.CreatedAt) {
		m.Timestamp = m.CreatedAt // a clock ahead of ours must not extend the window
	}
	if wm.Echo {
		m.Direction, m.Status, m.SentBy = parley.Outbound, parley.StatusSent, parley.Actor{Kind: parley.ActorPhoneApp, Name: "phone app"}
	} else {
		m.Direction, m.Status, m.SentBy = parley.Inbound, parley.StatusReceived, parley.Actor{Kind: parley.ActorContact, ID: contact.ID, Name: contact.DisplayName()}
	}
	if len(wm.Errors) > 0 {
		e := wm.Errors[0]
		m.Error = &e
	}
	if err := s.resolveInboundRefs(ctx, in, &m); err != nil {
		return err
	}
	if m.Type.IsMedia() && m.Media != nil {
		m.Media.ID = parley.NewID(parley.PrefixMedia)
		m.Media.Status = parley.MediaPending
	}
	inserted, err := tx.InsertMessage(ctx, &m)
	if err != nil || !inserted {
		return err // not inserted: a redelivery, already applied
	}
	if err := s.afterInsert(ctx, in, &m, contact); err != nil {
		return err
	}
	if err := tx.TouchConversation(ctx, conv, &m); err != nil {
		return err
	}
	in.touched[conv.ID] = conv
	return tx.AddEvent(ctx, ch.TenantID, parley.EventMessageCreated, &m)
}

// resolveInboundRefs turns the vendor IDs a message refers to (the quoted
// message, the message reacted to, the message edited or deleted) into
// Parley's.
func (s *Service) resolveInboundRefs(ctx context.Context, in *ingestion, m *parley.Message) error {
	if m.Context != nil && m.Context.ReplyToProviderID != "" {
		if id, err := s.messageIDFor(ctx, in, m.Context.ReplyToProviderID); err != nil {
			return err
		} else {
			m.Context.ReplyTo = id
		}
	}
	if m.Reaction != nil && m.Reaction.ProviderMessageID != "" {
		id, err := s.messageIDFor(ctx, in, m.Reaction.ProviderMessageID)
		if err != nil {
			return err
		}
		m.Reaction.MessageID = id
	}
	return nil
}

func (s *Service) messageIDFor(ctx context.Context, in *ingestion, providerID string) (string, error) {
	q, err := in.tx.MessageByProviderID(ctx, in.ch.ID, providerID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return q.ID, nil
}

// afterInsert does what a newly stored message sets off: its media
// download, the reaction on its target, an opt-out, the audit of a
// phone-app message, and statuses that arrived before it.
func (s *Service) afterInsert(ctx context.Context, in *ingestion, m *parley.Message, contact *parley.Contact) error {
	tx, ch := in.tx, in.ch
	if m.Type.IsMedia() && m.Media != nil {
		r := &store.MediaRecord{ID: m.Media.ID, TenantID: ch.TenantID, ChannelID: ch.ID, MessageID: m.ID,
			ProviderMediaID: m.Media.ProviderMediaID, Link: m.Media.Link, MIMEType: m.Media.MIMEType, Filename: m.Media.Filename,
			Status: parley.MediaPending}
		if err := tx.CreateMedia(ctx, r); err != nil {
			return err
		}
		if err := s.Jobs.Insert(ctx, tx, jobs.InsertParams{Kind: JobMediaDownload, Args: mediaArgs{TenantID: ch.TenantID, MediaID: r.ID},
			UniqueKey: "media:" + r.ID, TenantID: ch.TenantID, MaxAttempts: 10, Priority: 0}); err != nil {
			return err
		}
	}
	if m.Reaction != nil && m.Reaction.MessageID != "" {
		actor := "contact"
		if m.Direction == parley.Outbound {
			actor = "business"
		}
		if err := tx.SetReaction(ctx, m.Reaction.MessageID, actor, m.Reaction.Emoji, m.Timestamp.UnixMilli()); err != nil {
			return err
		}
	}
	if m.Type == parley.TypeRevoke && m.Revises != "" {
		if target, err := tx.MessageByProviderID(ctx, ch.ID, m.Revises); err == nil {
			if _, err := tx.RecordStatus(ctx, target, parley.StatusChange{Status: parley.StatusDeleted, At: m.Timestamp}); err != nil {
				return err
			}
			if err := tx.AddEvent(ctx, ch.TenantID, parley.EventMessageUpdated, target); err != nil {
				return err
			}
		}
	}
	if m.Direction == parley.Inbound && !contact.Consent.OptedOut() {
		if text := optOutText(m); text != "" && parley.IsOptOut(text, in.tenant.OptOutKeywords) {
			updated, err := tx.SetConsent(ctx, ch.TenantID, contact.ID, parley.ConsentOptedOut, fmt.Sprintf("keyword %q", strings.TrimSpace(text)),
				parley.Actor{Kind: parley.ActorContact, ID: contact.ID, Name: contact.DisplayName()})
			if err != nil {
				return err
			}
			*contact = *updated
		}
	}
	if m.SentBy.Kind == parley.ActorPhoneApp {
		if err := tx.AddAudit(ctx, ch.TenantID, m.SentBy, "message.send", m.ID, map[string]any{"type": m.Type, "channel_id": ch.ID,
			"contact_id": contact.ID}); err != nil {
			return err
		}
		if m.ProviderMessageID != "" {
			return s.applyOrphans(ctx, tx, m)
		}
	}
	return nil
}

// optOutText is what a message says that could be an opt-out: its text, or
// the button the customer tapped (Meta's "Stop promotions").
func optOutText(m *parley.Message) string {
	switch {
	case m.Type == parley.TypeText:
		return m.Text
	case m.Reply != nil && m.Reply.Kind == "button":
		if m.Reply.Payload != "" && parley.IsOptOut(m.Reply.Payload, nil) {
			return m.Reply.Payload
		}
		return m.Reply.Title
	}
	return ""
}

func (s *Service) applyStatus(ctx context.Context, in *ingestion, st *whatsapp.StatusUpdate) error {
	tx, ch := in.tx, in.ch
	m, err := tx.MessageByProviderID(ctx, ch.ID, st.ProviderMessageID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		m, err = s.reconcile(ctx, in, st)
	}
	if err != nil {
		return err
	}
	if m == nil {
		// A status for a message not stored yet (an echo still on its
		// way): keep it until the message arrives.
		return tx.AddOrphanStatus(ctx, ch.ID, st.ProviderMessageID, st.Status, st)
	}
	return s.recordStatus(ctx, tx, m, st)
}

// reconcile finds the message a status is for through the callback data
// Parley attached to the send (its own message ID). That is how a send
// whose answer was never recorded (the worker died, the request timed out)
// learns that it did go out, instead of being sent twice.
func (s *Service) reconcile(ctx context.Context, in *ingestion, st *whatsapp.StatusUpdate) (*parley.Message, error) {
	if !strings.HasPrefix(st.CallbackData, parley.PrefixMessage+"_") {
		return nil, nil
	}
	m, err := in.tx.FindMessage(ctx, in.ch.TenantID, st.CallbackData)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if m.ChannelID != in.ch.ID || m.Direction != parley.Outbound {
		return nil, nil
	}
	if m.ProviderMessageID == "" {
		s.Log.Info("reconciled a send from its status webhook", "message_id", m.ID, "status", st.Status)
		if err := in.tx.SetSendState(ctx, m, store.SendState{Status: parley.StatusSent, ProviderMessageID: st.ProviderMessageID}); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Service) recordStatus(ctx context.Context, tx *store.Tx, m *parley.Message, st *whatsapp.StatusUpdate) error {
	at := st.Timestamp
	if at.IsZero() {
		at = s.Now()
	}
	changed, err := tx.RecordStatus(ctx, m, parley.StatusChange{Status: st.Status, At: at, Error: st.Error,
		PricingCategory: st.PricingCategory, Billable: st.Billable})
	if err != nil || !changed {
		return err
	}
	return tx.AddEvent(ctx, m.TenantID, parley.EventMessageUpdated, m)
}

// applyOrphans applies the statuses that arrived before their message.
func (s *Service) applyOrphans(ctx context.Context, tx *store.Tx, m *parley.Message) error {
	payloads, err := tx.TakeOrphanStatuses(ctx, m.ChannelID, m.ProviderMessageID)
	if err != nil {
		return err
	}
	for _, p := range payloads {
		var st whatsapp.StatusUpdate
		if err := json.Unmarshal(p, &st); err != nil {
			return errorf("decode orphan status: %w", err)
		}
		if err := s.recordStatus(ctx, tx, m, &st); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) applyTemplate(ctx context.Context, in *ingestion, tu *whatsapp.TemplateUpdate) error {
	if tu.BusinessAccount != "" && in.ch.BusinessAccountID != "" && tu.BusinessAccount != in.ch.BusinessAccountID {
		return nil
	}
	matched, err := in.tx.ApplyTemplateStatus(ctx, in.ch, store.TemplateStatusUpdate{ProviderTemplateID: tu.ProviderTemplateID,
		Name: tu.Name, Language: tu.Language, Status: tu.Status, Reason: tu.Reason, Category: tu.Category})
	if err != nil || matched {
		return err
	}
	// A template Parley has not seen yet: fetch the whole definition.
	return s.Jobs.Insert(ctx, in.tx, jobs.InsertParams{Kind: JobTemplateSync, Args: channelArgs{TenantID: in.ch.TenantID, ChannelID: in.ch.ID},
		UniqueKey: "templates:" + in.ch.ID, TenantID: in.ch.TenantID})
}

type channelArgs struct {
	TenantID  string `json:"tenant_id"`
	ChannelID string `json:"channel_id"`
}

type mediaArgs struct {
	TenantID string `json:"tenant_id"`
	MediaID  string `json:"media_id"`
}
