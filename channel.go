package parley

import "time"

// Providers a channel can be connected through.
const (
	ProviderMeta    = "meta"
	ProviderTwilio  = "twilio"
	ProviderACS     = "acs"
	ProviderSandbox = "sandbox"
)

// Channel is one connected WhatsApp number.
type Channel struct {
	ID          string `json:"id"`
	TenantID    string `json:"tenant_id"`
	Provider    string `json:"provider"`
	PhoneNumber string `json:"phone_number"` // E.164
	Name        string `json:"name,omitempty"`

	// AccountID is the provider's own name for the number, by which its
	// webhooks are routed (Meta: phone_number_id). BusinessAccountID is the
	// account that owns templates (Meta: the WABA ID).
	AccountID         string `json:"account_id,omitempty"`
	BusinessAccountID string `json:"business_account_id,omitempty"`

	// RatePerSecond paces sends from this number. Zero means the
	// provider's default (Meta: 80 messages per second).
	RatePerSecond float64 `json:"rate_per_second,omitempty"`

	Health    ChannelHealth `json:"health"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`

	// Provider settings. Exactly one is set, matching Provider. They are
	// encrypted at rest as a whole, so a new secret field needs no schema
	// change, and they are never rendered to API callers.
	Meta    *MetaConfig    `json:"-"`
	Sandbox *SandboxConfig `json:"-"`
}

// ChannelHealth is whether sends can go out. A channel turns unhealthy when
// the provider rejects its credentials (Meta code 190): its sends wait
// instead of failing, and the reason is shown until an admin fixes it.
type ChannelHealth struct {
	Status    string    `json:"status"` // "healthy" or "unhealthy"
	Reason    string    `json:"reason,omitempty"`
	CheckedAt time.Time `json:"checked_at,omitzero"`
}

// Health states.
const (
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Healthy reports whether sends may go out.
func (c *Channel) Healthy() bool { return c.Health.Status != HealthUnhealthy }

// MetaConfig connects a number through Meta's WhatsApp Cloud API.
type MetaConfig struct {
	PhoneNumberID string `json:"phone_number_id"`
	WABAID        string `json:"waba_id"`
	AccessToken   string `json:"access_token"`
	AppSecret     string `json:"app_secret"`
	VerifyToken   string `json:"verify_token"`
	// GraphURL defaults to https://graph.facebook.com; tests point it at a
	// fake. APIVersion is the path prefix, such as "v23.0".
	GraphURL   string `json:"graph_url,omitempty"`
	APIVersion string `json:"api_version,omitempty"`
}

// SandboxConfig connects a number to Parley's simulated WhatsApp network.
type SandboxConfig struct {
	// Customers is how many simulated customers write to the number. Zero
	// means they only answer when written to.
	Customers int `json:"customers,omitempty"`
}
