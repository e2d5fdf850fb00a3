package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// Twilio's addresses, used when a channel does not override them.
const (
	DefaultAPIURL     = "https://api.twilio.com"
	DefaultContentURL = "https://content.twilio.com"
)

// maxJSON bounds what is read of an API answer.
const maxJSON = 16 << 20

// Provider sends through Twilio. It is stateless: each call reads the
// credentials from the channel's TwilioConfig. The auth token travels only
// in the Authorization header, never in a URL or an error.
type Provider struct {
	HTTP *http.Client
	// BaseURL returns Parley's public address (PARLEY_BASE_URL), from
	// which status callback URLs are made. It is a function because the
	// address may be known only once the server listens.
	BaseURL func() string
}

var _ whatsapp.Provider = (*Provider)(nil)

// New returns a Provider using hc (http.DefaultClient when nil) whose
// status callbacks go to baseURL. Give hc a timeout: a send that gets no
// answer is reported as whatsapp.Ambiguous only once the client gives up.
func New(hc *http.Client, baseURL string) *Provider {
	return NewWithBaseURL(hc, func() string { return baseURL })
}

// NewWithBaseURL is New with Parley's address read at each send.
func NewWithBaseURL(hc *http.Client, baseURL func() string) *Provider {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Provider{HTTP: hc, BaseURL: baseURL}
}

// conn is one channel's Twilio endpoints and credentials.
type conn struct {
	api     string // scheme://host, no trailing slash
	content string
	cfg     *parley.TwilioConfig
}

// conn reads the channel's settings. Missing credentials classify as
// Unauthorized: only an admin can fix them, so sends wait.
func (p *Provider) conn(ch *parley.Channel) (*conn, error) {
	if ch == nil || ch.Twilio == nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Twilio settings"}
	}
	cfg := ch.Twilio
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Twilio account SID or auth token"}
	}
	c := &conn{api: strings.TrimRight(cfg.APIURL, "/"), content: strings.TrimRight(cfg.ContentURL, "/"), cfg: cfg}
	if c.api == "" {
		c.api = DefaultAPIURL
	}
	if c.content == "" {
		c.content = DefaultContentURL
		if cfg.APIURL != "" {
			c.content = c.api // a fake serves both
		}
	}
	return c, nil
}

func (c *conn) account() string {
	return c.api + "/2010-04-01/Accounts/" + url.PathEscape(c.cfg.AccountSID)
}

// call is one API request.
type call struct {
	method      string
	url         string
	body        io.Reader
	contentType string
	// unsafe marks sends: a failure after the request was written is
	// Ambiguous, since the message may be out.
	unsafe bool
}

// do sends a request with Basic auth and returns a 2xx response. Every
// failure is a *whatsapp.Error.
func (p *Provider) do(ctx context.Context, c *conn, cl call) (*http.Response, error) {
	var pr whatsapp.Progress
	ctx = pr.Attach(ctx)
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, cl.body)
	if err != nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Rejected, Message: "bad request: " + whatsapp.RedactURL(err).Error()}
	}
	req.SetBasicAuth(c.cfg.AccountSID, c.cfg.AuthToken)
	req.Header.Set("Accept", "application/json")
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}
	if err := ctx.Err(); err != nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Temporary, Message: "not sent: " + err.Error(), Err: err}
	}
	resp, err := p.HTTP.Do(req)
	if err != nil {
		return nil, whatsapp.TransportError("Twilio", err, pr.MayHaveArrived(err), cl.unsafe)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, httpError(resp, body, cl.unsafe)
}

// doJSON sends a request and decodes the JSON answer into out.
func (p *Provider) doJSON(ctx context.Context, c *conn, cl call, out any) error {
	resp, err := p.do(ctx, c, cl)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON))
	if err == nil {
		err = json.Unmarshal(body, out)
	}
	if err != nil {
		return whatsapp.AnswerLost("Twilio", fmt.Errorf("read answer: %w", whatsapp.RedactURL(err)), resp.StatusCode, cl.unsafe)
	}
	return nil
}
