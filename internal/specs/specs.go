// Package specs locates the vendors' published wire formats that tests are
// written against. They are copied verbatim from the project's shared
// specs into testdata/specs (see its README.md for sources and licences),
// so a clean clone tests without anything beside it.
package specs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the absolute path of testdata/specs.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "specs")
}

// Path joins elem onto Dir.
func Path(elem ...string) string {
	return filepath.Join(append([]string{Dir()}, elem...)...)
}

// Read returns a spec file's bytes or fails the test.
func Read(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(elem...))
	if err != nil {
		t.Fatalf("read spec: %v", err)
	}
	return b
}

// Glob returns the spec files matching pattern under Dir, or fails the
// test if there are none: a moved folder must not silently test nothing.
func Glob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(Dir(), pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("no spec files match %s (%v)", pattern, err)
	}
	return m
}
