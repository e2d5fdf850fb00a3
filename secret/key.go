package secret

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ParseKey decodes a master key given as text, as it comes from an
// environment variable or a file: base64 (standard or URL alphabet, padded
// or not) or hex, of exactly 32 bytes. Surrounding white space is ignored.
// Errors describe what is expected and never repeat the value, which
// would put the key in a log.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret: parse key: empty; want 32 bytes as base64 (44 characters) or hex (64 characters)")
	}
	// Hex first: 64 hex characters also read as base64, but of 48 bytes.
	if len(s) == 2*KeySize {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("secret: parse key: decodes to %d bytes; want 32 bytes as base64 (44 characters) or hex (64 characters)", len(k))
		}
		return k, nil
	}
	return nil, fmt.Errorf("secret: parse key: not base64 or hex (%d characters); want 32 bytes as base64 (44 characters) or hex (64 characters)", len(s))
}

// GenerateKey returns a new random master key.
func GenerateKey() []byte {
	k := make([]byte, KeySize)
	rand.Read(k) // never fails: crypto/rand crashes the program instead
	return k
}

// LoadOrCreateKeyFile reads the master key from path, or, if there is no
// such file, creates one holding a new random key in base64 and reports
// created. The file is readable by its owner only (0600), in a directory
// created 0700 if missing.
//
// The key is written to a temporary file in the same directory, synced,
// and then linked into place, which fails if path exists. Replicas
// starting together on a shared volume therefore all end up with the
// first key written: a rename would let a later one silently replace a
// key that another replica has already sealed rows with, losing them.
// Where the file system cannot link, it falls back to a rename.
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("secret: create key dir: %w", err)
	}
	key = GenerateKey()
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("secret: create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a link, path keeps the file
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	if err := writeSync(tmp, text); err != nil {
		return nil, false, fmt.Errorf("secret: write key file: %w", err)
	}

	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process got there first: use its key.
			key, err = readKeyFile(path)
			return key, false, err
		}
		if err := os.Rename(tmpName, path); err != nil {
			return nil, false, fmt.Errorf("secret: install key file: %w", err)
		}
	}
	syncDir(dir)
	return key, true, nil
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: read key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret: key file %s: %w", path, err)
	}
	return k, nil
}

func writeSync(f *os.File, text string) error {
	_, err := f.WriteString(text)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the new directory entry durable, so the key is not lost
// with a crash after rows were sealed with it. Best effort: some systems
// cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
