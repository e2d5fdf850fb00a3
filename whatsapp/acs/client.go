// Package acs is the WhatsApp provider for Azure Communication Services
// Advanced Messaging (REST API 2024-11-15): sends through
// POST /messages/notifications:send signed with the resource's access key
// (HMAC-SHA256) or an Entra application's token, media downloads from
// /messages/streams/{id}, templates from /messages/channels/{id}/templates,
// and the Event Grid events ACS publishes (ParseEvents).
//
// ACS accepts a send (202) before WhatsApp has seen it; what WhatsApp then
// refuses (the 24-hour window, a template's parameters) comes back as a
// Failed AdvancedMessageDeliveryStatusUpdated event carrying WhatsApp's
// code. Every send carries Repeatability-Request-ID, derived from Parley's
// message ID, so a send retried after an unanswered attempt is answered
// with the first attempt's result instead of being sent twice.
package acs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// APIVersion is the Advanced Messaging API version Parley speaks.
const APIVersion = "2024-11-15"

// Scope is what an Entra token for ACS is requested for.
const Scope = "https://communication.azure.com/.default"

// DefaultAuthority is Entra's sign-in address.
const DefaultAuthority = "https://login.microsoftonline.com"

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// Provider implements whatsapp.Provider for ACS. It keeps no state but
// Entra tokens, cached per application so that every call does not fetch
// a new one.
type Provider struct {
	hc *http.Client
	// Now is the clock for x-ms-date; tests may replace it.
	Now func() time.Time

	mu     sync.Mutex
	tokens map[string]oauth2.TokenSource
}

// New returns a provider sending through hc.
func New(hc *http.Client) *Provider {
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	return &Provider{hc: hc, Now: time.Now, tokens: map[string]oauth2.TokenSource{}}
}

var _ whatsapp.Provider = (*Provider)(nil)

// Sign signs req for ACS with an access key, as ACS specifies: x-ms-date
// (RFC 1123, GMT), x-ms-content-sha256 (base64 SHA-256 of body), and
// Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=…
// where the signature is base64 HMAC-SHA256, keyed with the decoded access
// key, of "VERB\nPathAndQuery\ndate;host;hash". The host is the one the
// request goes to, port included when the URL has one.
func Sign(req *http.Request, body []byte, key string, now time.Time) error {
	secret, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("acs: the access key is not base64: %w", err)
	}
	sum := sha256.Sum256(body)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	date := now.UTC().Format(http.TimeFormat)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	sig := signature([]byte(req.Method+"\n"+req.URL.RequestURI()+"\n"+date+";"+host+";"+hash), secret)
	req.Header.Set("x-ms-date", date)
	req.Header.Set("x-ms-content-sha256", hash)
	req.Header.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+sig)
	return nil
}

// signature is base64(HMAC-SHA256(secret, msg)).
func signature(msg, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// config returns the channel's ACS settings, checked enough to call.
func config(ch *parley.Channel) (*parley.ACSConfig, error) {
	if ch == nil || ch.ACS == nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Azure Communication Services settings"}
	}
	c := ch.ACS
	if c.Endpoint == "" || c.ChannelRegistrationID == "" {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel's ACS endpoint or channel registration ID is missing"}
	}
	if c.AccessKey == "" && (c.TenantID == "" || c.ClientID == "" || c.ClientSecret == "") {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has neither an ACS access key nor an Entra application"}
	}
	return c, nil
}

// call is one request to the resource.
type call struct {
	method string
	path   string // under the endpoint, e.g. /messages/notifications:send
	query  url.Values
	link   string // a full URL instead of path and query (nextLink)
	body   []byte
	header http.Header
	// unsafe marks a request that changes something (a send): if it may
	// have arrived unanswered, it is Ambiguous, not Temporary.
	unsafe bool
}

// do makes c and returns the answer of a 2xx, or a *whatsapp.Error. The
// caller closes the body.
func (p *Provider) do(ctx context.Context, cfg *parley.ACSConfig, c call) (*http.Response, error) {
	u := c.link
	if u == "" {
		q := c.query
		if q == nil {
			q = url.Values{}
		}
		q.Set("api-version", APIVersion)
		u = strings.TrimRight(cfg.Endpoint, "/") + c.path + "?" + q.Encode()
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	// ACS's own test of "may have arrived": any write attempt counts, even
	// a failed one, and no write means nothing arrived. It differs from
	// whatsapp.Progress (which ignores failed writes and, without trace
	// events, asks the error), so it stays here: switching would change
	// which failures are Ambiguous.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(ctx, c.method, u, body)
	if err != nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Rejected, Message: "bad ACS request address", Err: err}
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if err := p.authorize(ctx, cfg, req, c.body); err != nil {
		return nil, err
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, whatsapp.TransportError("Azure Communication Services", err, wrote.Load(), c.unsafe)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, httpError(resp, b, c.unsafe, p.Now())
	}
	return resp, nil
}

// authorize signs req with the access key, or sets an Entra bearer token.
func (p *Provider) authorize(ctx context.Context, cfg *parley.ACSConfig, req *http.Request, body []byte) error {
	if cfg.AccessKey != "" {
		if err := Sign(req, body, cfg.AccessKey, p.Now()); err != nil {
			return &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the ACS access key is not valid base64", Err: err}
		}
		return nil
	}
	tok, err := p.tokenSource(cfg).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode/100 == 4 {
			return &whatsapp.Error{Kind: whatsapp.Unauthorized, HTTPStatus: re.Response.StatusCode, Code: re.ErrorCode,
				Message: "Entra refused the application's credentials: " + re.ErrorCode}
		}
		return &whatsapp.Error{Kind: whatsapp.Temporary, Message: "could not get an Entra token", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// tokenSource caches one token source per application and secret. The
// token request goes through the provider's client, not the context's,
// since tokens outlive the call that fetched them.
func (p *Provider) tokenSource(cfg *parley.ACSConfig) oauth2.TokenSource {
	authority := strings.TrimRight(cfg.AuthorityURL, "/")
	if authority == "" {
		authority = DefaultAuthority
	}
	sum := sha256.Sum256([]byte(cfg.ClientSecret))
	key := authority + "\x00" + cfg.TenantID + "\x00" + cfg.ClientID + "\x00" + string(sum[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	if ts, ok := p.tokens[key]; ok {
		return ts
	}
	cc := clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		TokenURL: authority + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token",
		Scopes:   []string{Scope}, AuthStyle: oauth2.AuthStyleInParams,
	}
	ts := cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, p.hc))
	p.tokens[key] = ts
	return ts
}

// azureError is the Azure.Core error envelope.
type azureError struct {
	Error *struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		Target     string `json:"target"`
		InnerError *struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

// httpError classifies a non-2xx answer: 401 and 403 are the
// credentials, 429 throttling (Retry-After honoured), 5xx ACS's trouble,
// and any other 4xx a refusal of this request, with ACS's code and text.
func httpError(resp *http.Response, body []byte, unsafe bool, now time.Time) *whatsapp.Error {
	e := &whatsapp.Error{HTTPStatus: resp.StatusCode, RetryAfter: retryAfter(resp.Header, now), Code: resp.Header.Get("x-ms-error-code")}
	var env azureError
	if json.Unmarshal(body, &env) == nil && env.Error != nil {
		if env.Error.Code != "" {
			e.Code = env.Error.Code
		}
		e.Message = env.Error.Message
		if env.Error.InnerError != nil && env.Error.InnerError.Code != "" {
			e.Details = "inner error " + env.Error.InnerError.Code
		}
		if env.Error.Target != "" {
			e.Details = strings.TrimSpace(e.Details + " target " + env.Error.Target)
		}
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d from Azure Communication Services", resp.StatusCode)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusGatewayTimeout && unsafe:
		// A gateway gave up waiting; ACS may have accepted the send.
		e.Kind = whatsapp.Ambiguous
	case s == http.StatusRequestTimeout:
		// The server gave up waiting for the request (RFC 9110): worth
		// retrying, unlike the other 4xx whatsapp.StatusKind rejects.
		e.Kind = whatsapp.Temporary
	default:
		e.Kind = whatsapp.StatusKind(s)
	}
	return e
}

// retryAfter reads Azure's retry-after-ms and x-ms-retry-after-ms, then
// the standard Retry-After (whatsapp.RetryAfter).
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, k := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.Atoi(strings.TrimSpace(h.Get(k))); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return whatsapp.RetryAfter(h, now)
}

// repeatNamespace is the UUID namespace of Repeatability-Request-IDs.
var repeatNamespace = [16]byte{0x6b, 0x3e, 0x2c, 0x51, 0x8f, 0x0d, 0x4a, 0x7e, 0x9b, 0x12, 0x5c, 0x44, 0xd0, 0x3a, 0x61, 0xf7}

// RepeatabilityID is the Repeatability-Request-ID of a send of message
// id: a name-based (version 5) UUID, the same on every attempt.
func RepeatabilityID(id string) string {
	h := sha1.New()
	h.Write(repeatNamespace[:])
	h.Write([]byte(id))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
