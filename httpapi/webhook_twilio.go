package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/twilio"
)

// emptyTwiML answers an inbound message without replying to it: Twilio
// treats the webhook's answer as instructions, and an empty Response
// means none.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response/>`

// twilioWebhook receives a channel's inbound messages and status
// callbacks (POST /webhooks/twilio/{channel_id}). The signature is checked
// over the URL Twilio called, which is PARLEY_BASE_URL plus the path and
// query: behind a proxy, the address this server sees is not what Twilio
// signed. It answers 200 only once the content is committed, and 401
// without storing anything when the signature does not match the
// channel's auth token.
func (s *Server) twilioWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r, maxWebhookBody)
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	ctx := r.Context()
	ch, err := s.DB.ChannelByID(ctx, r.PathValue("channel_id"))
	if err == nil && (ch.Provider != parley.ProviderTwilio || ch.Twilio == nil) {
		err = parley.Errorf(parley.ENOTFOUND, "No Twilio channel %s.", r.PathValue("channel_id"))
	}
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	form := twilioForm(r.Header.Get("Content-Type"), body)
	if !twilio.CheckSignature(s.BaseURL+r.URL.RequestURI(), form, body, r.Header.Get("X-Twilio-Signature"), ch.Twilio.AuthToken) {
		writeError(w, r, s.Log, parley.Errorf(parley.EUNAUTHORIZED,
			"The X-Twilio-Signature header is missing or does not match this channel's auth token over %s (PARLEY_BASE_URL must be the address Twilio calls).", s.BaseURL+r.URL.Path))
		return
	}
	batch, err := twilio.ParseWebhook(r.URL.Query(), form)
	if err != nil {
		// Signed, so it is Twilio's: keep it rather than drop it.
		raw, _ := json.Marshal(form)
		batch = &whatsapp.Batch{Unhandled: []whatsapp.Unhandled{{Account: ch.AccountID, Field: "webhook", Reason: err.Error(), Raw: raw}}}
	}
	if err := s.Ingester.Submit(ctx, messaging.Delivery{Channel: ch, Batch: batch}); err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	io.WriteString(w, emptyTwiML)
}

// twilioForm reads a form-encoded body. Other bodies (JSON, signed with
// bodySHA256) carry no form parameters.
func twilioForm(contentType string, body []byte) url.Values {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "" && mt != "application/x-www-form-urlencoded" {
		return url.Values{}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return url.Values{}
	}
	return form
}
