package messaging

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

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
//
// Deliveries for the same channel are merged and applied as sets (one
// statement for all the contacts, one for all the messages, …), because
// under load the ingester hands over hundreds of one-message deliveries at
// once, and a statement per message would cost a round trip each on
// PostgreSQL and a statement each on SQLite's single writer.
func (s *Service) Ingest(ctx context.Context, ds ...Delivery) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, d := range mergeDeliveries(ds) {
			if err := s.apply(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// mergeDeliveries joins the batches of each channel, keeping the order in
// which they arrived.
func mergeDeliveries(ds []Delivery) []Delivery {
	if len(ds) <= 1 {
		return ds
	}
	var out []Delivery
	index := map[string]int{}
	for _, d := range ds {
		i, ok := index[d.Channel.ID]
		if !ok {
			index[d.Channel.ID] = len(out)
			out = append(out, Delivery{Channel: d.Channel, Batch: &whatsapp.Batch{}})
			i = len(out) - 1
		}
		b := out[i].Batch
		b.Messages = append(b.Messages, d.Batch.Messages...)
		b.Statuses = append(b.Statuses, d.Batch.Statuses...)
		b.Templates = append(b.Templates, d.Batch.Templates...)
		b.Unhandled = append(b.Unhandled, d.Batch.Unhandled...)
	}
	return out
}

// ingestion is one channel's share of a transaction.
type ingestion struct {
	tx     *store.Tx
	ch     *parley.Channel
	tenant *parley.Tenant
	events []store.NewEvent
	jobs   []jobs.InsertParams
}

func (in *ingestion) event(typ string, data any) {
	in.events = append(in.events, store.NewEvent{TenantID: in.ch.TenantID, Type: typ, Data: data})
}

func (s *Service) apply(ctx context.Context, tx *store.Tx, d Delivery) error {
	t, err := s.tenant(ctx, d.Channel.TenantID)
	if err != nil {
		return err
	}
	in := &ingestion{tx: tx, ch: d.Channel, tenant: t}
	if err := s.applyMessages(ctx, in, d.Batch.Messages); err != nil {
		return err
	}
	if err := s.applyStatuses(ctx, in, d.Batch.Statuses); err != nil {
		return err
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
	if len(in.jobs) > 0 {
		if err := s.Jobs.Insert(ctx, tx, in.jobs...); err != nil {
			return err
		}
	}
	return tx.AddEvents(ctx, in.events)
}

func identityOf(wm *whatsapp.Message) store.Identity {
	id := store.Identity{WAID: wm.Contact.WAID, BSUID: wm.Contact.BSUID}
	if !wm.Echo {
		// An echo's profile name, if any, is the business's own.
		id.ProfileName = wm.Contact.ProfileName
	}
	return id
}

// applyMessages stores a channel's new messages as a set: their contacts,
// conversations, rows, and what each new one sets off.
func (s *Service) applyMessages(ctx context.Context, in *ingestion, wms []whatsapp.Message) error {
	if len(wms) == 0 {
		return nil
	}
	tx, ch := in.tx, in.ch
	ids := make([]store.Identity, len(wms))
	for i := range wms {
		ids[i] = identityOf(&wms[i])
	}
	contacts, err := tx.FindOrCreateContacts(ctx, ch.TenantID, ids)
	if err != nil {
		return err
	}
	var contactIDs []string
	for _, c := range contacts {
		contactIDs = append(contactIDs, c.ID)
	}
	convs, err := tx.ConversationsFor(ctx, ch.TenantID, ch.ID, contactIDs)
	if err != nil {
		return err
	}
	refs, err := s.references(ctx, in, wms)
	if err != nil {
		return err
	}

	msgs := make([]*parley.Message, 0, len(wms))
	owner := make(map[*parley.Message]*parley.Contact, len(wms))
	now := s.Now().UTC()
	for i := range wms {
		wm := &wms[i]
		contact := contacts[ids[i]]
		if contact == nil {
			// No usable identity: keep the message verbatim rather than drop it.
			raw, _ := json.Marshal(wm)
			if err := tx.AddUnhandled(ctx, ch.TenantID, ch.ID, ch.Provider, "messages",
				"The message names neither a phone number nor a WhatsApp user ID.", raw); err != nil {
				return err
			}
			continue
		}
		m := s.newMessage(wm, ch, contact, convs[contact.ID], now)
		resolveRefs(m, refs)
		if m.ProviderMessageID != "" {
			refs[m.ProviderMessageID] = m.ID // later messages of the batch may point at it
		}
		msgs = append(msgs, m)
		owner[m] = contact
	}
	inserted, err := tx.InsertMessages(ctx, msgs)
	if err != nil {
		return err
	}

	touches := map[string]*store.Touch{}
	var order []string
	for _, m := range msgs {
		if !inserted[m.ID] {
			continue // a redelivery, already applied
		}
		if err := s.afterInsert(ctx, in, m, owner[m]); err != nil {
			return err
		}
		in.event(parley.EventMessageCreated, m)
		t := touches[m.ConversationID]
		if t == nil {
			t = &store.Touch{ConversationID: m.ConversationID}
			touches[m.ConversationID] = t
			order = append(order, m.ConversationID)
		}
		t.Add(m)
	}
	list := make([]store.Touch, 0, len(order))
	for _, id := range order {
		list = append(list, *touches[id])
	}
	touched, err := tx.TouchConversations(ctx, list)
	if err != nil {
		return err
	}
	for _, c := range touched {
		in.event(parley.EventConversationUpdated, c)
	}
	return nil
}

// newMessage builds the row for a provider's message.
func (s *Service) newMessage(wm *whatsapp.Message, ch *parley.Channel, contact *parley.Contact, conv *parley.Conversation, now time.Time) *parley.Message {
	m := wm.Content
	m.ID = parley.NewID(parley.PrefixMessage)
	m.TenantID, m.ChannelID, m.ConversationID, m.ContactID = ch.TenantID, ch.ID, conv.ID, contact.ID
	m.CreatedAt = now
	if m.Timestamp.IsZero() || m.Timestamp.After(now) {
		m.Timestamp = now // a clock ahead of ours must not extend the window
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
	if m.Type.IsMedia() && m.Media != nil {
		media := *m.Media
		media.ID, media.Status = parley.NewID(parley.PrefixMedia), parley.MediaPending
		m.Media = &media
	}
	if m.Context != nil {
		c := *m.Context
		m.Context = &c
	}
	if m.Reaction != nil {
		r := *m.Reaction
		m.Reaction = &r
	}
	return &m
}

// references finds, in one query, the messages a batch refers to by the
// vendor's IDs (quoted, reacted to, edited or deleted), mapped to Parley's
// IDs.
func (s *Service) references(ctx context.Context, in *ingestion, wms []whatsapp.Message) (map[string]string, error) {
	var pids []string
	for i := range wms {
		c := &wms[i].Content
		if c.Context != nil && c.Context.ReplyToProviderID != "" {
			pids = append(pids, c.Context.ReplyToProviderID)
		}
		if c.Reaction != nil && c.Reaction.ProviderMessageID != "" {
			pids = append(pids, c.Reaction.ProviderMessageID)
		}
	}
	refs := map[string]string{}
	if len(pids) == 0 {
		return refs, nil
	}
	found, err := in.tx.MessagesByProviderIDs(ctx, in.ch.ID, pids)
	if err != nil {
		return nil, err
	}
	for pid, m := range found {
		refs[pid] = m.ID
	}
	return refs, nil
}

// resolveRefs turns the vendor IDs a message refers to into Parley's.
func resolveRefs(m *parley.Message, refs map[string]string) {
	if m.Context != nil && m.Context.ReplyToProviderID != "" {
		m.Context.ReplyTo = refs[m.Context.ReplyToProviderID]
	}
	if m.Reaction != nil && m.Reaction.ProviderMessageID != "" {
		m.Reaction.MessageID = refs[m.Reaction.ProviderMessageID]
	}
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
		in.jobs = append(in.jobs, jobs.InsertParams{Kind: JobMediaDownload, Args: mediaArgs{TenantID: ch.TenantID, MediaID: r.ID},
			UniqueKey: "media:" + r.ID, TenantID: ch.TenantID, MaxAttempts: 10, Priority: 0})
	}
	if m.Reaction != nil && m.Reaction.MessageID != "" {
		actor := "contact"
		if m.Direction == parley.Outbound {
			actor = "business"
		}
		if err := tx.SetReaction(ctx, m.Reaction.MessageID, actor, m.Reaction.Emoji, m.Timestamp.UnixMilli()); err != nil {
			return err
		}
		// The reacted-to message changed for whoever shows it.
		if target, err := tx.FindMessage(ctx, ch.TenantID, m.Reaction.MessageID); err == nil {
			in.event(parley.EventMessageUpdated, target)
		}
	}
	if m.Type == parley.TypeRevoke && m.Revises != "" {
		if target, err := tx.MessageByProviderID(ctx, ch.ID, m.Revises); err == nil {
			if _, err := tx.RecordStatus(ctx, target, parley.StatusChange{Status: parley.StatusDeleted, At: m.Timestamp}); err != nil {
				return err
			}
			in.event(parley.EventMessageUpdated, target)
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

// applyStatuses records a channel's statuses, finding their messages in
// one query.
func (s *Service) applyStatuses(ctx context.Context, in *ingestion, sts []whatsapp.StatusUpdate) error {
	if len(sts) == 0 {
		return nil
	}
	pids := make([]string, len(sts))
	for i := range sts {
		pids[i] = sts[i].ProviderMessageID
	}
	found, err := in.tx.MessagesByProviderIDs(ctx, in.ch.ID, pids)
	if err != nil {
		return err
	}
	for i := range sts {
		st := &sts[i]
		m := found[st.ProviderMessageID]
		if m == nil {
			if m, err = s.reconcile(ctx, in, st); err != nil {
				return err
			}
			if m != nil {
				found[st.ProviderMessageID] = m
			}
		}
		if m == nil {
			// A status for a message not stored yet (an echo still on its
			// way): keep it until the message arrives.
			if err := in.tx.AddOrphanStatus(ctx, in.ch.ID, st.ProviderMessageID, st.Status, st); err != nil {
				return err
			}
			continue
		}
		if err := s.recordStatus(ctx, in.tx, m, st); err != nil {
			return err
		}
	}
	return nil
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
