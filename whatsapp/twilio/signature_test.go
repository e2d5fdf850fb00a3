package twilio

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley/internal/specs"
)

type sigVector struct {
	Name      string          `json:"name"`
	URL       string          `json:"url"`
	URLSigned string          `json:"url_signed"`
	Params    json.RawMessage `json:"params"`
	Ordered   [][2]string     `json:"params_ordered"`
	Body      string          `json:"body"`
	Expected  string          `json:"expected"`
}

// TestSignatureVectors runs every vector of
// testdata/specs/twilio/signature-test-vectors.json. A vector whose
// params are "as above" reuses the previous vector's; one given as
// url_signed was signed over that URL, and must validate both when the
// request URL is that one and, for a default port, when Twilio's request
// URL shows no port (and the other way round).
func TestSignatureVectors(t *testing.T) {
	var file struct {
		AuthToken string      `json:"auth_token"`
		Vectors   []sigVector `json:"vectors"`
	}
	if err := json.Unmarshal(specs.Read(t, "twilio", "signature-test-vectors.json"), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	var last url.Values
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			form := url.Values{}
			var params map[string]string
			switch {
			case string(v.Params) == `"as above"`:
				form = last
			case json.Unmarshal(v.Params, &params) == nil:
				for k, val := range params {
					form.Add(k, val)
				}
			}
			for _, kv := range v.Ordered {
				form.Add(kv[0], kv[1])
			}
			last = form
			u := v.URL
			if u == "" {
				u = v.URLSigned
			}
			body := []byte(v.Body)
			if v.Body == "" && strings.Contains(u, "bodySHA256=") {
				body = []byte(`{"property": "value", "boolean": true}`)
			}
			if !CheckSignature(u, form, body, v.Expected, file.AuthToken) {
				t.Errorf("valid signature refused for %s", u)
			}
			for _, alt := range portVariants(u, mustURL(t, u)) {
				if !CheckSignature(alt, form, body, v.Expected, file.AuthToken) {
					t.Errorf("default-port variant %s refused", alt)
				}
			}
			if CheckSignature(u, form, body, v.Expected, "wrong-token") {
				t.Error("accepted with the wrong auth token")
			}
			if len(form) > 0 {
				tampered := url.Values{}
				for k, vs := range form {
					tampered[k] = append([]string(nil), vs...)
				}
				tampered.Set("Digits", "9999")
				if CheckSignature(u, tampered, body, v.Expected, file.AuthToken) {
					t.Error("accepted a tampered parameter")
				}
			}
			if strings.Contains(u, "bodySHA256=") && CheckSignature(u, form, []byte(`{"property":"other"}`), v.Expected, file.AuthToken) {
				t.Error("accepted a body that does not match bodySHA256")
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestSignatureRepeatedValuesSortedByName(t *testing.T) {
	// Sorting "name+value" strings instead of names gives another
	// signature (the vectors file's note); ours must not accept it.
	form := url.Values{"Sid": {"CA123"}, "SidAccount": {"AC123"}, "Digits": {"5678", "1234"}}
	const u = "https://mycompany.com/myapp.php?foo=1&bar=2"
	if CheckSignature(u, form, nil, "f2eNeQA03Kk6SUEEsqN6nCjnksU=", "12345") {
		t.Error("accepted the signature of the wrong sort order")
	}
	if !CheckSignature(u, form, nil, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", "12345") {
		t.Error("refused the right signature")
	}
	for _, bad := range []string{"", "not base64!", "IK+Dwps556ElfBT0I3Rgjkr1wJU"} {
		if CheckSignature(u, form, nil, bad, "12345") {
			t.Errorf("accepted header %q", bad)
		}
	}
	if CheckSignature(u, form, nil, "IK+Dwps556ElfBT0I3Rgjkr1wJU=", "") {
		t.Error("accepted with an empty auth token")
	}
}
