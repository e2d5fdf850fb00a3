package messaging

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/phone"
	"github.com/parleyhq/parley/store"
)

// SendRequest is a message to send, as the API, the console and
// automation ask for it.
type SendRequest struct {
	ChannelID string
	// To is an E.164 phone number or a contact ID.
	To          string
	Type        parley.MessageType
	Text        string
	PreviewURL  bool
	Media       *MediaInput
	Template    *parley.TemplateMessage
	Interactive *parley.Interactive
	Location    *parley.Location
	// ReactTo and Emoji make a reaction ("" removes ours).
	ReactTo string
	Emoji   string
	// ReplyTo quotes an earlier message of the conversation.
	ReplyTo string
	By      parley.Actor
}

// MediaInput is the file of a media message: a public link, or a file
// uploaded to Parley first (POST /v1/media).
type MediaInput struct {
	Link     string
	MediaID  string
	Caption  string
	Filename string
}

// Limits from Meta's Cloud API reference.
const (
	maxTextLen        = 4096
	maxCaptionLen     = 1024
	maxInteractiveLen = 1024
)

// Send checks a request against the WhatsApp rules and queues it: the
// message and its send job are committed together, so an accepted send is
// never lost, and nothing that breaks a rule is ever queued. The returned
// message has status queued.
func (s *Service) Send(ctx context.Context, tenantID string, req SendRequest) (*parley.Message, error) {
	ch, err := s.DB.FindChannel(ctx, tenantID, req.ChannelID)
	if err != nil {
		return nil, err
	}
	m := &parley.Message{ID: parley.NewID(parley.PrefixMessage), TenantID: tenantID, ChannelID: ch.ID, Direction: parley.Outbound,
		Type: req.Type, Status: parley.StatusQueued, SentBy: req.By, CreatedAt: s.Now().UTC()}
	if err := s.buildContent(ctx, tenantID, ch, m, req); err != nil {
		return nil, err
	}
	var tpl *parley.Template
	if m.Type == parley.TypeTemplate {
		if tpl, err = s.DB.FindTemplate(ctx, tenantID, ch.ID, m.Template.Name, m.Template.Language); err != nil {
			return nil, err
		}
		if err := tpl.Check(m.Template); err != nil {
			return nil, err
		}
		m.Template.Category = tpl.Category
		m.Text = tpl.Render(m.Template)
	}

	err = s.DB.InTx(ctx, func(tx *store.Tx) error {
		contact, err := s.recipient(ctx, tx, tenantID, req.To)
		if err != nil {
			return err
		}
		conv, _, err := tx.ConversationFor(ctx, tenantID, ch.ID, contact.ID)
		if err != nil {
			return err
		}
		m.ConversationID, m.ContactID = conv.ID, contact.ID
		if err := s.checkRules(ch, contact, conv, m, tpl); err != nil {
			return err
		}
		if err := s.resolveReferences(ctx, tx, m, req); err != nil {
			return err
		}
		if _, err := tx.InsertMessage(ctx, m); err != nil {
			return err
		}
		if err := tx.RecordQueued(ctx, m); err != nil {
			return err
		}
		if err := tx.TouchConversation(ctx, conv, m); err != nil {
			return err
		}
		if err := tx.AddAudit(ctx, tenantID, req.By, "message.send", m.ID, map[string]any{"type": m.Type, "channel_id": ch.ID,
			"contact_id": contact.ID}); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, tenantID, parley.EventMessageCreated, m); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, tenantID, parley.EventConversationUpdated, conv); err != nil {
			return err
		}
		return s.Jobs.Insert(ctx, tx, jobs.InsertParams{Kind: JobSend, Queue: QueueSend, Args: sendArgs{TenantID: tenantID, MessageID: m.ID},
			UniqueKey: "send:" + m.ID, TenantID: tenantID, MaxAttempts: s.MaxSendAttempts})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Queues the core's jobs run in, so that a backlog of media downloads
// cannot hold up sends.
const (
	QueueSend    = "send"
	QueueDefault = jobs.DefaultQueue
)

type sendArgs struct {
	TenantID  string `json:"tenant_id"`
	MessageID string `json:"message_id"`
}

// recipient finds or creates the contact a send is for.
func (s *Service) recipient(ctx context.Context, tx *store.Tx, tenantID, to string) (*parley.Contact, error) {
	contactID, e164, err := parseRecipient(to)
	if err != nil {
		return nil, err
	}
	if contactID != "" {
		return tx.FindContact(ctx, tenantID, contactID)
	}
	c, _, err := tx.FindOrCreateContact(ctx, tenantID, store.Identity{Phone: e164})
	return c, err
}

// parseRecipient reads a send's "to": a contact ID, or a phone number
// written in E.164.
func parseRecipient(to string) (contactID, e164 string, err error) {
	to = strings.TrimSpace(to)
	if strings.HasPrefix(to, parley.PrefixContact+"_") {
		return to, "", nil
	}
	if to == "" {
		return "", "", parley.Errorf(parley.EINVALID, "Say who to send to: an E.164 phone number such as +5511987654321, or a contact ID.")
	}
	if e164, err = phone.E164(to); err != nil {
		return "", "", parley.Errorf(parley.EINVALID, "%q is not a valid phone number; use the E.164 form, such as +5511987654321.", to)
	}
	return "", e164, nil
}

// checkRules enforces, before anything is queued, the rules that WhatsApp
// would otherwise enforce minutes later with a failed message.
func (s *Service) checkRules(ch *parley.Channel, c *parley.Contact, conv *parley.Conversation, m *parley.Message, tpl *parley.Template) error {
	if m.Type == parley.TypeTemplate {
		if tpl.Category == parley.CategoryMarketing && c.Consent.OptedOut() {
			return parley.Errorf(parley.EOPTEDOUT, "%s opted out of marketing messages (%s); only utility and service messages may be sent.",
				c.DisplayName(), c.Consent.Source)
		}
		return nil
	}
	if !conv.WindowOpen(s.Now()) {
		msg := "The 24-hour customer service window is closed: the customer has not written in the last 24 hours."
		if conv.LastInboundAt.IsZero() {
			msg = "The customer has never written to this number, so only a template can start the conversation."
		}
		return parley.Errorf(parley.EOUTSIDEWINDOW, "%s", msg).WithHint("Send an approved template (type \"template\") instead; a reply from the customer reopens the window.")
	}
	return nil
}

// buildContent validates the type-specific part of a request and copies it
// onto the message.
func (s *Service) buildContent(ctx context.Context, tenantID string, ch *parley.Channel, m *parley.Message, req SendRequest) error {
	switch req.Type {
	case parley.TypeText:
		body := strings.TrimSpace(req.Text)
		if body == "" {
			return parley.Errorf(parley.EINVALID, "A text message needs text.body.")
		}
		if n := utf8.RuneCountInString(req.Text); n > maxTextLen {
			return parley.Errorf(parley.EINVALID, "The text is %d characters; WhatsApp accepts up to %d.", n, maxTextLen)
		}
		m.Text, m.PreviewURL = req.Text, req.PreviewURL
	case parley.TypeImage, parley.TypeVideo, parley.TypeAudio, parley.TypeDocument, parley.TypeSticker:
		return s.buildMedia(ctx, tenantID, m, req)
	case parley.TypeTemplate:
		if req.Template == nil || strings.TrimSpace(req.Template.Name) == "" || strings.TrimSpace(req.Template.Language) == "" {
			return parley.Errorf(parley.EINVALID, "A template message needs template.name and template.language.")
		}
		t := *req.Template
		m.Template = &t
		if h := t.Header; h != nil && h.MediaID != "" {
			if _, err := s.readyMedia(ctx, tenantID, h.MediaID, parley.MessageType(h.Type)); err != nil {
				return err
			}
		}
	case parley.TypeInteractive:
		if err := checkInteractive(req.Interactive); err != nil {
			return err
		}
		m.Interactive = req.Interactive
	case parley.TypeLocation:
		l := req.Location
		if l == nil || l.Latitude < -90 || l.Latitude > 90 || l.Longitude < -180 || l.Longitude > 180 {
			return parley.Errorf(parley.EINVALID, "A location needs a latitude between -90 and 90 and a longitude between -180 and 180.")
		}
		m.Location = l
	case parley.TypeReaction:
		if req.ReactTo == "" {
			return parley.Errorf(parley.EINVALID, "A reaction needs reaction.message_id, the message reacted to.")
		}
		if utf8.RuneCountInString(req.Emoji) > 10 {
			return parley.Errorf(parley.EINVALID, "A reaction is one emoji.")
		}
		m.Reaction = &parley.Reaction{MessageID: req.ReactTo, Emoji: req.Emoji, From: "business"}
	case "":
		return parley.Errorf(parley.EINVALID, "Say which type of message to send: text, template, image, document, audio, video, sticker, interactive, reaction or location.")
	default:
		return parley.Errorf(parley.EINVALID, "Parley cannot send %q messages; use text, template, image, document, audio, video, sticker, interactive, reaction or location.", req.Type)
	}
	return nil
}

func (s *Service) buildMedia(ctx context.Context, tenantID string, m *parley.Message, req SendRequest) error {
	in := req.Media
	if in == nil || (in.Link == "") == (in.MediaID == "") {
		return parley.Errorf(parley.EINVALID, "A %s message needs exactly one of %s.link and %s.media_id.", req.Type, req.Type, req.Type)
	}
	if n := utf8.RuneCountInString(in.Caption); n > maxCaptionLen {
		return parley.Errorf(parley.EINVALID, "The caption is %d characters; WhatsApp accepts up to %d.", n, maxCaptionLen)
	}
	if in.Caption != "" && (req.Type == parley.TypeAudio || req.Type == parley.TypeSticker) {
		return parley.Errorf(parley.EINVALID, "WhatsApp shows no caption on %s messages.", req.Type)
	}
	md := &parley.Media{Filename: in.Filename}
	if in.Link != "" {
		u, err := url.Parse(in.Link)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return parley.Errorf(parley.EINVALID, "%q is not an http(s) link.", in.Link)
		}
		md.Link = in.Link
	} else {
		r, err := s.readyMedia(ctx, tenantID, in.MediaID, req.Type)
		if err != nil {
			return err
		}
		md.ID, md.MIMEType, md.Size, md.SHA256, md.Status = r.ID, r.MIMEType, r.Size, r.SHA256, r.Status
		if md.Filename == "" {
			md.Filename = r.Filename
		}
	}
	m.Media, m.Text = md, in.Caption
	return nil
}

// readyMedia returns an uploaded file after checking it against the
// WhatsApp limits for the message type it will be sent as.
func (s *Service) readyMedia(ctx context.Context, tenantID, id string, t parley.MessageType) (*store.MediaRecord, error) {
	r, err := s.DB.FindMedia(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if r.Status != parley.MediaReady {
		return nil, parley.Errorf(parley.EINVALID, "Media %s is not ready (%s).", id, r.Status)
	}
	if err := parley.CheckMedia(t, r.MIMEType, r.Size); err != nil {
		return nil, err
	}
	return r, nil
}

func checkInteractive(in *parley.Interactive) error {
	if in == nil {
		return parley.Errorf(parley.EINVALID, "An interactive message needs an interactive object.")
	}
	if strings.TrimSpace(in.Body) == "" {
		return parley.Errorf(parley.EINVALID, "An interactive message needs interactive.body.")
	}
	if n := utf8.RuneCountInString(in.Body); n > maxInteractiveLen {
		return parley.Errorf(parley.EINVALID, "The body is %d characters; WhatsApp accepts up to %d.", n, maxInteractiveLen)
	}
	ids := map[string]bool{}
	unique := func(id string) error {
		if strings.TrimSpace(id) == "" || ids[id] {
			return parley.Errorf(parley.EINVALID, "Every button and row needs an id of its own.")
		}
		ids[id] = true
		return nil
	}
	switch in.Kind {
	case "button":
		if len(in.Buttons) < 1 || len(in.Buttons) > 3 {
			return parley.Errorf(parley.EINVALID, "Reply buttons come one to three at a time; %d were given.", len(in.Buttons))
		}
		for _, b := range in.Buttons {
			if err := unique(b.ID); err != nil {
				return err
			}
			if n := utf8.RuneCountInString(b.Title); n == 0 || n > 20 {
				return parley.Errorf(parley.EINVALID, "A button title has 1 to 20 characters; %q has %d.", b.Title, n)
			}
		}
	case "list":
		if strings.TrimSpace(in.Button) == "" || utf8.RuneCountInString(in.Button) > 20 {
			return parley.Errorf(parley.EINVALID, "A list needs interactive.button, the menu button's text, of at most 20 characters.")
		}
		rows := 0
		for _, sec := range in.Section {
			for _, r := range sec.Rows {
				rows++
				if err := unique(r.ID); err != nil {
					return err
				}
				if n := utf8.RuneCountInString(r.Title); n == 0 || n > 24 {
					return parley.Errorf(parley.EINVALID, "A row title has 1 to 24 characters; %q has %d.", r.Title, n)
				}
				if utf8.RuneCountInString(r.Description) > 72 {
					return parley.Errorf(parley.EINVALID, "A row description has at most 72 characters.")
				}
			}
		}
		if rows < 1 || rows > 10 {
			return parley.Errorf(parley.EINVALID, "A list has one to ten rows in all; %d were given.", rows)
		}
		if len(in.Section) > 1 {
			for _, sec := range in.Section {
				if strings.TrimSpace(sec.Title) == "" {
					return parley.Errorf(parley.EINVALID, "A list with several sections needs a title on each.")
				}
			}
		}
	default:
		return parley.Errorf(parley.EINVALID, "interactive.kind is \"button\" or \"list\", not %q.", in.Kind)
	}
	return nil
}

// resolveReferences checks that a quoted or reacted-to message belongs to
// the same conversation, and records the vendor IDs the send will need.
func (s *Service) resolveReferences(ctx context.Context, tx *store.Tx, m *parley.Message, req SendRequest) error {
	if req.ReplyTo != "" {
		q, err := s.sameConversation(ctx, tx, m, req.ReplyTo)
		if err != nil {
			return err
		}
		m.Context = &parley.Context{ReplyTo: q.ID, ReplyToProviderID: q.ProviderMessageID}
	}
	if m.Reaction != nil {
		target, err := s.sameConversation(ctx, tx, m, m.Reaction.MessageID)
		if err != nil {
			return err
		}
		if target.ProviderMessageID == "" {
			return parley.Errorf(parley.EINVALID, "Message %s has not reached WhatsApp yet, so it cannot be reacted to.", target.ID)
		}
		m.Reaction.ProviderMessageID = target.ProviderMessageID
	}
	return nil
}

func (s *Service) sameConversation(ctx context.Context, tx *store.Tx, m *parley.Message, id string) (*parley.Message, error) {
	q, err := tx.FindMessage(ctx, m.TenantID, id)
	if err != nil {
		return nil, err
	}
	if q.ConversationID != m.ConversationID {
		return nil, parley.Errorf(parley.EINVALID, "Message %s belongs to another conversation.", id)
	}
	return q, nil
}

// errorf wraps an internal failure with what failed.
func errorf(format string, args ...any) error { return fmt.Errorf("messaging: "+format, args...) }
