package parley

import "time"

// Tenant is an isolated customer of the deployment: an institution, a
// business unit or an agency's client. Every other record belongs to exactly
// one tenant, and every query is scoped by it.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`

	// OptOutKeywords replace DefaultOptOutKeywords when set.
	OptOutKeywords []string `json:"opt_out_keywords,omitempty"`
}

// APIKey authenticates integrators. Only a hash of the key is stored: the
// plaintext is shown once, when the key is created.
type APIKey struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Name      string    `json:"name"`
	Hint      string    `json:"hint"` // the last characters, to tell keys apart
	CreatedAt time.Time `json:"created_at"`
}

// ActorKind says who made something happen. The audit record keeps it for
// every outbound message, so "who sent this?" always has an answer.
type ActorKind string

const (
	ActorAPIKey     ActorKind = "api_key"
	ActorUser       ActorKind = "user"
	ActorAutomation ActorKind = "automation"
	ActorPhoneApp   ActorKind = "phone_app" // typed on the WhatsApp Business app (coexistence echo)
	ActorContact    ActorKind = "contact"
	ActorSystem     ActorKind = "system"
)

// Actor is who did something: an API key, a user, an automation rule, the
// phone app, the customer, or Parley itself.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id,omitempty"`
	Name string    `json:"name,omitempty"`
}

// AuditEntry records who did what to which record.
type AuditEntry struct {
	ID       string         `json:"id"`
	TenantID string         `json:"tenant_id"`
	At       time.Time      `json:"at"`
	Actor    Actor          `json:"actor"`
	Action   string         `json:"action"`  // e.g. "message.send", "channel.create", "consent.opt_out"
	Subject  string         `json:"subject"` // the ID acted on
	Detail   map[string]any `json:"detail,omitempty"`
}
