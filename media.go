package parley

import (
	"fmt"
	"mime"
	"strings"
)

// MediaRule is what WhatsApp accepts for one kind of media.
type MediaRule struct {
	MaxSize int64
	Types   []string // accepted MIME types; documents accept any
}

// MediaRules are WhatsApp's limits on sent media. A file outside them is
// refused before it is queued, instead of failing minutes later at Meta.
var MediaRules = map[MessageType]MediaRule{
	TypeImage:    {MaxSize: 5 << 20, Types: []string{"image/jpeg", "image/png"}},
	TypeAudio:    {MaxSize: 16 << 20, Types: []string{"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}},
	TypeVideo:    {MaxSize: 16 << 20, Types: []string{"video/mp4", "video/3gpp"}},
	TypeDocument: {MaxSize: 100 << 20},
	TypeSticker:  {MaxSize: 500 << 10, Types: []string{"image/webp"}},
}

// MaxMediaSize is the largest file WhatsApp carries (a document).
const MaxMediaSize = 100 << 20

// CheckMedia enforces MediaRules for a file of the given type and size.
func CheckMedia(t MessageType, mimeType string, size int64) error {
	rule, ok := MediaRules[t]
	if !ok {
		return Errorf(EINVALID, "%s messages carry no media.", t)
	}
	base, _, err := mime.ParseMediaType(mimeType)
	if err != nil {
		base = strings.ToLower(strings.TrimSpace(mimeType))
	}
	if len(rule.Types) > 0 && !contains(rule.Types, base) {
		return Errorf(EINVALID, "WhatsApp does not accept %q as %s; use one of %s.", base, t, strings.Join(rule.Types, ", "))
	}
	if size > rule.MaxSize {
		return Errorf(EINVALID, "The file is %s; WhatsApp accepts %s files up to %s.", humanSize(size), t, humanSize(rule.MaxSize))
	}
	if size == 0 {
		return Errorf(EINVALID, "The file is empty.")
	}
	return nil
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
