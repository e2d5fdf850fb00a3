package meta

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// The change fields Parley interprets. Every other field (group events,
// account updates, quality ratings, …) is kept as whatsapp.Unhandled.
const (
	hookFieldMessages  = "messages"
	hookFieldEchoes    = "smb_message_echoes"
	hookFieldTemplates = "message_template_status_update"
)

// hookObject is the only object a WhatsApp Business Account webhook names.
// An app subscribed to other products (Pages, Instagram) gets entries of
// another shape, which must not be misread as empty WhatsApp deliveries.
const hookObject = "whatsapp_business_account"

// errHookNotObject is returned for bodies that are valid JSON but not an
// object ("[]", "null", "42"): nothing in them could come from Meta.
var errHookNotObject = errors.New("body is not a JSON object")

// ParseWebhook turns one webhook POST body into neutral events. It accepts
// the Cloud API envelope ({object, entry[].changes[]}) and, for 360dialog
// and the retired On-Premises API, a bare change value (top-level
// contacts/messages/statuses).
//
// It never drops anything, because a delivery Meta considers acknowledged
// is never sent again: a message of a type Parley does not know (or one
// that is malformed) becomes a parley.TypeUnsupported message carrying its
// raw JSON, and a change, status or error report Parley does not interpret
// becomes a whatsapp.Unhandled with the raw JSON and the reason. A part of
// a body with unexpected JSON types is kept the same way while the rest is
// still parsed.
//
// It returns an error only when the body is not JSON at all or not a JSON
// object; "[]" and "null" are errors, not empty batches, since a sender of
// those is not Meta.
//
// The body is decoded in one pass into typed structs. Only when something
// must be kept raw (an unsupported message, an unknown field) or when a
// part has the wrong JSON types is it decoded again, change by change and
// item by item, so the common case pays for one pass.
func ParseWebhook(body []byte) (*whatsapp.Batch, error) {
	if !hookIsObject(body) {
		var raw json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, fmt.Errorf("meta: parse webhook: %w", err)
		}
		return nil, fmt.Errorf("meta: parse webhook: %w", errHookNotObject)
	}
	var env hookEnvelope
	err := json.Unmarshal(body, &env)
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return nil, fmt.Errorf("meta: parse webhook: %w", err)
	}
	p := &hookParser{batch: &whatsapp.Batch{}, body: body}
	switch {
	case env.Object != "" && env.Object != hookObject:
		p.unhandled("", string(env.Object), fmt.Sprintf("unhandled webhook object %q", env.Object), body)
	case err != nil:
		p.layered()
	default:
		p.typed(&env)
	}
	return p.batch, nil
}

// hookIsObject reports whether body's first non-blank byte opens an
// object; it lets ParseWebhook refuse arrays and scalars without decoding.
func hookIsObject(body []byte) bool {
	b := bytes.TrimLeft(body, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// hookEnvelope is a delivery decoded in one pass. The embedded hookUnion
// catches the bare-value form (360dialog, On-Premises).
type hookEnvelope struct {
	Object hookText    `json:"object"`
	Entry  []hookEntry `json:"entry"`
	hookUnion
}

// hookHead is what an entry says about its changes.
type hookHead struct {
	ID   hookText `json:"id"` // the WABA ID
	Time hookText `json:"time"`
}

type hookEntry struct {
	hookHead
	Changes []hookChange `json:"changes"`
}

type hookChange struct {
	Field hookText  `json:"field"`
	Value hookUnion `json:"value"`
}

// hookUnion is any change value Parley interprets: "field", which says
// which one it is, often comes after the value, so one struct holds the
// fields of them all (their names do not overlap).
type hookUnion struct {
	Metadata hookMetadata  `json:"metadata"`
	Contacts []hookContact `json:"contacts"`
	Messages []hookMessage `json:"messages"`
	Echoes   []hookMessage `json:"message_echoes"`
	Statuses []hookStatus  `json:"statuses"`
	Errors   []hookError   `json:"errors"`
	hookTemplateValue
}

func (u *hookUnion) bare() bool {
	return u.Messages != nil || u.Echoes != nil || u.Statuses != nil || u.Contacts != nil ||
		u.Errors != nil || u.Metadata != (hookMetadata{})
}

type hookMetadata struct {
	DisplayPhoneNumber hookText `json:"display_phone_number"`
	PhoneNumberID      hookText `json:"phone_number_id"`
}

type hookContact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	WAID         hookText `json:"wa_id"`
	UserID       hookText `json:"user_id"`
	ParentUserID hookText `json:"parent_user_id"`
}

// hookEnvelopeRaw is a delivery with its change values left raw, for when
// something must be kept as received or decoded change by change. The
// presence markers detect the bare-value form without copying it.
type hookEnvelopeRaw struct {
	Entry    []hookEntryRaw `json:"entry"`
	Messages hookPresence   `json:"messages"`
	Statuses hookPresence   `json:"statuses"`
	Echoes   hookPresence   `json:"message_echoes"`
	Contacts hookPresence   `json:"contacts"`
	Errors   hookPresence   `json:"errors"`
	Metadata hookPresence   `json:"metadata"`
}

func (e *hookEnvelopeRaw) bare() bool {
	return bool(e.Messages || e.Statuses || e.Echoes || e.Contacts || e.Errors || e.Metadata)
}

type hookEntryRaw struct {
	hookHead
	Changes []struct {
		Field hookText        `json:"field"`
		Value json.RawMessage `json:"value"`
	} `json:"changes"`
}

// hookItemsRaw is a change value with its items as they were received.
// If it decodes where the whole value did not, the fault is in items,
// each of which then carries its own error.
type hookItemsRaw struct {
	Metadata hookMetadata      `json:"metadata"`
	Contacts []hookContact     `json:"contacts"`
	Errors   []hookError       `json:"errors"`
	Messages []json.RawMessage `json:"messages"`
	Echoes   []json.RawMessage `json:"message_echoes"`
	Statuses []json.RawMessage `json:"statuses"`
}

// hookItem is embedded in what is decoded item by item after a value
// failed to decode whole: its bytes and its own error. Both are empty in
// the one-pass case, where the bytes are found again only when needed.
type hookItem struct {
	raw []byte
	err error
}

func (it *hookItem) keep(raw []byte, err error) { it.raw, it.err = raw, err }

// hookDecodeEach decodes items one by one, keeping each one's bytes and
// error, so a bad item is set aside without spoiling its neighbours.
func hookDecodeEach[T any, PT interface {
	*T
	keep([]byte, error)
}](raws []json.RawMessage) []T {
	if raws == nil {
		return nil
	}
	out := make([]T, len(raws))
	for i, r := range raws {
		PT(&out[i]).keep(r, json.Unmarshal(r, &out[i]))
	}
	return out
}

// hookParser accumulates one delivery's events.
type hookParser struct {
	batch  *whatsapp.Batch
	body   []byte
	rawEnv *hookEnvelopeRaw // decoded on first need
	envErr error
}

// hookRef says where a change value's bytes are: given (raw), or to be
// found in the body by position.
type hookRef struct {
	entry, change int
	raw           []byte
}

// hookScope is what every event of one change shares.
type hookScope struct {
	field    string
	account  string
	phone    string
	contacts []hookContact
	ref      hookRef
	items    *hookItemsRaw // decoded on first need
	itemsErr error
}

// Which list of a value an item comes from.
const (
	hookListMessages = iota
	hookListEchoes
	hookListStatuses
)

func (p *hookParser) rawEnvelope() *hookEnvelopeRaw {
	if p.rawEnv == nil {
		p.rawEnv = new(hookEnvelopeRaw)
		p.envErr = json.Unmarshal(p.body, p.rawEnv)
	}
	return p.rawEnv
}

// valueRaw returns a change value's bytes.
func (p *hookParser) valueRaw(ref hookRef) []byte {
	if ref.raw != nil {
		return ref.raw
	}
	env := p.rawEnvelope()
	if ref.entry < len(env.Entry) && ref.change < len(env.Entry[ref.entry].Changes) {
		return env.Entry[ref.entry].Changes[ref.change].Value
	}
	return nil
}

// itemRaw returns the bytes of item i of a value's list.
func (p *hookParser) itemRaw(s *hookScope, it *hookItem, list, i int) []byte {
	if it.raw != nil {
		return it.raw
	}
	items := p.items(s)
	l := [...][]json.RawMessage{hookListMessages: items.Messages, hookListEchoes: items.Echoes, hookListStatuses: items.Statuses}[list]
	if i < len(l) {
		return l[i]
	}
	return nil
}

func (p *hookParser) items(s *hookScope) *hookItemsRaw {
	if s.items == nil {
		s.items = new(hookItemsRaw)
		s.itemsErr = json.Unmarshal(p.valueRaw(s.ref), s.items) // a type error leaves what did decode
	}
	return s.items
}

func (p *hookParser) unhandled(account, field, reason string, raw []byte) {
	p.batch.Unhandled = append(p.batch.Unhandled, whatsapp.Unhandled{
		Account: account,
		Field:   field,
		Reason:  reason,
		Raw:     hookRaw(raw),
	})
}

// hookRaw copies raw so that nothing in a batch aliases the caller's
// buffer.
func hookRaw(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	return bytes.Clone(raw)
}

// typed walks a body that decoded in one pass, the usual case.
func (p *hookParser) typed(env *hookEnvelope) {
	switch {
	case env.Entry != nil:
		for i := range env.Entry {
			e := &env.Entry[i]
			for j := range e.Changes {
				ch := &e.Changes[j]
				p.change(&e.hookHead, string(ch.Field), &ch.Value, nil, hookRef{entry: i, change: j})
			}
		}
	case env.bare():
		p.change(&hookHead{}, "", &env.hookUnion, nil, hookRef{raw: p.body})
	default:
		p.unhandled("", "", "webhook without entry", p.body)
	}
}

// layered walks a body that did not decode in one pass because some part
// has unexpected JSON types: change by change, so that only the part at
// fault is set aside.
func (p *hookParser) layered() {
	env := p.rawEnvelope()
	if p.envErr != nil {
		// The envelope itself: keep the whole body, and still parse
		// whatever entries did decode.
		p.unhandled("", "", "malformed webhook envelope: "+p.envErr.Error(), p.body)
	}
	switch {
	case env.Entry != nil:
		for i := range env.Entry {
			e := &env.Entry[i]
			for j := range e.Changes {
				ch := &e.Changes[j]
				var u hookUnion
				var err error
				if len(ch.Value) > 0 {
					err = json.Unmarshal(ch.Value, &u)
				}
				p.change(&e.hookHead, string(ch.Field), &u, err, hookRef{raw: ch.Value})
			}
		}
	case env.bare():
		var u hookUnion
		err := json.Unmarshal(p.body, &u)
		p.change(&hookHead{}, "", &u, err, hookRef{raw: p.body})
	case p.envErr == nil:
		p.unhandled("", "", "webhook without entry", p.body)
	}
}

// change dispatches one change on its field; err is the error decoding
// its value, if any.
func (p *hookParser) change(h *hookHead, field string, u *hookUnion, err error, ref hookRef) {
	switch field {
	case hookFieldMessages, hookFieldEchoes, "":
		// Some senders (Chatwoot's fixtures among them) leave "field" out;
		// the value's arrays say what it holds.
		p.value(&hookScope{
			field:    field,
			account:  string(u.Metadata.PhoneNumberID),
			phone:    hookDigits(string(u.Metadata.DisplayPhoneNumber)),
			contacts: u.Contacts,
			ref:      ref,
		}, u, err)
	case hookFieldTemplates:
		p.template(h, &u.hookTemplateValue, err, ref)
	default:
		p.unhandled(string(u.Metadata.PhoneNumberID), field, fmt.Sprintf("unhandled field %q", field), p.valueRaw(ref))
	}
}

// value parses a change carrying messages, echoes, statuses or errors.
func (p *hookParser) value(s *hookScope, u *hookUnion, err error) {
	before := p.batch.Len()
	if err != nil {
		items := p.items(s)
		if s.itemsErr != nil {
			p.unhandled(s.account, s.field, "malformed change value: "+s.itemsErr.Error(), p.valueRaw(s.ref))
		}
		u.Messages = hookDecodeEach[hookMessage](items.Messages)
		u.Echoes = hookDecodeEach[hookMessage](items.Echoes)
		u.Statuses = hookDecodeEach[hookStatus](items.Statuses)
	}
	for i := range u.Messages {
		p.message(s, &u.Messages[i], hookListMessages, i)
	}
	for i := range u.Echoes {
		p.message(s, &u.Echoes[i], hookListEchoes, i)
	}
	for i := range u.Statuses {
		p.status(s, &u.Statuses[i], i)
	}
	if len(u.Errors) > 0 {
		// Errors beside (or instead of) messages are Meta's out-of-band
		// reports; the port has no place for them but Unhandled.
		p.unhandled(s.account, s.field, "errors: "+hookErrorsSummary(u.Errors), p.valueRaw(s.ref))
	}
	if p.batch.Len() == before {
		p.unhandled(s.account, s.field, "change without messages or statuses", p.valueRaw(s.ref))
	}
}

// message parses item i of a value's messages or echoes. An echo is one
// the business sent from the WhatsApp Business app, so the customer is its
// recipient.
func (p *hookParser) message(s *hookScope, m *hookMessage, list, i int) {
	echo := list == hookListEchoes
	out := whatsapp.Message{Account: s.account, AccountPhone: s.phone, Echo: echo}
	if echo {
		out.Contact = hookMatchContact(s.contacts, string(m.To), string(m.ToUserID), string(m.ToParentUserID))
	} else {
		out.Contact = hookMatchContact(s.contacts, string(m.From), string(cmp.Or(m.FromUserID, m.UserID)), string(m.FromParentUserID))
	}
	out.Content = hookContent(m, func() []byte { return p.itemRaw(s, &m.hookItem, list, i) }, echo)
	out.Errors = hookErrors(m.Errors)
	p.batch.Messages = append(p.batch.Messages, out)
}

// hookMatchContact finds the customer among the change's contacts, by WAID
// or by BSUID since a BSUID-only customer has no WAID, and fills in what
// the message itself did not say.
func hookMatchContact(contacts []hookContact, waid, bsuid, parent string) whatsapp.Contact {
	c := whatsapp.Contact{WAID: waid, BSUID: bsuid, ParentBSUID: parent}
	for i := range contacts {
		k := &contacts[i]
		if (waid != "" && string(k.WAID) == waid) || (bsuid != "" && string(k.UserID) == bsuid) {
			return hookMergeContact(c, k)
		}
	}
	if waid == "" && bsuid == "" && len(contacts) == 1 {
		return hookMergeContact(c, &contacts[0])
	}
	return c
}

func hookMergeContact(c whatsapp.Contact, k *hookContact) whatsapp.Contact {
	c.WAID = cmp.Or(c.WAID, string(k.WAID))
	c.BSUID = cmp.Or(c.BSUID, string(k.UserID))
	c.ParentBSUID = cmp.Or(c.ParentBSUID, string(k.ParentUserID))
	c.ProfileName = k.Profile.Name
	c.Username = k.Profile.Username
	return c
}

// status parses item i of a value's statuses. Only the five statuses the
// port knows become StatusUpdates; anything else is kept as Unhandled
// rather than guessed.
func (p *hookParser) status(s *hookScope, st *hookStatus, i int) {
	raw := func() []byte { return p.itemRaw(s, &st.hookItem, hookListStatuses, i) }
	if st.err != nil {
		// Keep the bytes; what did decode (id, status) is still worth
		// applying below, since a lost "delivered" is never resent.
		p.unhandled(s.account, s.field, "malformed status: "+st.err.Error(), raw())
	}
	status, known := hookStatuses[string(st.Status)]
	if st.ID == "" || !known {
		switch {
		case st.err != nil: // already kept
		case st.ID == "":
			p.unhandled(s.account, s.field, "status without an id", raw())
		default:
			p.unhandled(s.account, s.field, fmt.Sprintf("unknown status %q", st.Status), raw())
		}
		return
	}
	u := whatsapp.StatusUpdate{
		Account:           s.account,
		ProviderMessageID: string(st.ID),
		Status:            status,
		Timestamp:         hookTime(st.Timestamp),
		Recipient:         hookMatchContact(s.contacts, string(st.RecipientID), string(st.RecipientUserID), string(st.RecipientParentUserID)),
		CallbackData:      string(st.CallbackData),
	}
	if len(st.Errors) > 0 {
		e := st.Errors[0].neutral()
		u.Error = &e
	}
	if st.Pricing != nil {
		u.PricingCategory = string(st.Pricing.Category)
		u.Billable = st.Pricing.billable()
	}
	p.batch.Statuses = append(p.batch.Statuses, u)
}

var hookStatuses = map[string]parley.Status{
	"sent":      parley.StatusSent,
	"delivered": parley.StatusDelivered,
	"read":      parley.StatusRead,
	"played":    parley.StatusPlayed,
	"failed":    parley.StatusFailed,
}

type hookStatus struct {
	hookItem
	ID                    hookText     `json:"id"`
	Status                hookText     `json:"status"`
	Timestamp             hookText     `json:"timestamp"`
	RecipientID           hookText     `json:"recipient_id"`
	RecipientUserID       hookText     `json:"recipient_user_id"`
	RecipientParentUserID hookText     `json:"recipient_parent_user_id"`
	CallbackData          hookText     `json:"biz_opaque_callback_data"`
	Pricing               *hookPricing `json:"pricing"`
	Errors                []hookError  `json:"errors"`
}

// hookPricing is a status's pricing, in either model (CBP before July
// 2025, PMP after); only the category and billability matter to Parley.
// billable is read as text: encoding/json allocates a *bool before it finds
// a string there, and a malformed value must read as unknown, not false.
type hookPricing struct {
	Billable hookText `json:"billable"`
	Category hookText `json:"category"`
}

func (p *hookPricing) billable() *bool {
	var b bool
	switch p.Billable {
	case "true":
		b = true
	case "false":
	default:
		return nil
	}
	return &b
}

// hookError is an error as Meta reports it on messages, statuses and
// changes. Chatwoot's captures put details at the top level, Meta's docs
// under error_data; both are read.
type hookError struct {
	Code      hookText `json:"code"`
	Title     string   `json:"title"`
	Message   string   `json:"message"`
	Details   string   `json:"details"`
	ErrorData *struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

func (e *hookError) neutral() parley.MessageError {
	d := e.Details
	if e.ErrorData != nil && e.ErrorData.Details != "" {
		d = e.ErrorData.Details
	}
	me := parley.MessageError{Code: string(e.Code), Title: e.Title, Message: e.Message, Details: d}
	// A failed status says what the core's outcome is, as a refused send
	// does, so an agent sees "outside_window" however the failure came.
	if code, err := strconv.Atoi(me.Code); err == nil && graphCodeKinds[code] == whatsapp.OutsideWindow {
		me.Reason = whatsapp.OutsideWindow.String()
	}
	return me
}

func hookErrors(list []hookError) []parley.MessageError {
	if len(list) == 0 {
		return nil
	}
	out := make([]parley.MessageError, len(list))
	for i := range list {
		out[i] = list[i].neutral()
	}
	return out
}

// hookErrorsSummary is a one-line description of errors for a reason.
func hookErrorsSummary(list []hookError) string {
	parts := make([]string, 0, len(list))
	for i := range list {
		e := list[i].neutral()
		s := strings.TrimSpace(e.Code + " " + cmp.Or(e.Title, e.Message))
		if e.Details != "" {
			s += " (" + e.Details + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// template parses a message_template_status_update change. The account is
// the entry's WABA ID (templates belong to the WABA, not to a number).
func (p *hookParser) template(h *hookHead, v *hookTemplateValue, err error, ref hookRef) {
	if err != nil {
		p.unhandled(string(h.ID), hookFieldTemplates, "malformed template update: "+err.Error(), p.valueRaw(ref))
	}
	if v.Event == "" {
		if err == nil {
			p.unhandled(string(h.ID), hookFieldTemplates, "template update without an event", p.valueRaw(ref))
		}
		return
	}
	p.batch.Templates = append(p.batch.Templates, whatsapp.TemplateUpdate{
		BusinessAccount:    string(h.ID),
		ProviderTemplateID: string(v.ID),
		Name:               string(v.Name),
		Language:           string(v.Language),
		Status:             strings.ToLower(string(v.Event)),
		Category:           strings.ToLower(string(v.Category)),
		Reason:             v.reason(),
		Timestamp:          hookTime(h.Time),
	})
}

// hookTemplateValue is a template review event. message_template_id is a
// JSON number that does not fit a float64 exactly, hence hookText.
type hookTemplateValue struct {
	Event         hookText `json:"event"`
	ID            hookText `json:"message_template_id"`
	Name          hookText `json:"message_template_name"`
	Language      hookText `json:"message_template_language"`
	Category      hookText `json:"message_template_category"`
	Reason        hookText `json:"reason"`
	RejectionInfo *struct {
		Reason         string `json:"reason"`
		Recommendation string `json:"recommendation"`
	} `json:"rejection_info"`
	OtherInfo *struct {
		Description string `json:"description"`
	} `json:"other_info"`
}

// reason joins what Meta says about a review into one line for agents:
// the code, then the explanation and advice when given. Meta's "NONE" (on
// approvals) means there is no reason.
func (v *hookTemplateValue) reason() string {
	var parts []string
	if r := string(v.Reason); r != "" && r != "NONE" {
		parts = append(parts, r)
	}
	if ri := v.RejectionInfo; ri != nil {
		if ri.Reason != "" {
			parts = append(parts, ri.Reason)
		}
		if ri.Recommendation != "" {
			parts = append(parts, "Recommendation: "+ri.Recommendation)
		}
	}
	if v.OtherInfo != nil && v.OtherInfo.Description != "" {
		parts = append(parts, v.OtherInfo.Description)
	}
	return strings.Join(parts, " — ")
}

// hookMessage is an inbound message or an echo, with every content object
// Meta documents; the type says which one applies.
type hookMessage struct {
	hookItem
	ID               hookText `json:"id"`
	Type             string   `json:"type"`
	Timestamp        hookText `json:"timestamp"`
	From             hookText `json:"from"`
	FromUserID       hookText `json:"from_user_id"`
	FromParentUserID hookText `json:"from_parent_user_id"`
	UserID           hookText `json:"user_id"`
	To               hookText `json:"to"`
	ToUserID         hookText `json:"to_user_id"`
	ToParentUserID   hookText `json:"to_parent_user_id"`

	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Image       *hookMedia       `json:"image"`
	Video       *hookMedia       `json:"video"`
	Audio       *hookMedia       `json:"audio"`
	Document    *hookMedia       `json:"document"`
	Sticker     *hookMedia       `json:"sticker"`
	Location    *parley.Location `json:"location"` // same field names as Meta's
	Contacts    json.RawMessage  `json:"contacts"`
	Interactive *hookInteractive `json:"interactive"`
	Button      *struct {
		Payload string `json:"payload"`
		Text    string `json:"text"`
	} `json:"button"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Order  json.RawMessage `json:"order"`
	System *struct {
		Type    string   `json:"type"`
		Body    string   `json:"body"`
		WAID    hookText `json:"wa_id"`
		NewWAID hookText `json:"new_wa_id"`
	} `json:"system"`
	Unsupported *struct {
		Type string `json:"type"`
	} `json:"unsupported"`
	Edit *struct {
		OriginalMessageID string       `json:"original_message_id"`
		Message           *hookMessage `json:"message"`
	} `json:"edit"`
	Revoke *struct {
		OriginalMessageID string `json:"original_message_id"`
	} `json:"revoke"`

	Referral *hookReferral `json:"referral"`
	Context  *hookContext  `json:"context"`
	Errors   []hookError   `json:"errors"`
}

type hookMedia struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
	Animated bool   `json:"animated"`
	URL      string `json:"url"`
}

func (m *hookMessage) media() *hookMedia {
	switch m.Type {
	case "image":
		return m.Image
	case "video":
		return m.Video
	case "audio":
		return m.Audio
	case "document":
		return m.Document
	case "sticker":
		return m.Sticker
	}
	return nil
}

type hookInteractive struct {
	Type        string         `json:"type"`
	ButtonReply *hookReplyItem `json:"button_reply"`
	ListReply   *hookReplyItem `json:"list_reply"`
	NFMReply    *struct {
		Name         string          `json:"name"`
		Body         string          `json:"body"`
		ResponseJSON json.RawMessage `json:"response_json"`
	} `json:"nfm_reply"`
}

type hookReplyItem struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

// reply maps an interactive answer; the empty reason means it worked.
func (i *hookInteractive) reply() (*parley.Reply, string) {
	switch i.Type {
	case "button_reply", "list_reply":
		item := i.ButtonReply
		if i.Type == "list_reply" {
			item = i.ListReply
		}
		if item == nil {
			return nil, hookMissing("interactive "+i.Type, i.Type)
		}
		return &parley.Reply{Kind: i.Type, ID: item.ID, Title: item.Title, Description: item.Description}, ""
	case "nfm_reply":
		f := i.NFMReply
		if f == nil {
			return nil, hookMissing("interactive nfm_reply", "nfm_reply")
		}
		r := &parley.Reply{Kind: "nfm_reply", Title: cmp.Or(f.Name, f.Body), ResponseJSON: hookFlowResponse(f.ResponseJSON)}
		if f.Body != r.Title {
			r.Description = f.Body
		}
		return r, ""
	}
	return nil, fmt.Sprintf("unknown interactive type %q", i.Type)
}

// hookFlowResponse unwraps a Flow's response_json, which Meta sends as a
// JSON string holding JSON. A string that is not JSON is kept as a JSON
// string, so the answer is never lost and the field stays valid JSON.
func hookFlowResponse(r json.RawMessage) json.RawMessage {
	if !hookPresent(r) {
		return nil
	}
	if r[0] != '"' {
		return r
	}
	var s string
	if json.Unmarshal(r, &s) == nil && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	return r
}

type hookReferral struct {
	SourceURL      string `json:"source_url"`
	SourceID       string `json:"source_id"`
	SourceType     string `json:"source_type"`
	Headline       string `json:"headline"`
	Body           string `json:"body"`
	MediaType      string `json:"media_type"`
	ImageURL       string `json:"image_url"`
	VideoURL       string `json:"video_url"`
	ThumbnailURL   string `json:"thumbnail_url"`
	CTWAClickID    string `json:"ctwa_clid"`
	WelcomeMessage *struct {
		Text string `json:"text"`
	} `json:"welcome_message"`
}

func (r *hookReferral) neutral() *parley.Referral {
	if r == nil {
		return nil
	}
	out := &parley.Referral{
		SourceURL: r.SourceURL, SourceID: r.SourceID, SourceType: r.SourceType,
		Headline: r.Headline, Body: r.Body, MediaType: r.MediaType,
		ImageURL: r.ImageURL, VideoURL: r.VideoURL, ThumbnailURL: r.ThumbnailURL,
		CTWAClickID: r.CTWAClickID,
	}
	if r.WelcomeMessage != nil {
		out.WelcomeMessage = r.WelcomeMessage.Text
	}
	return out
}

type hookContext struct {
	ID                  string `json:"id"`
	Forwarded           bool   `json:"forwarded"`
	FrequentlyForwarded bool   `json:"frequently_forwarded"`
	ReferredProduct     *struct {
		CatalogID         string `json:"catalog_id"`
		ProductRetailerID string `json:"product_retailer_id"`
	} `json:"referred_product"`
}

func (c *hookContext) neutral() *parley.Context {
	if c == nil {
		return nil
	}
	out := &parley.Context{ReplyToProviderID: c.ID, Forwarded: c.Forwarded, FrequentlyForwarded: c.FrequentlyForwarded}
	if rp := c.ReferredProduct; rp != nil {
		out.ReferredProduct = &parley.ReferredProduct{CatalogID: rp.CatalogID, ProductRetailerID: rp.ProductRetailerID}
	}
	if *out == (parley.Context{}) {
		return nil
	}
	return out
}

// hookContent maps a message or echo to Parley's message. raw returns the
// message's JSON, kept for anything Parley cannot interpret and hashed
// into an ID when Meta sent none; it is only called then, since finding
// the bytes again costs a second decode.
func hookContent(m *hookMessage, raw func() []byte, echo bool) parley.Message {
	c := parley.Message{
		Direction:         parley.Inbound,
		Status:            parley.StatusReceived,
		SentBy:            parley.Actor{Kind: parley.ActorContact},
		ProviderMessageID: string(m.ID),
		Timestamp:         hookTime(m.Timestamp),
	}
	reactor := "contact"
	if echo {
		c.Direction, c.Status, c.SentBy = parley.Outbound, parley.StatusSent, parley.Actor{Kind: parley.ActorPhoneApp}
		reactor = "business"
	}
	if c.ProviderMessageID == "" {
		c.ProviderMessageID = hookSyntheticID(raw())
	}
	if m.err != nil {
		hookUnsupported(&c, "malformed message: "+m.err.Error(), raw())
		return c
	}
	c.Context = m.Context.neutral()
	c.Referral = m.Referral.neutral()
	if m.Type == "edit" || m.Type == "revoke" {
		hookRevision(&c, m, raw, reactor)
		return c
	}
	t, problem := hookBody(&c, m, reactor)
	if problem != "" {
		hookUnsupported(&c, problem, raw())
		return c
	}
	c.Type = t
	return c
}

// hookSyntheticID names a message Meta sent without an ID (some BSP
// payloads) after its bytes, so that a redelivery gets the same ID and is
// deduplicated like any other.
func hookSyntheticID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "synthetic." + hex.EncodeToString(sum[:])
}

func hookUnsupported(c *parley.Message, reason string, raw []byte) {
	c.Type = parley.TypeUnsupported
	c.Unsupported = &parley.Unsupported{Reason: reason, Raw: hookRaw(raw)}
}

// hookRevision maps an echo's edit or revoke of an earlier message. An
// edit carries the new content as a nested message, mapped like any other.
func hookRevision(c *parley.Message, m *hookMessage, raw func() []byte, reactor string) {
	var original string
	var inner *hookMessage
	if m.Type == "edit" {
		if m.Edit == nil {
			hookUnsupported(c, hookMissing("edit", "edit"), raw())
			return
		}
		original, inner, c.Type = m.Edit.OriginalMessageID, m.Edit.Message, parley.TypeEdit
	} else {
		if m.Revoke == nil {
			hookUnsupported(c, hookMissing("revoke", "revoke"), raw())
			return
		}
		original, c.Type = m.Revoke.OriginalMessageID, parley.TypeRevoke
	}
	if original == "" {
		hookUnsupported(c, m.Type+" without original_message_id", raw())
		return
	}
	c.Revises = original
	if inner == nil {
		return
	}
	if _, problem := hookBody(c, inner, reactor); problem != "" {
		// The edit itself is understood; only its new content is not.
		c.Unsupported = &parley.Unsupported{Reason: "edit: " + problem, Raw: hookRaw(raw())}
	}
}

// hookBody sets the content of m's type on c and returns Parley's type,
// or the reason it cannot. It serves inbound messages, echoes and the new
// content of an edit alike.
func hookBody(c *parley.Message, m *hookMessage, reactor string) (parley.MessageType, string) {
	switch m.Type {
	case "text":
		if m.Text == nil {
			return "", hookMissing("text", "text")
		}
		c.Text = m.Text.Body
		return parley.TypeText, ""
	case "image", "video", "audio", "document", "sticker":
		md := m.media()
		if md == nil {
			return "", hookMissing(m.Type, m.Type)
		}
		// Meta's sha256 is base64 of its own hash; Parley's Media.SHA256 is
		// the hex hash of the stored file, set once downloaded.
		c.Text = md.Caption
		c.Media = &parley.Media{
			ProviderMediaID: md.ID, MIMEType: md.MIMEType, Filename: md.Filename,
			Voice: md.Voice, Animated: md.Animated, Link: md.URL,
		}
		return parley.MessageType(m.Type), ""
	case "location":
		if m.Location == nil {
			return "", hookMissing("location", "location")
		}
		c.Location = m.Location
		return parley.TypeLocation, ""
	case "contacts":
		if !hookPresent(m.Contacts) {
			return "", hookMissing("contacts", "contacts")
		}
		c.Contacts = m.Contacts
		return parley.TypeContacts, ""
	case "interactive":
		if m.Interactive == nil {
			return "", hookMissing("interactive", "interactive")
		}
		r, problem := m.Interactive.reply()
		c.Reply = r
		return parley.TypeInteractive, problem
	case "button":
		if m.Button == nil {
			return "", hookMissing("button", "button")
		}
		c.Text = m.Button.Text
		c.Reply = &parley.Reply{Kind: "button", Payload: m.Button.Payload, Title: m.Button.Text}
		return parley.TypeButton, ""
	case "reaction":
		if m.Reaction == nil {
			return "", hookMissing("reaction", "reaction")
		}
		c.Reaction = &parley.Reaction{ProviderMessageID: m.Reaction.MessageID, Emoji: m.Reaction.Emoji, From: reactor}
		return parley.TypeReaction, ""
	case "order":
		if !hookPresent(m.Order) {
			return "", hookMissing("order", "order")
		}
		c.Order = m.Order
		return parley.TypeOrder, ""
	case "system":
		if m.System == nil {
			return "", hookMissing("system", "system")
		}
		c.System = &parley.System{Kind: m.System.Type, Body: m.System.Body, NewWAID: cmp.Or(string(m.System.WAID), string(m.System.NewWAID))}
		return parley.TypeSystem, ""
	case "unsupported":
		return "", m.unsupportedReason()
	case "":
		return "", "message without a type"
	}
	return "", fmt.Sprintf("unknown message type %q", m.Type)
}

func hookMissing(what, object string) string {
	return fmt.Sprintf("%s message without its %q object", what, object)
}

// unsupportedReason says why Meta itself could not deliver the content:
// the title of its error (131051 "Message type unknown"), and the
// unsupported kind when Meta names it (polls, events, …).
func (m *hookMessage) unsupportedReason() string {
	reason := "unsupported message"
	if len(m.Errors) > 0 {
		reason = cmp.Or(m.Errors[0].Title, m.Errors[0].Message, reason)
	}
	if m.Unsupported != nil && m.Unsupported.Type != "" {
		reason += fmt.Sprintf(" (type %q)", m.Unsupported.Type)
	}
	return reason
}

// hookPresent reports whether a raw field was given and is not null.
func hookPresent(r json.RawMessage) bool {
	return len(r) > 0 && string(r) != "null"
}

// hookTime converts Meta's Unix seconds. A missing or absurd value gives
// the zero time rather than a date no later encoder could write.
func hookTime(t hookText) time.Time {
	const maxUnix = 253402300799 // 9999-12-31T23:59:59Z
	n, err := strconv.ParseInt(string(t), 10, 64)
	if err != nil || n <= 0 || n > maxUnix {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// hookDigits keeps only the digits of a phone number, as the port wants
// them; Meta sends digits already, so that case does not allocate.
func hookDigits(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			var b strings.Builder
			for j := 0; j < len(s); j++ {
				if s[j] >= '0' && s[j] <= '9' {
					b.WriteByte(s[j])
				}
			}
			return b.String()
		}
	}
	return s
}

// hookText is a JSON scalar kept as text. Meta documents its IDs and
// timestamps as strings but sends some as numbers (message_template_id,
// entry.time, error codes, group wa_ids), and a big number decoded into a
// float64 loses digits. It never fails: encoding/json aborts the whole
// decode when an UnmarshalJSON returns an error, and one odd field must
// not cost the rest of a delivery. Objects and arrays read as "".
type hookText string

func (t *hookText) UnmarshalJSON(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	switch b[0] {
	case '"':
		if s, ok := hookPlainString(b); ok {
			*t = hookText(s)
			return nil
		}
		var s string
		if json.Unmarshal(b, &s) == nil {
			*t = hookText(s)
		}
	case '{', '[', 'n':
		*t = ""
	default: // numbers, true, false
		*t = hookText(b)
	}
	return nil
}

// hookPlainString unquotes a JSON string that has no escapes and is plain
// ASCII, the case for every ID, without a second decode.
func hookPlainString(b []byte) (string, bool) {
	if len(b) < 2 || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 || c >= utf8.RuneSelf {
			return "", false
		}
	}
	return string(in), true
}

// hookPresence records that a key is present without decoding its value.
type hookPresence bool

func (p *hookPresence) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// WebhookAccounts returns the phone number IDs (metadata.phone_number_id)
// and WhatsApp Business Account IDs (entry[].id) a body names, each once,
// in order of appearance. The HTTP layer needs them before anything else:
// they find the channel, whose app secret verifies the signature, so this
// must work on bodies ParseWebhook would reject or only partly parse. A
// body that is not even valid JSON is read token by token up to the
// point where it breaks.
func WebhookAccounts(body []byte) (phoneNumberIDs []string, businessAccountIDs []string) {
	var acc hookAccounts
	var v hookAccountsBody
	err := json.Unmarshal(body, &v)
	if _, syntax := errors.AsType[*json.SyntaxError](err); syntax {
		hookAccountsByTokens(body, &acc)
		return acc.phones, acc.wabas
	}
	if v.Metadata != nil {
		acc.phone(string(v.Metadata.PhoneNumberID))
	}
	for _, e := range v.Entry {
		acc.waba(string(e.ID))
		for _, ch := range e.Changes {
			acc.phone(string(ch.Value.Metadata.PhoneNumberID))
		}
	}
	return acc.phones, acc.wabas
}

// hookAccountsBody is the least of a delivery that names its accounts.
type hookAccountsBody struct {
	Metadata *hookMetadata `json:"metadata"`
	Entry    []struct {
		ID      hookText `json:"id"`
		Changes []struct {
			Value struct {
				Metadata hookMetadata `json:"metadata"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type hookAccounts struct {
	phones, wabas []string
}

func (a *hookAccounts) phone(id string) { a.phones = hookAppendNew(a.phones, id) }
func (a *hookAccounts) waba(id string)  { a.wabas = hookAppendNew(a.wabas, id) }

func hookAppendNew(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// hookAccountsByTokens salvages the account IDs of a body that is not
// valid JSON (truncated, or with trailing bytes), reading tokens until the
// first one that fails. It tracks the key path so that only entry[].id and
// metadata.phone_number_id count, not a customer's text that mentions them.
func hookAccountsByTokens(body []byte, acc *hookAccounts) {
	type frame struct {
		object  bool
		wantKey bool
		key     string
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		n := len(stack)
		if n > 0 && stack[n-1].object && stack[n-1].wantKey {
			if key, ok := tok.(string); ok {
				stack[n-1].key, stack[n-1].wantKey = key, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			if n > 0 {
				stack = stack[:n-1]
			}
		default:
			var s string
			switch v := tok.(type) {
			case string:
				s = v
			case json.Number:
				s = string(v)
			}
			switch {
			case n == 3 && stack[0].key == "entry" && !stack[1].object && stack[2].key == "id":
				acc.waba(s)
			case n >= 2 && stack[n-1].key == "phone_number_id" && stack[n-2].key == "metadata":
				acc.phone(s)
			}
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
}
