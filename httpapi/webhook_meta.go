package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

// readBody reads a webhook's body, refusing one larger than limit with
// 413 (ETOOLARGE).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, parley.Errorf(parley.ETOOLARGE, "The body is larger than %d bytes.", limit)
		}
		return nil, parley.Errorf(parley.EINVALID, "Could not read the body.")
	}
	return body, nil
}

// metaHandshake answers Meta's webhook verification: the challenge, if the
// verify token is one of a channel's.
func (s *Server) metaHandshake(w http.ResponseWriter, r *http.Request) {
	challenge, ok := meta.VerifyHandshake(r.URL.Query(), func(token string) bool {
		chs, err := s.DB.ChannelsByVerifyToken(r.Context(), parley.ProviderMeta, token)
		return err == nil && len(chs) > 0
	})
	if !ok {
		writeError(w, r, s.Log, parley.Errorf(parley.EFORBIDDEN, "The verify token matches no connected Meta number."))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, challenge)
}

// metaWebhook receives Meta's events. It answers 200 only once everything
// in the delivery is committed, and 401 without storing anything when the
// signature does not match the app secret of every number it names.
func (s *Server) metaWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxWebhookBody)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	ctx := r.Context()
	route, err := s.metaRoute(ctx, body, r.Header.Get("X-Hub-Signature-256"))
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	batch, err := meta.ParseWebhook(body)
	if err != nil {
		// Signed, so it is Meta's, but not JSON we can read: keep it, with
		// the number it names when it names one, whose secret signed it;
		// without an account it would be filed as no channel's.
		u := whatsapp.Unhandled{Reason: err.Error(), Raw: mustRaw(body)}
		if len(route.byAccount) == 1 {
			for id := range route.byAccount {
				u.Account = id
			}
		}
		batch = &whatsapp.Batch{Unhandled: []whatsapp.Unhandled{u}}
	}
	deliveries, unrouted := route.split(batch)
	if len(unrouted) > 0 {
		if err := s.storeUnrouted(ctx, unrouted); err != nil {
			writeError(w, r, s.Log, err)
			return
		}
	}
	if err := s.Ingester.Submit(ctx, deliveries...); err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// mustRaw wraps bytes that may not be JSON as a JSON string, for storage.
func mustRaw(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	q, _ := json.Marshal(string(b))
	return q
}

// metaRouting says which channel each account of a delivery belongs to.
type metaRouting struct {
	byAccount  map[string]*parley.Channel   // phone_number_id → channel
	byBusiness map[string][]*parley.Channel // WABA ID → channels
	fallback   *parley.Channel              // for events that name no account
}

// metaRoute finds the channels a delivery names and checks the signature
// with each one's own app secret. Checking with each channel's secret, not
// any one of them, is what stops a tenant who knows its own app secret from
// forging events for another tenant's number.
func (s *Server) metaRoute(ctx context.Context, body []byte, sig string) (*metaRouting, error) {
	forged := parley.Errorf(parley.EUNAUTHORIZED, "The X-Hub-Signature-256 header is missing or does not match the app secret of the numbers this webhook names.")
	if sig == "" {
		return nil, forged
	}
	rt := &metaRouting{byAccount: map[string]*parley.Channel{}, byBusiness: map[string][]*parley.Channel{}}
	// Numbers of one Meta app share its secret: check each secret once.
	checked := map[string]bool{}
	signedWith := func(secret string) bool {
		ok, seen := checked[secret]
		if !seen {
			ok = meta.VerifySignature(body, sig, secret)
			checked[secret] = ok
		}
		return ok
	}
	phoneIDs, wabaIDs := meta.WebhookAccounts(body)
	for _, id := range phoneIDs {
		ch, err := s.channels.byAccount(ctx, s.DB, parley.ProviderMeta, id)
		if err != nil {
			return nil, err
		}
		if ch == nil {
			continue // a number Parley does not serve; kept as unrouted
		}
		if !signedWith(ch.Meta.AppSecret) {
			return nil, forged
		}
		rt.byAccount[id] = ch
	}
	for _, id := range wabaIDs {
		chs, err := s.channels.byBusiness(ctx, s.DB, parley.ProviderMeta, id)
		if err != nil {
			return nil, err
		}
		for _, ch := range chs {
			if signedWith(ch.Meta.AppSecret) {
				rt.byBusiness[id] = append(rt.byBusiness[id], ch)
			}
		}
	}
	if len(rt.byAccount) > 0 || len(rt.byBusiness) > 0 {
		return rt, nil
	}
	// The delivery names no number we know (an old on-premises envelope,
	// or events without metadata): accept it only if some channel's secret
	// signed it, and route it only if those channels are one tenant's.
	all, err := s.DB.ChannelsByProvider(ctx, parley.ProviderMeta)
	if err != nil {
		return nil, err
	}
	var signed []*parley.Channel
	for _, ch := range all {
		if signedWith(ch.Meta.AppSecret) {
			signed = append(signed, ch)
		}
	}
	if len(signed) == 0 {
		return nil, forged
	}
	rt.fallback = signed[0]
	for _, ch := range signed[1:] {
		if ch.TenantID != rt.fallback.TenantID {
			rt.fallback = nil // shared app across tenants: cannot tell whose
			break
		}
	}
	return rt, nil
}

// split divides a batch among channels. Events for accounts no verified
// channel owns are returned separately, to be kept without a tenant.
func (rt *metaRouting) split(b *whatsapp.Batch) ([]messaging.Delivery, []whatsapp.Unhandled) {
	byCh := map[*parley.Channel]*whatsapp.Batch{}
	var order []*parley.Channel
	var unrouted []whatsapp.Unhandled
	get := func(ch *parley.Channel) *whatsapp.Batch {
		if byCh[ch] == nil {
			byCh[ch] = &whatsapp.Batch{}
			order = append(order, ch)
		}
		return byCh[ch]
	}
	channel := func(account string) *parley.Channel {
		if account == "" {
			return rt.fallback
		}
		return rt.byAccount[account]
	}
	lost := func(account, field string, v any) {
		raw, _ := json.Marshal(v)
		unrouted = append(unrouted, whatsapp.Unhandled{Account: account, Field: field, Reason: "no channel for this account", Raw: raw})
	}
	for _, m := range b.Messages {
		if ch := channel(m.Account); ch != nil {
			get(ch).Messages = append(get(ch).Messages, m)
		} else {
			lost(m.Account, "messages", m)
		}
	}
	for _, st := range b.Statuses {
		if ch := channel(st.Account); ch != nil {
			get(ch).Statuses = append(get(ch).Statuses, st)
		} else {
			lost(st.Account, "statuses", st)
		}
	}
	for _, u := range b.Unhandled {
		if ch := channel(u.Account); ch != nil {
			get(ch).Unhandled = append(get(ch).Unhandled, u)
		} else {
			unrouted = append(unrouted, u)
		}
	}
	for _, tu := range b.Templates {
		chs := rt.byBusiness[tu.BusinessAccount]
		// The fallback is for reviews that name no account. One that names
		// an account no channel serves (an app shared by several accounts)
		// is not the fallback's: given to it, it would be dropped unseen.
		if len(chs) == 0 && rt.fallback != nil && tu.BusinessAccount == "" {
			chs = []*parley.Channel{rt.fallback}
		}
		if len(chs) == 0 {
			lost(tu.BusinessAccount, "message_template_status_update", tu)
		}
		for _, ch := range chs {
			get(ch).Templates = append(get(ch).Templates, tu)
		}
	}
	ds := make([]messaging.Delivery, 0, len(order))
	for _, ch := range order {
		ds = append(ds, messaging.Delivery{Channel: ch, Batch: byCh[ch]})
	}
	return ds, unrouted
}

func (s *Server) storeUnrouted(ctx context.Context, list []whatsapp.Unhandled) error {
	s.Log.Warn("webhook events for accounts no channel serves; kept as unhandled", "count", len(list))
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, u := range list {
			if err := tx.AddUnhandled(ctx, "", "", parley.ProviderMeta, u.Field, u.Reason+" "+u.Account, u.Raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// channelCache keeps webhook routing off the database: at thousands of
// deliveries a second, each would otherwise read and decrypt its channel.
// Entries live briefly, so new settings apply within seconds on every
// replica.
type channelCache struct {
	mu      sync.Mutex
	entries map[string]cachedChannel
}

type cachedChannel struct {
	ch  *parley.Channel   // nil: no such channel
	chs []*parley.Channel // for a business account
	at  time.Time
}

const channelCacheTTL = 5 * time.Second

func (c *channelCache) byAccount(ctx context.Context, db *store.DB, provider, account string) (*parley.Channel, error) {
	key := provider + "\x00" + account
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < channelCacheTTL {
		return e.ch, nil
	}
	ch, err := db.FindChannelByAccount(ctx, provider, account)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		ch, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cachedChannel{}
	}
	c.entries[key] = cachedChannel{ch: ch, at: time.Now()}
	c.mu.Unlock()
	return ch, nil
}

// byBusiness returns the channels of a business account (Meta WABA), which
// every Meta delivery names in entry.id.
func (c *channelCache) byBusiness(ctx context.Context, db *store.DB, provider, account string) ([]*parley.Channel, error) {
	key := provider + "\x00waba\x00" + account
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < channelCacheTTL {
		return e.chs, nil
	}
	chs, err := db.ChannelsByBusinessAccount(ctx, provider, account)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]cachedChannel{}
	}
	c.entries[key] = cachedChannel{chs: chs, at: time.Now()}
	c.mu.Unlock()
	return chs, nil
}
