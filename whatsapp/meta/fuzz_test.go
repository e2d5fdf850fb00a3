package meta

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/specs"
)

// FuzzParseWebhook feeds the parser mutations of every webhook body in
// the specs. Whatever arrives, it must not panic; it may refuse only what
// is not a JSON object; and every message it returns must be storable:
// an ID to deduplicate on and a type, with a reason when unsupported.
func FuzzParseWebhook(f *testing.F) {
	for _, body := range specBodies(f) {
		f.Add(body)
	}
	for _, v := range readSigVectors(f).Vectors {
		f.Add([]byte(v.RawBody))
	}
	f.Add(specs.Read(f, "meta", "doc-examples", "webhook-verification-request.json"))
	f.Add([]byte(`{"entry":[{"changes":[{"value":{"messages":[{"type":"edit","edit":{"original_message_id":"o","message":{"type":"edit"}}}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		WebhookAccounts(body)
		b, err := ParseWebhook(body)
		if err != nil {
			if b != nil {
				t.Fatal("a batch and an error")
			}
			if trimmed := bytes.TrimLeft(body, " \t\r\n"); json.Valid(body) && len(trimmed) > 0 && trimmed[0] == '{' {
				t.Fatalf("refused a JSON object: %v", err)
			}
			return
		}
		if b == nil {
			t.Fatal("no batch and no error")
		}
		for _, m := range b.Messages {
			c := m.Content
			if c.ProviderMessageID == "" || c.Type == "" {
				t.Fatalf("message without id or type: %+v", c)
			}
			if c.Type == parley.TypeUnsupported && (c.Unsupported == nil || c.Unsupported.Reason == "") {
				t.Fatalf("unsupported message without a reason: %+v", c)
			}
			if c.Unsupported != nil && len(c.Unsupported.Raw) > 0 && !json.Valid(c.Unsupported.Raw) {
				t.Fatalf("Raw is not JSON: %q", c.Unsupported.Raw)
			}
			// Whatever was parsed must survive being stored as JSON.
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("message does not marshal: %v", err)
			}
		}
		for _, u := range b.Unhandled {
			if len(u.Raw) > 0 && !json.Valid(u.Raw) {
				t.Fatalf("unhandled Raw is not JSON: %q", u.Raw)
			}
		}
	})
}

// FuzzVerifySignature checks the verifier against itself on arbitrary
// input: never a panic, a body's own signature always verifies, and a
// change of one byte of the body or of the header never does.
func FuzzVerifySignature(f *testing.F) {
	v := readSigVectors(f)
	for _, vec := range v.Vectors {
		header := vec.ExpectedHeader
		if header == "" {
			header = vec.HMACOfThisBody
		}
		f.Add([]byte(vec.RawBody), header, v.AppSecret, uint(0))
	}
	f.Add([]byte{}, "", "", uint(0))
	f.Fuzz(func(t *testing.T, body []byte, header, secret string, at uint) {
		VerifySignature(body, header, secret) // arbitrary headers must not panic
		sig := Sign(body, secret)
		if secret == "" {
			if VerifySignature(body, sig, secret) {
				t.Fatal("an empty secret verifies")
			}
			return
		}
		if !VerifySignature(body, sig, secret) {
			t.Fatalf("Sign(%q) = %s does not verify", body, sig)
		}
		if len(body) > 0 {
			flipped := bytes.Clone(body)
			flipped[at%uint(len(flipped))] ^= 0x01
			if VerifySignature(flipped, sig, secret) {
				t.Fatal("a body with a flipped byte verifies")
			}
		}
		h := []byte(sig)
		i := len("sha256=") + int(at%64)
		if h[i] == '0' {
			h[i] = '1'
		} else {
			h[i] = '0'
		}
		if VerifySignature(body, string(h), secret) {
			t.Fatal("a header with a changed digit verifies")
		}
	})
}
