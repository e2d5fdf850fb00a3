package parley

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"
)

// ID prefixes say what an identifier names, so a message ID pasted into a
// contact URL fails loudly instead of finding nothing.
const (
	PrefixTenant       = "ten"
	PrefixAPIKey       = "key"
	PrefixChannel      = "ch"
	PrefixContact      = "ct"
	PrefixConversation = "cv"
	PrefixMessage      = "msg"
	PrefixTemplate     = "tpl"
	PrefixMedia        = "med"
	PrefixAudit        = "aud"
	PrefixUser         = "usr"
	PrefixTeam         = "team"
	PrefixQuickReply   = "qr"
	PrefixConnector    = "crm"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so IDs survive
// being read aloud or typed from a screenshot.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var ids struct {
	sync.Mutex
	lastMS uint64
	rand   [10]byte
}

// NewID returns prefix_ followed by 26 characters that sort by creation
// time: 48 bits of Unix milliseconds, then 80 random bits. Within one
// millisecond the random part counts up, so IDs minted by one process are
// strictly increasing and "ORDER BY id" is creation order. That is what
// keeps a thread's messages in order without a separate sequence column.
func NewID(prefix string) string {
	return newIDAt(prefix, time.Now())
}

func newIDAt(prefix string, t time.Time) string {
	ms := uint64(t.UnixMilli())
	ids.Lock()
	if ms <= ids.lastMS {
		ms = ids.lastMS
		increment(ids.rand[:])
	} else {
		ids.lastMS = ms
		if _, err := rand.Read(ids.rand[:]); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		// Leave headroom so increments within a millisecond cannot wrap.
		ids.rand[0] &= 0x7f
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	copy(b[6:], ids.rand[:])
	ids.Unlock()

	out := make([]byte, 0, len(prefix)+1+26)
	out = append(out, prefix...)
	out = append(out, '_')
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var digits [26]byte
	for i := 25; i >= 0; i-- {
		digits[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(append(out, digits[:]...))
}

func increment(b []byte) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
}

// NewSecret is a random shared secret for a webhook's address or
// signature: 192 bits, URL-safe, so it can travel in a query string.
func NewSecret() string {
	var b [24]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}
