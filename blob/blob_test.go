package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestPutOpen(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a voice note")
	sum, n, err := s.Put(context.Background(), bytes.NewReader(data), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if sum != hex.EncodeToString(want[:]) || n != int64(len(data)) {
		t.Fatalf("Put = %s, %d; want %x, %d", sum, n, want, len(data))
	}
	// The same content again lands on the same name.
	if sum2, _, err := s.Put(context.Background(), bytes.NewReader(data), 100); err != nil || sum2 != sum {
		t.Fatalf("second Put = %s, %v", sum2, err)
	}
	f, err := s.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, _ := io.ReadAll(f)
	if !bytes.Equal(got, data) {
		t.Fatalf("Open read %q", got)
	}
}

func TestPutTooLargeLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)
	_, _, err := s.Put(context.Background(), bytes.NewReader(make([]byte, 11)), 10)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Fatalf("left %d entries behind", len(entries))
	}
}

func TestOpenRejectsPaths(t *testing.T) {
	s, _ := New(t.TempDir())
	for _, name := range []string{"", "../etc/passwd", filepath.Join("..", "x"), "zz" + string(make([]byte, 62))} {
		if _, err := s.Open(name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
}
