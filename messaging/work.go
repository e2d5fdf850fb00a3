package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
)

// Register installs the core's job handlers on the queue.
func (s *Service) Register() {
	s.Jobs.Handle(JobSend, s.workSend, jobs.HandlerOptions{Timeout: s.SendTimeout + 30*time.Second, OnDiscard: s.sendDiscarded})
	s.Jobs.Handle(JobMediaDownload, s.workMedia, jobs.HandlerOptions{Timeout: 10 * time.Minute, OnDiscard: s.mediaDiscarded})
	s.Jobs.Handle(JobTemplateSync, s.workTemplates, jobs.HandlerOptions{Timeout: 5 * time.Minute})
	s.Jobs.Handle(JobChannelCheck, s.workCheck, jobs.HandlerOptions{Timeout: time.Minute})
	s.Jobs.Handle(JobMarkRead, s.workMarkRead, jobs.HandlerOptions{Timeout: time.Minute})
}

// workMedia downloads an inbound file as soon as it arrives: provider
// download links expire within minutes, which is how other inboxes lose
// media. Each failure is recorded on the media, where the message shows it.
func (s *Service) workMedia(ctx context.Context, job *jobs.Job) error {
	var args mediaArgs
	if err := job.DecodeArgs(&args); err != nil {
		return jobs.Cancel(err)
	}
	r, err := s.DB.FindMedia(ctx, args.TenantID, args.MediaID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return jobs.Cancel(err)
	} else if err != nil {
		return err
	}
	if r.Status == parley.MediaReady {
		return nil
	}
	ch, err := s.DB.FindChannel(ctx, r.TenantID, r.ChannelID)
	if err != nil {
		return err
	}
	p, err := s.provider(ch.Provider)
	if err != nil {
		return err
	}
	r.Attempts = job.Attempt
	if r.ProviderMediaID == "" && r.Link == "" {
		// Nothing to fetch, now or ever: say so at once instead of retrying.
		r.Status, r.Error = parley.MediaFailed, "The provider's webhook named no media ID or link to download."
		if err := s.finishMedia(ctx, r); err != nil {
			return err
		}
		return jobs.Cancel(errors.New(r.Error))
	}
	body, mime, err := p.FetchMedia(ctx, ch, &parley.Media{ProviderMediaID: r.ProviderMediaID, Link: r.Link, MIMEType: r.MIMEType})
	if err == nil {
		r.SHA256, r.Size, err = s.Blobs.Put(ctx, body, parley.MaxMediaSize)
		body.Close()
	}
	if err != nil {
		r.Status, r.Error = parley.MediaPending, describe(err)
		if errors.Is(err, blob.ErrTooLarge) {
			r.Status = parley.MediaFailed
		}
		if ferr := s.finishMedia(ctx, r); ferr != nil {
			return ferr
		}
		if r.Status == parley.MediaFailed {
			return jobs.Cancel(err)
		}
		return err
	}
	if mime != "" {
		r.MIMEType = mime
	}
	r.Status, r.Error = parley.MediaReady, ""
	return s.finishMedia(ctx, r)
}

func (s *Service) mediaDiscarded(ctx context.Context, tx *store.Tx, job *jobs.Job, cause error) error {
	var args mediaArgs
	if job.DecodeArgs(&args) != nil {
		return nil
	}
	r, err := tx.FindMedia(ctx, args.TenantID, args.MediaID)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil
	} else if err != nil || r.Status != parley.MediaPending {
		return err
	}
	r.Status = parley.MediaFailed
	if r.Error == "" && cause != nil {
		r.Error = cause.Error()
	}
	r.Error = fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, r.Error)
	return s.finishMediaTx(ctx, tx, r)
}

// finishMedia records a download attempt and tells clients, through the
// message it belongs to.
func (s *Service) finishMedia(ctx context.Context, r *store.MediaRecord) error {
	return s.DB.InTx(ctx, func(tx *store.Tx) error { return s.finishMediaTx(ctx, tx, r) })
}

func (s *Service) finishMediaTx(ctx context.Context, tx *store.Tx, r *store.MediaRecord) error {
	if err := tx.FinishMedia(ctx, r); err != nil {
		return err
	}
	if r.MessageID == "" {
		return nil
	}
	m, err := tx.FindMessage(ctx, r.TenantID, r.MessageID)
	if err != nil {
		return err
	}
	return tx.AddEvent(ctx, r.TenantID, parley.EventMessageUpdated, m)
}

// describe is an error as an agent may read it.
func describe(err error) string {
	if werr, ok := whatsapp.AsError(err); ok {
		me := werr.MessageError()
		if me.Code != "" && me.Code != me.Reason {
			return fmt.Sprintf("%s (code %s)", me.Message, me.Code)
		}
		return me.Message
	}
	return err.Error()
}

// workTemplates syncs a channel's templates from its provider.
func (s *Service) workTemplates(ctx context.Context, job *jobs.Job) error {
	var args channelArgs
	if err := job.DecodeArgs(&args); err != nil {
		return jobs.Cancel(err)
	}
	_, err := s.SyncTemplates(ctx, args.TenantID, args.ChannelID)
	if werr, ok := whatsapp.AsError(err); ok && werr.Kind == whatsapp.Unauthorized {
		return jobs.Cancel(err) // the channel is marked unhealthy; an admin must act
	}
	return err
}

// SyncResult says what a template sync changed.
type SyncResult struct {
	Added, Updated, Removed int
	Total                   int
}

// SyncTemplates makes the channel's stored templates match its provider's.
func (s *Service) SyncTemplates(ctx context.Context, tenantID, channelID string) (SyncResult, error) {
	ch, err := s.DB.FindChannel(ctx, tenantID, channelID)
	if err != nil {
		return SyncResult{}, err
	}
	p, err := s.provider(ch.Provider)
	if err != nil {
		return SyncResult{}, err
	}
	list, err := p.Templates(ctx, ch)
	if err != nil {
		s.noteUnauthorized(ctx, ch, err)
		return SyncResult{}, fmt.Errorf("messaging: sync templates of %s: %w", ch.ID, err)
	}
	a, u, r, err := s.DB.ReplaceTemplates(ctx, ch, list)
	if err != nil {
		return SyncResult{}, err
	}
	s.Log.Info("templates synced", "channel_id", ch.ID, "total", len(list), "added", a, "updated", u, "removed", r)
	return SyncResult{Added: a, Updated: u, Removed: r, Total: len(list)}, nil
}

// EnqueueTemplateSync queues a sync of a channel's templates.
func (s *Service) EnqueueTemplateSync(ctx context.Context, tenantID, channelID string) error {
	return s.Jobs.Insert(ctx, s.DB.Writer(), jobs.InsertParams{Kind: JobTemplateSync, Args: channelArgs{TenantID: tenantID, ChannelID: channelID},
		UniqueKey: "templates:" + channelID, TenantID: tenantID})
}

// noteUnauthorized marks a channel unhealthy when the provider rejected
// its credentials, so an expired token shows instead of failing silently.
func (s *Service) noteUnauthorized(ctx context.Context, ch *parley.Channel, err error) {
	werr, ok := whatsapp.AsError(err)
	if !ok || werr.Kind != whatsapp.Unauthorized {
		return
	}
	reason := fmt.Sprintf("%s rejected the credentials (code %s): %s", ch.Provider, werr.Code, werr.Message)
	if err := s.DB.SetChannelHealth(ctx, ch.TenantID, ch.ID, parley.ChannelHealth{Status: parley.HealthUnhealthy, Reason: reason}); err != nil {
		s.Log.Error("could not mark a channel unhealthy", "channel_id", ch.ID, "error", err)
	}
}

// workCheck checks an unhealthy channel's credentials again, and turns it
// healthy when they work, so its waiting sends go out.
func (s *Service) workCheck(ctx context.Context, job *jobs.Job) error {
	var args channelArgs
	if err := job.DecodeArgs(&args); err != nil {
		return jobs.Cancel(err)
	}
	ch, err := s.DB.FindChannel(ctx, args.TenantID, args.ChannelID)
	if err != nil {
		return jobs.Cancel(err)
	}
	if ch.Healthy() {
		return nil
	}
	p, err := s.provider(ch.Provider)
	if err != nil {
		return jobs.Cancel(err)
	}
	if err := p.Check(ctx, ch); err != nil {
		s.Log.Info("channel still unhealthy", "channel_id", ch.ID, "error", describe(err))
		return nil
	}
	s.Log.Info("channel credentials work again", "channel_id", ch.ID)
	if err := s.DB.SetChannelHealth(ctx, ch.TenantID, ch.ID, parley.ChannelHealth{Status: parley.HealthHealthy}); err != nil {
		return err
	}
	s.resumeSends(ctx, ch)
	return nil
}

type readArgs struct {
	TenantID  string `json:"tenant_id"`
	MessageID string `json:"message_id"`
}

// MarkRead clears a conversation's unread count and, in the background,
// shows the customer blue ticks on their message.
func (s *Service) MarkRead(ctx context.Context, tenantID, messageID string) (*parley.Message, error) {
	var m *parley.Message
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if m, err = tx.FindMessage(ctx, tenantID, messageID); err != nil {
			return err
		}
		if m.Direction != parley.Inbound {
			return parley.Errorf(parley.EINVALID, "Only messages from the customer can be marked as read.")
		}
		conv, err := tx.MarkConversationRead(ctx, tenantID, m.ConversationID)
		if err != nil {
			return err
		}
		if _, err := tx.RecordStatus(ctx, m, parley.StatusChange{Status: parley.StatusRead, At: s.Now()}); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, tenantID, parley.EventMessageUpdated, m); err != nil {
			return err
		}
		if err := tx.AddEvent(ctx, tenantID, parley.EventConversationUpdated, conv); err != nil {
			return err
		}
		return s.Jobs.Insert(ctx, tx, jobs.InsertParams{Kind: JobMarkRead, Queue: QueueSend, Args: readArgs{TenantID: tenantID, MessageID: m.ID},
			UniqueKey: "read:" + m.ID, TenantID: tenantID, MaxAttempts: 5})
	})
	return m, err
}

func (s *Service) workMarkRead(ctx context.Context, job *jobs.Job) error {
	var args readArgs
	if err := job.DecodeArgs(&args); err != nil {
		return jobs.Cancel(err)
	}
	m, err := s.DB.FindMessage(ctx, args.TenantID, args.MessageID)
	if err != nil {
		return jobs.Cancel(err)
	}
	if m.ProviderMessageID == "" || m.Direction != parley.Inbound {
		return nil
	}
	ch, err := s.DB.FindChannel(ctx, m.TenantID, m.ChannelID)
	if err != nil {
		return err
	}
	p, err := s.provider(ch.Provider)
	if err != nil {
		return jobs.Cancel(err)
	}
	err = p.MarkRead(ctx, ch, m.ProviderMessageID)
	if werr, ok := whatsapp.AsError(err); ok && werr.Kind == whatsapp.Rejected {
		return jobs.Cancel(err) // an old message WhatsApp no longer accepts receipts for
	}
	return err
}

// mediaSource serves an uploaded file to a provider.
type mediaSource struct {
	blobs *blob.Store
	rec   *store.MediaRecord
	url   string
}

func (m *mediaSource) Open(ctx context.Context) (io.ReadCloser, error) {
	return m.blobs.Open(m.rec.SHA256)
}
func (m *mediaSource) URL() string { return m.url }
func (m *mediaSource) Info() *parley.Media {
	return &parley.Media{ID: m.rec.ID, MIMEType: m.rec.MIMEType, Filename: m.rec.Filename, Size: m.rec.Size, SHA256: m.rec.SHA256}
}

func (s *Service) mediaSource(ctx context.Context, tenantID, id string) (whatsapp.MediaSource, error) {
	r, err := s.DB.FindMedia(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	var u string
	if s.MediaURL != nil {
		u = s.MediaURL(r)
	}
	return &mediaSource{blobs: s.Blobs, rec: r, url: u}, nil
}
