// Package blob keeps media files on the local disk, named by the SHA-256
// of their content. Content addressing makes a retried download or a
// redelivered webhook harmless (the same bytes land on the same name) and
// lets two messages that carry the same file share it.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// ErrTooLarge is returned when content exceeds the size limit.
var ErrTooLarge = errors.New("blob: content exceeds the size limit")

// Store is a directory of content-addressed files.
type Store struct {
	Dir string
}

// New returns a store rooted at dir, creating it.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", dir, err)
	}
	return &Store{Dir: dir}, nil
}

// Put copies r into the store, reading at most maxSize bytes, and returns
// the hex SHA-256 and size of what it stored. The file appears under its
// final name only once complete and synced, so a crash leaves no partial
// file behind a valid name.
func (s *Store) Put(ctx context.Context, r io.Reader, maxSize int64) (string, int64, error) {
	tmp, err := os.CreateTemp(s.Dir, ".upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, maxSize+1))
	if err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	if n > maxSize {
		return "", 0, ErrTooLarge
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	dst := s.path(sum)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, fmt.Errorf("blob: put: %w", err)
	}
	return sum, n, nil
}

// Open opens the file with the given hash.
func (s *Store) Open(sum string) (*os.File, error) {
	if len(sum) != 64 {
		return nil, fmt.Errorf("blob: invalid name %q", sum)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, fmt.Errorf("blob: invalid name %q", sum)
	}
	f, err := os.Open(s.path(sum))
	if err != nil {
		return nil, fmt.Errorf("blob: open: %w", err)
	}
	return f, nil
}

// path fans files out over two directory levels so no directory grows to
// millions of entries.
func (s *Store) path(sum string) string {
	return filepath.Join(s.Dir, sum[:2], sum[2:4], sum)
}

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Serve writes a stored file as an HTTP response. Files come from
// strangers, so the response may never run as a page of the site (a
// sandboxing content security policy), and only media that browsers play
// or show are served inline; everything else downloads.
func (s *Store) Serve(w http.ResponseWriter, r *http.Request, sum, mimeType, filename string, download bool) {
	f, err := s.Open(sum)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mimeType)
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=3600")
	disposition := "inline"
	if download || !(strings.HasPrefix(mimeType, "image/") || strings.HasPrefix(mimeType, "audio/") || strings.HasPrefix(mimeType, "video/")) {
		disposition = "attachment"
	}
	if filename != "" {
		disposition = mime.FormatMediaType(disposition, map[string]string{"filename": filename})
	}
	h.Set("Content-Disposition", disposition)
	http.ServeContent(w, r, "", st.ModTime(), f)
}
