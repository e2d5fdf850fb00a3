package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

// dynamics runs `parley dynamics …` the way the binary does.
func dynamics(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"dynamics"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestDynamicsSolution(t *testing.T) {
	t.Setenv("PARLEY_BASE_URL", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "parley.zip")
	out, _, err := dynamics(t, "solution", "--base-url", "https://parley.example.com", "--out", file,
		"--tables", "lead, contact,account,new_student", "--version", "1.0.0.1", "--phone-columns", "new_student=new_mobile,new_phone")
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(file)
	if err != nil {
		t.Fatalf("no zip: %v", err)
	}
	for _, want := range []string{file, "lead, contact, account, new_student", strconv.FormatInt(info.Size(), 10) + " bytes", "1.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatalf("the zip does not open: %v", err)
	}
	defer zr.Close()
	files := map[string]bool{}
	for _, f := range zr.File {
		files[f.Name] = true
	}
	for _, want := range []string{"[Content_Types].xml", "solution.xml", "customizations.xml"} {
		if !files[want] {
			t.Errorf("the zip has no %s: %v", want, files)
		}
	}
	f, err := zr.Open("customizations.xml")
	if err != nil {
		t.Fatal(err)
	}
	custom, _ := io.ReadAll(f)
	f.Close()
	for _, want := range []string{"Mscrm.Form.new_student.MainTab.", "<IntroducedVersion>1.0.0.1</IntroducedVersion>"} {
		if !bytes.Contains(custom, []byte(want)) {
			t.Errorf("customizations.xml lacks %s", want)
		}
	}
}

// TestDynamicsSolutionDefaults: the base URL comes from PARLEY_BASE_URL,
// and the zip is named as Dynamics names its exports.
func TestDynamicsSolutionDefaults(t *testing.T) {
	t.Setenv("PARLEY_BASE_URL", "https://parley.example.com")
	t.Chdir(t.TempDir())
	out, _, err := dynamics(t, "solution")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("ParleyWhatsApp_1_0_0_0.zip"); err != nil {
		t.Fatalf("%v; printed %s", err, out)
	}
	if !strings.Contains(out, "lead, contact, account") {
		t.Errorf("the output does not name the default tables:\n%s", out)
	}
}

func TestDynamicsRefusals(t *testing.T) {
	t.Setenv("PARLEY_BASE_URL", "")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"solution", "--out", filepath.Join(dir, "a.zip")},
		{"solution", "--base-url", "http://parley.example.com", "--out", filepath.Join(dir, "b.zip")},
		{"solution", "--base-url", "https://parley.example.com", "--tables", "Lead", "--out", filepath.Join(dir, "c.zip")},
		{"solution", "--base-url", "https://parley.example.com", "--version", "1.0", "--out", filepath.Join(dir, "d.zip")},
		{"solution", "--base-url", "https://parley.example.com", "--tables", " , ", "--out", filepath.Join(dir, "e.zip")},
	} {
		_, _, err := dynamics(t, args...)
		if parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("parley dynamics %s: %v, want an EINVALID error", strings.Join(args, " "), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused builds wrote %v", entries)
	}
	for _, args := range [][]string{nil, {"connect"}, {"install"}, {"nonsense"}, {"solution", "--nonsense"}} {
		_, stderr, err := dynamics(t, args...)
		if !errors.Is(err, errUsage) || !strings.Contains(stderr, "usage: parley dynamics") && !strings.Contains(stderr, "flag provided but not defined") {
			t.Errorf("parley dynamics %s: %v, printed %q", strings.Join(args, " "), err, stderr)
		}
		if len(args) == 1 && (args[0] == "connect" || args[0] == "install") && !strings.Contains(stderr, "--tenant TENANT") {
			t.Errorf("parley dynamics %s without a tenant does not say it needs one: %s", args[0], stderr)
		}
	}
}
