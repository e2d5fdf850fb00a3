package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
)

// ChannelView is a channel as the API shows it: never its secrets.
type ChannelView struct {
	ID            string               `json:"id"`
	Provider      string               `json:"provider"`
	PhoneNumber   string               `json:"phone_number"`
	Name          string               `json:"name,omitempty"`
	RatePerSecond float64              `json:"rate_per_second,omitempty"`
	Health        parley.ChannelHealth `json:"health"`
	Meta          *MetaView            `json:"meta,omitempty"`
	Twilio        *TwilioView          `json:"twilio,omitempty"`
	ACS           *ACSView             `json:"acs,omitempty"`
	WebhookURL    string               `json:"webhook_url,omitempty" doc:"Where the provider must send this channel's webhooks. For ACS it carries the webhook key only when the channel is created or the key changed; keep it then."`
	CreatedAt     time.Time            `json:"created_at"`
	UpdatedAt     time.Time            `json:"updated_at"`
}

// MetaView is a Meta channel's settings, without the secrets.
type MetaView struct {
	PhoneNumberID string `json:"phone_number_id"`
	WABAID        string `json:"waba_id"`
	GraphURL      string `json:"graph_url,omitempty"`
	APIVersion    string `json:"api_version,omitempty"`
}

// TwilioView is a Twilio channel's settings, without the auth token.
type TwilioView struct {
	AccountSID          string `json:"account_sid"`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	APIURL              string `json:"api_url,omitempty"`
	ContentURL          string `json:"content_url,omitempty"`
}

// ACSView is an ACS channel's settings, without the keys.
type ACSView struct {
	Endpoint              string `json:"endpoint"`
	ChannelRegistrationID string `json:"channel_registration_id"`
	Auth                  string `json:"auth" enum:"access_key,entra" doc:"How Parley signs its requests."`
	TenantID              string `json:"tenant_id,omitempty"`
	ClientID              string `json:"client_id,omitempty"`
	EventAudience         string `json:"event_audience,omitempty"`
	EventIssuer           string `json:"event_issuer,omitempty"`
}

// channelView renders a channel. showKey puts the ACS webhook key in the
// webhook address: only the answer that made or changed the key does, so
// the key is not handed to every reader of the channel list.
func (s *Server) channelView(ch *parley.Channel, showKey bool) *ChannelView {
	v := &ChannelView{ID: ch.ID, Provider: ch.Provider, PhoneNumber: ch.PhoneNumber, Name: ch.Name, RatePerSecond: ch.RatePerSecond,
		Health: ch.Health, CreatedAt: ch.CreatedAt, UpdatedAt: ch.UpdatedAt}
	switch {
	case ch.Meta != nil:
		m := ch.Meta
		v.Meta = &MetaView{PhoneNumberID: m.PhoneNumberID, WABAID: m.WABAID, GraphURL: m.GraphURL, APIVersion: m.APIVersion}
		v.WebhookURL = s.BaseURL + "/webhooks/meta"
	case ch.Twilio != nil:
		t := ch.Twilio
		v.Twilio = &TwilioView{AccountSID: t.AccountSID, MessagingServiceSID: t.MessagingServiceSID, APIURL: t.APIURL, ContentURL: t.ContentURL}
		v.WebhookURL = s.BaseURL + "/webhooks/twilio/" + ch.ID
	case ch.ACS != nil:
		a := ch.ACS
		v.ACS = &ACSView{Endpoint: a.Endpoint, ChannelRegistrationID: a.ChannelRegistrationID, Auth: "access_key",
			TenantID: a.TenantID, ClientID: a.ClientID, EventAudience: a.EventAudience, EventIssuer: a.EventIssuer}
		if a.AccessKey == "" {
			v.ACS.Auth = "entra"
		}
		v.WebhookURL = s.BaseURL + "/webhooks/acs/" + ch.ID
		if showKey && a.EventAudience == "" {
			v.WebhookURL += "?key=" + url.QueryEscape(a.WebhookKey)
		}
	}
	return v
}

// MetaSettings connects a number through Meta's Cloud API.
type MetaSettings struct {
	PhoneNumberID string `json:"phone_number_id" doc:"The number's ID in WhatsApp Manager (not the phone number)."`
	WABAID        string `json:"waba_id" doc:"The WhatsApp Business Account ID that owns the number and its templates."`
	AccessToken   string `json:"access_token" doc:"A system-user token with whatsapp_business_messaging and whatsapp_business_management. Stored encrypted."`
	AppSecret     string `json:"app_secret" doc:"The Meta app's secret, which signs webhooks. Stored encrypted."`
	VerifyToken   string `json:"verify_token" minLength:"8" doc:"A random string you also enter in the app's webhook settings."`
	GraphURL      string `json:"graph_url,omitempty" doc:"Defaults to https://graph.facebook.com."`
	APIVersion    string `json:"api_version,omitempty" doc:"Graph API version path prefix, such as v23.0."`
}

// TwilioSettings connects a number through Twilio.
type TwilioSettings struct {
	AccountSID          string `json:"account_sid,omitempty" doc:"The Account SID (AC…) from Twilio's console."`
	AuthToken           string `json:"auth_token,omitempty" doc:"The account's auth token. It also signs Twilio's webhooks. Stored encrypted."`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty" doc:"Send through this Messaging Service (MG…) instead of from whatsapp:+number."`
	APIURL              string `json:"api_url,omitempty" doc:"Defaults to https://api.twilio.com."`
	ContentURL          string `json:"content_url,omitempty" doc:"Defaults to https://content.twilio.com, or api_url when that is set."`
}

// ACSSettings connects a number through Azure Communication Services.
type ACSSettings struct {
	Endpoint              string `json:"endpoint,omitempty" doc:"The resource's endpoint, such as https://contoso.communication.azure.com."`
	ChannelRegistrationID string `json:"channel_registration_id,omitempty" doc:"The WhatsApp channel's ID (a GUID) from the resource's Channels page."`
	AccessKey             string `json:"access_key,omitempty" doc:"The resource's access key. Stored encrypted. Or give an Entra application instead."`
	TenantID              string `json:"tenant_id,omitempty" doc:"Entra tenant of the application that sends, instead of an access key."`
	ClientID              string `json:"client_id,omitempty"`
	ClientSecret          string `json:"client_secret,omitempty" doc:"Stored encrypted."`
	AuthorityURL          string `json:"authority_url,omitempty" doc:"Defaults to https://login.microsoftonline.com."`
	WebhookKey            string `json:"webhook_key,omitempty" doc:"The key Event Grid sends as ?key=; made for you when absent. Stored encrypted."`
	EventAudience         string `json:"event_audience,omitempty" doc:"Accept Event Grid's Entra-authenticated delivery instead of the key: the audience of its tokens."`
	EventIssuer           string `json:"event_issuer,omitempty" doc:"Defaults to https://login.microsoftonline.com/{tenant_id}/v2.0."`
}

func (t *TwilioSettings) config() *parley.TwilioConfig {
	if t == nil {
		return nil
	}
	return &parley.TwilioConfig{AccountSID: t.AccountSID, AuthToken: t.AuthToken, MessagingServiceSID: t.MessagingServiceSID,
		APIURL: t.APIURL, ContentURL: t.ContentURL}
}

func (a *ACSSettings) config() *parley.ACSConfig {
	if a == nil {
		return nil
	}
	return &parley.ACSConfig{Endpoint: a.Endpoint, ChannelRegistrationID: a.ChannelRegistrationID, AccessKey: a.AccessKey,
		TenantID: a.TenantID, ClientID: a.ClientID, ClientSecret: a.ClientSecret, AuthorityURL: a.AuthorityURL,
		WebhookKey: a.WebhookKey, EventAudience: a.EventAudience, EventIssuer: a.EventIssuer}
}

// ChannelInput connects a number.
type ChannelInput struct {
	Provider      string                `json:"provider" enum:"meta,twilio,acs,sandbox" doc:"Who connects the number."`
	PhoneNumber   string                `json:"phone_number" doc:"The number in E.164 form, such as +5511987654321."`
	Name          string                `json:"name,omitempty"`
	RatePerSecond float64               `json:"rate_per_second,omitempty" minimum:"0" maximum:"1000" doc:"Messages per second this number may send; default 80."`
	Meta          *MetaSettings         `json:"meta,omitempty"`
	Twilio        *TwilioSettings       `json:"twilio,omitempty"`
	ACS           *ACSSettings          `json:"acs,omitempty"`
	Sandbox       *parley.SandboxConfig `json:"sandbox,omitempty"`
}

// MetaSettingsPatch changes some of a Meta channel's settings.
type MetaSettingsPatch struct {
	AccessToken string `json:"access_token,omitempty"`
	AppSecret   string `json:"app_secret,omitempty"`
	VerifyToken string `json:"verify_token,omitempty"`
	GraphURL    string `json:"graph_url,omitempty"`
	APIVersion  string `json:"api_version,omitempty"`
}

// ChannelPatch changes a channel; absent fields keep their values.
type ChannelPatch struct {
	Name          string             `json:"name,omitempty"`
	RatePerSecond float64            `json:"rate_per_second,omitempty" minimum:"0" maximum:"1000"`
	Meta          *MetaSettingsPatch `json:"meta,omitempty"`
	Twilio        *TwilioSettings    `json:"twilio,omitempty" doc:"Fields given replace the stored ones; the account SID cannot change."`
	ACS           *ACSSettings       `json:"acs,omitempty" doc:"Fields given replace the stored ones; the channel registration ID cannot change."`
}

// MigrateRequest moves a number to another provider.
type MigrateRequest struct {
	Provider   string          `json:"provider" enum:"meta,twilio,acs" doc:"The provider the number moves to."`
	Meta       *MetaSettings   `json:"meta,omitempty"`
	Twilio     *TwilioSettings `json:"twilio,omitempty"`
	ACS        *ACSSettings    `json:"acs,omitempty"`
	DryRun     bool            `json:"dry_run,omitempty" doc:"Check the settings with the provider and report what would move, changing nothing."`
	SkipVerify bool            `json:"skip_verify,omitempty" doc:"Do not ask the new provider whether the credentials work."`
}

// MigrationView reports a move; Channel is the channel after it.
type MigrationView struct {
	*messaging.Migration
	Channel *ChannelView `json:"channel,omitempty"`
}

func (m *MetaSettings) config() *parley.MetaConfig {
	if m == nil {
		return nil
	}
	return &parley.MetaConfig{PhoneNumberID: m.PhoneNumberID, WABAID: m.WABAID, AccessToken: m.AccessToken, AppSecret: m.AppSecret,
		VerifyToken: m.VerifyToken, GraphURL: m.GraphURL, APIVersion: m.APIVersion}
}

type channelOutput struct {
	Body *ChannelView
}

type channelsOutput struct {
	Body struct {
		Data []*ChannelView `json:"data"`
	}
}

type channelIDInput struct {
	ID string `path:"id"`
}

// SyncOutput reports a template sync.
type SyncOutput struct {
	Body messaging.SyncResult
}

func (s *Server) registerChannels() {
	register(s, huma.Operation{OperationID: "CreateChannel", Method: http.MethodPost, Path: "/v1/channels", Tags: []string{"Channels"},
		Summary: "Connect a number", Description: "Connects a WhatsApp number. Secrets are encrypted at rest and never returned. " +
			"The channel's templates are synced in the background.", DefaultStatus: http.StatusCreated},
		func(ctx context.Context, a *Auth, in *struct{ Body ChannelInput }) (*channelOutput, error) {
			b := in.Body
			ci := messaging.ChannelInput{Provider: b.Provider, PhoneNumber: b.PhoneNumber, Name: b.Name, RatePerSecond: b.RatePerSecond,
				Meta: b.Meta.config(), Twilio: b.Twilio.config(), ACS: b.ACS.config(), Sandbox: b.Sandbox, By: a.Actor()}
			ch, err := s.Messaging.ConnectChannel(ctx, a.Tenant.ID, ci)
			if err != nil {
				return nil, err
			}
			return &channelOutput{Body: s.channelView(ch, true)}, nil
		})

	register(s, huma.Operation{OperationID: "ListChannels", Method: http.MethodGet, Path: "/v1/channels", Tags: []string{"Channels"},
		Summary: "List numbers", Description: "Lists the tenant's connected numbers with their health."},
		func(ctx context.Context, a *Auth, _ *struct{}) (*channelsOutput, error) {
			chs, err := s.DB.ListChannels(ctx, a.Tenant.ID)
			if err != nil {
				return nil, err
			}
			out := &channelsOutput{}
			out.Body.Data = make([]*ChannelView, 0, len(chs))
			for _, ch := range chs {
				out.Body.Data = append(out.Body.Data, s.channelView(ch, false))
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "GetChannel", Method: http.MethodGet, Path: "/v1/channels/{id}", Tags: []string{"Channels"},
		Summary: "Get a number", Description: "Returns one connected number with its health."},
		func(ctx context.Context, a *Auth, in *channelIDInput) (*channelOutput, error) {
			ch, err := s.DB.FindChannel(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			return &channelOutput{Body: s.channelView(ch, false)}, nil
		})

	register(s, huma.Operation{OperationID: "UpdateChannel", Method: http.MethodPatch, Path: "/v1/channels/{id}", Tags: []string{"Channels"},
		Summary: "Update a number", Description: "Changes a number's name, pace or provider settings, such as a rotated access token. " +
			"Saving settings marks the channel healthy again."},
		func(ctx context.Context, a *Auth, in *struct {
			ID   string `path:"id"`
			Body ChannelPatch
		}) (*channelOutput, error) {
			ci := messaging.ChannelInput{Name: in.Body.Name, RatePerSecond: in.Body.RatePerSecond, By: a.Actor(),
				Twilio: in.Body.Twilio.config(), ACS: in.Body.ACS.config()}
			if m := in.Body.Meta; m != nil {
				ci.Meta = &parley.MetaConfig{AccessToken: m.AccessToken, AppSecret: m.AppSecret, VerifyToken: m.VerifyToken,
					GraphURL: m.GraphURL, APIVersion: m.APIVersion}
			}
			ch, err := s.Messaging.UpdateChannel(ctx, a.Tenant.ID, in.ID, ci)
			if err != nil {
				return nil, err
			}
			return &channelOutput{Body: s.channelView(ch, ci.ACS != nil && ci.ACS.WebhookKey != "")}, nil
		})

	register(s, huma.Operation{OperationID: "MigrateChannel", Method: http.MethodPost, Path: "/v1/channels/{id}/migrate", Tags: []string{"Channels"},
		Summary: "Move a number to another provider", Description: "Moves a number to another provider (say Twilio to Meta's Cloud API), " +
			"keeping its contacts, conversations, consent and history. The new credentials are checked first; templates are fetched again " +
			"from the new provider. With dry_run nothing changes and the answer says what would move. " +
			"It is refused while a send waits for the old provider's answer."},
		func(ctx context.Context, a *Auth, in *struct {
			ID   string `path:"id"`
			Body MigrateRequest
		}) (*struct{ Body MigrationView }, error) {
			b := in.Body
			mi := messaging.MigrateInput{DryRun: b.DryRun, SkipVerify: b.SkipVerify, ChannelInput: messaging.ChannelInput{Provider: b.Provider,
				Meta: b.Meta.config(), Twilio: b.Twilio.config(), ACS: b.ACS.config(), By: a.Actor()}}
			vctx, cancel := context.WithTimeout(ctx, providerTimeout)
			defer cancel()
			mig, err := s.Messaging.MigrateChannel(vctx, a.Tenant.ID, in.ID, mi)
			if err != nil {
				return nil, err
			}
			out := &struct{ Body MigrationView }{Body: MigrationView{Migration: mig}}
			if !mig.DryRun {
				ch, err := s.DB.FindChannel(ctx, a.Tenant.ID, in.ID)
				if err != nil {
					return nil, err
				}
				out.Body.Channel = s.channelView(ch, true)
			}
			return out, nil
		})

	register(s, huma.Operation{OperationID: "SyncTemplates", Method: http.MethodPost, Path: "/v1/channels/{id}/templates/sync",
		Tags: []string{"Templates"}, Summary: "Sync a number's templates", Description: "Fetches the number's templates from its provider now and reports what changed."},
		func(ctx context.Context, a *Auth, in *channelIDInput) (*SyncOutput, error) {
			ctx, cancel := context.WithTimeout(ctx, providerTimeout)
			defer cancel()
			res, err := s.Messaging.SyncTemplates(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, providerError(err)
			}
			return &SyncOutput{Body: res}, nil
		})
}
