package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what a String shows instead of its value.
const Redacted = "[redacted]"

// String holds a secret in memory: a token, an app secret, a password.
// Every way Go prints or encodes a value (fmt with any verb, including
// %#v and %+v of a struct holding one, encoding/json, encoding.TextMarshaler
// users such as YAML and log/slog) shows "[redacted]", so a secret carried
// in a struct never lands in a log or an API response by accident. Reveal
// is the one way to the value, easy to find in review.
//
// Do not use a String as a map key: encoding/json writes keys of string
// kind as they are, without asking their methods.
type String string

// Reveal returns the secret itself. Pass it only to what needs it (an
// HTTP Authorization header, an HMAC key).
func (s String) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s String) String() string { return Redacted }

// GoString returns "[redacted]", for %#v.
func (s String) GoString() string { return Redacted }

// Format writes "[redacted]" for every verb, so that not even %x or %d
// (which would otherwise print the underlying string's bytes) reveal it.
func (s String) Format(f fmt.State, verb rune) { f.Write([]byte(Redacted)) }

// MarshalJSON returns "[redacted]" as a JSON string.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (s String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue returns "[redacted]" for log/slog.
func (s String) LogValue() slog.Value { return slog.StringValue(Redacted) }
