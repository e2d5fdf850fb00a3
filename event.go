package parley

import (
	"encoding/json"
	"time"
)

// Event types pushed to a tenant's realtime stream (GET /v1/events).
const (
	EventMessageCreated      = "message.created"
	EventMessageUpdated      = "message.updated"
	EventConversationUpdated = "conversation.updated"
	EventChannelUpdated      = "channel.updated"
	EventTemplateUpdated     = "template.updated"
	EventContactUpdated      = "contact.updated"
)

// Event is one change a tenant's clients may want to see. Events are
// written in the same transaction as the change they describe, so a client
// that resumes with Last-Event-ID misses nothing that was committed.
type Event struct {
	ID       int64           `json:"id"`
	TenantID string          `json:"tenant_id"`
	Type     string          `json:"type"`
	At       time.Time       `json:"at"`
	Data     json.RawMessage `json:"data"`
}
