package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/acs"
)

// acsChannel finds the ACS channel a webhook URL names and checks that
// the delivery is Event Grid's: the channel's ?key=, compared in constant
// time, or, when the channel expects Entra-authenticated delivery
// (EventAudience), a bearer token for that audience from its issuer. An
// unknown channel gets the same 401 as a bad key, so that channel IDs
// cannot be probed.
func (s *Server) acsChannel(r *http.Request) (*parley.Channel, error) {
	denied := parley.Errorf(parley.EUNAUTHORIZED, "The webhook key or bearer token is missing or wrong for this channel.")
	ctx := r.Context()
	ch, err := s.DB.ChannelByID(ctx, r.PathValue("channel_id"))
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, denied
	} else if err != nil {
		return nil, err
	}
	if ch.Provider != parley.ProviderACS || ch.ACS == nil {
		return nil, denied
	}
	cfg := ch.ACS
	if key := r.URL.Query().Get("key"); key != "" && cfg.WebhookKey != "" {
		if subtle.ConstantTimeCompare([]byte(key), []byte(cfg.WebhookKey)) == 1 {
			return ch, nil
		}
		return nil, denied
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || cfg.EventAudience == "" {
		return nil, denied
	}
	issuer := cfg.EventIssuer
	if issuer == "" {
		issuer = "https://login.microsoftonline.com/" + cfg.TenantID + "/v2.0"
	}
	v, err := acsVerifiers.get(ctx, issuer, cfg.EventAudience)
	if err != nil {
		s.Log.Warn("acs webhook: cannot read the event issuer's discovery document", "channel_id", ch.ID, "issuer", issuer, "err", err)
		return nil, denied
	}
	if _, err := v.Verify(ctx, strings.TrimSpace(tok)); err != nil {
		s.Log.Info("acs webhook: bearer token refused", "channel_id", ch.ID, "err", err)
		return nil, denied
	}
	return ch, nil
}

// acsOptions answers the CloudEvents abuse-protection handshake Event
// Grid makes before delivering CloudEvents: the origin it asks for is
// allowed, at any rate.
func (s *Server) acsOptions(w http.ResponseWriter, r *http.Request) {
	if _, err := s.acsChannel(r); err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	origin := r.Header.Get("WebHook-Request-Origin")
	if origin == "" {
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("WebHook-Allowed-Origin", origin)
	w.Header().Set("WebHook-Allowed-Rate", "*")
	w.Header().Set("Allow", "POST, OPTIONS")
	w.WriteHeader(http.StatusOK)
}

// acsWebhook receives Event Grid deliveries for an ACS channel. It
// answers 401 without storing anything when the key or token is wrong,
// answers the subscription validation with its code, and acknowledges
// events only once they are committed.
func (s *Server) acsWebhook(w http.ResponseWriter, r *http.Request) {
	ch, err := s.acsChannel(r)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	body, err := readBody(w, r, maxWebhookBody)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	ctx := r.Context()
	hs, batch, err := acs.ParseEvents(body)
	if err != nil {
		// Authenticated, so Event Grid's, but unreadable: kept.
		batch = &whatsapp.Batch{Unhandled: []whatsapp.Unhandled{{Account: ch.ACS.ChannelRegistrationID, Reason: err.Error(), Raw: mustRaw(body)}}}
	}
	if batch.Len() > 0 {
		ds, err := s.acsRoute(ctx, ch, batch)
		if err == nil {
			err = s.Ingester.Submit(ctx, ds...)
		}
		if err != nil {
			writeError(w, r, s.Log, err)
			return
		}
	}
	if hs != nil {
		s.Log.Info("acs webhook: Event Grid subscription validated", "channel_id", ch.ID)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"validationResponse": hs.ValidationCode})
		return
	}
	w.WriteHeader(http.StatusOK)
}

// acsRoute gives each event to the channel whose registration it names.
// One Event Grid subscription covers a whole ACS resource, so a delivery
// may carry events of the resource's other WhatsApp numbers: those go to
// their own channel when it is the same tenant's on the same resource,
// and are otherwise kept on this channel as Unhandled (never handed to
// another tenant, whose key did not sign them).
func (s *Server) acsRoute(ctx context.Context, ch *parley.Channel, b *whatsapp.Batch) ([]messaging.Delivery, error) {
	own := ch.ACS.ChannelRegistrationID
	byCh := map[string]*messaging.Delivery{ch.ID: {Channel: ch, Batch: &whatsapp.Batch{}}}
	order := []string{ch.ID}
	target := func(account string) (*whatsapp.Batch, error) {
		if account == "" || strings.EqualFold(account, own) {
			return byCh[ch.ID].Batch, nil
		}
		other, err := s.channels.byAccount(ctx, s.DB, parley.ProviderACS, account)
		if err != nil {
			return nil, err
		}
		if other == nil || other.TenantID != ch.TenantID || other.ACS == nil ||
			!strings.EqualFold(strings.TrimRight(other.ACS.Endpoint, "/"), strings.TrimRight(ch.ACS.Endpoint, "/")) {
			return nil, nil
		}
		if byCh[other.ID] == nil {
			byCh[other.ID] = &messaging.Delivery{Channel: other, Batch: &whatsapp.Batch{}}
			order = append(order, other.ID)
		}
		return byCh[other.ID].Batch, nil
	}
	stray := func(account, field string, v any) {
		raw, _ := json.Marshal(v)
		own := byCh[ch.ID].Batch
		own.Unhandled = append(own.Unhandled, whatsapp.Unhandled{Account: account, Field: field, Reason: "event for channel registration " + account + ", which is not this channel's", Raw: raw})
	}
	for _, m := range b.Messages {
		t, err := target(m.Account)
		if err != nil {
			return nil, err
		}
		if t == nil {
			stray(m.Account, acs.EventReceived, m)
			continue
		}
		t.Messages = append(t.Messages, m)
	}
	for _, st := range b.Statuses {
		t, err := target(st.Account)
		if err != nil {
			return nil, err
		}
		if t == nil {
			stray(st.Account, acs.EventStatus, st)
			continue
		}
		t.Statuses = append(t.Statuses, st)
	}
	byCh[ch.ID].Batch.Unhandled = append(byCh[ch.ID].Batch.Unhandled, b.Unhandled...)
	ds := make([]messaging.Delivery, 0, len(order))
	for _, id := range order {
		if d := byCh[id]; d.Batch.Len() > 0 {
			ds = append(ds, *d)
		}
	}
	return ds, nil
}

// verifierCache keeps one token verifier per issuer and audience: the
// discovery document is read once, and go-oidc refreshes the JWKS itself
// when a token names a key it has not seen.
type verifierCache struct {
	mu sync.Mutex
	m  map[string]*oidc.IDTokenVerifier
}

var acsVerifiers verifierCache

func (c *verifierCache) get(ctx context.Context, issuer, audience string) (*oidc.IDTokenVerifier, error) {
	key := issuer + "\x00" + audience
	c.mu.Lock()
	v := c.m[key]
	c.mu.Unlock()
	if v != nil {
		return v, nil
	}
	// The provider's key set outlives this request, so discovery uses a
	// context that is not cancelled with it.
	p, err := oidc.NewProvider(context.WithoutCancel(ctx), issuer)
	if err != nil {
		return nil, err
	}
	v = p.Verifier(&oidc.Config{ClientID: audience})
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*oidc.IDTokenVerifier{}
	}
	c.m[key] = v
	c.mu.Unlock()
	return v, nil
}
