package oidc

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// recorder is a test that the fake reports protocol errors to.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestFakeRefuses: the fake refuses, and reports, what Entra refuses: a
// verifier that is not the challenge's, a code used twice, a redirect URI
// that is not the authorization's, and an authorization without PKCE.
func TestFakeRefuses(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec, Options{})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	authorize := func(extra url.Values) (*http.Response, error) {
		q := url.Values{"client_id": {s.ClientID()}, "redirect_uri": {"http://app.test/cb"}, "response_type": {"code"},
			"scope": {"openid email"}, "state": {"st"}, "nonce": {"no"}}
		for k, v := range extra {
			q[k] = v
		}
		return noRedirect.Get(s.URL + "/" + s.opts.TenantID + "/oauth2/v2.0/authorize?" + q.Encode())
	}
	verifier := strings.Repeat("v", 43)
	resp, err := authorize(url.Values{"code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}})
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %v %v %v", resp, err, rec.errs)
	}
	back, _ := url.Parse(resp.Header.Get("Location"))
	if back.Query().Get("state") != "st" {
		t.Fatalf("the state did not come back: %s", back)
	}
	code := back.Query().Get("code")
	token := func(verifier, redirect string) int {
		resp, err := http.PostForm(s.URL+"/"+s.opts.TenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"},
			"code": {code}, "redirect_uri": {redirect}, "client_id": {s.ClientID()}, "code_verifier": {verifier}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct{ verifier, redirect, want string }{
		{strings.Repeat("w", 43), "http://app.test/cb", "code_verifier"},
		{verifier, "http://app.test/other", "redirect_uri"},
	} {
		rec.errs = nil
		if status := token(c.verifier, c.redirect); status != http.StatusBadRequest || len(rec.errs) != 1 || !strings.Contains(rec.errs[0], c.want) {
			t.Errorf("a wrong %s: %d %q", c.want, status, rec.errs)
		}
	}
	rec.errs = nil
	if status := token(verifier, "http://app.test/cb"); status != http.StatusOK || len(rec.errs) != 0 {
		t.Fatalf("the right verifier: %d %q", status, rec.errs)
	}
	if status := token(verifier, "http://app.test/cb"); status != http.StatusBadRequest || !strings.Contains(strings.Join(rec.errs, " "), "redeemed already") {
		t.Errorf("the code twice: %d %q", status, rec.errs)
	}
	rec.errs = nil
	if resp, err := authorize(url.Values{"code_challenge": {challenge(verifier)}, "code_challenge_method": {"plain"}}); err != nil || resp.StatusCode != http.StatusBadRequest || len(rec.errs) != 1 {
		t.Errorf("plain PKCE: %v %v %q", resp, err, rec.errs)
	}
}
