package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/parleyhq/parley/store"
)

// cli runs a command the way the binary does, with a data directory of
// its own, and returns what it printed.
func cli(t *testing.T, dataDir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("PARLEY_DATA_DIR", dataDir)
	t.Setenv("PARLEY_DATABASE_URL", "")
	t.Setenv("PARLEY_MASTER_KEY", hex.EncodeToString(make([]byte, 32)))
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestTenantCreate(t *testing.T) {
	dir := t.TempDir()
	out, _, err := cli(t, dir, "tenant", "create", "Escola", "Municipal")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("printed %q, want one JSON line", out)
	}
	var got struct {
		TenantID string `json:"tenant_id"`
		APIKey   string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || !strings.HasPrefix(got.TenantID, "ten_") || !strings.HasPrefix(got.APIKey, "pk_") {
		t.Fatalf("printed %q (%v)", out, err)
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tenant, _, err := db.Authenticate(context.Background(), got.APIKey)
	if err != nil || tenant.ID != got.TenantID || tenant.Name != "Escola Municipal" {
		t.Fatalf("the printed key authenticates %+v, %v", tenant, err)
	}
	var n int
	db.Reader().QueryRow(`SELECT COUNT(*) FROM api_keys WHERE hash = $1`, got.APIKey).Scan(&n)
	if n != 0 {
		t.Fatal("the plaintext key is stored")
	}
	if _, _, err := cli(t, dir, "tenant", "create"); err == nil {
		t.Fatal("tenant create without a name succeeded")
	}
}

// TestUserCreate: a generated password is printed and must be changed at
// the first sign-in; a password given on the command line need not be.
func TestUserCreate(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := cli(t, dir, "tenant", "create", "Acme"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, dir, "user", "create", "--tenant", "Acme", "--email", "Ana@Acme.test", "--role", "agent")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("printed %q, want one JSON line", out)
	}
	var got struct {
		UserID             string `json:"user_id"`
		Email              string `json:"email"`
		Password           string `json:"password"`
		MustChangePassword bool   `json:"must_change_password"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Email != "ana@acme.test" || len(got.Password) < 10 || !got.MustChangePassword {
		t.Fatalf("printed %q (%v), want the email, a password and must_change_password", out, err)
	}
	if !strings.Contains(errOut, "first sign-in") {
		t.Errorf("the command did not say the password must be changed: %q", errOut)
	}
	out, errOut, err = cli(t, dir, "user", "create", "--tenant", "Acme", "--email", "bo@acme.test", "--role", "admin", "--password", "a password of my own")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "password") || errOut != "" {
		t.Errorf("with --password, printed %q and %q; want neither the password nor the note", out, errOut)
	}

	db, err := store.Open(context.Background(), filepath.Join(dir, "parley.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for email, want := range map[string]bool{"ana@acme.test": true, "bo@acme.test": false} {
		u, hash, err := db.UserByEmail(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		if u.MustChangePassword != want {
			t.Errorf("%s: MustChangePassword = %v, want %v", email, u.MustChangePassword, want)
		}
		if email == "ana@acme.test" && bcrypt.CompareHashAndPassword([]byte(hash), []byte(got.Password)) != nil {
			t.Errorf("the printed password is not the stored one")
		}
	}
}

func TestMigrateVersionUsage(t *testing.T) {
	dir := t.TempDir()
	out, _, err := cli(t, dir, "migrate")
	if err != nil || !strings.Contains(out, "applied") {
		t.Fatalf("first migrate: %q, %v", out, err)
	}
	out, _, err = cli(t, dir, "migrate")
	if err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %q, %v", out, err)
	}
	out, _, err = cli(t, dir, "version")
	if err != nil || !strings.HasPrefix(out, "parley ") {
		t.Fatalf("version: %q, %v", out, err)
	}
	_, errOut, err := cli(t, dir, "frobnicate")
	if err == nil || !strings.Contains(errOut, "unknown command") || !strings.Contains(errOut, "parley serve") {
		t.Fatalf("unknown command: %q, %v", errOut, err)
	}
}

// TestDemo sets up the demo as `parley demo` does and checks that the
// simulated customers write, and answer an agent with ticks.
func TestDemo(t *testing.T) {
	a := startApp(t)
	d, err := a.m.SetUpDemo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// A second run finds the same tenant and number.
	d2, err := a.m.SetUpDemo(context.Background())
	if err != nil || d2.Tenant.ID != d.Tenant.ID || d2.Channel.ID != d.Channel.ID || d2.APIKey == d.APIKey {
		t.Fatalf("second SetUpDemo: %+v, %v", d2, err)
	}
	// Demo passwords are for trying things out: none must be changed,
	// neither when created nor when set again.
	for _, l := range d2.Logins {
		if u, _, err := a.m.DB.UserByEmail(context.Background(), l.Email); err != nil || u.MustChangePassword {
			t.Errorf("the demo login %s: %+v, %v; want no forced change", l.Email, u, err)
		}
	}
	a.m.Sandbox.Simulate(d.Channel, 5)
	var convs struct {
		Data []struct {
			ID      string `json:"id"`
			Contact struct {
				Phone string `json:"phone"`
			} `json:"contact"`
		} `json:"data"`
	}
	a.eventually("five customers write in", func() bool {
		a.must(a.do("GET", "/v1/conversations", d.APIKey, nil), 200, &convs)
		return len(convs.Data) == 5
	})
	var templates struct {
		Data []json.RawMessage `json:"data"`
	}
	a.must(a.do("GET", "/v1/templates", d.APIKey, nil), 200, &templates)
	if len(templates.Data) == 0 {
		t.Fatal("the demo has no templates")
	}
	var sent struct {
		ID string `json:"id"`
	}
	a.must(a.do("POST", "/v1/messages", d.APIKey, map[string]any{"channel_id": d.Channel.ID, "to": convs.Data[0].Contact.Phone,
		"type": "text", "text": map[string]any{"body": "Olá!"}}), 202, &sent)
	a.eventually("the customer reads the reply", func() bool {
		r := a.do("GET", "/v1/messages/"+sent.ID, d.APIKey, nil)
		return strings.Contains(string(r.body), `"status":"read"`)
	})
	var msgs struct {
		Data []struct {
			Direction string `json:"direction"`
		} `json:"data"`
	}
	a.eventually("the customer answers", func() bool {
		a.must(a.do("GET", "/v1/conversations/"+convs.Data[0].ID+"/messages", d.APIKey, nil), 200, &msgs)
		return len(msgs.Data) >= 3 && msgs.Data[len(msgs.Data)-1].Direction == "in"
	})
}

// TestBenchSSE runs `parley bench sse` small: it must deliver every
// message to every agent's stream and report it, so the command that
// docs/performance.md quotes keeps working. (Its numbers are not checked:
// that is the benchmark's job, not a test's.)
func TestBenchSSE(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and 8 streams")
	}
	var out, errs bytes.Buffer
	err := runBench(context.Background(), []string{"sse", "-tenants", "4", "-agents", "2", "-conversations", "40", "-rate", "40", "-duration", "1s"}, &out, &errs)
	if err != nil {
		t.Fatalf("bench sse: %v\n%s", err, errs.String())
	}
	var sent, got, want int
	for _, line := range strings.Split(out.String(), "\n") {
		fmt.Sscanf(line, "| inbound messages acknowledged | %d", &sent)
		fmt.Sscanf(line, "| console events delivered | %d of %d", &got, &want)
	}
	if sent == 0 || want != 2*sent || got != want {
		t.Fatalf("sent %d, delivered %d of %d; want every message on both agents' streams:\n%s", sent, got, want, out.String())
	}
}
