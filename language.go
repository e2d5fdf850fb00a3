package parley

import "strings"

// NormalizeLanguage writes a language code the way WhatsApp names
// template languages: pt-BR, pt_br and pt_BR are all pt_BR.
func NormalizeLanguage(l string) string {
	base, region, ok := strings.Cut(strings.ReplaceAll(strings.TrimSpace(l), "-", "_"), "_")
	if !ok {
		return strings.ToLower(base)
	}
	return strings.ToLower(base) + "_" + strings.ToUpper(region)
}

// BaseLanguage is a language without its region: pt for pt_BR and pt_PT.
func BaseLanguage(l string) string {
	base, _, _ := strings.Cut(NormalizeLanguage(l), "_")
	return base
}

// LanguageChain is the order in which a template's languages are tried
// for a customer: the language their CRM record holds, the contact's
// language, then the tenant's fallback chain, each once.
func LanguageChain(record, contact string, fallback []string) []string {
	var out []string
	for _, l := range append([]string{record, contact}, fallback...) {
		if l = NormalizeLanguage(l); l != "" && !contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// PickTemplate returns the variant of a template to send, from variants
// of one name: the first language of the chain that has one, else the
// first whose base language has one (a pt_PT customer gets pt_BR rather
// than nothing). Nil when no variant fits.
func PickTemplate(variants []*Template, chain []string) *Template {
	for _, l := range chain {
		for _, t := range variants {
			if NormalizeLanguage(t.Language) == l {
				return t
			}
		}
	}
	for _, l := range chain {
		for _, t := range variants {
			if BaseLanguage(t.Language) == BaseLanguage(l) {
				return t
			}
		}
	}
	return nil
}
