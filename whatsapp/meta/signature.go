package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
)

// hookSignaturePrefix names the algorithm in X-Hub-Signature-256. Meta
// only ever sends SHA-256 on this header (the older X-Hub-Signature is
// SHA-1, which Parley does not accept).
const hookSignaturePrefix = "sha256="

// Sign returns the X-Hub-Signature-256 value Meta would send for body:
// "sha256=" and the lowercase hex HMAC-SHA256 of the raw bytes keyed with
// the app secret. Tests, the fake Graph server and the benchmark use it to
// produce deliveries the HTTP layer accepts.
func Sign(body []byte, appSecret string) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	var sum [sha256.Size]byte
	return hookSignaturePrefix + hex.EncodeToString(mac.Sum(sum[:0]))
}

// VerifySignature reports whether header is body's X-Hub-Signature-256
// under appSecret. It must be given the body exactly as received: Meta
// signs its escaped-unicode serialisation, so a re-encoded body never
// matches. The comparison is constant time so that a forger learns nothing
// from response timing.
//
// It is strict on purpose: a missing or malformed header, another
// algorithm, uppercase hex (Meta sends lowercase) or an empty app secret
// (a channel whose secret was never configured must not accept bodies
// anyone could sign) all give false.
func VerifySignature(body []byte, header, appSecret string) bool {
	const want = len(hookSignaturePrefix) + 2*sha256.Size
	if appSecret == "" || len(header) != want || header[:len(hookSignaturePrefix)] != hookSignaturePrefix {
		return false
	}
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	var sum [sha256.Size]byte
	var expected [2 * sha256.Size]byte
	hex.Encode(expected[:], mac.Sum(sum[:0]))
	return subtle.ConstantTimeCompare(expected[:], []byte(header[len(hookSignaturePrefix):])) == 1
}

// VerifyHandshake answers Meta's GET subscription handshake: it returns
// hub.challenge, which the HTTP layer must echo as the response body (as
// text/plain, since the value comes from the request), and ok when
// hub.mode is "subscribe", hub.challenge is non-empty and accept approves
// hub.verify_token. Anything else must be refused (403), so that nobody but
// whoever configured the token can point a channel's webhook elsewhere.
//
// accept is a function rather than a token so that the caller can look the
// token up per channel and compare it in constant time. An empty token is
// refused before accept is asked: an unconfigured channel must not match a
// request that simply leaves the token out.
func VerifyHandshake(q url.Values, accept func(token string) bool) (string, bool) {
	challenge := q.Get("hub.challenge")
	token := q.Get("hub.verify_token")
	if q.Get("hub.mode") != "subscribe" || challenge == "" || token == "" || accept == nil || !accept(token) {
		return "", false
	}
	return challenge, true
}
