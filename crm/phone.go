package crm

import (
	"strings"

	"github.com/parleyhq/parley/phone"
)

// PhoneFilter is an OData $filter that fetches the candidate records of a
// phone number. CRMs keep phones as free text, typed any way
// ("+55 (11) 98765-4321", "011 98765 4321", "5511987654321"), and OData
// cannot compare digits only. Every form of one number ends in its last
// four digits, and most keep its last eight together; both are asked for,
// and SamePhone then decides. The last eight are shared by all the
// variants of one WhatsApp user (the Brazilian 9, the Argentine 9 and the
// Mexican 1 sit in front of them: see phone.TrailingDigits).
func PhoneFilter(columns []string, e164 string) string {
	last4, last8 := phone.TrailingDigits(e164, 4), phone.TrailingDigits(e164, 8)
	var terms []string
	for _, c := range columns {
		terms = append(terms, "endswith("+c+",'"+last4+"')")
		if last8 != last4 {
			terms = append(terms, "contains("+c+",'"+last8+"')")
		}
	}
	return strings.Join(terms, " or ")
}

// SamePhone reports whether a phone as a CRM holds it is the customer's
// number. A number without its country code is read in the customer's
// country; the Brazil, Argentina and Mexico mobile rules apply (phone.Key).
func SamePhone(raw, e164 string) bool {
	if strings.TrimSpace(raw) == "" {
		return false
	}
	want := phone.Key(e164)
	if want == "" {
		return false
	}
	got, err := phone.Normalize(raw, phone.Region(e164))
	if err != nil {
		// A number libphonenumber thinks invalid may still be this one,
		// written with its country code ("+1 555 0100" test numbers).
		if d := phone.Digits(raw); len(d) >= 8 {
			return phone.Key("+"+d) == want
		}
		return false
	}
	return phone.Key(got) == want
}
