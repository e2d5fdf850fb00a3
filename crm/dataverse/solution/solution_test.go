package solution

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

func TestBuildBaseURL(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = refused
	}{
		{"https://parley.example.com", "https://parley.example.com"},
		{"https://parley.example.com/", "https://parley.example.com"},
		{"https://example.com/parley/", "https://example.com/parley"},
		{"https://parley.example.com:8443", "https://parley.example.com:8443"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"http://127.0.0.1:49152/", "http://127.0.0.1:49152"},
		{"", ""},
		{"parley.example.com", ""},
		{"http://parley.example.com", ""},
		{"http://192.168.1.10", ""},
		{"ftp://parley.example.com", ""},
		{"javascript:alert(1)", ""},
		{"https://", ""},
		{"https:///panel", ""},
		{"https://user:secret@parley.example.com", ""},
		{"https://parley.example.com/?tenant=1", ""},
		{"https://parley.example.com/?", ""},
		{"https://parley.example.com/#x", ""},
		{`https://parley.example.com/";alert(1);//`, ""},
		{"https://parley.example.com/'", ""},
		{"https://parley.example.com/`", ""},
		{"https://parley.example.com/</script>", ""},
		{`https://parley.example.com\evil`, ""},
		{"https://parley.example.com/a b", ""},
		{"https://parley.example.com\n", ""},
	} {
		b, err := Build(Options{BaseURL: tc.in})
		if tc.want == "" {
			if err == nil {
				t.Errorf("Build accepted the base URL %q", tc.in)
			} else if parley.ErrorCode(err) != parley.EINVALID {
				t.Errorf("base URL %q: %v, want an EINVALID error", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("base URL %q: %v", tc.in, err)
			continue
		}
		page := string(unpack(t, b).webResources(t)[PanePage].body)
		if want := "var BASE = \"" + tc.want + "\";"; !strings.Contains(page, want) {
			t.Errorf("base URL %q: the page does not say %s", tc.in, want)
		}
	}
}

func TestBuildTables(t *testing.T) {
	long := "new_" + strings.Repeat("x", 46) // 50 characters: the schema's limit
	for _, tc := range []struct {
		tables []string
		ok     bool
	}{
		{nil, true},
		{[]string{"lead"}, true},
		{[]string{"new_student", "cr5a1_enrolment"}, true},
		{[]string{long}, true},
		{[]string{long + "x"}, false},
		{[]string{"Lead"}, false},
		{[]string{"lead", "lead"}, false},
		{[]string{""}, false},
		{[]string{"1lead"}, false},
		{[]string{"_lead"}, false},
		{[]string{"new-student"}, false},
		{[]string{"lead contact"}, false},
		{[]string{`lead"`}, false},
		{[]string{"lead</Name>"}, false},
	} {
		_, err := Build(Options{BaseURL: "https://parley.example.com", Tables: tc.tables})
		if tc.ok && err != nil {
			t.Errorf("tables %q: %v", tc.tables, err)
		}
		if !tc.ok && parley.ErrorCode(err) != parley.EINVALID {
			t.Errorf("tables %q: %v, want an EINVALID error", tc.tables, err)
		}
	}
}

func TestBuildVersion(t *testing.T) {
	for _, tc := range []struct {
		version string
		ok      bool
	}{
		{"", true},
		{"1.0.0.0", true},
		{"2.10.300.4000", true},
		{"2147483647.0.0.0", true},
		{"2147483648.0.0.0", false},
		{"1.0", false},
		{"1.0.0", false},
		{"1.0.0.0.0", false},
		{"v1.0.0.0", false},
		{"1.0.0.0 ", false},
		{"1..0.0", false},
		{"-1.0.0.0", false},
		{"1.0.0.a", false},
	} {
		b, err := Build(Options{BaseURL: "https://parley.example.com", Version: tc.version})
		switch {
		case tc.ok && err != nil:
			t.Errorf("version %q: %v", tc.version, err)
		case !tc.ok && parley.ErrorCode(err) != parley.EINVALID:
			t.Errorf("version %q: %v, want an EINVALID error", tc.version, err)
		case tc.ok:
			want := tc.version
			if want == "" {
				want = DefaultVersion
			}
			if got := unpack(t, b).xml(t, "solution.xml").text("SolutionManifest", "Version"); got != want {
				t.Errorf("version %q: solution.xml says %q", tc.version, got)
			}
		}
	}
}

func TestBuildPhoneColumns(t *testing.T) {
	base := "https://parley.example.com"
	if _, err := Build(Options{BaseURL: base, PhoneColumns: map[string][]string{"new_student": {"new_phone"}}}); parley.ErrorCode(err) != parley.EINVALID {
		t.Errorf("phone columns of a table that gets no button: %v, want EINVALID", err)
	}
	if _, err := Build(Options{BaseURL: base, PhoneColumns: map[string][]string{"lead": {"Mobile Phone"}}}); parley.ErrorCode(err) != parley.EINVALID {
		t.Errorf("a phone column that is no logical name: %v, want EINVALID", err)
	}
	p := build(t, Options{BaseURL: base, Tables: []string{"lead", "account", "new_student", "cr5a1_school"},
		PhoneColumns: map[string][]string{"lead": {}, "new_student": {"new_whatsapp", "new_phone"}}})
	script := string(p.webResources(t)[CommandScript].body)
	want := `var PHONE_COLUMNS = {"account":["telephone1"],"cr5a1_school":["mobilephone","telephone1"],"lead":[],"new_student":["new_whatsapp","new_phone"]};`
	if !strings.Contains(script, want) {
		t.Errorf("command.js does not say\n  %s\nin\n%s", want, script)
	}
}

// TestCustomTable: a custom table gets its own button, its own ribbon IDs
// and its place among the root components.
func TestCustomTable(t *testing.T) {
	p := build(t, Options{BaseURL: "https://parley.example.com", Tables: []string{"new_student"}})
	custom := p.xml(t, "customizations.xml")
	e := custom.one("Entities", "Entity")
	if e == nil {
		t.Fatal("not one entity")
	}
	if got := e.one("Name"); got.Text != "new_student" || got.attr("OriginalName") != "new_student" {
		t.Errorf("entity %q (OriginalName %q)", got.Text, got.attr("OriginalName"))
	}
	action := e.one("RibbonDiffXml", "CustomActions", "CustomAction")
	if got := action.attr("Location"); got != "Mscrm.Form.new_student.MainTab.Save.Controls._children" {
		t.Errorf("Location %q", got)
	}
	if got := action.one("CommandUIDefinition", "Button").attr("Id"); got != "parley.new_student.WhatsApp.Button" {
		t.Errorf("button %q", got)
	}
	var roots []string
	for _, rc := range p.xml(t, "solution.xml").all("SolutionManifest", "RootComponents", "RootComponent") {
		roots = append(roots, rc.attr("type")+":"+rc.attr("schemaName"))
	}
	if roots[0] != "1:new_student" {
		t.Errorf("root components %v", roots)
	}
	if desc := p.xml(t, "solution.xml").one("SolutionManifest", "Descriptions", "Description").attr("description"); !strings.Contains(desc, "new_student") {
		t.Errorf("the description %q does not name the table", desc)
	}
}

// TestBuildIsStable: the same options give the same bytes, and another
// version keeps the web resources' IDs, so an import updates them.
func TestBuildIsStable(t *testing.T) {
	o := Options{BaseURL: "https://parley.example.com", Tables: []string{"lead", "new_student"}}
	a, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(o)
	if !bytes.Equal(a, b) {
		t.Error("two builds of the same options differ")
	}
	o.Version = "1.0.0.1"
	c, _ := Build(o)
	ids := func(z []byte) string {
		var s []string
		for _, w := range unpack(t, z).xml(t, "customizations.xml").all("WebResources", "WebResource") {
			s = append(s, w.text("WebResourceId"))
		}
		return strings.Join(s, " ")
	}
	if ids(a) != ids(c) {
		t.Errorf("the web resource IDs change with the version: %s, then %s", ids(a), ids(c))
	}
}

func TestNameGUID(t *testing.T) {
	g := nameGUID("webresource:" + CommandScript)
	if !regexp.MustCompile(`^\{[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$`).MatchString(g) {
		t.Errorf("nameGUID = %s, not a version 5 UUID in braces", g)
	}
	if nameGUID("a") == nameGUID("b") {
		t.Error("two names, one GUID")
	}
}

// TestPanePageData: the pane's page takes the base URL as data, never as
// markup, whatever the path holds.
func TestPanePageData(t *testing.T) {
	p := build(t, Options{BaseURL: "https://parley.example.com/a&b%20c"})
	page := string(p.webResources(t)[PanePage].body)
	if !strings.Contains(page, `var BASE = "https://parley.example.com/a\u0026b%20c";`) {
		t.Errorf("the base URL is not written as an escaped JavaScript string:\n%s", page)
	}
}
