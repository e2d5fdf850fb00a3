// Package secret keeps credentials out of the database in the clear and
// out of logs altogether.
//
// Provider access tokens, app secrets and CRM client secrets are stored
// sealed by a Box under a master key that lives outside the database (a
// key file or an environment variable), so a database dump or backup alone
// does not hand out the keys to a tenant's WhatsApp number. In memory they
// travel as String, which prints and marshals as "[redacted]".
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// KeySize is the size of a master key: AES-256.
const KeySize = 32

// version is the first byte of every sealed value. It names the format
// (AES-256-GCM, 12-byte random nonce) so a later format can be introduced
// and old rows still opened.
const version byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	overhead  = 1 + nonceSize + tagSize
)

var (
	// ErrOpen means a sealed value failed authentication: the key is not
	// the one it was sealed with, the associated data differs (the value
	// was moved to another row), or the bytes were altered. GCM cannot
	// tell these apart, by design.
	ErrOpen = errors.New("secret: open: wrong key, wrong associated data or tampered ciphertext")
	// ErrFormat means the bytes are not a sealed value of a known version.
	ErrFormat = errors.New("secret: open: not a sealed value")
)

// Box seals and opens values under one master key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key (see ParseKey and
// LoadOrCreateKeyFile).
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: new cipher: %w", err)
	}
	// The nonce is random, drawn by crypto/rand for every Seal: with
	// 96-bit nonces a key may seal about 2^32 values before a collision
	// becomes a concern, far above the number of credentials Parley keeps.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("secret: new gcm: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext and returns version || nonce || ciphertext+tag.
//
// associatedData is authenticated but not stored: pass what identifies the
// row the value belongs to (e.g. the channel ID, or "channel:<id>:token").
// Open then fails unless given the same bytes, so a sealed token copied
// into another tenant's row cannot be opened there. Sealing the same
// plaintext twice gives different outputs, so equal secrets do not show
// as equal columns.
func (b *Box) Seal(plaintext, associatedData []byte) []byte {
	out := make([]byte, 1, overhead+len(plaintext))
	out[0] = version
	return b.aead.Seal(out, nil, plaintext, associatedData)
}

// Open decrypts a value made by Seal with the same associated data. Its
// errors are ErrFormat or ErrOpen and never hold any of the bytes.
func (b *Box) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != version {
		return nil, ErrFormat
	}
	plain, err := b.aead.Open(nil, nil, sealed[1:], associatedData)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
