// Package webhook connects Parley to any CRM through webhooks, both ways
// signed the Standard Webhooks way (https://www.standardwebhooks.com):
//
//   - the CRM posts its records' creations, updates and deletions to
//     /webhooks/crm/{connector}; Parley keeps a mirror of them (the CRM
//     cannot be queried), so that phone lookups, record links, template
//     bindings and console links work as with Dynamics;
//   - an initial import reads the CRM's records from a paginated JSON
//     endpoint (a job that resumes where it stopped), or from a CSV or JSON
//     file through `parley crm import`;
//   - every message and status is posted to the CRM's activity URL, in
//     order, through the CRM outbox and its flush job, and every attempt is
//     kept in a delivery log.
//
// It is the second adapter of the crm port: Connector is a crm.Client.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook's timestamp may be from now, either way,
// as the specification recommends: an intercepted webhook cannot be
// replayed after it, and within it the webhook-id is remembered.
const Tolerance = 5 * time.Minute

// Sign is the webhook-signature of a message: "v1," and the base64 of the
// HMAC-SHA256, keyed with the secret's bytes, of id.timestamp.body.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := parley.WebhookSecretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body)), nil
}

func mac(key []byte, id, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%s.%s.", id, ts)
	h.Write(body)
	return h.Sum(nil)
}

// SignedHeaders are the three headers of a signed message.
func SignedHeaders(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a message's signature and timestamp against now. Any of
// the space-separated signatures may match (a sender rotating its secret
// signs with both); versions other than v1 are ignored. It returns the
// webhook-id, for replay protection. Every failure is EUNAUTHORIZED, with
// a message that says which check failed but nothing of the expected
// signature.
func Verify(secret string, h http.Header, body []byte, now time.Time) (string, error) {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return "", parley.Errorf(parley.EUNAUTHORIZED, "The webhook is not signed: it needs webhook-id, webhook-timestamp and webhook-signature headers.")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", parley.Errorf(parley.EUNAUTHORIZED, "webhook-timestamp must be Unix seconds.")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return "", parley.Errorf(parley.EUNAUTHORIZED, "webhook-timestamp is more than 5 minutes from Parley's clock; sign each webhook when it is sent.")
	}
	key, err := parley.WebhookSecretKey(secret)
	if err != nil {
		return "", err
	}
	want := mac(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return id, nil
		}
	}
	return "", parley.Errorf(parley.EUNAUTHORIZED, "The webhook's signature does not match its body and the connector's inbound secret.")
}
