package messaging

import (
	"context"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// Migration reports a move of a channel to another provider, done or,
// for a dry run, planned.
type Migration struct {
	ChannelID   string             `json:"channel_id"`
	PhoneNumber string             `json:"phone_number"`
	From        string             `json:"from"`
	To          string             `json:"to"`
	DryRun      bool               `json:"dry_run"`
	Verified    bool               `json:"verified" doc:"The new provider accepted the credentials."`
	Kept        store.ChannelUsage `json:"kept"`
}

// MigrateInput is the provider a channel moves to.
type MigrateInput struct {
	ChannelInput
	// DryRun checks the new settings and counts what moves, changing
	// nothing.
	DryRun bool
	// SkipVerify saves without asking the new provider whether the
	// credentials work (for a provider that cannot be reached yet).
	SkipVerify bool
}

// MigrateChannel moves a channel to another provider for the same number
// (say Twilio to Meta's Cloud API). The channel keeps its ID, so its
// contacts, conversations, consent, 24-hour windows and history stay as
// they are: WhatsApp's window and opt-outs belong to the number and the
// customer, not to whoever relays the messages. Templates are fetched
// again from the new provider, since the old one's IDs mean nothing to
// it; queued sends go out through the new provider. The credentials are
// checked before anything changes.
func (s *Service) MigrateChannel(ctx context.Context, tenantID, id string, in MigrateInput) (*Migration, error) {
	ch, err := s.DB.FindChannel(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if in.Provider == "" {
		return nil, parley.Errorf(parley.EINVALID, "Say which provider the number moves to: meta, twilio or acs.")
	}
	if in.Provider == ch.Provider {
		return nil, parley.Errorf(parley.EINVALID, "The channel is already on %s; change its settings with PATCH /v1/channels/%s instead.", ch.Provider, ch.ID)
	}
	if in.Provider == parley.ProviderSandbox || ch.Provider == parley.ProviderSandbox {
		return nil, parley.Errorf(parley.EINVALID, "Sandbox numbers are simulated; they cannot move to or from a real provider.")
	}
	if in.PhoneNumber == "" {
		in.PhoneNumber = ch.PhoneNumber
	}
	in.Name, in.RatePerSecond = ch.Name, ch.RatePerSecond
	next := *ch
	if err := s.configure(&next, in.ChannelInput); err != nil {
		return nil, err
	}
	if next.PhoneNumber != ch.PhoneNumber {
		return nil, parley.Errorf(parley.EINVALID, "A move keeps the number (%s); to use %s, connect a new channel.", ch.PhoneNumber, next.PhoneNumber)
	}
	next.Provider = in.Provider
	mig := &Migration{ChannelID: ch.ID, PhoneNumber: ch.PhoneNumber, From: ch.Provider, To: next.Provider, DryRun: in.DryRun}
	if !in.SkipVerify {
		p, err := s.provider(next.Provider)
		if err != nil {
			return nil, err
		}
		if err := p.Check(ctx, &next); err != nil {
			return nil, parley.Errorf(parley.EINVALID, "%s refused the new settings, so nothing was changed: %s", next.Provider, parley.ErrorMessage(err))
		}
		mig.Verified = true
	}
	if mig.Kept, err = s.DB.ChannelUsage(ctx, tenantID, ch.ID); err != nil {
		return nil, err
	}
	if in.DryRun {
		return mig, nil
	}
	if err := s.DB.MoveChannel(ctx, &next, ch.Provider, in.By); err != nil {
		return nil, err
	}
	s.Log.Info("channel moved to another provider", "channel_id", ch.ID, "from", mig.From, "to", mig.To)
	if !ch.Healthy() {
		s.resumeSends(ctx, &next)
	}
	return mig, s.EnqueueTemplateSync(ctx, tenantID, ch.ID)
}
