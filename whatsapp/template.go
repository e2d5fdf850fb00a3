package whatsapp

import (
	"io"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
)

// Component is a template component in WhatsApp's own format (HEADER,
// BODY, FOOTER, BUTTONS), which both Meta's Graph API and ACS return as
// they got it from WhatsApp.
type Component struct {
	Type    string `json:"type"`
	Format  string `json:"format"`
	Text    string `json:"text"`
	Buttons []struct {
		Type string `json:"type"`
		Text string `json:"text"`
		URL  string `json:"url"`
	} `json:"buttons"`
}

// ApplyComponents fills a template's header, body, footer and buttons
// from WhatsApp's components, and says its parameters are named when any
// body or header placeholder is not a number. The caller counts the
// parameters once it has applied what its vendor adds.
func ApplyComponents(t *parley.Template, comps []Component) {
	for _, comp := range comps {
		switch strings.ToUpper(comp.Type) {
		case "HEADER":
			h := &parley.TemplateHeader{Format: strings.ToLower(comp.Format), Text: comp.Text}
			if h.Format == "" {
				h.Format = "text"
			}
			if h.Format == "text" {
				h.Params = parley.Placeholders(comp.Text)
			}
			t.Header = h
		case "BODY":
			t.Body = comp.Text
			t.BodyParams = parley.Placeholders(comp.Text)
		case "FOOTER":
			t.Footer = comp.Text
		case "BUTTONS":
			for _, b := range comp.Buttons {
				typ := strings.ToLower(b.Type)
				t.Buttons = append(t.Buttons, parley.TemplateButton{Type: typ, Text: b.Text, URL: b.URL,
					HasParam: typ == "url" && len(parley.Placeholders(b.URL)) > 0})
			}
		}
	}
	t.ParameterFormat = "positional"
	if namedPlaceholders(t.BodyParams) || (t.Header != nil && namedPlaceholders(t.Header.Params)) {
		t.ParameterFormat = "named"
	}
}

func namedPlaceholders(params []string) bool {
	for _, p := range params {
		if _, err := strconv.Atoi(p); err != nil {
			return true
		}
	}
	return false
}

// LimitBody wraps a download so that it fails with tooLarge past limit
// bytes, rather than silently truncating like io.LimitReader: a file cut
// short would be stored as if it were whole.
func LimitBody(rc io.ReadCloser, limit int64, tooLarge error) io.ReadCloser {
	return &limitedBody{rc: rc, left: limit, tooLarge: tooLarge}
}

type limitedBody struct {
	rc       io.ReadCloser
	left     int64
	tooLarge error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Allow a clean EOF exactly at the limit.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, b.tooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
