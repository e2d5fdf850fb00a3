package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/url"
	"sort"
	"strings"
)

// CheckSignature reports whether header is a valid X-Twilio-Signature for
// a request Twilio made to rawURL (the full URL it called, query
// included). The signature is Base64(HMAC-SHA1(authToken, rawURL followed
// by each POST parameter's name and value, sorted by name, the values of
// a repeated name sorted too)). Twilio may have signed the URL with or
// without the scheme's default port (:443, :80), so both are tried. A
// request with a JSON body carries bodySHA256 in its query instead of
// parameters: then the body's SHA-256 must match it and the URL alone is
// signed.
func CheckSignature(rawURL string, form url.Values, body []byte, header, authToken string) bool {
	if header == "" || authToken == "" {
		return false
	}
	want, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return false
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	if sum := u.Query().Get("bodySHA256"); sum != "" {
		got := sha256.Sum256(body)
		expect, err := hex.DecodeString(sum)
		if err != nil || !hmac.Equal(got[:], expect) {
			return false
		}
		form = nil
	}
	for _, candidate := range portVariants(rawURL, u) {
		if hmac.Equal(signature(authToken, candidate, form), want) {
			return true
		}
	}
	return false
}

// portVariants are the URL as given and with the scheme's default port
// added or removed. The URL's text is otherwise kept byte for byte: Twilio
// signs what it called, not a normalised form.
func portVariants(raw string, u *url.URL) []string {
	def := map[string]string{"https": "443", "http": "80"}[strings.ToLower(u.Scheme)]
	if def == "" || u.Host == "" {
		return []string{raw}
	}
	host, port, err := net.SplitHostPort(u.Host)
	prefix := u.Scheme + "://"
	if u.User != nil {
		prefix += u.User.String() + "@"
	}
	if !strings.HasPrefix(raw, prefix+u.Host) {
		return []string{raw}
	}
	rest := raw[len(prefix+u.Host):]
	switch {
	case err != nil: // no port
		return []string{raw, prefix + u.Host + ":" + def + rest}
	case port == def:
		return []string{raw, prefix + host + rest}
	}
	return []string{raw}
}

func signature(authToken, u string, form url.Values) []byte {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(u))
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vals := append([]string(nil), form[name]...)
		sort.Strings(vals)
		for _, v := range vals {
			mac.Write([]byte(name))
			mac.Write([]byte(v))
		}
	}
	return mac.Sum(nil)
}
