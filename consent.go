package parley

import (
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// DefaultOptOutKeywords stop marketing templates to a contact who sends one
// of them as the whole message, in the languages of the first users.
var DefaultOptOutKeywords = []string{"STOP", "PARAR", "SAIR", "BAJA", "CANCELAR", "UNSUBSCRIBE"}

// metaStopPromotions is the payload of the "Stop promotions" button Meta
// adds to marketing templates; it opts out whatever the tenant's keywords.
const metaStopPromotions = "stop promotions"

// Consent is a contact's permission to receive marketing templates.
// Utility and service messages still go to a contact who opted out.
type Consent struct {
	State       string    `json:"state"` // "unknown", "opted_in" or "opted_out"
	Source      string    `json:"source,omitempty"`
	At          time.Time `json:"at,omitzero"`
	OptInSource string    `json:"opt_in_source,omitempty"`
	OptInAt     time.Time `json:"opt_in_at,omitzero"`
}

// Consent states.
const (
	ConsentUnknown  = "unknown"
	ConsentOptedIn  = "opted_in"
	ConsentOptedOut = "opted_out"
)

// OptedOut reports whether marketing templates must not be sent.
func (c Consent) OptedOut() bool { return c.State == ConsentOptedOut }

// IsOptOut reports whether text, taken as the whole message, is one of the
// keywords. Case, accents, surrounding space and trailing punctuation are
// ignored, so "Baja." and "cancelár" count, while "please stop calling me"
// does not: only a deliberate one-word message opts out.
func IsOptOut(text string, keywords []string) bool {
	t := foldKeyword(text)
	if t == "" {
		return false
	}
	if t == metaStopPromotions {
		return true
	}
	if len(keywords) == 0 {
		keywords = DefaultOptOutKeywords
	}
	for _, k := range keywords {
		if foldKeyword(k) == t {
			return true
		}
	}
	return false
}

func foldKeyword(s string) string {
	if !isASCII(s) {
		// A chain keeps state between calls, so each call gets its own:
		// ingestion checks messages from several goroutines at once.
		s, _, _ = transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	}
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
