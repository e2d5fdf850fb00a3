package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// MaxMediaSize is the largest file FetchMedia returns: Meta's limit for
// documents, the largest media type.
const MaxMediaSize = 100 << 20

// upload sends a file to POST /{phone-number-id}/media as
// multipart/form-data (messaging_product, type, file) and returns the
// media ID. The file is streamed, not buffered. info, when set, is the
// message's own media record (its MIME type and name win).
func (p *Provider) upload(ctx context.Context, c *graphConn, src whatsapp.MediaSource, info *parley.Media) (string, error) {
	mimeType, filename := graphFileInfo(src.Info(), info)
	rc, err := src.Open(ctx)
	if err != nil {
		return "", fmt.Errorf("upload: open the file: %w", err)
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		defer rc.Close()
		pw.CloseWithError(graphWriteForm(mw, mimeType, filename, rc))
	}()
	defer pr.Close() // stops the writer if the request ends early
	var resp struct {
		ID string `json:"id"`
	}
	call := graphCall{method: http.MethodPost, url: c.node(c.cfg.PhoneNumberID, "media", nil), body: pr, contentType: mw.FormDataContentType()}
	if err := p.doJSON(ctx, c, call, &resp); err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	if resp.ID == "" {
		return "", fmt.Errorf("upload: %w", &whatsapp.Error{Kind: whatsapp.Temporary, HTTPStatus: http.StatusOK, Message: "no media ID in the answer"})
	}
	return resp.ID, nil
}

func graphFileInfo(infos ...*parley.Media) (mimeType, filename string) {
	for _, m := range infos {
		if m == nil {
			continue
		}
		if m.MIMEType != "" {
			mimeType = m.MIMEType
		}
		if m.Filename != "" {
			filename = m.Filename
		}
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	if filename == "" {
		filename = "file"
	}
	return mimeType, filename
}

func graphWriteForm(mw *multipart.Writer, mimeType, filename string, file io.Reader) error {
	if err := mw.WriteField("messaging_product", "whatsapp"); err != nil {
		return err
	}
	if err := mw.WriteField("type", mimeType); err != nil {
		return err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename="%s"`, graphQuoteFilename(filename)))
	h.Set("Content-Type", mimeType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, file); err != nil {
		return err
	}
	return mw.Close()
}

var graphFilenameEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", "", "\n", "")

func graphQuoteFilename(s string) string { return graphFilenameEscaper.Replace(s) }

// FetchMedia downloads an inbound file. A direct link from the webhook is
// tried first; since it expires, a failure falls back to asking Graph for
// a fresh URL of the media ID (GET /{media-id}), which is then fetched
// with the bearer token like the link. The reader fails once more than
// MaxMediaSize bytes were read.
func (p *Provider) FetchMedia(ctx context.Context, ch *parley.Channel, m *parley.Media) (io.ReadCloser, string, error) {
	c, err := p.conn(ch)
	if err != nil {
		return nil, "", fmt.Errorf("meta: fetch media: %w", err)
	}
	if m == nil || (m.Link == "" && m.ProviderMediaID == "") {
		return nil, "", fmt.Errorf("meta: fetch media: %w", graphRefuse("the media has neither an ID nor a link"))
	}
	var linkErr error
	if m.Link != "" {
		if !c.trusts(m.Link) {
			linkErr = graphRefuse("the media link is not a Meta address")
		} else if rc, mimeType, err := p.download(ctx, c, m.Link, m.MIMEType); err == nil {
			return rc, mimeType, nil
		} else {
			linkErr = err
		}
		if m.ProviderMediaID == "" {
			return nil, "", fmt.Errorf("meta: fetch media: %w", linkErr)
		}
	}
	rc, mimeType, err := p.fetchByID(ctx, c, m)
	if err != nil {
		return nil, "", fmt.Errorf("meta: fetch media: %w", err)
	}
	return rc, mimeType, nil
}

// fetchByID resolves a media ID to its URL and downloads it.
func (p *Provider) fetchByID(ctx context.Context, c *graphConn, m *parley.Media) (io.ReadCloser, string, error) {
	var node struct {
		URL      string `json:"url"`
		MIMEType string `json:"mime_type"`
		FileSize string `json:"file_size"`
	}
	var q url.Values
	if c.cfg.PhoneNumberID != "" {
		// Graph then checks the media belongs to this number.
		q = url.Values{"phone_number_id": {c.cfg.PhoneNumberID}}
	}
	if err := p.doJSON(ctx, c, graphCall{method: http.MethodGet, url: c.node(m.ProviderMediaID, "", q)}, &node); err != nil {
		return nil, "", fmt.Errorf("media URL: %w", err)
	}
	if node.URL == "" {
		return nil, "", &whatsapp.Error{Kind: whatsapp.Temporary, HTTPStatus: http.StatusOK, Message: "Graph gave no media URL"}
	}
	if n, err := strconv.ParseInt(node.FileSize, 10, 64); err == nil && n > MaxMediaSize {
		return nil, "", graphTooLarge(n)
	}
	mimeType := node.MIMEType
	if mimeType == "" {
		mimeType = m.MIMEType
	}
	return p.download(ctx, c, node.URL, mimeType)
}

// download GETs a media URL with the bearer token, as Meta requires.
func (p *Provider) download(ctx context.Context, c *graphConn, u, mimeType string) (io.ReadCloser, string, error) {
	resp, err := p.do(ctx, c, graphCall{method: http.MethodGet, url: u})
	if err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	if resp.ContentLength > MaxMediaSize {
		resp.Body.Close()
		return nil, "", graphTooLarge(resp.ContentLength)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		mimeType = ct
	}
	return whatsapp.LimitBody(resp.Body, MaxMediaSize, errMediaTooLarge), mimeType, nil
}

func graphTooLarge(n int64) error {
	return &whatsapp.Error{Kind: whatsapp.Rejected, Message: fmt.Sprintf("the file has %d bytes; at most %d are accepted", n, MaxMediaSize)}
}

// errMediaTooLarge is returned by a download reader past MaxMediaSize.
var errMediaTooLarge = errors.New("meta: media larger than 100 MB")

// trusts reports whether the bearer token may be sent to a media link:
// only to Meta's hosts or to the channel's own Graph address (a fake in
// tests), never to any address a payload names.
func (c *graphConn) trusts(link string) bool {
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return false
	}
	if base, err := url.Parse(c.base); err == nil && base.Host == u.Host && base.Scheme == u.Scheme {
		return true
	}
	if u.Scheme != "https" {
		return false
	}
	h := u.Hostname()
	for _, suffix := range []string{".fbsbx.com", ".facebook.com", ".whatsapp.net", ".fbcdn.net"} {
		if strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}
