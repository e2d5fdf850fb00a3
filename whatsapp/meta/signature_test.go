package meta

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/specs"
)

// hookSigVectors is x-hub-signature-256-computed-vectors.json: positive
// vectors carry expected_header, the negative one hmac_of_this_body and
// should_match_header_of_previous_vector=false.
type hookSigVectors struct {
	AppSecret string `json:"app_secret"`
	Vectors   []struct {
		Name             string `json:"name"`
		RawBody          string `json:"raw_body"`
		ExpectedHeader   string `json:"expected_header"`
		HMACOfThisBody   string `json:"hmac_of_this_body"`
		ShouldMatchPrior *bool  `json:"should_match_header_of_previous_vector"`
	} `json:"vectors"`
}

func readSigVectors(t testing.TB) hookSigVectors {
	t.Helper()
	var v hookSigVectors
	if err := json.Unmarshal(specs.Read(t, "meta", "x-hub-signature-256-computed-vectors.json"), &v); err != nil {
		t.Fatal(err)
	}
	if v.AppSecret == "" || len(v.Vectors) < 3 {
		t.Fatalf("vectors file changed shape: %+v", v)
	}
	return v
}

func TestSignatureVectors(t *testing.T) {
	v := readSigVectors(t)
	var previous string
	negatives := 0
	for _, vec := range v.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			body := []byte(vec.RawBody)
			switch {
			case vec.ExpectedHeader != "":
				if got := Sign(body, v.AppSecret); got != vec.ExpectedHeader {
					t.Errorf("Sign = %s, want %s", got, vec.ExpectedHeader)
				}
				if !VerifySignature(body, vec.ExpectedHeader, v.AppSecret) {
					t.Error("the published header does not verify")
				}
				if VerifySignature(body, vec.ExpectedHeader, v.AppSecret+"x") {
					t.Error("verifies under another secret")
				}
			case vec.ShouldMatchPrior != nil && !*vec.ShouldMatchPrior:
				negatives++
				if previous == "" {
					t.Fatal("negative vector before any positive one")
				}
				if VerifySignature(body, previous, v.AppSecret) {
					t.Error("the re-serialised body verifies against the original header")
				}
				if got := Sign(body, v.AppSecret); got != vec.HMACOfThisBody {
					t.Errorf("Sign = %s, want %s", got, vec.HMACOfThisBody)
				}
				if !VerifySignature(body, vec.HMACOfThisBody, v.AppSecret) {
					t.Error("the body's own HMAC does not verify")
				}
			default:
				t.Fatalf("vector of unknown kind: %+v", vec)
			}
			if vec.ExpectedHeader != "" {
				previous = vec.ExpectedHeader
			}
		})
	}
	if negatives == 0 {
		t.Error("no negative vector was exercised")
	}
}

func TestVerifySignatureRejectsMalformedHeaders(t *testing.T) {
	body := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
	const secret = "s3cret"
	good := Sign(body, secret)
	if !VerifySignature(body, good, secret) {
		t.Fatal("a good signature does not verify")
	}
	hexPart := strings.TrimPrefix(good, "sha256=")
	cases := map[string]string{
		"missing":             "",
		"prefix only":         "sha256=",
		"no prefix":           hexPart,
		"sha1 prefix":         "sha1=" + hexPart,
		"uppercase prefix":    "SHA256=" + hexPart,
		"uppercase hex":       "sha256=" + strings.ToUpper(hexPart),
		"one digit short":     good[:len(good)-1],
		"one digit long":      good + "0",
		"trailing space":      good + " ",
		"leading space":       " " + good,
		"other body's":        Sign([]byte("{}"), secret),
		"flipped last digit":  good[:len(good)-1] + flipHex(good[len(good)-1]),
		"flipped first digit": "sha256=" + flipHex(hexPart[0]) + hexPart[1:],
		"not hex":             "sha256=" + strings.Repeat("z", 64),
	}
	if strings.ToUpper(hexPart) == hexPart {
		t.Fatal("the HMAC has no hex letters, so the uppercase case tests nothing; pick another body")
	}
	for name, h := range cases {
		if VerifySignature(body, h, secret) {
			t.Errorf("%s: %q verifies", name, h)
		}
	}
	if VerifySignature(body, Sign(body, ""), "") {
		t.Error("an empty app secret verifies")
	}
	if VerifySignature(append(body, ' '), good, secret) {
		t.Error("a body with a byte added verifies")
	}
}

func flipHex(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

// hookVerificationRequest is doc-examples/webhook-verification-request.json.
type hookVerificationRequest struct {
	Query            map[string]string `json:"query"`
	ExpectedResponse struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	} `json:"expected_response"`
}

func TestVerifyHandshake(t *testing.T) {
	var doc hookVerificationRequest
	if err := json.Unmarshal(specs.Read(t, "meta", "doc-examples", "webhook-verification-request.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ExpectedResponse.Status != 200 || doc.ExpectedResponse.Body != "1158201444" || doc.Query["hub.verify_token"] != "meatyhamhock" {
		t.Fatalf("doc example changed: %+v", doc)
	}
	query := func(edit func(url.Values)) url.Values {
		q := url.Values{}
		for k, v := range doc.Query {
			q.Set(k, v)
		}
		if edit != nil {
			edit(q)
		}
		return q
	}
	accept := func(token string) bool { return token == "meatyhamhock" }

	got, ok := VerifyHandshake(query(nil), accept)
	if !ok || got != doc.ExpectedResponse.Body {
		t.Fatalf("doc example: got (%q, %v), want (%q, true)", got, ok, doc.ExpectedResponse.Body)
	}

	refused := map[string]struct {
		q      url.Values
		accept func(string) bool
	}{
		"wrong token":       {query(func(q url.Values) { q.Set("hub.verify_token", "meatyhamhocks") }), accept},
		"no token":          {query(func(q url.Values) { q.Del("hub.verify_token") }), func(string) bool { return true }},
		"wrong mode":        {query(func(q url.Values) { q.Set("hub.mode", "unsubscribe") }), accept},
		"no mode":           {query(func(q url.Values) { q.Del("hub.mode") }), accept},
		"missing challenge": {query(func(q url.Values) { q.Del("hub.challenge") }), accept},
		"empty challenge":   {query(func(q url.Values) { q.Set("hub.challenge", "") }), accept},
		"nil accept":        {query(nil), nil},
		"nothing accepted":  {query(nil), func(string) bool { return false }},
	}
	for name, c := range refused {
		if got, ok := VerifyHandshake(c.q, c.accept); ok || got != "" {
			t.Errorf("%s: got (%q, %v), want refusal", name, got, ok)
		}
	}
}
