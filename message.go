package parley

import (
	"encoding/json"
	"time"
)

// Direction of a message.
type Direction string

const (
	Inbound  Direction = "in"
	Outbound Direction = "out"
	// Note is an internal note: shown to colleagues in the thread, never
	// sent to the customer.
	Note Direction = "note"
)

// MessageType is what a message carries.
type MessageType string

const (
	TypeText        MessageType = "text"
	TypeImage       MessageType = "image"
	TypeVideo       MessageType = "video"
	TypeAudio       MessageType = "audio" // voice notes are audio with Media.Voice set
	TypeDocument    MessageType = "document"
	TypeSticker     MessageType = "sticker"
	TypeLocation    MessageType = "location"
	TypeContacts    MessageType = "contacts"
	TypeInteractive MessageType = "interactive" // outbound buttons or list; inbound button/list/flow replies
	TypeButton      MessageType = "button"      // a tapped template quick-reply button
	TypeReaction    MessageType = "reaction"
	TypeTemplate    MessageType = "template"
	TypeOrder       MessageType = "order"
	TypeSystem      MessageType = "system"
	TypeUnsupported MessageType = "unsupported"
	TypeRevoke      MessageType = "revoke" // a phone-app user deleted an earlier message
	TypeEdit        MessageType = "edit"   // a phone-app user edited an earlier message
)

// IsMedia reports whether the type carries a media file.
func (t MessageType) IsMedia() bool {
	switch t {
	case TypeImage, TypeVideo, TypeAudio, TypeDocument, TypeSticker:
		return true
	}
	return false
}

// Status is where a message is in its life. Outbound messages move
// queued → sending → sent → delivered → read; inbound ones are received
// (and read once an agent has seen them). Failed may end an outbound one.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusSending   Status = "sending"
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusPlayed    Status = "played"
	StatusFailed    Status = "failed"
	StatusReceived  Status = "received"
	StatusDeleted   Status = "deleted"
)

// Rank orders statuses so that a status never moves backwards, because
// webhooks arrive out of order: a "read" can come before its "delivered".
// Failed ranks above sent (a sent message may still fail to be delivered)
// but below delivered, so a late failure cannot undo a delivery.
func (s Status) Rank() int {
	switch s {
	case StatusQueued:
		return 0
	case StatusSending:
		return 1
	case StatusSent, StatusReceived:
		return 2
	case StatusFailed:
		return 3
	case StatusDelivered:
		return 4
	case StatusRead:
		return 5
	case StatusPlayed:
		return 6
	case StatusDeleted:
		return 7
	}
	return -1
}

// Advances reports whether moving from s to next goes forward.
func (s Status) Advances(next Status) bool { return next.Rank() > s.Rank() }

// Message is one message in a conversation, either way.
type Message struct {
	ID             string      `json:"id"`
	TenantID       string      `json:"tenant_id"`
	ChannelID      string      `json:"channel_id"`
	ConversationID string      `json:"conversation_id"`
	ContactID      string      `json:"contact_id"`
	Direction      Direction   `json:"direction"`
	Type           MessageType `json:"type"`
	Status         Status      `json:"status"`

	// ProviderMessageID is the vendor's ID (Meta's wamid).
	ProviderMessageID string `json:"provider_message_id,omitempty"`

	// Text is the body of a text message, or the caption of a media one.
	Text       string `json:"text,omitempty"`
	PreviewURL bool   `json:"preview_url,omitempty"`

	Media       *Media           `json:"media,omitempty"`
	Template    *TemplateMessage `json:"template,omitempty"`
	Interactive *Interactive     `json:"interactive,omitempty"`
	Reply       *Reply           `json:"reply,omitempty"` // a tapped button or list row, or a flow answer
	Location    *Location        `json:"location,omitempty"`
	Contacts    json.RawMessage  `json:"contacts,omitempty"` // shared vCards, as the provider sent them
	Reaction    *Reaction        `json:"reaction,omitempty"` // on a reaction message: what it reacts to
	Order       json.RawMessage  `json:"order,omitempty"`
	System      *System          `json:"system,omitempty"`
	Referral    *Referral        `json:"referral,omitempty"`
	Context     *Context         `json:"context,omitempty"`
	Revises     string           `json:"revises,omitempty"` // the message an edit or revoke applies to
	Unsupported *Unsupported     `json:"unsupported,omitempty"`

	// Reactions are the reactions others put on this message, by who.
	Reactions []Reaction `json:"reactions,omitempty"`

	SentBy Actor         `json:"sent_by"`
	Error  *MessageError `json:"error,omitempty"`

	// Timestamp is when the provider says the message was sent; CreatedAt
	// is when Parley stored it.
	Timestamp time.Time `json:"timestamp"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Timeline is attached by reads of a single message.
	Timeline []StatusChange `json:"timeline,omitempty"`
}

// Media is a file a message carries.
type Media struct {
	ID       string `json:"id,omitempty"` // Parley's media ID; the file is at /v1/media/{id}
	Link     string `json:"link,omitempty"`
	MIMEType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"` // hex SHA-256 of the stored content
	Voice    bool   `json:"voice,omitempty"`
	Animated bool   `json:"animated,omitempty"`

	// Status of an inbound download: pending, ready or failed, with the
	// last error while it is retried.
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`

	// ProviderMediaID is the vendor's handle (Meta media ID).
	ProviderMediaID string `json:"provider_media_id,omitempty"`
}

// Media download states.
const (
	MediaPending = "pending"
	MediaReady   = "ready"
	MediaFailed  = "failed"
)

// Location is a shared or sent place.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// Reaction is an emoji put on a message. An empty Emoji removes it.
type Reaction struct {
	MessageID         string `json:"message_id,omitempty"` // Parley's ID of the message reacted to
	ProviderMessageID string `json:"provider_message_id,omitempty"`
	Emoji             string `json:"emoji"`
	From              string `json:"from,omitempty"` // "contact" or "business"
}

// Context is what a message says about other messages: the one it
// quotes, and whether it was forwarded.
type Context struct {
	ReplyTo             string           `json:"reply_to,omitempty"` // Parley's ID of the quoted message
	ReplyToProviderID   string           `json:"reply_to_provider_id,omitempty"`
	Forwarded           bool             `json:"forwarded,omitempty"`
	FrequentlyForwarded bool             `json:"frequently_forwarded,omitempty"`
	ReferredProduct     *ReferredProduct `json:"referred_product,omitempty"`
}

// ReferredProduct is the catalog item a customer asked about.
type ReferredProduct struct {
	CatalogID         string `json:"catalog_id"`
	ProductRetailerID string `json:"product_retailer_id"`
}

// Reply is what a customer tapped or submitted: an interactive reply button
// (button_reply), a list row (list_reply), a WhatsApp Flow (nfm_reply), or a
// template quick-reply button (button).
type Reply struct {
	Kind         string          `json:"kind"`
	ID           string          `json:"id,omitempty"`
	Title        string          `json:"title,omitempty"`
	Description  string          `json:"description,omitempty"`
	Payload      string          `json:"payload,omitempty"`
	ResponseJSON json.RawMessage `json:"response_json,omitempty"`
}

// Referral is the ad or post that brought the customer (Click to WhatsApp).
type Referral struct {
	SourceURL      string `json:"source_url,omitempty"`
	SourceID       string `json:"source_id,omitempty"`
	SourceType     string `json:"source_type,omitempty"`
	Headline       string `json:"headline,omitempty"`
	Body           string `json:"body,omitempty"`
	MediaType      string `json:"media_type,omitempty"`
	ImageURL       string `json:"image_url,omitempty"`
	VideoURL       string `json:"video_url,omitempty"`
	ThumbnailURL   string `json:"thumbnail_url,omitempty"`
	CTWAClickID    string `json:"ctwa_clid,omitempty"`
	WelcomeMessage string `json:"welcome_message,omitempty"`
}

// System is a notice from WhatsApp about the customer, such as a changed
// number or identity.
type System struct {
	Kind    string `json:"kind"`
	Body    string `json:"body,omitempty"`
	NewWAID string `json:"new_wa_id,omitempty"`

	// Record and Changes describe a change to a linked CRM record (Kind
	// SystemCRMChange). They are kept apart from Body so that the thread
	// can say "Lead status: Qualified" in each agent's language.
	Record  *RecordLink    `json:"record,omitempty"`
	Changes []ColumnChange `json:"changes,omitempty"`
}

// SystemCRMChange is the kind of the thread line a CRM change writes.
const SystemCRMChange = "crm.record.changed"

// ColumnChange is one column of a CRM record with its new value, as the
// CRM formats it for people ("Qualified", not 3).
type ColumnChange struct {
	Column string `json:"column"`
	Value  string `json:"value"`
}

// Unsupported keeps what Parley could not interpret, so nothing is dropped.
type Unsupported struct {
	Reason string          `json:"reason,omitempty"`
	Raw    json.RawMessage `json:"raw,omitempty"`
}

// Interactive is an outbound message with reply buttons (at most three) or
// a list (at most ten rows in all).
type Interactive struct {
	Kind    string               `json:"kind"` // "button" or "list"
	Header  string               `json:"header,omitempty"`
	Body    string               `json:"body"`
	Footer  string               `json:"footer,omitempty"`
	Buttons []InteractiveButton  `json:"buttons,omitempty"`
	Button  string               `json:"button,omitempty"` // the list's menu button text
	Section []InteractiveSection `json:"sections,omitempty"`
}

// InteractiveButton is one reply button.
type InteractiveButton struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// InteractiveSection is one section of a list.
type InteractiveSection struct {
	Title string           `json:"title,omitempty"`
	Rows  []InteractiveRow `json:"rows"`
}

// InteractiveRow is one row of a list.
type InteractiveRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// MessageError is why a message failed, in the vendor's words, with
// Parley's reading of it.
type MessageError struct {
	Code string `json:"code"` // the vendor's code, e.g. "131026"; Parley's reason when no vendor was involved
	// Reason is Parley's classification: outside_window, rejected,
	// rate_limited, unauthorized, temporary, max_attempts, send_interrupted, …
	Reason  string `json:"reason,omitempty"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
}

// StatusChange is one step of a message's status timeline.
type StatusChange struct {
	Status          Status        `json:"status"`
	At              time.Time     `json:"at"`
	Error           *MessageError `json:"error,omitempty"`
	PricingCategory string        `json:"pricing_category,omitempty"`
	Billable        *bool         `json:"billable,omitempty"`
}

// Preview is a one-line summary of the message for conversation lists.
func (m *Message) Preview() string {
	const max = 120
	s := m.Text
	if s == "" {
		switch {
		case m.Template != nil:
			s = "[template " + m.Template.Name + "]"
		case m.Reply != nil:
			s = m.Reply.Title
			if s == "" {
				s = m.Reply.Payload
			}
		case m.Interactive != nil:
			s = m.Interactive.Body
		case m.Location != nil:
			s = "[location] " + m.Location.Name
		case m.Reaction != nil:
			s = m.Reaction.Emoji
		case m.System != nil:
			s = m.System.Body
		default:
			s = "[" + string(m.Type) + "]"
		}
	}
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return s
}
