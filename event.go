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
	// EventRecordChanged is a change to a CRM record linked to a contact,
	// with the columns that changed (RecordChange).
	EventRecordChanged = "crm.record.changed"
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

// RecordChange is the data of a crm.record.changed event: which record
// changed, the contacts linked to it, and the watched columns that changed
// with their new values.
type RecordChange struct {
	ConnectorID string            `json:"connector_id"`
	Record      Record            `json:"record"`
	Name        string            `json:"name,omitempty"`
	ContactIDs  []string          `json:"contact_ids"`
	Changes     map[string]string `json:"changes"`
	// Deleted is set when the record was deleted in the CRM.
	Deleted bool `json:"deleted,omitempty"`
}
