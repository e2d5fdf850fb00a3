package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestChannelSettingsPerProvider connects Twilio and ACS numbers through
// the API: their secrets never come back, bad settings get a clear error,
// and only the answer that made an ACS key shows it.
func TestChannelSettingsPerProvider(t *testing.T) {
	a := startApp(t)
	const sid = "AC0123456789abcdef0123456789abcdef"
	var tw struct {
		ID         string         `json:"id"`
		WebhookURL string         `json:"webhook_url"`
		Twilio     map[string]any `json:"twilio"`
	}
	r := a.do("POST", "/v1/channels", a.keyA, map[string]any{"provider": "twilio", "phone_number": "+14155238886",
		"twilio": map[string]any{"account_sid": sid, "auth_token": "secret-token-1", "api_url": "http://127.0.0.1:1/"}})
	a.must(r, http.StatusCreated, &tw)
	if strings.Contains(string(r.body), "secret-token-1") {
		t.Errorf("the auth token came back: %s", r.body)
	}
	if tw.Twilio["account_sid"] != sid || tw.Twilio["api_url"] != "http://127.0.0.1:1" {
		t.Errorf("twilio view = %v", tw.Twilio)
	}
	if want := a.url + "/webhooks/twilio/" + tw.ID; tw.WebhookURL != want {
		t.Errorf("webhook_url = %q, want %q", tw.WebhookURL, want)
	}

	var acs struct {
		ID         string `json:"id"`
		WebhookURL string `json:"webhook_url"`
	}
	acsIn := map[string]any{"endpoint": "https://contoso.communication.azure.com", "access_key": "cHc9PQ==",
		"channel_registration_id": "11111111-2222-3333-4444-555555555555"}
	r = a.do("POST", "/v1/channels", a.keyA, map[string]any{"provider": "acs", "phone_number": "+5511987650001", "acs": acsIn})
	a.must(r, http.StatusCreated, &acs)
	prefix := a.url + "/webhooks/acs/" + acs.ID + "?key="
	if !strings.HasPrefix(acs.WebhookURL, prefix) || len(acs.WebhookURL) < len(prefix)+16 {
		t.Errorf("webhook_url = %q, want %s<generated key>", acs.WebhookURL, prefix)
	}
	r = a.do("GET", "/v1/channels/"+acs.ID, a.keyA, nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), "key=") || strings.Contains(string(r.body), "cHc9PQ==") {
		t.Errorf("GET shows a secret or fails: %d %s", r.status, r.body)
	}

	for _, c := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"twilio without token", map[string]any{"provider": "twilio", "phone_number": "+14155238886",
			"twilio": map[string]any{"account_sid": sid}}, "twilio.auth_token"},
		{"twilio bad sid", map[string]any{"provider": "twilio", "phone_number": "+14155238886",
			"twilio": map[string]any{"account_sid": "AC12", "auth_token": "x"}}, "twilio.account_sid"},
		{"acs key and entra", map[string]any{"provider": "acs", "phone_number": "+5511987650002",
			"acs": map[string]any{"endpoint": "https://x.communication.azure.com", "access_key": "cHc9PQ==", "client_id": "c",
				"channel_registration_id": "11111111-2222-3333-4444-555555555556"}}, "not both"},
		{"acs bad channel", map[string]any{"provider": "acs", "phone_number": "+5511987650002",
			"acs": map[string]any{"endpoint": "https://x.communication.azure.com", "access_key": "cHc9PQ==",
				"channel_registration_id": "nope"}}, "channel_registration_id"},
		{"unknown provider", map[string]any{"provider": "vonage", "phone_number": "+5511987650002"}, ""},
	} {
		r := a.do("POST", "/v1/channels", a.keyA, c.body)
		code, msg := r.apiError()
		if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity || code == "" || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: %d %s %q, want an error naming %q", c.name, r.status, code, msg, c.want)
		}
	}
}
