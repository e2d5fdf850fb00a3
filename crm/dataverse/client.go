// Package dataverse is Parley's client of the Microsoft Dataverse Web API
// (v9.2), the storage of Dynamics 365. Through it Parley logs every
// WhatsApp message as an activity on the CRM record, finds the records of
// a phone, reads records for template variables, hears of the CRM's
// changes through change tracking, and installs its own table.
//
// Three things shape it, all from Microsoft's documentation
// (testdata/specs/dataverse):
//
//   - Service protection. Dataverse refuses a user's 53rd concurrent
//     request with 429, and every request over its budget with 429 and a
//     Retry-After. A connector has one Client, and the Client never has
//     more than 52 requests in flight, so the concurrency limit is never
//     hit. A 429 is waited out and retried, up to a total wait
//     (WithMaxWait); past it the *Error is returned with its RetryAfter so
//     that the caller, a job queue, snoozes the job and tries again later.
//     Work is never dropped, only postponed.
//   - Retries are safe or absent. A 429 is always retried: Dataverse
//     refuses it before doing anything. Server errors (5xx) and broken
//     connections are retried only for idempotent requests (GET, upserts
//     and PUT); a create that failed that way may have happened, so it is
//     returned to the caller, who decides.
//   - $batch is a byte format. A change set is a MIME multipart body whose
//     lines end in CRLF, exactly as batch-changeset.request.http; anything
//     else is refused by Dataverse, so it is written by hand and tested
//     byte for byte against the fake.
//
// Tokens come from Microsoft Entra by client credentials, are cached until
// they expire, and are fetched again once when Dataverse answers 401.
// Neither tokens nor the client secret are ever logged.
package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/parleyhq/parley"
)

// Defaults, from service-protection-limits.json.
const (
	// DefaultConcurrency is Dataverse's limit of concurrent requests per
	// user: a 53rd is refused at once.
	DefaultConcurrency = 52
	// DefaultMaxWait is how long a call waits out 429s before handing the
	// Retry-After to its caller.
	DefaultMaxWait = 2 * time.Minute
	// serverRetries is how many times an idempotent request is retried
	// after a server error.
	serverRetries = 2
	// maxBody bounds a response read into memory (a page of 5000 rows
	// with every column fits well within it).
	maxBody = 64 << 20
)

// Client is one connector's Dataverse environment. It is safe for
// concurrent use, and meant to be shared: its concurrency limit only holds
// if a connector has one Client.
type Client struct {
	api     string // the Web API root, without a trailing slash
	http    *http.Client
	log     *slog.Logger
	sem     chan struct{}
	maxWait time.Duration
	sleep   func(context.Context, time.Duration) error
	// outage is how long work waits after Dataverse failed without
	// saying when to come back (see Connector).
	outage time.Duration

	tokens clientcredentials.Config
	mu     sync.Mutex // guards token; held while a token is fetched, so only one is
	token  *oauth2.Token
}

// Option configures a Client.
type Option func(*Client)

// WithOutageWait sets how long the work of a connector waits after
// Dataverse is down or unreachable (30 s by default) before it tries again.
func WithOutageWait(d time.Duration) Option { return func(c *Client) { c.outage = d } }

// WithHTTPClient sets the HTTP client of both the token endpoint and the
// Web API (http.DefaultClient by default). Its timeout, if any, applies to
// each request.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithLogger sets where retries and throttling are logged.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithConcurrency sets the most requests in flight at once (52 by
// default). Lower it when something else signs in as the same
// application user.
func WithConcurrency(n int) Option {
	return func(c *Client) {
		if n > 0 {
			c.sem = make(chan struct{}, n)
		}
	}
}

// WithMaxWait sets how long one call may wait out 429s in total before it
// returns the *Error with RetryAfter (2 minutes by default). Zero never
// waits.
func WithMaxWait(d time.Duration) Option { return func(c *Client) { c.maxWait = d } }

// WithSleep replaces how the client waits (Retry-After, backoff, polling
// an index). Tests pass a function that records the wait and returns at
// once; it must return ctx.Err() when ctx is done.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}

// New makes the client of one connector's environment. It does not
// connect: Check does.
func New(cfg *parley.DataverseConfig, opts ...Option) (*Client, error) {
	if cfg == nil {
		return nil, parley.Errorf(parley.EINVALID, "The connector has no Dataverse settings.")
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	c := &Client{
		api:     cfg.API(),
		http:    http.DefaultClient,
		log:     slog.Default(),
		sem:     make(chan struct{}, DefaultConcurrency),
		maxWait: DefaultMaxWait,
		sleep:   sleepCtx,
		tokens: clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.Token(),
			Scopes:       []string{cfg.Scope()},
			// The secret goes in the form, as Microsoft's example does;
			// auto-detection would first try and fail the other way.
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Check proves the credentials work by asking Dataverse who Parley is
// (WhoAmI). Its errors are parley.Errors an administrator can act on.
func (c *Client) Check(ctx context.Context) error {
	var who struct{ UserId string }
	_, err := c.do(ctx, &request{method: http.MethodGet, url: c.api + "/WhoAmI", idempotent: true}, &who)
	var re *oauth2.RetrieveError
	var ae *Error
	switch {
	case errors.As(err, &re):
		return parley.Errorf(parley.EUNAUTHORIZED, "Microsoft Entra refused the app registration's credentials (%s): check the directory ID, client ID and client secret.", entraReason(re))
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		return parley.Errorf(parley.EFORBIDDEN, "Dataverse refused the app registration (%d %s): add it as an application user of the environment, with a security role.", ae.Status, ae.Message)
	case err != nil:
		return fmt.Errorf("dataverse: check: %w", err)
	case who.UserId == "":
		return parley.Errorf(parley.EINVALID, "The environment did not say who Parley signs in as; is environment_url a Dataverse environment?")
	}
	return nil
}

// entraReason is the error code and first line of an Entra error, such as
// "invalid_client: AADSTS7000215: Invalid client secret provided. …".
func entraReason(re *oauth2.RetrieveError) string {
	desc, _, _ := strings.Cut(re.ErrorDescription, "\r\n")
	if re.ErrorCode == "" {
		return fmt.Sprintf("status %d", re.Response.StatusCode)
	}
	return strings.TrimSpace(re.ErrorCode + ": " + desc)
}

// Error is an error answer of the Web API, {"error":{"code","message"}}
// (error-bodies.examples.http). Through Unwrap it is also a parley.Error
// of the matching code, so a missing row is parley.ENOTFOUND.
type Error struct {
	Status  int    // the HTTP status
	Code    string // Dataverse's code, such as 0x80044331; often empty
	Message string
	// RetryAfter is set on a 429 the client stopped waiting out: try again
	// after it.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Unwrap is the parley.Error callers and users see.
func (e *Error) Unwrap() error {
	code := parley.EINTERNAL
	switch {
	case e.Status == http.StatusBadRequest:
		code = parley.EINVALID
	case e.Status == http.StatusUnauthorized:
		code = parley.EUNAUTHORIZED
	case e.Status == http.StatusForbidden:
		code = parley.EFORBIDDEN
	case e.Status == http.StatusNotFound:
		code = parley.ENOTFOUND
	case e.Status == http.StatusPreconditionFailed || e.Status == http.StatusConflict:
		code = parley.ECONFLICT
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		code = parley.EUNAVAILABLE
	}
	return parley.Errorf(code, "Dataverse: %s", e.Message)
}

// RetryAfter tells whether err is a throttling the client gave up waiting
// out, and how long to wait before trying again.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// request is one Web API call.
type request struct {
	method string
	url    string // absolute
	header http.Header
	body   []byte
	// idempotent requests are retried after server errors.
	idempotent bool
	// multipart requests ($batch) take a 4xx multipart answer as an
	// answer: it says which operation failed.
	multipart bool
}

// response is an answer, its body read.
type response struct {
	status int
	header http.Header
	body   []byte
	token  string // the access token the request carried
}

// do sends a request until it succeeds, retrying as the package doc says,
// and decodes a JSON answer into out when out is not nil.
func (c *Client) do(ctx context.Context, r *request, out any) (*response, error) {
	var waited time.Duration
	refreshed := false
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, r)
		if err != nil {
			if ctx.Err() != nil || !r.idempotent || attempt >= serverRetries || isTokenError(err) {
				return nil, err
			}
			c.log.WarnContext(ctx, "dataverse: request failed; retrying", "method", r.method, "url", redact(r.url), "err", err)
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		if resp.status < 300 {
			if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
				if err := json.Unmarshal(resp.body, out); err != nil {
					return nil, fmt.Errorf("%s %s: decoding the answer: %w", r.method, redact(r.url), err)
				}
			}
			return resp, nil
		}
		if r.multipart && resp.status < 500 && resp.status != http.StatusUnauthorized && resp.status != http.StatusTooManyRequests &&
			strings.HasPrefix(resp.header.Get("Content-Type"), "multipart/") {
			return resp, nil
		}
		e := parseError(resp)
		switch {
		case resp.status == http.StatusUnauthorized && !refreshed:
			// The token expired early or was revoked: drop it and try
			// once with a new one.
			refreshed = true
			c.dropToken(resp.token)
			attempt--
			continue
		case resp.status == http.StatusTooManyRequests:
			d := retryAfter(resp)
			if waited+d > c.maxWait {
				e.RetryAfter = d
				return nil, e
			}
			c.log.InfoContext(ctx, "dataverse: throttled; waiting", "method", r.method, "url", redact(r.url), "retry_after", d, "code", e.Code)
			if err := c.sleep(ctx, d); err != nil {
				return nil, err
			}
			waited += d
			attempt--
			continue
		case resp.status >= 500 && r.idempotent && attempt < serverRetries:
			c.log.WarnContext(ctx, "dataverse: server error; retrying", "method", r.method, "url", redact(r.url), "status", resp.status, "code", e.Code)
			if err := c.sleep(ctx, backoff(attempt)); err != nil {
				return nil, err
			}
			continue
		}
		return nil, e
	}
}

// send makes one attempt, holding one of the concurrency slots only while
// the request is on the wire.
func (c *Client) send(ctx context.Context, r *request) (*response, error) {
	tok, err := c.accessToken(ctx)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("Accept", "application/json")
	if r.body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return nil, err
	}
	return &response{status: res.StatusCode, header: res.Header, body: b, token: tok}, nil
}

// accessToken returns the cached token, fetching one when there is none or
// it has expired.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token.Valid() {
		return c.token.AccessToken, nil
	}
	tok, err := c.tokens.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	if err != nil {
		return "", &tokenError{err}
	}
	c.token = tok
	return tok.AccessToken, nil
}

// dropToken forgets a token Dataverse refused, unless another request
// already replaced it: many requests refused at once fetch one new token.
func (c *Client) dropToken(refused string) {
	c.mu.Lock()
	if c.token != nil && c.token.AccessToken == refused {
		c.token = nil
	}
	c.mu.Unlock()
}

// tokenError is a failure to get a token from Entra. It is not retried:
// wrong credentials stay wrong.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "getting a token from Microsoft Entra: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func isTokenError(err error) bool {
	var te *tokenError
	return errors.As(err, &te)
}

// parseError reads the error body of a failed answer. Gateways answer
// outages with HTML; their status is kept and the body left out.
func parseError(r *response) *Error {
	e := &Error{Status: r.status}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	if e.Message == "" {
		e.Message = http.StatusText(r.status)
	}
	return e
}

// retryAfter reads Retry-After, in seconds (service-protection-limits.json),
// from the answer or, for a $batch throttled inside, from the throttled
// part. A 429 without one waits a second.
func retryAfter(r *response) time.Duration {
	seconds := func(h http.Header) time.Duration {
		if s, err := strconv.Atoi(strings.TrimSpace(h.Get("Retry-After"))); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
		return 0
	}
	if d := seconds(r.header); d > 0 {
		return d
	}
	if parts, err := readBatch(r); err == nil {
		for _, p := range parts {
			if d := seconds(p.header); d > 0 && p.status == http.StatusTooManyRequests {
				return d
			}
		}
	}
	return time.Second
}

// backoff is the wait before retrying after a server error: 1s, then 2s.
func backoff(attempt int) time.Duration { return time.Second << attempt }

// redact drops the query of a URL for logs: filters carry phone numbers.
func redact(u string) string {
	base, _, _ := strings.Cut(u, "?")
	return base
}
