package acs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// Event types Parley interprets.
const (
	EventReceived   = "Microsoft.Communication.AdvancedMessageReceived"
	EventStatus     = "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated"
	EventValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// Handshake is Event Grid's subscription validation: answer
// {"validationResponse": ValidationCode} to prove the endpoint is ours.
type Handshake struct {
	ValidationCode string
	ValidationURL  string
}

// event is one event in either of Event Grid's schemas: EventGridEvent
// (eventType, eventTime) or CloudEvents 1.0 (type, time, specversion).
type event struct {
	ID          string          `json:"id"`
	Subject     string          `json:"subject"`
	EventType   string          `json:"eventType"`
	Type        string          `json:"type"`
	EventTime   string          `json:"eventTime"`
	Time        string          `json:"time"`
	SpecVersion string          `json:"specversion"`
	Data        json.RawMessage `json:"data"`
}

func (e *event) kind() string {
	if e.EventType != "" {
		return e.EventType
	}
	return e.Type
}

// eventData is the data of the two Advanced Messaging events; the fields
// of AdvancedMessageReceived and AdvancedMessageDeliveryStatusUpdated do
// not clash.
type eventData struct {
	ValidationCode string `json:"validationCode"`
	ValidationURL  string `json:"validationUrl"`

	MessageID         string `json:"messageId"`
	Status            string `json:"status"`
	ChannelType       string `json:"channelType"`
	From              string `json:"from"`
	To                string `json:"to"`
	ReceivedTimestamp string `json:"receivedTimestamp"`
	Error             *struct {
		ChannelCode    string `json:"channelCode"`
		ChannelMessage string `json:"channelMessage"`
	} `json:"error"`

	Content     string `json:"content"`
	MessageType string `json:"messageType"`
	Media       *struct {
		MIMEType string `json:"mimeType"`
		ID       string `json:"id"`
		FileName string `json:"fileName"`
		Caption  string `json:"caption"`
		Animated bool   `json:"animated"`
	} `json:"media"`
	Reaction *struct {
		MessageID string `json:"messageId"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Context *struct {
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Button *struct {
		Text    string `json:"text"`
		Payload string `json:"payload"`
	} `json:"button"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"buttonReply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"listReply"`
	} `json:"interactive"`
}

// statuses maps ACS's delivery statuses, compared case-insensitively:
// the documentation shows "Sent" and "Failed", its schema example
// "delivered".
var statuses = map[string]parley.Status{
	"sent":      parley.StatusSent,
	"delivered": parley.StatusDelivered,
	"read":      parley.StatusRead,
	"failed":    parley.StatusFailed,
}

// channelKinds classify WhatsApp's codes on failed statuses for the
// agent (MessageError.Reason).
var channelKinds = map[string]whatsapp.ErrorKind{
	"131047": whatsapp.OutsideWindow,
	"130429": whatsapp.RateLimited,
	"131056": whatsapp.RateLimited,
}

var errNotEvents = errors.New("body is neither an Event Grid event nor an array of them")

// ParseEvents reads one Event Grid delivery: an array of EventGridEvents
// or CloudEvents (batched delivery), or a single event (CloudEvents
// structured mode). A SubscriptionValidationEvent is returned as the
// handshake to answer; messages and statuses become the batch; any other
// event, or one Parley cannot read, is kept in the batch as Unhandled
// with its raw JSON, since Event Grid does not deliver an acknowledged
// event again.
//
// Account is the channel registration ID the event names (a received
// message's "to", a status's "from"), so the caller can drop events of
// another channel delivered through a shared subscription.
func ParseEvents(body []byte) (*Handshake, *whatsapp.Batch, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	var raws []json.RawMessage
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, nil, fmt.Errorf("acs: parse events: %w", err)
		}
	case len(trimmed) > 0 && trimmed[0] == '{':
		if !json.Valid(trimmed) {
			return nil, nil, fmt.Errorf("acs: parse events: %w", errNotEvents)
		}
		raws = []json.RawMessage{trimmed}
	default:
		return nil, nil, fmt.Errorf("acs: parse events: %w", errNotEvents)
	}
	b := &whatsapp.Batch{}
	var hs *Handshake
	for _, raw := range raws {
		var ev event
		if err := json.Unmarshal(raw, &ev); err != nil {
			b.Unhandled = append(b.Unhandled, unhandled("", "", "malformed event: "+err.Error(), raw))
			continue
		}
		var d eventData
		if len(ev.Data) > 0 {
			if err := json.Unmarshal(ev.Data, &d); err != nil {
				b.Unhandled = append(b.Unhandled, unhandled("", ev.kind(), "malformed event data: "+err.Error(), raw))
				continue
			}
		}
		switch ev.kind() {
		case EventValidation:
			if d.ValidationCode == "" {
				b.Unhandled = append(b.Unhandled, unhandled("", ev.kind(), "validation event without a code", raw))
				continue
			}
			hs = &Handshake{ValidationCode: d.ValidationCode, ValidationURL: d.ValidationURL}
		case EventReceived:
			b.Messages = append(b.Messages, message(&ev, &d, raw))
		case EventStatus:
			st, ok := status(&ev, &d)
			if !ok {
				b.Unhandled = append(b.Unhandled, unhandled(d.From, ev.kind(), fmt.Sprintf("status %q for message %q", d.Status, d.MessageID), raw))
				continue
			}
			b.Statuses = append(b.Statuses, st)
		default:
			b.Unhandled = append(b.Unhandled, unhandled("", ev.kind(), fmt.Sprintf("unhandled event type %q", ev.kind()), raw))
		}
	}
	return hs, b, nil
}

func unhandled(account, field, reason string, raw []byte) whatsapp.Unhandled {
	return whatsapp.Unhandled{Account: account, Field: field, Reason: reason, Raw: bytes.Clone(raw)}
}

// when reads the event's receivedTimestamp, else its event time.
func when(ev *event, d *eventData) time.Time {
	for _, s := range []string{d.ReceivedTimestamp, ev.EventTime, ev.Time} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// message maps an AdvancedMessageReceived event. The message ID is the
// data's messageId, or the event's ID for payloads without one: Event
// Grid keeps an event's ID across redeliveries, so either way a
// redelivered event is recognised.
func message(ev *event, d *eventData, raw []byte) whatsapp.Message {
	m := whatsapp.Message{Account: d.To, Contact: whatsapp.Contact{WAID: waid(d.From)}}
	c := &m.Content
	c.ProviderMessageID = d.MessageID
	if c.ProviderMessageID == "" {
		c.ProviderMessageID = ev.ID
	}
	c.Timestamp = when(ev, d)
	if d.Context != nil && d.Context.ID != "" {
		c.Context = &parley.Context{ReplyToProviderID: d.Context.ID}
	}
	if d.Error != nil && (d.Error.ChannelCode != "" || d.Error.ChannelMessage != "") {
		m.Errors = []parley.MessageError{{Code: d.Error.ChannelCode, Message: d.Error.ChannelMessage}}
	}
	unsupported := func(reason string) {
		c.Type = parley.TypeUnsupported
		c.Unsupported = &parley.Unsupported{Reason: reason, Raw: bytes.Clone(raw)}
	}
	switch typ := strings.ToLower(d.MessageType); typ {
	case "text":
		c.Type, c.Text = parley.TypeText, d.Content
	case "image", "video", "audio", "document", "sticker":
		if d.Media == nil || d.Media.ID == "" {
			unsupported(typ + " without media")
			break
		}
		c.Type = parley.MessageType(typ)
		c.Text = d.Media.Caption
		c.Media = &parley.Media{ProviderMediaID: d.Media.ID, MIMEType: d.Media.MIMEType, Filename: d.Media.FileName,
			Animated: d.Media.Animated, Status: parley.MediaPending}
	case "reaction":
		if d.Reaction == nil || d.Reaction.MessageID == "" {
			unsupported("reaction without the message it reacts to")
			break
		}
		c.Type = parley.TypeReaction
		c.Reaction = &parley.Reaction{ProviderMessageID: d.Reaction.MessageID, Emoji: d.Reaction.Emoji, From: "contact"}
	case "button":
		if d.Button == nil {
			unsupported("button without its text")
			break
		}
		c.Type = parley.TypeButton
		c.Reply = &parley.Reply{Kind: "button", Title: d.Button.Text, Payload: d.Button.Payload}
	case "interactive":
		in := d.Interactive
		switch {
		case in != nil && strings.EqualFold(in.Type, "buttonReply") && in.ButtonReply != nil:
			c.Type = parley.TypeInteractive
			c.Reply = &parley.Reply{Kind: "button_reply", ID: in.ButtonReply.ID, Title: in.ButtonReply.Title}
		case in != nil && strings.EqualFold(in.Type, "listReply") && in.ListReply != nil:
			c.Type = parley.TypeInteractive
			c.Reply = &parley.Reply{Kind: "list_reply", ID: in.ListReply.ID, Title: in.ListReply.Title, Description: in.ListReply.Description}
		default:
			unsupported("unknown interactive reply")
		}
	default:
		unsupported(fmt.Sprintf("unknown messageType %q", d.MessageType))
	}
	return m
}

// status maps an AdvancedMessageDeliveryStatusUpdated event.
func status(ev *event, d *eventData) (whatsapp.StatusUpdate, bool) {
	s, ok := statuses[strings.ToLower(strings.TrimSpace(d.Status))]
	if !ok || d.MessageID == "" {
		return whatsapp.StatusUpdate{}, false
	}
	u := whatsapp.StatusUpdate{Account: d.From, ProviderMessageID: d.MessageID, Status: s, Timestamp: when(ev, d),
		Recipient: whatsapp.Contact{WAID: waid(d.To)}}
	if d.Error != nil && (d.Error.ChannelCode != "" || d.Error.ChannelMessage != "") {
		kind, known := channelKinds[d.Error.ChannelCode]
		if !known {
			kind = whatsapp.Rejected
		}
		u.Error = &parley.MessageError{Code: d.Error.ChannelCode, Reason: kind.String(), Message: d.Error.ChannelMessage}
		if u.Error.Code == "" {
			u.Error.Code = kind.String()
		}
	}
	return u, true
}

// waid is a phone number as WhatsApp IDs are written, without "+".
func waid(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(s), "+")
}
