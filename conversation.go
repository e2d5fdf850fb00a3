package parley

import "time"

// Window is WhatsApp's customer-service window. A message from the customer
// opens or resets it; the business's own messages do not. Inside it any
// message may be sent; outside it only an approved template.
const Window = 24 * time.Hour

// Conversation is the one thread between a channel and a contact.
type Conversation struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	ChannelID string `json:"channel_id"`
	ContactID string `json:"contact_id"`
	Status    string `json:"status"` // "open" or "resolved"

	// LastInboundAt drives the 24-hour window.
	LastInboundAt time.Time `json:"last_inbound_at,omitzero"`
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
	LastMessage   string    `json:"last_message,omitempty"` // a preview
	UnreadCount   int       `json:"unread_count"`

	// AssigneeID is the user the conversation is assigned to; TeamID the
	// team. Both empty: unassigned.
	AssigneeID string `json:"assignee_id,omitempty"`
	TeamID     string `json:"team_id,omitempty"`
	// WaitingSince is when the customer's oldest unanswered message
	// arrived; zero when the business spoke last.
	WaitingSince time.Time `json:"waiting_since,omitzero"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Contact is attached on reads that list conversations.
	Contact *Contact `json:"contact,omitempty"`
}

// Conversation states.
const (
	ConversationOpen     = "open"
	ConversationResolved = "resolved"
)

// WindowOpen reports whether free-form messages may be sent at now.
func (c *Conversation) WindowOpen(now time.Time) bool {
	return !c.LastInboundAt.IsZero() && now.Before(c.WindowClosesAt())
}

// WindowClosesAt is when the window closes; zero if it never opened.
func (c *Conversation) WindowClosesAt() time.Time {
	if c.LastInboundAt.IsZero() {
		return time.Time{}
	}
	return c.LastInboundAt.Add(Window)
}
