// Package phone turns the many spellings of a phone number into one
// identity, so that a WhatsApp customer is one contact whether the number
// came from Meta (a wa_id: digits only, no "+"), from a CRM record, or from
// an agent typing it by hand.
//
// Three forms matter:
//
//   - E.164 ("+5511987654321"): what Normalize and FromWAID return and what
//     Parley stores. It is the number as dialled from abroad.
//   - Key: a matching key that is equal for the spellings of one WhatsApp
//     user, where a country changed its mobile numbering while WhatsApp
//     kept the old form in wa_id (Brazil, Argentina, Mexico; see Key).
//   - Variants: the E.164 forms to try when looking a number up in a CRM
//     that matches phones literally.
//
// Parsing and validation use github.com/nyaruka/phonenumbers, a port of
// Google's libphonenumber, whose metadata knows every country's ranges.
package phone

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is wrapped by every Normalize error, so callers can tell a bad
// number from other failures with errors.Is.
var ErrInvalid = errors.New("invalid phone number")

// Country calling codes with WhatsApp-specific rules.
const (
	ccBrazil    = "55"
	ccArgentina = "54"
	ccMexico    = "52"
)

// Normalize turns human input into E.164 ("+5511987654321"). It accepts:
//
//   - international input with "+" ("+55 (11) 98765-4321");
//   - national input in defaultRegion, an ISO 3166 code such as "BR"
//     ("11 98765-4321"), with the region's own trunk and carrier prefixes
//     ("0 21 11 98765-4321" in Brazil, "011 15 2345-6789" in Argentina);
//   - the ITU international prefix "00" ("0055 11 98765 4321"), even where
//     the region's own international prefix differs (Brazil dials
//     00+carrier, the US 011) because people copy numbers across borders;
//   - digits without "+" that are valid once a "+" is prepended
//     ("5511987654321", how CRMs and WhatsApp store numbers). This is tried
//     only after the national reading fails: a national number can also
//     read as a foreign one ("21 3333-4444", a Rio landline, is
//     "+213 3333444" in Algeria), and input typed in the tenant's own
//     country is the common case;
//   - obsolete mobile forms that WhatsApp still uses: a Brazilian mobile
//     without its ninth digit ("+55 11 8765-4321") and a Mexican mobile with
//     the "1" ("+52 1 55 1234 5678"). They come back in today's valid form
//     ("+5511987654321", "+525512345678"), which has the same Key.
//
// A number must be valid, not just plausible: libphonenumber checks it
// against the assigned ranges of its country. The error says why not.
func Normalize(raw, defaultRegion string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("phone: parse %q: %w: empty", raw, ErrInvalid)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))
	digits := Digits(s)
	// why is the reason to report: that of the first reading tried, unless
	// it only failed for want of a country code and a later one got further.
	var why error
	try := func(input, region string) (string, bool) {
		e164, err := parseValid(input, region)
		if err == nil {
			return e164, true
		}
		if why == nil || errors.Is(why, phonenumbers.ErrInvalidCountryCode) {
			why = err
		}
		return "", false
	}
	if e164, ok := try(s, region); ok {
		return e164, nil
	}
	if !strings.HasPrefix(s, "+") && strings.HasPrefix(digits, "00") {
		if e164, ok := try("+"+digits[2:], ""); ok {
			return e164, nil
		}
	}
	if !strings.HasPrefix(s, "+") && digits != "" && digits[0] != '0' && !hasLetter(s) {
		if e164, ok := try("+"+digits, ""); ok {
			return e164, nil
		}
	}
	if region == "" && !strings.HasPrefix(s, "+") {
		return "", fmt.Errorf("phone: parse %q: %w: no default region, and as an international number: %w", raw, ErrInvalid, why)
	}
	return "", fmt.Errorf("phone: parse %q: %w: %w", raw, ErrInvalid, why)
}

// parseValid parses input and returns its E.164 form if libphonenumber
// holds it valid, or if it is an obsolete WhatsApp form of a valid number
// (see modern); otherwise an error saying what is wrong with it.
func parseValid(input, region string) (string, error) {
	n, err := phonenumbers.Parse(input, region)
	if err != nil {
		return "", err
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if phonenumbers.IsValidNumber(n) {
		return e164, nil
	}
	if m, ok := modern(e164); ok {
		return m, nil
	}
	return "", invalidReason(n)
}

// invalidReason explains why libphonenumber rejects a parsed number.
func invalidReason(n *phonenumbers.PhoneNumber) error {
	where := phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode()))
	switch phonenumbers.IsPossibleNumberWithReason(n) {
	case phonenumbers.INVALID_COUNTRY_CODE:
		return fmt.Errorf("unknown country code +%d", n.GetCountryCode())
	case phonenumbers.TOO_SHORT:
		return fmt.Errorf("too short for %s", where)
	case phonenumbers.TOO_LONG:
		return fmt.Errorf("too long for %s", where)
	case phonenumbers.INVALID_LENGTH:
		return fmt.Errorf("wrong length for %s", where)
	default:
		return fmt.Errorf("not an assigned number range in %s", where)
	}
}

// modern rewrites an obsolete form that WhatsApp still reports into the
// form valid today, and reports whether that form is valid:
//
//   - Brazil: +55 DD [6-9]XXXXXXX → +55 DD 9[6-9]XXXXXXX (ninth digit);
//   - Mexico: +52 1 XXXXXXXXXX → +52 XXXXXXXXXX;
//   - Argentina: +54 9 with a "15" left in ("+54 9 11 15 2345 6789"):
//     without the 9, libphonenumber reads the 15 as the local mobile
//     prefix and gives back +54 9 11 2345 6789.
func modern(e164 string) (string, bool) {
	cc, rest, ok := split(e164)
	if !ok {
		return "", false
	}
	var candidate string
	switch cc {
	case ccBrazil:
		if !brShortMobile(rest) {
			return "", false
		}
		candidate = "+" + ccBrazil + rest[:2] + "9" + rest[2:]
	case ccMexico:
		if !mxOldMobile(rest) {
			return "", false
		}
		candidate = "+" + ccMexico + rest[1:]
	case ccArgentina:
		if len(rest) <= 11 || rest[0] != '9' {
			return "", false
		}
		candidate = "+" + ccArgentina + rest[1:]
	default:
		return "", false
	}
	n, err := phonenumbers.Parse(candidate, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// FromWAID turns a WhatsApp ID as Meta reports it ("5511987654321") into
// E.164 ("+5511987654321"). It does not validate the number against
// libphonenumber: Meta's wa_id is the account's identity even when the
// number is in an obsolete form (a Brazilian mobile without its ninth
// digit is not a valid number today, yet it is the wa_id of millions of
// accounts). It returns "" unless waid is 7 to 15 ASCII digits (the E.164
// limits) not starting with 0, as no country code does.
func FromWAID(waid string) string {
	if len(waid) < 7 || len(waid) > 15 || waid[0] == '0' {
		return ""
	}
	for i := 0; i < len(waid); i++ {
		if waid[i] < '0' || waid[i] > '9' {
			return ""
		}
	}
	return "+" + waid
}

// Key returns the matching key of an E.164 number: equal for all forms of
// one WhatsApp user, different for different people. It is E.164 itself
// except for three countries whose mobile numbering changed while WhatsApp
// kept the old form in the wa_id of accounts registered before:
//
// Brazil (+55). ANATEL (Resolução 553/2010) put a 9 in front of every
// mobile number, area by area from DDD 11 in July 2012 to DDDs 41–55 in
// November 2016: (11) 8765-4321 became (11) 98765-4321. Mobile numbers had
// 8 digits starting 6–9 and landlines 8 digits starting 2–5, so the 9 is
// redundant and dropping it cannot make a mobile look like a landline.
// WhatsApp accounts created before the change keep the 8-digit wa_id
// (chatwoot issue #5840; devlikeapro/waha #1261). Key drops the 9:
//
//	+55 11 9 8765-4321 → +55 11 8765-4321 (the wa_id form, unchanged)
//	+55 85 9 9123-4567 → +55 85 9123-4567
//	+55 11 3333-4444   → unchanged (landline)
//	+55 11 9 1234-5678 → unchanged (a 9 1xxx mobile never had a short form)
//
// Argentina (+54). Mobiles are dialled from abroad as +54 9 <area>
// <number>, but the same line is +54 <area> <number> in SMS and in many
// wa_ids; domestically it is 0<area> 15 <number>. The 10 digits after +54
// (area + number) identify the line either way, and no area code starts
// with 9, so Key drops the 9. A "15" left inside an E.164 string
// ("+54 11 15 2345 6789") is resolved with libphonenumber, which reads it
// as the mobile prefix:
//
//	+54 9 11 2345-6789  → +54 11 2345-6789
//	+54 11 15 2345-6789 → +54 11 2345-6789
//
// Mexico (+52). Mobiles were dialled from abroad as +52 1 <10 digits>
// until the August 2019 dialling reform removed the 1; WhatsApp and
// carriers still report many as 521... (chatwoot's MexicoPhoneNormalizer).
// Mexican numbers have 10 digits and none starts with 1, so Key drops it:
//
//	+52 1 55 1234 5678 → +52 55 1234 5678
//
// Key returns "" for anything that is not "+" and digits. It is
// idempotent: Key(Key(x)) == Key(x).
func Key(e164 string) string {
	cc, rest, ok := split(e164)
	if !ok {
		return ""
	}
	switch cc {
	case ccBrazil:
		if brLongMobile(rest) {
			return "+" + ccBrazil + rest[:2] + rest[3:]
		}
	case ccArgentina:
		if arWithNine(rest) {
			return "+" + ccArgentina + rest[1:]
		}
		if len(rest) > 10 {
			// A stray "15": let libphonenumber read it, then drop the 9.
			if n, err := phonenumbers.Parse(e164, ""); err == nil && phonenumbers.IsValidNumber(n) {
				if _, r, ok := split(phonenumbers.Format(n, phonenumbers.E164)); ok && arWithNine(r) {
					return "+" + ccArgentina + r[1:]
				}
			}
		}
	case ccMexico:
		if mxOldMobile(rest) {
			return "+" + ccMexico + rest[1:]
		}
	}
	return e164
}

// Variants returns the E.164 forms under which a CRM may hold the same
// WhatsApp user: e164 itself first, then its Key, then the other spelling
// (with the Brazilian ninth digit, the Argentine 9, the Mexican 1). Only
// Brazilian mobiles in the 6–9 range get a with/without-9 pair, so a
// landline never matches a mobile. It returns nil for anything that is
// not "+" and digits.
func Variants(e164 string) []string {
	key := Key(e164)
	if key == "" {
		return nil
	}
	out := []string{e164}
	add := func(s string) {
		for _, v := range out {
			if v == s {
				return
			}
		}
		out = append(out, s)
	}
	add(key)
	cc, rest, _ := split(key)
	switch cc {
	case ccBrazil:
		if brShortMobile(rest) {
			add("+" + ccBrazil + rest[:2] + "9" + rest[2:])
		}
	case ccArgentina:
		if len(rest) == 10 && rest[0] != '9' {
			add("+" + ccArgentina + "9" + rest)
		}
	case ccMexico:
		if len(rest) == 10 && rest[0] != '1' {
			add("+" + ccMexico + "1" + rest)
		}
	}
	return out
}

// Digits returns the decimal digits in s, in order, as ASCII: separators,
// letters and "+" are dropped, and digits of other scripts (Arabic-Indic,
// full-width) are converted, since agents paste numbers from anywhere.
func Digits(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r > unicode.MaxASCII && unicode.IsDigit(r):
			b.WriteByte('0' + digitValue(r))
		}
	}
	return b.String()
}

// digitValue returns the value of a Unicode decimal digit. Unicode puts
// decimal digits in runs of whole 0–9 sequences, so the value is the
// distance from the start of the run, modulo 10.
func digitValue(r rune) byte {
	start := r
	for start > 0 && unicode.IsDigit(start-1) {
		start--
	}
	return byte((r - start) % 10)
}

// TrailingDigits returns the last n digits of e164 (all of them if it has
// fewer). The CRM lookup fetches candidates by their last 8 digits because
// every variant of one WhatsApp user shares them: the Brazilian 9, the
// Argentine 9 and the Mexican 1 all sit in front of the last 8 digits,
// and CRMs store numbers with or without country code and formatting.
func TrailingDigits(e164 string, n int) string {
	if n <= 0 {
		return ""
	}
	d := Digits(e164)
	if len(d) <= n {
		return d
	}
	return d[len(d)-n:]
}

// split splits "+<cc><rest>" for the country codes with rules here; for
// other numbers cc is "" and rest the digits. ok is false unless s is "+"
// followed by 1 to 15 ASCII digits.
func split(s string) (cc, rest string, ok bool) {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' {
		return "", "", false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", "", false
		}
	}
	d := s[1:]
	for _, c := range []string{ccBrazil, ccArgentina, ccMexico} {
		if strings.HasPrefix(d, c) {
			return c, d[len(c):], true
		}
	}
	return "", d, true
}

// brArea reports whether s starts with a Brazilian area code (DDD): two
// digits 1–9.
func brArea(s string) bool {
	return len(s) >= 2 && s[0] >= '1' && s[0] <= '9' && s[1] >= '1' && s[1] <= '9'
}

// brLongMobile reports whether rest (after +55) is DDD 9 [6-9]XXXXXXX: a
// mobile that had an 8-digit form before the ninth digit.
func brLongMobile(rest string) bool {
	return len(rest) == 11 && brArea(rest) && rest[2] == '9' && rest[3] >= '6' && rest[3] <= '9'
}

// brShortMobile reports whether rest (after +55) is DDD [6-9]XXXXXXX: a
// mobile written without its ninth digit.
func brShortMobile(rest string) bool {
	return len(rest) == 10 && brArea(rest) && rest[2] >= '6' && rest[2] <= '9'
}

// arWithNine reports whether rest (after +54) is 9 + 10 digits: a mobile
// in international form.
func arWithNine(rest string) bool {
	return len(rest) == 11 && rest[0] == '9'
}

// mxOldMobile reports whether rest (after +52) is 1 + 10 digits: a mobile
// in the pre-2019 international form.
func mxOldMobile(rest string) bool {
	return len(rest) == 11 && rest[0] == '1'
}

func hasLetter(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}

// E164 reads a number typed in international form. It prefers Normalize's
// validated reading, and otherwise accepts a well-formed "+<country><number>"
// of 8 to 15 digits as it is: WhatsApp serves numbers that the phone-number
// metadata does not know or calls invalid, such as Meta's +1 555 test
// numbers and ranges newer than the metadata, and refusing them would
// lock real customers out.
func E164(raw string) (string, error) {
	if n, err := Normalize(raw, ""); err == nil {
		return n, nil
	} else if s := strings.TrimSpace(raw); strings.HasPrefix(s, "+") && !hasLetter(s) {
		d := Digits(s)
		if len(d) >= 8 && len(d) <= 15 && d[0] != '0' {
			return "+" + d, nil
		}
		return "", err
	} else {
		return "", err
	}
}

// languages is the language a number's country most likely writes in, as
// WhatsApp names template languages. WhatsApp tells nothing of a
// customer's language, so this is Parley's first guess, until an agent or
// a CRM says otherwise.
var languages = map[string]string{
	"BR": "pt_BR", "PT": "pt_PT", "AO": "pt_PT", "MZ": "pt_PT", "CV": "pt_PT",
	"ES": "es_ES", "MX": "es_MX", "AR": "es_AR", "CO": "es_CO", "CL": "es_CL", "PE": "es_PE", "UY": "es", "PY": "es",
	"BO": "es", "EC": "es", "VE": "es", "CR": "es", "PA": "es", "DO": "es", "GT": "es", "HN": "es", "SV": "es", "NI": "es", "CU": "es",
	"US": "en_US", "GB": "en_GB", "CA": "en_US", "AU": "en_US", "IE": "en_GB", "NZ": "en_GB", "IN": "en_US",
}

// Language guesses the language of a number's owner from its country,
// or returns "".
func Language(e164 string) string { return languages[Region(e164)] }

// Region is the country of a number (ISO 3166 code, such as "BR"), or "".
// A CRM record that holds "(11) 98765-4321" is read in the country of the
// customer whose number it is being compared with.
func Region(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(n)
}
