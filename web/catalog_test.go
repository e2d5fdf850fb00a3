package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestCatalog: every visible string exists in English, Portuguese and
// Spanish, and every key the templates and the code use is in the catalog.
func TestCatalog(t *testing.T) {
	for key, e := range catalog {
		for lang, s := range map[string]string{"en": e.en, "pt": e.pt, "es": e.es} {
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s has no %s text", key, lang)
			}
		}
		if strings.Count(e.en, "%") != strings.Count(e.pt, "%") || strings.Count(e.en, "%") != strings.Count(e.es, "%") {
			t.Errorf("%s: the languages take different arguments: %q %q %q", key, e.en, e.pt, e.es)
		}
	}
	used := map[string]bool{}
	static := regexp.MustCompile(`T "([a-z_.]+)"`)
	dynamic := regexp.MustCompile(`printf "([a-z_.]+)%s"`)
	code := regexp.MustCompile(`(?:T|Errorf|label)\((?:parley\.E[A-Z]+, )?"([a-z_.]+)"`)
	// Keys built from a value: each value the value can take.
	values := map[string][]string{
		"role.":                 {"agent", "supervisor", "admin"},
		"inbox.":                {"open", "resolved"},
		"status.":               {"queued", "sending", "sent", "delivered", "read", "played", "failed", "received", "deleted"},
		"reason.":               {"outside_window", "rejected", "invalid", "rate_limited", "unauthorized", "temporary", "ambiguous", "max_attempts"},
		"media.":                {"image", "video", "audio", "document", "sticker"},
		"reaction.":             {"contact", "business"},
		"consent.":              {"unknown", "opted_in", "opted_out"},
		"category.":             {"marketing", "utility", "authentication"},
		"template.header_link.": {"image", "video", "document"},
		"crm.table.":            {"lead", "contact", "account"},
		"crm.column.":           {"statuscode", "statecode", "ownerid", "owner", "status"},
		"error.": {"invalid", "conflict", "not_found", "forbidden", "unauthorized", "too_large", "unavailable", "internal",
			"outside_window", "opted_out", "template_not_approved", "channel_unhealthy"},
	}
	scan := func(name, text string) {
		for _, m := range static.FindAllStringSubmatch(text, -1) {
			used[m[1]] = true
		}
		for _, m := range code.FindAllStringSubmatch(text, -1) {
			if strings.HasSuffix(m[1], ".") { // completed in code by a value
				for _, v := range values[m[1]] {
					used[m[1]+v] = true
				}
				continue
			}
			used[m[1]] = true
		}
		for _, m := range dynamic.FindAllStringSubmatch(text, -1) {
			vs, ok := values[m[1]]
			if !ok {
				t.Errorf("%s builds keys %s…, whose values the test does not know", name, m[1])
			}
			for _, v := range vs {
				used[m[1]+v] = true
			}
		}
	}
	fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := templateFS.ReadFile(p)
			scan(p, string(b))
		}
		return nil
	})
	for _, f := range []string{"auth.go", "compose.go", "console.go", "manage.go", "panel.go", "web.go", "media.go", "password.go", "events.go", "fanout.go", "access.go", "oidc.go"} {
		b, err := goFiles.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		scan(f, string(b))
	}
	for key := range used {
		if _, ok := catalog[key]; !ok {
			t.Errorf("%s is used but not in the catalog", key)
		}
	}
	for key := range catalog {
		if !used[key] && !strings.HasPrefix(key, "duration.") && key != "decimal.point" && key != "size.bytes" {
			t.Errorf("%s is in the catalog but nothing uses it", key)
		}
	}
}

func TestPickLanguage(t *testing.T) {
	for _, tt := range []struct{ pref, accept, want string }{
		{"", "pt-BR,pt;q=0.9,en;q=0.8", "pt"},
		{"", "es-MX,es;q=0.9", "es"},
		{"", "fr-FR,fr;q=0.9,es;q=0.5,pt;q=0.7", "pt"},
		{"", "de-DE", "en"},
		{"", "", "en"},
		{"es", "pt-BR", "es"},
		{"xx", "pt-BR", "pt"},
	} {
		if got := pickLanguage(tt.pref, tt.accept); got != tt.want {
			t.Errorf("pickLanguage(%q, %q) = %q, want %q", tt.pref, tt.accept, got, tt.want)
		}
	}
}
