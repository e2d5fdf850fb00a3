package parley

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
)

// WebhookCRMConfig is how Parley talks to a CRM it has no adapter for:
// the CRM posts its records to Parley's webhook, and Parley posts every
// message to the CRM's activity URL, both signed the Standard Webhooks way
// (https://www.standardwebhooks.com). Secrets are "whsec_" and the base64
// of the key's bytes, as that specification writes them.
type WebhookCRMConfig struct {
	// ActivityURL receives every message and status, and lead.create.
	ActivityURL string `json:"activity_url"`
	// SigningSecret signs what Parley posts to the CRM.
	SigningSecret string `json:"signing_secret"`
	// InboundSecret is what the CRM signs its webhooks to Parley with.
	// It differs from SigningSecret so that a receiver that leaks its key
	// cannot be used to write records into Parley.
	InboundSecret string `json:"inbound_secret"`
	// Import is where the initial sync reads the CRM's records, if any.
	Import *WebhookImport `json:"import,omitempty"`
}

// WebhookImport is a paginated JSON endpoint listing the CRM's records,
// read once by the initial sync. Pages are followed either by a link to the
// next page (NextPath, such as paging.next.link) or by a cursor read from
// the page (CursorPath) and sent back as a query parameter (CursorParam).
type WebhookImport struct {
	URL string `json:"url"`
	// ItemsPath is the dotted path of the page's list of records, such as
	// data or results.
	ItemsPath   string `json:"items_path,omitempty"`
	NextPath    string `json:"next_path,omitempty"`
	CursorParam string `json:"cursor_param,omitempty"`
	CursorPath  string `json:"cursor_path,omitempty"`
	// Headers are sent with every page request, such as an Authorization
	// header; they are kept encrypted with the secrets.
	Headers map[string]string `json:"headers,omitempty"`
}

var jsonPath = regexp.MustCompile(`^[A-Za-z0-9_$@-]+(\.[A-Za-z0-9_$@-]+)*$`)

// Check reports the first missing or malformed setting.
func (c *WebhookCRMConfig) Check() error {
	if err := checkHTTPURL("activity_url", c.ActivityURL); err != nil {
		return err
	}
	for name, s := range map[string]string{"signing_secret": c.SigningSecret, "inbound_secret": c.InboundSecret} {
		if _, err := WebhookSecretKey(s); err != nil {
			return Errorf(EINVALID, "%s: %s", name, ErrorMessage(err))
		}
	}
	if im := c.Import; im != nil {
		if err := checkHTTPURL("import.url", im.URL); err != nil {
			return err
		}
		for name, p := range map[string]string{"items_path": im.ItemsPath, "next_path": im.NextPath, "cursor_path": im.CursorPath} {
			if p != "" && !jsonPath.MatchString(p) {
				return Errorf(EINVALID, "import.%s must be a dotted path such as paging.next.link (got %q).", name, p)
			}
		}
		if (im.CursorParam == "") != (im.CursorPath == "") {
			return Errorf(EINVALID, "import.cursor_param and import.cursor_path go together: where the next cursor is read and how it is sent.")
		}
		if im.NextPath != "" && im.CursorPath != "" {
			return Errorf(EINVALID, "Give import.next_path or import.cursor_param with import.cursor_path, not both.")
		}
		for k := range im.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				return Errorf(EINVALID, "%q is not an HTTP header name.", k)
			}
		}
	}
	return nil
}

// checkHTTPURL accepts an absolute http(s) address. Plain http is allowed:
// a self-hosted CRM on a private network often has no certificate, and the
// Standard Webhooks signature protects the content either way.
func checkHTTPURL(name, s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return Errorf(EINVALID, "%s must be an http or https address (got %q).", name, s)
	}
	return nil
}

// WebhookSecretPrefix starts a Standard Webhooks secret.
const WebhookSecretPrefix = "whsec_"

// WebhookSecretKey is the HMAC key of a Standard Webhooks secret: the
// base64 after the whsec_ prefix (the prefix is optional, as the
// specification's libraries accept). A key shorter than 24 bytes is
// refused: the specification asks for 24 to 64.
func WebhookSecretKey(secret string) ([]byte, error) {
	b64 := strings.TrimPrefix(secret, WebhookSecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, Errorf(EINVALID, "A secret is whsec_ followed by base64, such as whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw.")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, Errorf(EINVALID, "A secret's key must be 24 to 64 bytes (this one has %d).", len(key))
	}
	return key, nil
}

// NewWebhookSecret is a new random Standard Webhooks secret of 32 bytes.
func NewWebhookSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// WebhookCRMTables are the entities a webhook CRM's records are looked up
// in by default, contact first. Their columns are the fields of the
// inbound events: name, phones, and owner and status watched for changes.
func WebhookCRMTables() []CRMTable {
	t := func(name string) CRMTable {
		return CRMTable{Name: name, EntitySet: name + "s", IDColumn: "id", NameColumn: "name", PhoneColumns: []string{"phones"},
			WatchColumns: []string{"owner", "status"}}
	}
	return []CRMTable{t("contact"), t("lead"), t("account")}
}
