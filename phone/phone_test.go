package phone

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, raw, region, want string
	}{
		// Brazil.
		{"BR international formatted", "+55 (11) 98765-4321", "", "+5511987654321"},
		{"BR 00 prefix no region", "0055 11 98765 4321", "", "+5511987654321"},
		{"BR 00 prefix in BR", "0055 11 98765 4321", "BR", "+5511987654321"},
		{"BR 00 prefix in US", "0055 11 98765 4321", "US", "+5511987654321"},
		{"BR national", "11 98765-4321", "BR", "+5511987654321"},
		{"BR national parens", "(11) 98765-4321", "BR", "+5511987654321"},
		{"BR national lower-case region", "11 98765-4321", "br", "+5511987654321"},
		{"BR national with carrier code", "0 21 11 98765-4321", "BR", "+5511987654321"},
		{"BR digits only", "5511987654321", "", "+5511987654321"},
		{"BR digits only other region", "5511987654321", "US", "+5511987654321"},
		{"BR digits only own region", "5511987654321", "BR", "+5511987654321"},
		{"BR Rio mobile", "+55 21 98765-4321", "", "+5521987654321"},
		{"BR Fortaleza mobile", "(85) 99123-4567", "BR", "+5585991234567"},
		{"BR mobile without ninth digit", "+55 11 8765-4321", "", "+5511987654321"},
		{"BR wa_id without ninth digit", "551187654321", "", "+5511987654321"},
		{"BR Rio without ninth digit", "+55 21 8765-4321", "", "+5521987654321"},
		{"BR landline", "+55 11 3333-4444", "", "+551133334444"},
		{"BR Rio landline national", "(21) 2345-6789", "BR", "+552123456789"},
		{"BR Fortaleza landline", "+55 85 3456-7890", "", "+558534567890"},
		// Argentina.
		{"AR mobile international", "+54 9 11 2345-6789", "", "+5491123456789"},
		{"AR without 9", "+54 11 2345-6789", "", "+541123456789"},
		{"AR national with 15", "011 15 2345-6789", "AR", "+5491123456789"},
		{"AR international with 15", "+54 11 15 2345 6789", "", "+5491123456789"},
		{"AR with 9 and 15", "+54 9 11 15 2345 6789", "", "+5491123456789"},
		{"AR Cordoba with 15", "0351 15 512-3456", "AR", "+5493515123456"},
		{"AR wa_id", "5491123456789", "", "+5491123456789"},
		// Mexico.
		{"MX old mobile with 1", "+52 1 55 1234 5678", "", "+525512345678"},
		{"MX old wa_id with 1", "5215512345678", "", "+525512345678"},
		{"MX current", "+52 55 1234 5678", "", "+525512345678"},
		{"MX national", "55 1234 5678", "MX", "+525512345678"},
		{"MX Guadalajara", "+52 33 1234 5678", "", "+523312345678"},
		// Others.
		{"US international", "+1 (415) 555-2671", "", "+14155552671"},
		{"US national", "(415) 555-2671", "US", "+14155552671"},
		{"US with trunk 1", "1-415-555-2671", "US", "+14155552671"},
		{"US national not read as Egypt", "2025550123", "US", "+12025550123"},
		{"PT mobile", "+351 912 345 678", "", "+351912345678"},
		{"PT national", "912 345 678", "PT", "+351912345678"},
		{"ES mobile", "+34 612 34 56 78", "", "+34612345678"},
		{"ES national", "612345678", "ES", "+34612345678"},
		{"UK mobile", "+44 7911 123456", "", "+447911123456"},
		{"UK mobile national", "07911 123456", "GB", "+447911123456"},
		{"UK London landline", "020 7946 0958", "GB", "+442079460958"},
		{"surrounding space", "  +55 11 98765-4321\t", "", "+5511987654321"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tt.raw, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("Normalize(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func TestNormalizeInvalid(t *testing.T) {
	tests := []struct {
		name, raw, region string
		reason            string // a fragment the error must contain
	}{
		{"empty", "", "BR", "empty"},
		{"blank", "   ", "BR", "empty"},
		{"letters", "abc", "BR", "not a number"},
		{"too short", "123", "BR", "too short"},
		{"BR too short", "+55 11 9876", "", "too short"},
		{"BR too long", "+55 11 98765-43210000", "", "too long"},
		{"BR unassigned range", "+55 11 1234-5678", "", "not an assigned number range in BR"},
		{"unknown country code", "+999 123456", "", "country code"},
		{"national without region", "11 98765-4321", "", "no default region"},
		{"US unassigned area code", "+1 123 555 0100", "", "US"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.raw, tt.region)
			if err == nil {
				t.Fatalf("Normalize(%q, %q) = %q, want an error", tt.raw, tt.region, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "phone: parse ") {
				t.Errorf("error %q does not say what failed", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not say %q", err, tt.reason)
			}
		})
	}
}

func TestFromWAID(t *testing.T) {
	tests := []struct{ waid, want string }{
		{"5511987654321", "+5511987654321"},
		{"551187654321", "+551187654321"}, // obsolete but real: not validated
		{"14155552671", "+14155552671"},
		{"1234567", "+1234567"},
		{"123456789012345", "+123456789012345"},
		{"", ""},
		{"123456", ""},           // too short for E.164
		{"1234567890123456", ""}, // too long for E.164
		{"+5511987654321", ""},
		{"55 11 98765 4321", ""},
		{"05511987654321", ""},
		{"55119876543２1", ""}, // full-width digit
	}
	for _, tt := range tests {
		if got := FromWAID(tt.waid); got != tt.want {
			t.Errorf("FromWAID(%q) = %q, want %q", tt.waid, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ e164, want string }{
		{"+5511987654321", "+551187654321"},
		{"+551187654321", "+551187654321"},
		{"+5521987654321", "+552187654321"},
		{"+5585991234567", "+558591234567"},
		{"+5511967654321", "+551167654321"},  // 6 is in the old mobile range
		{"+551133334444", "+551133334444"},   // landline
		{"+5511933334444", "+5511933334444"}, // 9 3xxx never had a short form
		{"+5511912345678", "+5511912345678"}, // nor 9 1xxx
		{"+558001234567", "+558001234567"},   // 0800 toll-free
		{"+5491123456789", "+541123456789"},
		{"+541123456789", "+541123456789"},
		{"+54111523456789", "+541123456789"}, // stray 15
		{"+5493515123456", "+543515123456"},
		{"+5215512345678", "+525512345678"},
		{"+525512345678", "+525512345678"},
		{"+14155552671", "+14155552671"},
		{"+351912345678", "+351912345678"},
		{"+34612345678", "+34612345678"},
		{"+447911123456", "+447911123456"},
		{"", ""},
		{"5511987654321", ""},
		{"+55 11 98765-4321", ""},
		{"+", ""},
		{"+1234567890123456", ""},
	}
	for _, tt := range tests {
		if got := Key(tt.e164); got != tt.want {
			t.Errorf("Key(%q) = %q, want %q", tt.e164, got, tt.want)
		}
	}
}

// TestKeySamePerson checks that every spelling of one WhatsApp user,
// whichever way it arrived, has one key.
func TestKeySamePerson(t *testing.T) {
	norm := func(raw, region string) string {
		t.Helper()
		e, err := Normalize(raw, region)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	groups := map[string][]string{
		"BR São Paulo": {
			"+5511987654321", "+551187654321",
			FromWAID("551187654321"), FromWAID("5511987654321"),
			norm("+55 11 9 8765-4321", ""), norm("(11) 98765-4321", "BR"), norm("+55 11 8765-4321", ""),
		},
		"BR Rio":       {"+5521987654321", FromWAID("552187654321"), norm("21 98765-4321", "BR")},
		"BR Fortaleza": {"+5585991234567", FromWAID("558591234567"), norm("(85) 99123-4567", "BR")},
		"BR landline":  {"+551133334444", FromWAID("551133334444"), norm("(11) 3333-4444", "BR")},
		"AR Buenos Aires": {
			"+5491123456789", "+541123456789", "+54111523456789",
			FromWAID("5491123456789"), FromWAID("541123456789"),
			norm("011 15 2345-6789", "AR"), norm("+54 11 2345-6789", ""),
		},
		"MX CDMX": {
			"+5215512345678", "+525512345678", FromWAID("5215512345678"), FromWAID("525512345678"),
			norm("55 1234 5678", "MX"), norm("+52 1 55 1234 5678", ""),
		},
		"US": {"+14155552671", FromWAID("14155552671"), norm("(415) 555-2671", "US")},
		"PT": {"+351912345678", FromWAID("351912345678"), norm("912 345 678", "PT")},
		"ES": {"+34612345678", FromWAID("34612345678"), norm("612 34 56 78", "ES")},
		"UK": {"+447911123456", FromWAID("447911123456"), norm("07911 123456", "GB")},
	}
	keys := map[string]string{} // key → group, to check groups do not collide
	for name, forms := range groups {
		want := Key(forms[0])
		if want == "" {
			t.Fatalf("%s: Key(%q) is empty", name, forms[0])
		}
		for _, f := range forms[1:] {
			if got := Key(f); got != want {
				t.Errorf("%s: Key(%q) = %q, want %q (as Key(%q))", name, f, got, want, forms[0])
			}
		}
		if other, ok := keys[want]; ok {
			t.Errorf("groups %s and %s share key %q", name, other, want)
		}
		keys[want] = name
	}
}

// TestKeyDifferentPeople checks that numbers of different people never
// share a key, in particular those one digit apart.
func TestKeyDifferentPeople(t *testing.T) {
	pairs := [][2]string{
		{"+5511987654321", "+5511987654322"}, // BR mobiles one digit apart
		{"+5511987654321", "+5511997654321"},
		{"+5511987654321", "+5521987654321"}, // same number, other area
		{"+551187654321", "+552187654321"},
		{"+551133334444", "+5511933334444"}, // landline vs 9+landline digits
		{"+551133334444", "+551187654321"},  // landline vs short mobile
		{"+5511912345678", "+551112345678"},
		{"+5491123456789", "+5491123456780"},
		{"+541123456789", "+541123456780"},
		{"+5215512345678", "+5215512345679"},
		{"+525512345678", "+523312345678"},
		{"+14155552671", "+14155552672"},
		{"+351912345678", "+34912345678"},
		{"+447911123456", "+447911123457"},
	}
	for _, p := range pairs {
		if a, b := Key(p[0]), Key(p[1]); a == b {
			t.Errorf("Key(%q) == Key(%q) == %q, want different", p[0], p[1], a)
		}
	}
}

// TestDesignExample is the example from the design notes: Meta reports
// wa_id 551187654321 for a customer the CRM holds as +55 11 9 8765-4321.
func TestDesignExample(t *testing.T) {
	fromMeta := FromWAID("551187654321")
	fromCRM, err := Normalize("+55 11 9 8765-4321", "BR")
	if err != nil {
		t.Fatal(err)
	}
	if fromMeta == fromCRM {
		t.Fatalf("test is vacuous: both forms are %q", fromMeta)
	}
	if Key(fromMeta) != Key(fromCRM) {
		t.Errorf("Key(%q) = %q, Key(%q) = %q: want equal", fromMeta, Key(fromMeta), fromCRM, Key(fromCRM))
	}
	if !slices.Contains(Variants(fromMeta), fromCRM) {
		t.Errorf("Variants(%q) = %q, missing %q", fromMeta, Variants(fromMeta), fromCRM)
	}
	if TrailingDigits(fromMeta, 8) != TrailingDigits(fromCRM, 8) {
		t.Errorf("last 8 digits differ: %q vs %q", fromMeta, fromCRM)
	}
}

func TestVariants(t *testing.T) {
	tests := []struct {
		e164 string
		want []string
	}{
		{"+5511987654321", []string{"+5511987654321", "+551187654321"}},
		{"+551187654321", []string{"+551187654321", "+5511987654321"}},
		{"+5585991234567", []string{"+5585991234567", "+558591234567"}},
		{"+551133334444", []string{"+551133334444"}},
		{"+5511912345678", []string{"+5511912345678"}},
		{"+5491123456789", []string{"+5491123456789", "+541123456789"}},
		{"+541123456789", []string{"+541123456789", "+5491123456789"}},
		{"+54111523456789", []string{"+54111523456789", "+541123456789", "+5491123456789"}},
		{"+5215512345678", []string{"+5215512345678", "+525512345678"}},
		{"+525512345678", []string{"+525512345678", "+5215512345678"}},
		{"+14155552671", []string{"+14155552671"}},
		{"+351912345678", []string{"+351912345678"}},
		{"not a number", nil},
	}
	for _, tt := range tests {
		got := Variants(tt.e164)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Variants(%q) = %q, want %q", tt.e164, got, tt.want)
		}
		for _, v := range got {
			if Key(v) != Key(tt.e164) {
				t.Errorf("Variants(%q) holds %q with another key %q", tt.e164, v, Key(v))
			}
		}
	}
}

func TestDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+55 (11) 98765-4321", "5511987654321"},
		{"0055.11.98765.4321", "005511987654321"},
		{"", ""},
		{"abc+-()", ""},
		{"١٢٣٤", "1234"},   // Arabic-Indic
		{"۰۹", "09"},       // Extended Arabic-Indic
		{"＋５５ １１", "5511"}, // full-width
		{"𝟎𝟏𝟗𝟘𝟡", "01909"}, // mathematical bold and double-struck runs
		{"tel:+1-415-555", "1415555"},
	}
	for _, tt := range tests {
		if got := Digits(tt.in); got != tt.want {
			t.Errorf("Digits(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrailingDigits(t *testing.T) {
	tests := []struct {
		e164 string
		n    int
		want string
	}{
		{"+5511987654321", 8, "87654321"},
		{"+551187654321", 8, "87654321"},
		{"+5491123456789", 8, "23456789"},
		{"+541123456789", 8, "23456789"},
		{"+5215512345678", 8, "12345678"},
		{"+1234", 8, "1234"},
		{"+5511987654321", 0, ""},
		{"+5511987654321", -1, ""},
		{"", 8, ""},
	}
	for _, tt := range tests {
		if got := TrailingDigits(tt.e164, tt.n); got != tt.want {
			t.Errorf("TrailingDigits(%q, %d) = %q, want %q", tt.e164, tt.n, got, tt.want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	seeds := [][2]string{
		{"+55 (11) 98765-4321", ""}, {"0055 11 98765 4321", "BR"}, {"11 98765-4321", "BR"},
		{"5511987654321", ""}, {"551187654321", ""}, {"+54 9 11 15 2345 6789", ""},
		{"011 15 2345-6789", "AR"}, {"+52 1 55 1234 5678", ""}, {"07911 123456", "GB"},
		{"", ""}, {"+", "ZZ"}, {"٠١٢٣", "EG"}, {"1-800-FLOWERS", "US"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		// Whatever the input, these must not panic.
		_ = Key(raw)
		_ = Variants(raw)
		_ = TrailingDigits(raw, 8)
		if w := FromWAID(Digits(raw)); w != "" && Key(w) == "" {
			t.Fatalf("FromWAID(%q) = %q has no key", Digits(raw), w)
		}

		out, err := Normalize(raw, region)
		if err != nil {
			if out != "" {
				t.Fatalf("Normalize(%q, %q) = %q with error %v", raw, region, out, err)
			}
			return
		}
		if !strings.HasPrefix(out, "+") || Digits(out) != out[1:] {
			t.Fatalf("Normalize(%q, %q) = %q, not E.164", raw, region, out)
		}
		for _, r := range []string{region, ""} {
			again, err := Normalize(out, r)
			if err != nil || again != out {
				t.Fatalf("Normalize(%q, %q) = %q, %v; want itself", out, r, again, err)
			}
		}
		k := Key(out)
		if k == "" || Key(k) != k {
			t.Fatalf("Key(%q) = %q, Key of that = %q: want idempotent", out, k, Key(k))
		}
		v := Variants(out)
		if len(v) == 0 || v[0] != out {
			t.Fatalf("Variants(%q) = %q, want it first", out, v)
		}
		for _, x := range v {
			if Key(x) != k {
				t.Fatalf("Variants(%q) holds %q with key %q, want %q", out, x, Key(x), k)
			}
		}
	})
}

func BenchmarkNormalize(b *testing.B) {
	for b.Loop() {
		if _, err := Normalize("+55 (11) 98765-4321", "BR"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	for b.Loop() {
		if Key("+5511987654321") == "" {
			b.Fatal("empty key")
		}
	}
}

func TestE164(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"+55 11 98765-4321", "+5511987654321", true},
		{"+1 555 078 3881", "+15550783881", true}, // Meta's test numbers: not valid to libphonenumber
		{"5511987654321", "+5511987654321", true},
		{"+0123456789", "", false},
		{"+12345", "", false},
		{"+1 call me", "", false},
		{"", "", false},
	} {
		got, err := E164(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("E164(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestLanguage(t *testing.T) {
	for in, want := range map[string]string{"+5511987654321": "pt_BR", "+351912345678": "pt_PT", "+34612345678": "es_ES",
		"+525512345678": "es_MX", "+14155550123": "en_US", "+819012345678": "", "garbage": ""} {
		if got := Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}
