package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Languages the console speaks. The first users are in Brazil, Portugal,
// Spain and Latin America.
var languages = []string{"en", "pt", "es"}

// entry is one visible string in each language.
type entry struct{ en, pt, es string }

// translate returns key's text in lang, formatted with args. A missing key
// shows itself, so it is noticed (and the catalog test fails first).
func translate(lang, key string, args ...any) string {
	e, ok := catalog[key]
	if !ok {
		return key
	}
	s := e.en
	switch lang {
	case "pt":
		s = e.pt
	case "es":
		s = e.es
	}
	if len(args) > 0 {
		s = fmt.Sprintf(s, args...)
	}
	return s
}

// pickLanguage is the user's choice, or the browser's preferred language
// among ours, or English.
func pickLanguage(pref, acceptLanguage string) string {
	if isLanguage(pref) {
		return pref
	}
	best, bestQ := "en", -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if isLanguage(base) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

func isLanguage(s string) bool {
	for _, l := range languages {
		if s == l {
			return true
		}
	}
	return false
}

var months = map[string][12]string{
	"en": {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	"pt": {"jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"},
	"es": {"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"},
}

// formatDay is a calendar day as people of lang write it.
func formatDay(lang string, t time.Time) string {
	m := months[lang]
	if m[0] == "" {
		m = months["en"]
	}
	mon := m[t.Month()-1]
	switch lang {
	case "pt":
		return fmt.Sprintf("%d de %s de %d", t.Day(), mon, t.Year())
	case "es":
		return fmt.Sprintf("%d %s %d", t.Day(), mon, t.Year())
	}
	return fmt.Sprintf("%s %d, %d", mon, t.Day(), t.Year())
}
