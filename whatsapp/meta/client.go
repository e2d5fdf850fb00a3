package meta

import (
	"bytes"
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

// Defaults for channels that do not name a Graph address or version.
const (
	DefaultGraphURL = "https://graph.facebook.com"
	DefaultVersion  = "v23.0"
)

// graphMaxJSON bounds what is read of a Graph JSON answer. Answers are
// small; a page of 100 templates with all components is well below it.
const graphMaxJSON = 16 << 20

// Provider sends through Meta's WhatsApp Cloud API. It is stateless: each
// call reads the credentials from the channel's MetaConfig. It never logs,
// and tokens travel only in the Authorization header, never in a URL, so
// they cannot end up in error messages either.
type Provider struct {
	HTTP *http.Client
	// DefaultGraphURL and DefaultVersion apply to channels whose
	// MetaConfig leaves GraphURL or APIVersion empty.
	DefaultGraphURL string
	DefaultVersion  string
}

var _ whatsapp.Provider = (*Provider)(nil)

// New returns a Provider using hc (http.DefaultClient when nil). Give it a
// client with a timeout: a send that gets no answer is reported as
// whatsapp.Ambiguous only once the client gives up.
func New(hc *http.Client) *Provider {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Provider{HTTP: hc, DefaultGraphURL: DefaultGraphURL, DefaultVersion: DefaultVersion}
}

// graphConn is one channel's Graph endpoint and credentials.
type graphConn struct {
	base    string // scheme://host, no trailing slash
	version string
	token   string
	cfg     *parley.MetaConfig
}

// conn reads the channel's settings. Missing settings classify as
// Unauthorized: like revoked credentials, only an admin can fix them, and
// the channel's sends should wait rather than fail.
func (p *Provider) conn(ch *parley.Channel) (*graphConn, error) {
	if ch == nil || ch.Meta == nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Meta settings"}
	}
	cfg := ch.Meta
	if cfg.AccessToken == "" {
		return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Meta access token"}
	}
	c := &graphConn{base: cfg.GraphURL, version: cfg.APIVersion, token: cfg.AccessToken, cfg: cfg}
	if c.base == "" {
		c.base = p.DefaultGraphURL
	}
	if c.base == "" {
		c.base = DefaultGraphURL
	}
	c.base = strings.TrimRight(c.base, "/")
	if c.version == "" {
		c.version = p.DefaultVersion
	}
	if c.version == "" {
		c.version = DefaultVersion
	}
	return c, nil
}

// node is the URL of /{version}/{id}[/{edge}] with optional query.
func (c *graphConn) node(id, edge string, q url.Values) string {
	u := c.base + "/" + url.PathEscape(c.version) + "/" + url.PathEscape(id)
	if edge != "" {
		u += "/" + edge
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// requireID checks a configured ID before it is put in a path.
func requireID(what, id string) error {
	if id == "" {
		return &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no Meta " + what}
	}
	return nil
}

// graphCall is one Graph request.
type graphCall struct {
	method      string
	url         string
	body        io.Reader
	contentType string
	// unsafe marks requests that must not be repeated blindly: a second
	// send could reach the customer twice. For them a failure after the
	// request was written is whatsapp.Ambiguous; for the others (reads,
	// uploads, read receipts) it is Temporary, since repeating is harmless.
	unsafe bool
}

// do sends a Graph request with the channel's token and returns the
// response if it is a 2xx. Every failure is a *whatsapp.Error.
func (p *Provider) do(ctx context.Context, c *graphConn, call graphCall) (*http.Response, error) {
	var progress whatsapp.Progress
	ctx = progress.Attach(ctx)
	req, err := http.NewRequestWithContext(ctx, call.method, call.url, call.body)
	if err != nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Rejected, Message: "bad request: " + whatsapp.RedactURL(err).Error()}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if call.contentType != "" {
		req.Header.Set("Content-Type", call.contentType)
	}
	hc := p.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	if err := ctx.Err(); err != nil {
		// Cancelled before anything was sent: plainly retryable.
		return nil, &whatsapp.Error{Kind: whatsapp.Temporary, Message: "not sent: " + err.Error(), Err: err}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, whatsapp.TransportError("Graph", err, progress.MayHaveArrived(err), call.unsafe)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, graphHTTPError(resp, body, call.unsafe)
}

// doJSON sends a Graph request and decodes the JSON answer into out.
func (p *Provider) doJSON(ctx context.Context, c *graphConn, call graphCall, out any) error {
	resp, err := p.do(ctx, c, call)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, graphMaxJSON))
	if err == nil {
		err = json.Unmarshal(body, out)
	}
	if err != nil {
		// Meta answered 2xx, so it did the work: for a send, the message
		// is out but its ID was lost.
		return whatsapp.AnswerLost("Graph", fmt.Errorf("read answer: %w", whatsapp.RedactURL(err)), resp.StatusCode, call.unsafe)
	}
	return nil
}

// graphJSONBody encodes a request body.
func graphJSONBody(v any) (io.Reader, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &whatsapp.Error{Kind: whatsapp.Rejected, Message: "encode request: " + err.Error()}
	}
	return bytes.NewReader(b), nil
}
