package messaging

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/ratelimit"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
)

// defaultRate is Meta's default per-number throughput.
const defaultRate = 80

// workSend carries out one send job. It is written so that running it again
// at any point is safe: a message that already went out is left alone, and
// one whose previous attempt may have gone out waits for the status webhook
// that would say so before it is sent again.
func (s *Service) workSend(ctx context.Context, job *jobs.Job) error {
	var args sendArgs
	if err := job.DecodeArgs(&args); err != nil {
		return jobs.Cancel(err)
	}
	m, err := s.DB.FindMessage(ctx, args.TenantID, args.MessageID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return jobs.Cancel(err)
	} else if err != nil {
		return err
	}
	if m.Status != parley.StatusQueued && m.Status != parley.StatusSending {
		return nil // sent, reconciled from a webhook, or failed meanwhile
	}
	ch, err := s.DB.FindChannel(ctx, m.TenantID, m.ChannelID)
	if err != nil {
		return err
	}
	if !ch.Healthy() {
		// Sends wait for the channel to be fixed; they do not fail.
		return jobs.Snooze(jitter(time.Minute))
	}
	if m.Status == parley.StatusSending {
		// The previous attempt may have reached the provider: a worker died
		// mid-send, or the request timed out. A status webhook carrying
		// our message ID would have moved it on; give it time to arrive.
		if wait := m.UpdatedAt.Add(s.ReconcileWait).Sub(s.Now()); wait > 0 {
			return jobs.Snooze(wait)
		}
		s.Log.Warn("no status arrived for an interrupted send; sending again", "message_id", m.ID, "channel_id", ch.ID)
	}
	if d, err := s.pace(ctx, job, ch, m); err != nil || d > 0 {
		if err != nil {
			return err
		}
		return jobs.Snooze(d)
	}
	out, err := s.outbound(ctx, m)
	if err != nil {
		return s.failSend(ctx, m, &parley.MessageError{Code: "invalid", Reason: "rejected", Message: parley.ErrorMessage(err)})
	}
	p, err := s.provider(ch.Provider)
	if err != nil {
		return err
	}
	if err := s.setSendState(ctx, m, store.SendState{Status: parley.StatusSending}); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, s.SendTimeout)
	res, err := p.Send(sctx, ch, out)
	cancel()
	if err == nil {
		return s.setSendState(ctx, m, store.SendState{Status: parley.StatusSent, ProviderMessageID: res.ProviderMessageID})
	}
	return s.sendFailed(ctx, job, ch, m, err)
}

// pace applies, in order, the rules that decide when a message may go: the
// conversation's earlier messages first, then the pair rate to this
// recipient, then a slot in the number's throughput. It returns how long
// to wait (zero: send now).
func (s *Service) pace(ctx context.Context, job *jobs.Job, ch *parley.Channel, m *parley.Message) (time.Duration, error) {
	pending, err := s.DB.PendingBefore(ctx, m)
	if err != nil {
		return 0, err
	}
	if pending {
		return jitter(200 * time.Millisecond), nil
	}
	if s.Limiter == nil {
		return 0, nil
	}
	if job.Snoozes > 0 {
		// A slot reserved on an earlier run, by any replica, is honoured,
		// not re-reserved: otherwise a backlog would keep pushing itself
		// back.
		slot, err := s.DB.SendSlot(ctx, m.ID)
		if err != nil {
			return 0, err
		}
		if !slot.IsZero() {
			return max(slot.Sub(s.Now()), 0), nil
		}
	}
	ok, retry, err := s.Limiter.Allow(ctx, "pair:"+ch.ID+":"+m.ContactID, s.PairRate)
	if err != nil {
		return 0, err
	}
	if !ok {
		return retry, nil
	}
	perSecond := ch.RatePerSecond
	if perSecond <= 0 {
		perSecond = defaultRate
	}
	delay, err := s.Limiter.Reserve(ctx, "number:"+ch.ID, rateOf(perSecond))
	if err != nil {
		return 0, err
	}
	if delay > 0 {
		if err := s.DB.SetSendSlot(ctx, m.ID, s.Now().Add(delay)); err != nil {
			return 0, err
		}
	}
	return delay, nil
}

// outbound assembles what the provider needs for a message.
func (s *Service) outbound(ctx context.Context, m *parley.Message) (*whatsapp.Outbound, error) {
	c, err := s.DB.FindContact(ctx, m.TenantID, m.ContactID)
	if err != nil {
		return nil, err
	}
	out := &whatsapp.Outbound{Message: m, To: whatsapp.Contact{WAID: c.WAID, BSUID: c.BSUID, ProfileName: c.ProfileName}, ToPhone: c.Phone}
	if m.Context != nil && m.Context.ReplyTo != "" {
		q, err := s.DB.FindMessage(ctx, m.TenantID, m.Context.ReplyTo)
		if err != nil {
			return nil, err
		}
		out.ReplyTo = q.ProviderMessageID
	}
	if m.Reaction != nil {
		out.ReactTo = m.Reaction.ProviderMessageID
	}
	if m.Template != nil {
		if out.Template, err = s.DB.FindTemplate(ctx, m.TenantID, m.ChannelID, m.Template.Name, m.Template.Language); err != nil {
			return nil, err
		}
		if h := m.Template.Header; h != nil && h.MediaID != "" {
			if out.Media, err = s.mediaSource(ctx, m.TenantID, h.MediaID); err != nil {
				return nil, err
			}
		}
	}
	if m.Media != nil && m.Media.ID != "" {
		if out.Media, err = s.mediaSource(ctx, m.TenantID, m.Media.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sendFailed decides what a provider's refusal means for the message.
func (s *Service) sendFailed(ctx context.Context, job *jobs.Job, ch *parley.Channel, m *parley.Message, err error) error {
	werr, ok := whatsapp.AsError(err)
	if !ok {
		werr = &whatsapp.Error{Kind: whatsapp.Temporary, Err: err}
	}
	log := s.Log.With("message_id", m.ID, "channel_id", ch.ID, "kind", werr.Kind.String(), "code", werr.Code)
	switch werr.Kind {
	case whatsapp.OutsideWindow, whatsapp.Rejected:
		log.Info("send refused by the provider")
		return s.failSend(ctx, m, werr.MessageError())
	case whatsapp.RateLimited:
		log.Info("send rate limited by the provider; snoozing")
		if err := s.setSendState(ctx, m, store.SendState{Status: parley.StatusQueued, Error: werr.MessageError()}); err != nil {
			return err
		}
		d := werr.RetryAfter
		if d <= 0 {
			d = time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(job.Snoozes)), float64(5*time.Minute)))
		}
		return jobs.Snooze(jitter(d))
	case whatsapp.Unauthorized:
		log.Warn("the provider rejected the channel's credentials; marking it unhealthy")
		reason := fmt.Sprintf("%s rejected the credentials (code %s): %s", ch.Provider, werr.Code, werr.Message)
		if err := s.DB.SetChannelHealth(ctx, ch.TenantID, ch.ID, parley.ChannelHealth{Status: parley.HealthUnhealthy, Reason: reason}); err != nil {
			return err
		}
		if err := s.setSendState(ctx, m, store.SendState{Status: parley.StatusQueued, Error: werr.MessageError()}); err != nil {
			return err
		}
		return jobs.Snooze(jitter(time.Minute))
	case whatsapp.Ambiguous:
		log.Warn("send outcome unknown; waiting for a status webhook before sending again")
		return jobs.Snooze(s.ReconcileWait)
	}
	log.Info("send failed; will retry", "error", err)
	if err := s.setSendState(ctx, m, store.SendState{Status: parley.StatusQueued, Error: werr.MessageError()}); err != nil {
		return err
	}
	return werr
}

// sendDiscarded fails a message whose send job gave up, with the last
// error, in the transaction that discards the job: so nobody believes it
// went out, and no message stays queued with no job behind it.
func (s *Service) sendDiscarded(ctx context.Context, tx *store.Tx, job *jobs.Job, cause error) error {
	var args sendArgs
	if job.DecodeArgs(&args) != nil {
		return nil
	}
	m, err := tx.FindMessage(ctx, args.TenantID, args.MessageID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if m.Status != parley.StatusQueued && m.Status != parley.StatusSending {
		return nil
	}
	me := &parley.MessageError{Code: "max_attempts", Reason: "max_attempts", Message: fmt.Sprintf("Gave up after %d attempts.", job.Attempt)}
	if m.Error != nil {
		me.Code, me.Title, me.Details = m.Error.Code, m.Error.Title, m.Error.Details
		me.Message = fmt.Sprintf("Gave up after %d attempts; the last error was: %s", job.Attempt, m.Error.Message)
	} else if cause != nil && !errors.Is(cause, jobs.ErrLeaseExpired) {
		me.Message += " " + cause.Error()
	}
	return s.setSendStateTx(ctx, tx, m, store.SendState{Status: parley.StatusFailed, Error: me})
}

// failSend fails a message for good and ends its job.
func (s *Service) failSend(ctx context.Context, m *parley.Message, me *parley.MessageError) error {
	if err := s.setSendState(ctx, m, store.SendState{Status: parley.StatusFailed, Error: me}); err != nil {
		return err
	}
	return jobs.Cancel(fmt.Errorf("message %s failed: %s %s", m.ID, me.Code, me.Message))
}

// setSendState records a send worker's transition and tells the tenant's
// clients.
func (s *Service) setSendState(ctx context.Context, m *parley.Message, st store.SendState) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return s.setSendStateTx(ctx, tx, m, st) })
}

func (s *Service) setSendStateTx(ctx context.Context, tx *store.Tx, m *parley.Message, st store.SendState) error {
	before := m.Status
	if err := tx.SetSendState(ctx, m, st); err != nil {
		return err
	}
	if before == m.Status && st.Status != before {
		return nil // a webhook got there first
	}
	if st.ProviderMessageID != "" {
		if err := s.applyOrphans(ctx, tx, m); err != nil {
			return err
		}
	}
	return tx.AddEvent(ctx, m.TenantID, parley.EventMessageUpdated, m)
}

// rateOf is a channel's pace as a limiter rate. The burst is a tenth of a
// second's worth, so no one-second window holds much more than the rate.
func rateOf(perSecond float64) ratelimit.Rate {
	if perSecond < 1 {
		return ratelimit.Rate{Events: 1, Per: time.Duration(float64(time.Second) / perSecond), Burst: 1}
	}
	n := int(math.Round(perSecond))
	return ratelimit.Rate{Events: n, Per: time.Second, Burst: max(1, n/10)}
}
