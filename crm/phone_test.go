package crm

import "testing"

func TestSamePhone(t *testing.T) {
	for _, tt := range []struct {
		raw, e164 string
		same      bool
	}{
		{"+55 (11) 98765-4321", "+5511987654321", true},
		{"(11) 98765-4321", "+5511987654321", true},    // no country code: read in Brazil
		{"011 98765 4321", "+5511987654321", true},     // trunk prefix
		{"5511987654321", "+5511987654321", true},      // as WhatsApp writes it
		{"+55 11 8765-4321", "+5511987654321", true},   // without the ninth digit
		{"+55 11 98765-4322", "+5511987654321", false}, // another number
		{"+55 21 98765-4321", "+5511987654321", false}, // another area
		{"+52 1 55 1234 5678", "+525512345678", true},  // Mexico's old mobile 1
		{"+54 9 11 2345-6789", "+5491123456789", true}, // Argentina
		{"+351 912 345 678", "+351912345678", true},    // Portugal
		{"912 345 678", "+351912345678", true},         // national, read in Portugal
		{"+1 555 0100 123", "+15550100123", true},      // not valid to libphonenumber, same digits
		{"", "+5511987654321", false},
		{"call me", "+5511987654321", false},
	} {
		if got := SamePhone(tt.raw, tt.e164); got != tt.same {
			t.Errorf("SamePhone(%q, %q) = %v, want %v", tt.raw, tt.e164, got, tt.same)
		}
	}
}

func TestPhoneFilter(t *testing.T) {
	got := PhoneFilter([]string{"mobilephone", "telephone1"}, "+5511987654321")
	want := "endswith(mobilephone,'4321') or contains(mobilephone,'87654321') or endswith(telephone1,'4321') or contains(telephone1,'87654321')"
	if got != want {
		t.Errorf("PhoneFilter = %s\nwant          %s", got, want)
	}
}
