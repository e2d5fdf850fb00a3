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
	Twilio  *TwilioConfig  `json:"-"`
	ACS     *ACSConfig     `json:"-"`
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

// TwilioConfig connects a number through Twilio's Programmable Messaging
// (WhatsApp senders, or Twilio's shared WhatsApp sandbox number).
type TwilioConfig struct {
	AccountSID string `json:"account_sid"`
	AuthToken  string `json:"auth_token"`
	// MessagingServiceSID, when set, sends through a Messaging Service
	// instead of from "whatsapp:" plus the channel's number.
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	// APIURL defaults to https://api.twilio.com and ContentURL to
	// https://content.twilio.com; tests point both at a fake. When only
	// APIURL is set, the Content API is read from it too.
	APIURL     string `json:"api_url,omitempty"`
	ContentURL string `json:"content_url,omitempty"`
}

// ACSConfig connects a number through Azure Communication Services
// Advanced Messaging.
type ACSConfig struct {
	// Endpoint is the resource's address, such as
	// https://contoso.communication.azure.com (tests: a fake).
	Endpoint              string `json:"endpoint"`
	ChannelRegistrationID string `json:"channel_registration_id"`
	// AccessKey signs requests with HMAC-SHA256. Instead of it, an Entra
	// application (TenantID, ClientID, ClientSecret) may be given, whose
	// token is sent as a bearer; AuthorityURL overrides
	// https://login.microsoftonline.com for tests.
	AccessKey    string `json:"access_key,omitempty"`
	TenantID     string `json:"tenant_id,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	AuthorityURL string `json:"authority_url,omitempty"`
	// WebhookKey is the shared secret Event Grid must send as ?key= on
	// the webhook URL. Parley generates one when none is given.
	WebhookKey string `json:"webhook_key,omitempty"`
	// EventAudience, when set, makes the webhook accept Event Grid's
	// Entra-authenticated delivery instead: a bearer token for this
	// audience (the application ID or its ID URI), issued by EventIssuer
	// (default https://login.microsoftonline.com/{TenantID}/v2.0).
	EventAudience string `json:"event_audience,omitempty"`
	EventIssuer   string `json:"event_issuer,omitempty"`
}

// SandboxConfig connects a number to Parley's simulated WhatsApp network.
type SandboxConfig struct {
	// Customers is how many simulated customers write to the number. Zero
	// means they only answer when written to.
	Customers int `json:"customers,omitempty"`
}
