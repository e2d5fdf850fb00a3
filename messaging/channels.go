package messaging

import (
	"context"
	"encoding/base64"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/phone"
)

// ChannelInput is a number to connect, or new settings for one.
type ChannelInput struct {
	Provider      string
	PhoneNumber   string
	Name          string
	RatePerSecond float64
	Meta          *parley.MetaConfig
	Twilio        *parley.TwilioConfig
	ACS           *parley.ACSConfig
	Sandbox       *parley.SandboxConfig
	By            parley.Actor
}

var (
	digitsOnly = regexp.MustCompile(`^[0-9]+$`)
	apiVersion = regexp.MustCompile(`^v[0-9]+\.[0-9]+$`)
)

// ConnectChannel validates a number's settings, stores the channel with its
// secrets encrypted, and queues a first template sync.
func (s *Service) ConnectChannel(ctx context.Context, tenantID string, in ChannelInput) (*parley.Channel, error) {
	ch := &parley.Channel{ID: parley.NewID(parley.PrefixChannel), TenantID: tenantID, Provider: in.Provider}
	if err := s.configure(ch, in); err != nil {
		return nil, err
	}
	if err := s.DB.CreateChannel(ctx, ch); err != nil {
		return nil, err
	}
	if err := s.EnqueueTemplateSync(ctx, tenantID, ch.ID); err != nil {
		return nil, err
	}
	return ch, nil
}

// UpdateChannel replaces a channel's settings. Fields left empty in the
// input keep their values, so a token can be rotated alone.
func (s *Service) UpdateChannel(ctx context.Context, tenantID, id string, in ChannelInput) (*parley.Channel, error) {
	ch, err := s.DB.FindChannel(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if in.Provider != "" && in.Provider != ch.Provider {
		return nil, parley.Errorf(parley.EINVALID, "A channel's provider cannot be changed here.")
	}
	in.Provider = ch.Provider
	if in.PhoneNumber == "" {
		in.PhoneNumber = ch.PhoneNumber
	}
	if in.Name == "" {
		in.Name = ch.Name
	}
	if in.RatePerSecond == 0 {
		in.RatePerSecond = ch.RatePerSecond
	}
	if ch.Meta != nil {
		in.Meta = mergeMeta(*ch.Meta, in.Meta)
	}
	if ch.Twilio != nil {
		in.Twilio = mergeSettings(ch.Twilio, in.Twilio)
	}
	if ch.ACS != nil {
		in.ACS = mergeSettings(ch.ACS, in.ACS)
	}
	if in.Sandbox == nil {
		in.Sandbox = ch.Sandbox
	}
	account, wasUnhealthy := ch.AccountID, !ch.Healthy()
	if err := s.configure(ch, in); err != nil {
		return nil, err
	}
	if ch.AccountID != account {
		return nil, parley.Errorf(parley.EINVALID, "The provider's account ID of a channel cannot change; connect a new channel instead.")
	}
	if err := s.DB.UpdateChannel(ctx, ch); err != nil {
		return nil, err
	}
	if wasUnhealthy {
		// Saving marked the channel healthy.
		s.resumeSends(ctx, ch)
	}
	return ch, s.EnqueueTemplateSync(ctx, tenantID, ch.ID)
}

// resumeSends lets a channel's waiting sends go now that it is healthy
// again: while it was not they snoozed a minute at a time, and an admin
// who has just fixed the token expects them to go at once. It is best
// effort: if it fails, they go when their snooze ends.
func (s *Service) resumeSends(ctx context.Context, ch *parley.Channel) {
	ids, err := s.DB.WaitingSends(ctx, ch.TenantID, ch.ID)
	if err == nil {
		keys := make([]string, len(ids))
		for i, id := range ids {
			keys[i] = "send:" + id // the send job's unique key, as Send inserts it
		}
		err = s.Jobs.RunNow(ctx, s.DB.Writer(), keys...)
	}
	if err != nil {
		s.Log.Error("could not resume a channel's waiting sends; they will go when their snooze ends", "channel_id", ch.ID, "error", err)
	}
}

func mergeMeta(old parley.MetaConfig, in *parley.MetaConfig) *parley.MetaConfig {
	if in == nil {
		return &old
	}
	pick := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}
	return &parley.MetaConfig{
		PhoneNumberID: pick(in.PhoneNumberID, old.PhoneNumberID), WABAID: pick(in.WABAID, old.WABAID),
		AccessToken: pick(in.AccessToken, old.AccessToken), AppSecret: pick(in.AppSecret, old.AppSecret),
		VerifyToken: pick(in.VerifyToken, old.VerifyToken), GraphURL: pick(in.GraphURL, old.GraphURL),
		APIVersion: pick(in.APIVersion, old.APIVersion),
	}
}

// mergeSettings returns old with the non-empty string fields of patch
// written over it, so a PATCH can rotate one secret alone.
func mergeSettings[T any](old, patch *T) *T {
	merged := *old
	if patch == nil {
		return &merged
	}
	dst, src := reflect.ValueOf(&merged).Elem(), reflect.ValueOf(patch).Elem()
	for i := range dst.NumField() {
		if f := src.Field(i); f.Kind() == reflect.String && f.String() != "" {
			dst.Field(i).SetString(f.String())
		}
	}
	return &merged
}

// configure validates the input and applies it to ch.
func (s *Service) configure(ch *parley.Channel, in ChannelInput) error {
	e164, err := phone.E164(in.PhoneNumber)
	if err != nil {
		return parley.Errorf(parley.EINVALID, "phone_number %q is not a valid number; use the E.164 form, such as +5511987654321.", in.PhoneNumber)
	}
	if in.RatePerSecond < 0 || in.RatePerSecond > 1000 {
		return parley.Errorf(parley.EINVALID, "rate_per_second is between 1 and 1000 (WhatsApp's highest tier).")
	}
	ch.PhoneNumber, ch.Name, ch.RatePerSecond = e164, strings.TrimSpace(in.Name), in.RatePerSecond
	switch in.Provider {
	case parley.ProviderMeta:
		return configureMeta(ch, in.Meta)
	case parley.ProviderTwilio:
		return configureTwilio(ch, in.Twilio)
	case parley.ProviderACS:
		return configureACS(ch, in.ACS)
	case parley.ProviderSandbox:
		cfg := in.Sandbox
		if cfg == nil {
			cfg = &parley.SandboxConfig{}
		}
		if cfg.Customers < 0 || cfg.Customers > 1000 {
			return parley.Errorf(parley.EINVALID, "sandbox.customers is between 0 and 1000.")
		}
		clearSettings(ch)
		ch.Sandbox, ch.AccountID = cfg, ch.ID
		return nil
	case "":
		return parley.Errorf(parley.EINVALID, "Say which provider connects the number: meta, twilio, acs or sandbox.")
	}
	return parley.Errorf(parley.EINVALID, "Provider %q is not supported; use meta, twilio, acs or sandbox.", in.Provider)
}

// One setting per provider, so only one is set: a channel that moves
// between providers must not keep the old one's secrets.
func clearSettings(ch *parley.Channel) {
	ch.Meta, ch.Twilio, ch.ACS, ch.Sandbox = nil, nil, nil, nil
}

var (
	twilioSID = regexp.MustCompile(`^(AC|MG)[0-9a-fA-F]{32}$`)
	acsUUID   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func configureTwilio(ch *parley.Channel, cfg *parley.TwilioConfig) error {
	if cfg == nil {
		return parley.Errorf(parley.EINVALID, "A Twilio channel needs a twilio object with account_sid and auth_token.")
	}
	c := *cfg
	if !twilioSID.MatchString(c.AccountSID) || !strings.HasPrefix(c.AccountSID, "AC") {
		return parley.Errorf(parley.EINVALID, "twilio.account_sid is the 34-character Account SID starting with AC, shown in Twilio's console.")
	}
	if strings.TrimSpace(c.AuthToken) == "" {
		return parley.Errorf(parley.EINVALID, "twilio.auth_token is required; it also signs Twilio's webhooks.")
	}
	if c.MessagingServiceSID != "" && (!twilioSID.MatchString(c.MessagingServiceSID) || !strings.HasPrefix(c.MessagingServiceSID, "MG")) {
		return parley.Errorf(parley.EINVALID, "twilio.messaging_service_sid is the 34-character SID starting with MG.")
	}
	var err error
	if c.APIURL, err = baseURL("twilio.api_url", c.APIURL); err != nil {
		return err
	}
	if c.ContentURL, err = baseURL("twilio.content_url", c.ContentURL); err != nil {
		return err
	}
	clearSettings(ch)
	// A Twilio account may hold many numbers, and Twilio's sandbox number
	// is shared by every account: the pair is what is unique.
	ch.Twilio, ch.AccountID, ch.BusinessAccountID = &c, c.AccountSID+"/"+ch.PhoneNumber, c.AccountSID
	return nil
}

func configureACS(ch *parley.Channel, cfg *parley.ACSConfig) error {
	if cfg == nil {
		return parley.Errorf(parley.EINVALID, "An ACS channel needs an acs object with endpoint, channel_registration_id and access_key (or an Entra tenant_id, client_id and client_secret).")
	}
	c := *cfg
	var err error
	if c.Endpoint == "" {
		return parley.Errorf(parley.EINVALID, "acs.endpoint is the resource's address, such as https://contoso.communication.azure.com.")
	}
	if c.Endpoint, err = baseURL("acs.endpoint", c.Endpoint); err != nil {
		return err
	}
	if !acsUUID.MatchString(c.ChannelRegistrationID) {
		return parley.Errorf(parley.EINVALID, "acs.channel_registration_id is the channel's ID (a GUID) from the resource's Channels page.")
	}
	entra := c.TenantID != "" || c.ClientID != "" || c.ClientSecret != ""
	switch {
	case c.AccessKey != "" && entra:
		return parley.Errorf(parley.EINVALID, "Give acs.access_key or an Entra client (tenant_id, client_id, client_secret), not both.")
	case c.AccessKey != "":
		if _, err := base64.StdEncoding.DecodeString(c.AccessKey); err != nil {
			return parley.Errorf(parley.EINVALID, "acs.access_key is the base64 key from the resource's Keys page.")
		}
	case c.TenantID == "" || c.ClientID == "" || c.ClientSecret == "":
		return parley.Errorf(parley.EINVALID, "acs needs access_key, or all of tenant_id, client_id and client_secret.")
	}
	if c.AuthorityURL, err = baseURL("acs.authority_url", c.AuthorityURL); err != nil {
		return err
	}
	if c.EventIssuer, err = baseURL("acs.event_issuer", c.EventIssuer); err != nil {
		return err
	}
	if c.EventAudience != "" && c.EventIssuer == "" && c.TenantID == "" {
		return parley.Errorf(parley.EINVALID, "Entra-authenticated delivery needs acs.event_issuer, or acs.tenant_id to build it from.")
	}
	if c.EventIssuer != "" && c.EventAudience == "" {
		return parley.Errorf(parley.EINVALID, "acs.event_issuer needs acs.event_audience, the audience Event Grid's tokens are for.")
	}
	if c.WebhookKey == "" {
		c.WebhookKey = parley.NewSecret()
	} else if len(c.WebhookKey) < 16 {
		return parley.Errorf(parley.EINVALID, "acs.webhook_key must have at least 16 characters; leave it out and Parley makes one.")
	}
	clearSettings(ch)
	ch.ACS, ch.AccountID, ch.BusinessAccountID = &c, c.ChannelRegistrationID, c.ChannelRegistrationID
	return nil
}

// baseURL checks an optional http(s) base address and drops its trailing
// slash, so paths can be appended.
func baseURL(field, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", parley.Errorf(parley.EINVALID, "%s %q is not an http(s) URL.", field, v)
	}
	return strings.TrimRight(v, "/"), nil
}

func configureMeta(ch *parley.Channel, cfg *parley.MetaConfig) error {
	if cfg == nil {
		return parley.Errorf(parley.EINVALID, "A Meta channel needs a meta object with phone_number_id, waba_id, access_token, app_secret and verify_token.")
	}
	c := *cfg
	for _, f := range []struct{ name, v string }{{"phone_number_id", c.PhoneNumberID}, {"waba_id", c.WABAID}} {
		if !digitsOnly.MatchString(f.v) {
			return parley.Errorf(parley.EINVALID, "meta.%s is the numeric ID shown in Meta's WhatsApp Manager.", f.name)
		}
	}
	for _, f := range []struct{ name, v string }{{"access_token", c.AccessToken}, {"app_secret", c.AppSecret}, {"verify_token", c.VerifyToken}} {
		if strings.TrimSpace(f.v) == "" {
			return parley.Errorf(parley.EINVALID, "meta.%s is required.", f.name)
		}
	}
	if len(c.VerifyToken) < 8 {
		return parley.Errorf(parley.EINVALID, "meta.verify_token must have at least 8 characters; choose a random one.")
	}
	var err error
	if c.GraphURL, err = baseURL("meta.graph_url", c.GraphURL); err != nil {
		return err
	}
	if c.APIVersion != "" && !apiVersion.MatchString(c.APIVersion) {
		return parley.Errorf(parley.EINVALID, "meta.api_version looks like \"v23.0\".")
	}
	clearSettings(ch)
	ch.Meta, ch.AccountID, ch.BusinessAccountID = &c, c.PhoneNumberID, c.WABAID
	return nil
}

// Periodic work, queued by every replica under unique keys so that it runs
// once however many replicas there are.
const (
	templateSyncEvery = 6 * time.Hour
	healthCheckEvery  = 5 * time.Minute
	eventRetention    = 24 * time.Hour
)

// RunPeriodic queues template syncs and health checks, and prunes old
// realtime events, until ctx ends.
func (s *Service) RunPeriodic(ctx context.Context) {
	tick := time.NewTicker(healthCheckEvery)
	defer tick.Stop()
	lastSync := s.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		syncAll := s.Now().Sub(lastSync) >= templateSyncEvery
		if syncAll {
			lastSync = s.Now()
		}
		if err := s.periodic(ctx, syncAll); err != nil && ctx.Err() == nil {
			s.Log.Error("periodic maintenance failed", "error", err)
		}
	}
}

func (s *Service) periodic(ctx context.Context, syncAll bool) error {
	for _, provider := range []string{parley.ProviderMeta, parley.ProviderTwilio, parley.ProviderACS, parley.ProviderSandbox} {
		chs, err := s.DB.ChannelsByProvider(ctx, provider)
		if err != nil {
			return err
		}
		for _, ch := range chs {
			if !ch.Healthy() {
				if err := s.Jobs.Insert(ctx, s.DB.Writer(), jobs.InsertParams{Kind: JobChannelCheck, TenantID: ch.TenantID,
					Args: channelArgs{TenantID: ch.TenantID, ChannelID: ch.ID}, UniqueKey: "check:" + ch.ID}); err != nil {
					return err
				}
			}
			if syncAll {
				if err := s.EnqueueTemplateSync(ctx, ch.TenantID, ch.ID); err != nil {
					return err
				}
			}
		}
	}
	_, err := s.DB.PruneEvents(ctx, s.Now().Add(-eventRetention))
	return err
}
