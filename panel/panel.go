// Package panel signs and checks the short-lived tokens that open Parley's
// chat panel inside a CRM. A CRM's server asks the API for a token (with
// its API key) and puts it in the panel's address; the panel then works in
// the CRM's iframe without Parley's cookies, which browsers block there.
package panel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Claims is what a token grants: one tenant, optionally acting as one of
// its users, until it expires.
type Claims struct {
	TenantID string    `json:"t"`
	UserID   string    `json:"u,omitempty"`
	KeyID    string    `json:"k,omitempty"` // the API key that asked for it, for the audit record
	Expires  time.Time `json:"e"`
}

// ErrInvalid is returned for a token that is forged, damaged or expired.
var ErrInvalid = errors.New("panel: invalid or expired token")

// Signer signs and checks tokens with a key derived from the master key.
type Signer struct {
	Key []byte
	Now func() time.Time
}

// Sign returns a token for the claims: the claims in base64, a dot, and
// their HMAC-SHA256.
func (s *Signer) Sign(c Claims) string {
	payload, _ := json.Marshal(c)
	p := base64.RawURLEncoding.EncodeToString(payload)
	return p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
}

// Verify returns the claims of a valid, unexpired token.
func (s *Signer) Verify(token string) (Claims, error) {
	var c Claims
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(s.Key) == 0 {
		return c, ErrInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(p)) {
		return c, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(raw, &c) != nil || c.TenantID == "" {
		return Claims{}, ErrInvalid
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if !now().Before(c.Expires) {
		return Claims{}, ErrInvalid
	}
	return c, nil
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte("parley panel token\x00" + payload))
	return m.Sum(nil)
}

// DeriveKey derives the token key from the master key, so that a token
// key is never the key that encrypts secrets.
func DeriveKey(master []byte) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("parley panel token key"))
	return m.Sum(nil)
}
