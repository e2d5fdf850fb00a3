package main

import (
	"strings"
	"testing"
)

// TestOIDCConfig: Microsoft sign-in is off without an issuer, reads its
// settings from the environment and flags, derives the redirect URI from
// the base URL, and refuses at start what cannot work.
func TestOIDCConfig(t *testing.T) {
	if o, err := (Config{}).oidc("https://parley.example.com"); o != nil || err != nil {
		t.Fatalf("no issuer: %v %v", o, err)
	}
	t.Setenv("PARLEY_OIDC_ISSUER", "https://login.microsoftonline.com/organizations/v2.0")
	t.Setenv("PARLEY_OIDC_CLIENT_ID", "from-env")
	t.Setenv("PARLEY_OIDC_CLIENT_SECRET", "s3cret")
	c, _, err := parseFlags("serve", []string{"-oidc-client-id", "from-flag"}, &strings.Builder{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCClientID != "from-flag" || c.OIDCClientSecret != "s3cret" {
		t.Fatalf("client %q secret %q", c.OIDCClientID, c.OIDCClientSecret)
	}
	if _, err := c.oidc("https://parley.example.com"); err == nil || !strings.Contains(err.Error(), "PARLEY_OIDC_TENANTS") {
		t.Fatalf("the organizations issuer without tenants: %v", err)
	}
	c.OIDCTenants = "72f988bf-86f1-41af-91ab-2d7cd011db47, 11111111-1111-1111-1111-111111111111"
	o, err := c.oidc("https://parley.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if o.RedirectURL != "https://parley.example.com/auth/oidc/callback" || len(o.Tenants) != 2 || o.ClientSecret != "s3cret" {
		t.Fatalf("%+v", o)
	}
	c.OIDCClientID = ""
	if _, err := c.oidc("https://parley.example.com"); err == nil {
		t.Fatal("an issuer without a client ID passed")
	}
}
