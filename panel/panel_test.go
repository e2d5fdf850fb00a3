package panel

import (
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := &Signer{Key: DeriveKey([]byte("master")), Now: func() time.Time { return now }}
	tok := s.Sign(Claims{TenantID: "ten_1", UserID: "usr_1", Expires: now.Add(time.Minute)})
	c, err := s.Verify(tok)
	if err != nil || c.TenantID != "ten_1" || c.UserID != "usr_1" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	p, sig, _ := strings.Cut(tok, ".")
	other := (&Signer{Key: DeriveKey([]byte("other"))}).Sign(Claims{TenantID: "ten_2", Expires: now.Add(time.Hour)})
	op, _, _ := strings.Cut(other, ".")
	for name, bad := range map[string]string{
		"empty": "", "no signature": p, "bad signature": p + ".AAAA", "another key": other,
		"swapped claims": op + "." + sig, "garbage": "%%%.%%%",
	} {
		if _, err := s.Verify(bad); err != ErrInvalid {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Verify(tok); err != ErrInvalid {
		t.Errorf("expired token: %v", err)
	}
}
