// Package whatsapp is the provider port: the neutral shape of what a
// WhatsApp provider tells Parley (inbound messages, statuses, template
// reviews) and of what Parley asks of it (send, fetch media, list
// templates). Meta's Cloud API, Twilio, Azure Communication Services and the
// sandbox each implement it in a subpackage, so the core never sees a
// vendor's wire format.
package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley"
)

// Batch is everything one webhook delivery carried. One delivery may hold
// several numbers' events (Meta batches entries and changes), so every
// event names the provider account it belongs to.
type Batch struct {
	Messages  []Message
	Statuses  []StatusUpdate
	Templates []TemplateUpdate
	Unhandled []Unhandled
}

// Len is the number of events in the batch.
func (b *Batch) Len() int {
	return len(b.Messages) + len(b.Statuses) + len(b.Templates) + len(b.Unhandled)
}

// Message is a message the provider delivered: from a customer, or an echo
// of one the business typed on the WhatsApp Business phone app.
type Message struct {
	// Account is the provider account that received it (Meta:
	// metadata.phone_number_id); empty when the payload does not say.
	Account string
	// AccountPhone is the business number as the payload shows it, digits only.
	AccountPhone string
	// Echo is set for messages the business sent from the phone app.
	Echo bool
	// Contact is the customer: the sender, or for an echo the recipient.
	Contact Contact
	// Content holds the neutral content. The adapter sets Type,
	// ProviderMessageID, Timestamp and whichever of Text, Media, Reply,
	// Location, Contacts, Reaction, Order, System, Referral, Context,
	// Revises and Unsupported apply. Media carries ProviderMediaID,
	// MIMEType, Filename, Voice, Animated and, when the provider gives a
	// direct download address, Link.
	Content parley.Message
	// Errors are problems the provider reports with the message itself,
	// such as a media download it could not make.
	Errors []parley.MessageError
}

// Contact is a customer as the provider names them. Any of the fields may
// be empty: since 2026 Meta may send a business-scoped user ID (BSUID)
// and no phone at all.
type Contact struct {
	WAID        string // digits, as WhatsApp reports them
	BSUID       string // e.g. "US.13491208655302741918"
	ParentBSUID string
	ProfileName string
	Username    string
}

// StatusUpdate is news about a message the business sent.
type StatusUpdate struct {
	Account           string
	ProviderMessageID string
	Status            parley.Status // sent, delivered, read, played or failed
	Timestamp         time.Time
	Recipient         Contact
	Error             *parley.MessageError
	PricingCategory   string
	Billable          *bool
	// CallbackData is what Parley attached to the send (Meta's
	// biz_opaque_callback_data): our message ID. It reconciles a send whose
	// answer was never recorded.
	CallbackData string
}

// TemplateUpdate is a template's new review state.
type TemplateUpdate struct {
	BusinessAccount    string // Meta: the WABA ID (entry.id)
	ProviderTemplateID string
	Name               string
	Language           string
	Status             string // approved, pending, rejected, paused, disabled, …
	Category           string
	Reason             string
	Timestamp          time.Time
}

// Unhandled is a part of a delivery Parley does not interpret (an unknown
// field, or an event type it has no use for yet). It is stored as is, so
// nothing a provider sends is silently dropped.
type Unhandled struct {
	Account string
	Field   string
	Reason  string
	Raw     json.RawMessage
}

// Provider sends through one vendor. Implementations are stateless: every
// call gets the channel, whose settings carry the credentials.
type Provider interface {
	// Send delivers one outbound message and returns the vendor's ID.
	Send(ctx context.Context, ch *parley.Channel, out *Outbound) (SendResult, error)
	// MarkRead tells the customer an inbound message was read.
	MarkRead(ctx context.Context, ch *parley.Channel, providerMessageID string) error
	// FetchMedia downloads an inbound file.
	FetchMedia(ctx context.Context, ch *parley.Channel, m *parley.Media) (io.ReadCloser, string, error)
	// Templates lists the channel's templates as the vendor has them.
	Templates(ctx context.Context, ch *parley.Channel) ([]parley.Template, error)
	// Check verifies the channel's credentials.
	Check(ctx context.Context, ch *parley.Channel) error
}

// Outbound is one send.
type Outbound struct {
	// Message is the stored message: its ID travels with the send as
	// callback data, and its Type and content say what to send.
	Message *parley.Message
	// To is the recipient.
	To Contact
	// ToPhone is the recipient's E.164 phone, when known.
	ToPhone string
	// Template is the definition of the template being sent, so the
	// adapter knows each component's format.
	Template *parley.Template
	// ReplyTo is the vendor ID of the quoted message, if any.
	ReplyTo string
	// ReactTo is the vendor ID of the message a reaction is for.
	ReactTo string
	// Media opens the file of an uploaded (not linked) media message, for
	// vendors that take uploads. It is nil when the message has no upload.
	Media MediaSource
}

// MediaSource is an uploaded file ready to be handed to a vendor.
type MediaSource interface {
	Open(ctx context.Context) (io.ReadCloser, error)
	// URL is a signed, expiring public address of the file, for vendors
	// that fetch media themselves.
	URL() string
	Info() *parley.Media
}

// SendResult is the vendor's answer to a send.
type SendResult struct {
	ProviderMessageID string
}

// ErrorKind says what the core should do about a vendor error.
type ErrorKind int

const (
	// Rejected: the message can never be sent as is (bad number,
	// ecosystem limits, bad template parameters). It fails, with the
	// vendor's code and text.
	Rejected ErrorKind = iota
	// OutsideWindow: free-form message outside the 24-hour window.
	OutsideWindow
	// RateLimited: too many messages; try again later, never fail.
	RateLimited
	// Unauthorized: the channel's credentials are expired or revoked; the
	// channel turns unhealthy and its sends wait.
	Unauthorized
	// Temporary: a 5xx or a refused connection; retry with backoff.
	Temporary
	// Ambiguous: the request may have reached the vendor (a timeout after
	// sending). Retrying blindly could send twice, so the core waits for a
	// status webhook to reconcile it first.
	Ambiguous
)

func (k ErrorKind) String() string {
	switch k {
	case Rejected:
		return "rejected"
	case OutsideWindow:
		return "outside_window"
	case RateLimited:
		return "rate_limited"
	case Unauthorized:
		return "unauthorized"
	case Temporary:
		return "temporary"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Error is a vendor's refusal, classified.
type Error struct {
	Kind       ErrorKind
	Code       string // the vendor's code, e.g. "131047"
	Title      string
	Message    string
	Details    string
	HTTPStatus int
	RetryAfter time.Duration // when the vendor says
	Err        error         // the underlying transport error, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("whatsapp: %s", e.Kind)
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	} else if e.Title != "" {
		s += ": " + e.Title
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// MessageError is the error as stored on a message and shown to agents.
func (e *Error) MessageError() *parley.MessageError {
	me := &parley.MessageError{Code: e.Code, Reason: e.Kind.String(), Title: e.Title, Message: e.Message, Details: e.Details}
	if me.Code == "" {
		me.Code = e.Kind.String()
	}
	if me.Message == "" && e.Err != nil {
		me.Message = e.Err.Error()
	}
	return me
}

// AsError returns the classified vendor error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
