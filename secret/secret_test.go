package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func newBox(t *testing.T, key []byte) *Box {
	t.Helper()
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New with a %d-byte key: want an error", n)
		}
	}
	if _, err := New(make([]byte, KeySize)); err != nil {
		t.Errorf("New with a %d-byte key: %v", KeySize, err)
	}
}

func TestSealOpen(t *testing.T) {
	box := newBox(t, testKey(1))
	ad := []byte("channel:ch_123:token")
	for _, plain := range [][]byte{nil, []byte("x"), []byte("EAAG...long-provider-token"), bytes.Repeat([]byte{0}, 4096)} {
		sealed := box.Seal(plain, ad)
		if len(sealed) != 1+12+len(plain)+16 {
			t.Errorf("sealed length %d for %d bytes, want %d", len(sealed), len(plain), 1+12+len(plain)+16)
		}
		if sealed[0] != 1 {
			t.Errorf("version byte %d, want 1", sealed[0])
		}
		// Short plaintexts turn up in random bytes by chance (a one-byte
		// one does in about one run in nine), so only long ones can tell.
		if len(plain) >= 8 && bytes.Contains(sealed, plain) {
			t.Errorf("sealed value holds the plaintext")
		}
		got, err := box.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, want %q", got, plain)
		}
	}
}

func TestSealDiffers(t *testing.T) {
	box := newBox(t, testKey(1))
	a := box.Seal([]byte("same"), nil)
	b := box.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Error("two seals of the same plaintext are equal")
	}
	if bytes.Equal(a[1:13], b[1:13]) {
		t.Error("two seals share a nonce")
	}
}

func TestOpenFails(t *testing.T) {
	const plain = "super-secret-token"
	box := newBox(t, testKey(1))
	ad := []byte("channel:ch_1")
	sealed := box.Seal([]byte(plain), ad)

	flip := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name   string
		box    *Box
		sealed []byte
		ad     []byte
		want   error
	}{
		{"wrong key", newBox(t, testKey(2)), sealed, ad, ErrOpen},
		{"wrong associated data", box, sealed, []byte("channel:ch_2"), ErrOpen},
		{"missing associated data", box, sealed, nil, ErrOpen},
		{"tampered nonce", box, flip(1), ad, ErrOpen},
		{"tampered ciphertext", box, flip(14), ad, ErrOpen},
		{"tampered tag", box, flip(len(sealed) - 1), ad, ErrOpen},
		{"truncated", box, sealed[:len(sealed)-1], ad, ErrOpen},
		{"appended", box, append(bytes.Clone(sealed), 0), ad, ErrOpen},
		{"unknown version", box, flip(0), ad, ErrFormat},
		{"too short", box, sealed[:20], ad, ErrFormat},
		{"empty", box, nil, ad, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want error %v", got, err, tt.want)
			}
			if got != nil {
				t.Errorf("Open returned %q with an error", got)
			}
			if strings.Contains(err.Error(), plain) {
				t.Errorf("error %q holds the plaintext", err)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i*7 + 250) // includes bytes that encode to + / - _
	}
	valid := map[string]string{
		"base64 std":          base64.StdEncoding.EncodeToString(key),
		"base64 std unpadded": base64.RawStdEncoding.EncodeToString(key),
		"base64 url":          base64.URLEncoding.EncodeToString(key),
		"base64 url unpadded": base64.RawURLEncoding.EncodeToString(key),
		"hex":                 hex.EncodeToString(key),
		"hex upper":           strings.ToUpper(hex.EncodeToString(key)),
		"with newline":        base64.StdEncoding.EncodeToString(key) + "\n",
		"with spaces":         "  " + hex.EncodeToString(key) + " ",
	}
	if valid["base64 std"] == valid["base64 url"] {
		t.Fatal("test key does not tell the base64 alphabets apart")
	}
	for name, s := range valid {
		t.Run(name, func(t *testing.T) {
			got, err := ParseKey(s)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ParseKey = %x, want %x", got, key)
			}
		})
	}

	invalid := map[string]string{
		"empty":             "",
		"blank":             " \n",
		"short base64":      base64.StdEncoding.EncodeToString(key[:16]),
		"long base64":       base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)),
		"short hex":         hex.EncodeToString(key[:31]),
		"long hex":          hex.EncodeToString(append(bytes.Clone(key), 1)),
		"garbage":           "this is not a key, it is a passphrase!",
		"hex with bad char": "zz" + hex.EncodeToString(key)[2:],
	}
	for name, s := range invalid {
		t.Run(name, func(t *testing.T) {
			got, err := ParseKey(s)
			if err == nil {
				t.Fatalf("ParseKey = %x, want an error", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, "32 bytes") || !strings.Contains(msg, "base64") || !strings.Contains(msg, "hex") {
				t.Errorf("error %q does not say what is expected", msg)
			}
			if v := strings.TrimSpace(s); v != "" && strings.Contains(msg, v) {
				t.Errorf("error %q echoes the value", msg)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	path := filepath.Join(dir, "master.key")

	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created || len(key) != KeySize {
		t.Fatalf("created = %v, key of %d bytes; want a new 32-byte key", created, len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("key file mode %o, want 600", m)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("key dir mode %o, want 700", m)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text))); err != nil || !bytes.Equal(got, key) {
		t.Errorf("file holds %q, want the key in base64", text)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only the key file (temp file left?)", len(entries))
	}

	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if created || !bytes.Equal(again, key) {
		t.Errorf("second load: created = %v, equal = %v; want the same key, not created", created, bytes.Equal(again, key))
	}

	// A key written by hand in hex is accepted.
	hexPath := filepath.Join(dir, "hex.key")
	if err := os.WriteFile(hexPath, []byte(hex.EncodeToString(testKey(9))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, created, err := LoadOrCreateKeyFile(hexPath); err != nil || created || !bytes.Equal(got, testKey(9)) {
		t.Errorf("hex key file: %x, %v, %v", got, created, err)
	}
}

func TestLoadOrCreateKeyFileBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const content = "hunter2-not-a-key"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	key, created, err := LoadOrCreateKeyFile(path)
	if err == nil {
		t.Fatalf("got key %x, created %v; want an error", key, created)
	}
	if strings.Contains(err.Error(), content) {
		t.Errorf("error %q echoes the file", err)
	}
	if b, _ := os.ReadFile(path); string(b) != content {
		t.Errorf("a bad key file was overwritten with %q", b)
	}
}

// TestLoadOrCreateKeyFileConcurrent starts many replicas at once on an
// empty directory: all must end up with the same key, created once.
func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 16
	keys := make([][]byte, n)
	createdBy := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, c, err := LoadOrCreateKeyFile(path)
			if err != nil {
				t.Error(err)
			}
			keys[i], createdBy[i] = k, c
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("replica %d got another key", i)
		}
		if createdBy[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Errorf("%d callers report creating the key, want 1", creators)
	}
	onDisk, _, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(onDisk, keys[0]) {
		t.Errorf("key on disk differs from the one handed out")
	}
}

type credentials struct {
	ClientID     string
	ClientSecret String
	Token        String `json:"token"`
}

const secretValue = "s3cr3t-value"

func TestStringRedactedByFmt(t *testing.T) {
	s := String(secretValue)
	c := credentials{ClientID: "app", ClientSecret: s, Token: s}
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		for _, arg := range []any{s, c, &c, []String{s}, map[string]String{"k": s}} {
			out := fmt.Sprintf(format, arg)
			if strings.Contains(out, secretValue) || strings.Contains(out, hex.EncodeToString([]byte(secretValue))) {
				t.Errorf("Sprintf(%q, %T) = %q reveals the secret", format, arg, out)
			}
		}
	}
	if got := fmt.Sprintf("%+v", c); !strings.Contains(got, "ClientSecret:[redacted]") || !strings.Contains(got, "ClientID:app") {
		t.Errorf("%%+v = %q, want the secret field redacted and the rest shown", got)
	}
	if s.String() != Redacted || s.GoString() != Redacted {
		t.Errorf("String() = %q, GoString() = %q", s.String(), s.GoString())
	}
	if s.Reveal() != secretValue {
		t.Errorf("Reveal() = %q, want %q", s.Reveal(), secretValue)
	}
}

func TestStringRedactedByJSON(t *testing.T) {
	c := credentials{ClientID: "app", ClientSecret: secretValue, Token: secretValue}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"ClientID":"app","ClientSecret":"[redacted]","token":"[redacted]"}`; string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	text, err := String(secretValue).MarshalText()
	if err != nil || string(text) != Redacted {
		t.Errorf("MarshalText = %q, %v", text, err)
	}
}

func TestStringRedactedBySlog(t *testing.T) {
	s := String(secretValue)
	c := credentials{ClientID: "app", ClientSecret: s, Token: s}
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(newHandler(&buf))
			log.Info("connect", "token", s, slog.Any("creds", c), slog.Group("g", "secret", s))
			log.With("token", s).Info("again")
			out := buf.String()
			if strings.Contains(out, secretValue) {
				t.Errorf("log output reveals the secret:\n%s", out)
			}
			if n := strings.Count(out, Redacted); n != 5 {
				t.Errorf("log output has %d %q, want 5 (one per secret logged):\n%s", n, Redacted, out)
			}
		})
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("connect", "token", s)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["token"] != Redacted {
		t.Errorf("JSON log token = %v, want %q", rec["token"], Redacted)
	}
}
