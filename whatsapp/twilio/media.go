package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// MaxMediaSize is the largest file FetchMedia returns.
const MaxMediaSize = parley.MaxMediaSize

// FetchMedia downloads an inbound file from its MediaUrl with the
// account's credentials (Twilio may require them for media), following
// Twilio's redirect to its media store. Go's client drops the
// Authorization header when the redirect leaves the host, so the token
// never reaches the store. The reader fails past MaxMediaSize.
func (p *Provider) FetchMedia(ctx context.Context, ch *parley.Channel, m *parley.Media) (io.ReadCloser, string, error) {
	c, err := p.conn(ch)
	if err != nil {
		return nil, "", fmt.Errorf("twilio: fetch media: %w", err)
	}
	if m == nil || m.Link == "" {
		return nil, "", fmt.Errorf("twilio: fetch media: %w", refuse("the media has no URL"))
	}
	if !c.trusts(m.Link) {
		return nil, "", fmt.Errorf("twilio: fetch media: %w", refuse("the media URL is not a Twilio address"))
	}
	resp, err := p.do(ctx, c, call{method: http.MethodGet, url: m.Link})
	if err != nil {
		return nil, "", fmt.Errorf("twilio: fetch media: %w", err)
	}
	if resp.ContentLength > MaxMediaSize {
		resp.Body.Close()
		return nil, "", fmt.Errorf("twilio: fetch media: %w", refuse("the file has %d bytes; at most %d are accepted", resp.ContentLength, MaxMediaSize))
	}
	mimeType := m.MIMEType
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		mimeType = ct
	}
	return whatsapp.LimitBody(resp.Body, MaxMediaSize, errTooLarge), mimeType, nil
}

// trusts reports whether the credentials may be sent to a media URL: only
// to Twilio's API hosts over HTTPS, or to the channel's own API address (a
// fake in tests), never to any address a webhook names.
func (c *conn) trusts(link string) bool {
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return false
	}
	if base, err := url.Parse(c.api); err == nil && base.Host == u.Host && base.Scheme == u.Scheme {
		return true
	}
	h := u.Hostname()
	return u.Scheme == "https" && (h == "api.twilio.com" || strings.HasSuffix(h, ".twilio.com"))
}

var errTooLarge = errors.New("twilio: media larger than the limit")
