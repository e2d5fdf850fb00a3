package solution

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The checks below are the structural checklist of
// testdata/specs/dataverse/solution-schemas/README.md (§5), written as
// code: customizations.xml against Microsoft's schema with xmllint, and
// solution.xml and [Content_Types].xml, which have no schema, against
// what every real export does.

const schemas = "../../../testdata/specs/dataverse/solution-schemas"

// fullOptions exercise everything: the default tables and a custom one
// with its own phone column.
var fullOptions = Options{
	BaseURL:      "https://parley.example.com",
	Tables:       []string{"lead", "contact", "account", "new_student"},
	Version:      "1.2.3.4",
	PhoneColumns: map[string][]string{"new_student": {"new_mobile", "new_phone"}},
}

var manifests = []string{"[Content_Types].xml", "solution.xml", "customizations.xml"}

func TestPackageLayout(t *testing.T) {
	p := build(t, fullOptions)
	for _, name := range manifests {
		p.xml(t, name) // well-formed
	}
	res := p.webResources(t)
	if len(res) != 3 {
		t.Fatalf("web resources %v, want the command script, the pane's page and the icon", res)
	}
	for _, want := range []struct {
		name, kind string
	}{{CommandScript, "3"}, {PanePage, "1"}, {Icon, "11"}} {
		r, ok := res[want.name]
		if !ok {
			t.Fatalf("no web resource %s", want.name)
		}
		if r.kind != want.kind {
			t.Errorf("%s has WebResourceType %s, want %s", r.name, r.kind, want.kind)
		}
		if len(r.body) == 0 {
			t.Errorf("%s is empty", r.name)
		}
	}
	parseXML(t, Icon, res[Icon].body) // an SVG is XML too
	if !strings.Contains(string(res[Icon].body), `viewBox="0 0 16 16"`) {
		t.Errorf("the icon is not drawn on a 16×16 box:\n%s", res[Icon].body)
	}
	// Every file in the zip is one of the three manifests or a web
	// resource's FileName: nothing stray, nothing missing.
	var want []string
	want = append(want, manifests...)
	for _, r := range res {
		want = append(want, strings.TrimPrefix(r.fileName, "/"))
	}
	got := slices.Clone(p.names)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the zip holds\n  %v\nwant\n  %v", got, want)
	}
}

func TestCustomizationsValidate(t *testing.T) {
	xmllint := xmllintPath(t)
	p := build(t, fullOptions)
	file := filepath.Join(t.TempDir(), "customizations.xml")
	if err := os.WriteFile(file, p.file(t, "customizations.xml"), 0o644); err != nil {
		t.Fatal(err)
	}
	schema, err := filepath.Abs(filepath.Join(schemas, "CustomizationsSolution.xsd"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", schema, file).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "validates") {
		t.Fatalf("customizations.xml does not validate against CustomizationsSolution.xsd (%v):\n%s", err, out)
	}
}

func xmllintPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err == nil {
		return p
	}
	if os.Getenv("PARLEY_REQUIRE_XMLLINT") != "" {
		t.Fatal("PARLEY_REQUIRE_XMLLINT is set and there is no xmllint (apt-get install libxml2-utils)")
	}
	t.Skip("no xmllint on this machine (apt-get install libxml2-utils)")
	return ""
}

// TestCustomizationsShape checks what the schema cannot: the order of the
// root's children that real exports use, and the web resources' fields.
func TestCustomizationsShape(t *testing.T) {
	p := build(t, fullOptions)
	root := p.xml(t, "customizations.xml")
	if root.XMLName.Local != "ImportExportXml" || len(root.Attrs) != 1 || root.Attrs[0].Name.Local != "xsi" {
		t.Errorf("root <%s %v>, want the bare <ImportExportXml xmlns:xsi=…> of exports that validate", root.XMLName.Local, root.Attrs)
	}
	if got := root.kidNames(); !slices.Equal(got, []string{"Entities", "Roles", "Workflows", "FieldSecurityProfiles", "Templates",
		"EntityMaps", "EntityRelationships", "OrganizationSettings", "optionsets", "WebResources", "Languages"}) {
		t.Errorf("root's children %v", got)
	}
	if got := root.text("Languages", "Language"); got != "1033" {
		t.Errorf("Languages/Language %q, want 1033", got)
	}
	guid := regexp.MustCompile(`^\{[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\}$`)
	for _, w := range root.all("WebResources", "WebResource") {
		// The sequence of WebResource in CustomizationsSolution.xsd, as
		// the TRACRMFrontend export writes it (with a Description).
		if got := w.kidNames(); !slices.Equal(got, []string{"WebResourceId", "Name", "DisplayName", "Description", "WebResourceType",
			"IntroducedVersion", "IsEnabledForMobileClient", "IsAvailableForMobileOffline", "IsCustomizable", "CanBeDeleted", "IsHidden", "FileName"}) {
			t.Errorf("WebResource %s has %v", w.text("Name"), got)
		}
		id, name := w.text("WebResourceId"), w.text("Name")
		if !guid.MatchString(id) {
			t.Errorf("%s: WebResourceId %q is not a lower-case name-based GUID in braces", name, id)
		}
		if !strings.HasPrefix(name, Prefix+"_/") || strings.Contains(name, "//") {
			t.Errorf("web resource name %q: it must start with the publisher's prefix and %q, without consecutive slashes", name, Prefix+"_/")
		}
		// Exports' FileName: the name without '/' and '.', then the ID in
		// upper case.
		flat := strings.NewReplacer("/", "", ".", "").Replace(name)
		if want := "/WebResources/" + flat + strings.ToUpper(strings.Trim(id, "{}")); w.text("FileName") != want {
			t.Errorf("%s: FileName %q, want %q", name, w.text("FileName"), want)
		}
		if got := w.text("IntroducedVersion"); got != fullOptions.Version {
			t.Errorf("%s: IntroducedVersion %q", name, got)
		}
	}
}

// TestSolutionManifest is README §5 "solution.xml" as code.
func TestSolutionManifest(t *testing.T) {
	p := build(t, fullOptions)
	root := p.xml(t, "solution.xml")
	custom := p.xml(t, "customizations.xml")

	if root.XMLName.Local != "ImportExportXml" {
		t.Fatalf("solution.xml's root is <%s>, want <ImportExportXml>", root.XMLName.Local)
	}
	for _, a := range []string{"version", "SolutionPackageVersion", "languagecode", "generatedBy"} {
		if root.attr(a) == "" {
			t.Errorf("<ImportExportXml> lacks %s, which every export carries", a)
		}
	}
	if v := root.attr("version"); !strings.HasPrefix(v, root.attr("SolutionPackageVersion")+".") {
		t.Errorf("version %q does not start with SolutionPackageVersion %q", v, root.attr("SolutionPackageVersion"))
	}
	m := root.one("SolutionManifest")
	if m == nil {
		t.Fatal("no single <SolutionManifest>")
	}
	if got := m.kidNames(); !slices.Equal(got, []string{"UniqueName", "LocalizedNames", "Descriptions", "Version", "Managed",
		"Publisher", "RootComponents", "MissingDependencies"}) {
		t.Errorf("SolutionManifest's children are %v, not those of real exports", got)
	}
	if u := m.text("UniqueName"); !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(u) {
		t.Errorf("UniqueName %q: letters, digits and underscores only", u)
	}
	checkLocalized(t, "SolutionManifest", m)
	if got := m.text("Version"); got != fullOptions.Version {
		t.Errorf("Version %q, want %q", got, fullOptions.Version)
	}
	if got := m.text("Managed"); got != "0" {
		t.Errorf("Managed %q, want 0 (unmanaged)", got)
	}

	pub := m.one("Publisher")
	if got := pub.kidNames(); !slices.Equal(got, []string{"UniqueName", "LocalizedNames", "Descriptions", "EMailAddress",
		"SupportingWebsiteUrl", "CustomizationPrefix", "CustomizationOptionValuePrefix", "Addresses"}) {
		t.Errorf("Publisher's children are %v, not those of real exports", got)
	}
	if got := pub.text("UniqueName"); got != "parley" {
		t.Errorf("publisher %q, want parley", got)
	}
	checkLocalized(t, "Publisher", pub)
	prefix := pub.text("CustomizationPrefix")
	if prefix != "parley" {
		t.Errorf("CustomizationPrefix %q, want parley", prefix)
	}
	if n, err := strconv.Atoi(pub.text("CustomizationOptionValuePrefix")); err != nil || n < 10000 || n > 99999 {
		t.Errorf("CustomizationOptionValuePrefix %q is not a number from 10000 to 99999", pub.text("CustomizationOptionValuePrefix"))
	}
	addresses := pub.all("Addresses", "Address")
	if len(addresses) != 2 || addresses[0].text("AddressNumber") != "1" || addresses[1].text("AddressNumber") != "2" {
		t.Errorf("the publisher has %d addresses, want the two (AddressNumber 1 and 2) of every export", len(addresses))
	}
	// xsi:nil needs its namespace declared on the root.
	nils := 0
	root.walk(func(n *xnode) {
		for _, a := range n.Attrs {
			if a.Name.Local == "nil" {
				nils++
				if a.Name.Space != "http://www.w3.org/2001/XMLSchema-instance" {
					t.Errorf("<%s> has nil in namespace %q", n.XMLName.Local, a.Name.Space)
				}
			}
		}
	})
	if nils == 0 {
		t.Error("no xsi:nil publisher fields, which every export writes")
	}

	// RootComponents: exactly the components of customizations.xml.
	var got, want []string
	for _, rc := range m.all("RootComponents", "RootComponent") {
		got = append(got, rc.attr("type")+" "+rc.attr("schemaName"))
		if b := rc.attr("behavior"); b != "0" && b != "1" && b != "2" {
			t.Errorf("RootComponent %s has behavior %q, want 0, 1 or 2", rc.attr("schemaName"), b)
		}
		if rc.attr("type") == "1" && rc.attr("behavior") != "2" {
			t.Errorf("table %s is not a shell (behavior 2): removing the solution would touch the table", rc.attr("schemaName"))
		}
	}
	for _, e := range custom.all("Entities", "Entity") {
		want = append(want, "1 "+strings.ToLower(e.text("Name")))
	}
	for _, w := range custom.all("WebResources", "WebResource") {
		want = append(want, "61 "+w.text("Name"))
		if !strings.HasPrefix(w.text("Name"), prefix+"_") {
			t.Errorf("web resource %s does not carry the publisher's prefix %s_", w.text("Name"), prefix)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("RootComponents (type schemaName)\n  %v\nbut customizations.xml holds\n  %v", got, want)
	}
}

func checkLocalized(t *testing.T, where string, n *xnode) {
	t.Helper()
	names := n.all("LocalizedNames", "LocalizedName")
	if len(names) == 0 || names[0].attr("description") == "" || names[0].attr("languagecode") != "1033" {
		t.Errorf("%s has no LocalizedName with a description in 1033", where)
	}
}

// TestContentTypes is README §5 "[Content_Types].xml" as code: every part
// of the zip has a content type.
func TestContentTypes(t *testing.T) {
	p := build(t, fullOptions)
	root := p.xml(t, "[Content_Types].xml")
	const ns = "http://schemas.openxmlformats.org/package/2006/content-types"
	if root.XMLName.Local != "Types" || root.XMLName.Space != ns {
		t.Fatalf("root is {%s}%s, want {%s}Types", root.XMLName.Space, root.XMLName.Local, ns)
	}
	defaults, overrides := map[string]string{}, map[string]string{}
	for _, d := range root.all("Default") {
		defaults[strings.ToLower(d.attr("Extension"))] = d.attr("ContentType")
	}
	for _, o := range root.all("Override") {
		overrides[o.attr("PartName")] = o.attr("ContentType")
	}
	if defaults["xml"] != "application/octet-stream" {
		t.Errorf(`no <Default Extension="xml" ContentType="application/octet-stream"/>, which every export has`)
	}
	for _, name := range p.names {
		if name == "[Content_Types].xml" {
			continue
		}
		ext := strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")
		ct, ok := overrides["/"+name]
		if !ok && ext != "" {
			ct, ok = defaults[ext]
		}
		if !ok || ct == "" {
			t.Errorf("%s has no content type: no Override for /%s and no Default for %q", name, name, ext)
		}
	}
	for part := range overrides {
		if _, ok := p.files[strings.TrimPrefix(part, "/")]; !ok {
			t.Errorf("Override for %s, which the zip does not hold", part)
		}
	}
}

// TestReferences: everything the ribbon names exists. A dangling
// reference is "the most common type of failure" of a ribbon import
// (Microsoft, "Export, prepare to edit, and import the ribbon").
func TestReferences(t *testing.T) {
	p := build(t, fullOptions)
	custom := p.xml(t, "customizations.xml")
	res := p.webResources(t)

	referenced := map[string]bool{}
	custom.walk(func(n *xnode) {
		for _, a := range n.Attrs {
			if name, ok := strings.CutPrefix(a.Value, "$webresource:"); ok {
				referenced[name] = true
				if _, ok := res[name]; !ok {
					t.Errorf("<%s %s=%q> names a web resource the solution does not hold", n.XMLName.Local, a.Name.Local, a.Value)
				}
			}
		}
	})
	// The scripts name web resources too: the pane's page, the icon.
	names := regexp.MustCompile(Prefix + `_/[A-Za-z0-9_./]+`)
	for _, r := range res {
		if r.kind == "11" {
			continue
		}
		for _, name := range names.FindAllString(string(r.body), -1) {
			referenced[name] = true
			if _, ok := res[name]; !ok {
				t.Errorf("%s names %s, which the solution does not hold", r.name, name)
			}
		}
	}
	for name := range res {
		if !referenced[name] {
			t.Errorf("web resource %s is referenced by nothing", name)
		}
	}

	for _, e := range custom.all("Entities", "Entity") {
		table := e.text("Name")
		ribbon := e.one("RibbonDiffXml")
		labels, commands, rules := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, l := range ribbon.all("LocLabels", "LocLabel") {
			labels[l.attr("Id")] = true
		}
		for _, c := range ribbon.all("CommandDefinitions", "CommandDefinition") {
			commands[c.attr("Id")] = true
		}
		for _, r := range ribbon.all("RuleDefinitions", "EnableRules", "EnableRule") {
			rules[r.attr("Id")] = true
		}
		ribbon.walk(func(n *xnode) {
			for _, a := range n.Attrs {
				if id, ok := strings.CutPrefix(a.Value, "$LocLabels:"); ok && !labels[id] {
					t.Errorf("%s: %s=%q has no LocLabel", table, a.Name.Local, a.Value)
				}
			}
			if n.XMLName.Local == "Button" && !commands[n.attr("Command")] {
				t.Errorf("%s: button %s runs command %q, which is not defined", table, n.attr("Id"), n.attr("Command"))
			}
		})
		for _, r := range ribbon.all("CommandDefinitions", "CommandDefinition", "EnableRules", "EnableRule") {
			if !rules[r.attr("Id")] {
				t.Errorf("%s: enable rule %q is not defined", table, r.attr("Id"))
			}
		}
	}
}

// TestRibbon: each table's main form gets the button, calling the command
// script's handler with the form.
func TestRibbon(t *testing.T) {
	p := build(t, fullOptions)
	custom := p.xml(t, "customizations.xml")
	entities := custom.all("Entities", "Entity")
	if len(entities) != len(fullOptions.Tables) {
		t.Fatalf("%d entities for tables %v", len(entities), fullOptions.Tables)
	}
	for i, e := range entities {
		table := fullOptions.Tables[i]
		if got := strings.ToLower(e.text("Name")); got != table {
			t.Errorf("entity %d is %q, want %q", i, got, table)
		}
		ribbon := e.one("RibbonDiffXml")
		if got := ribbon.kidNames(); !slices.Equal(got, []string{"CustomActions", "Templates", "CommandDefinitions", "RuleDefinitions", "LocLabels"}) {
			t.Errorf("%s: RibbonDiffXml's children %v", table, got)
		}
		action := ribbon.one("CustomActions", "CustomAction")
		if action == nil {
			t.Fatalf("%s: no single CustomAction", table)
		}
		if loc := action.attr("Location"); !strings.HasPrefix(loc, "Mscrm.Form."+table+".MainTab.") || !strings.HasSuffix(loc, ".Controls._children") {
			t.Errorf("%s: the button goes to %q, not the main form's command bar", table, loc)
		}
		button := action.one("CommandUIDefinition", "Button")
		if button == nil || !strings.HasPrefix(button.attr("Id"), Prefix+".") {
			t.Fatalf("%s: no Button with an ID carrying the publisher's prefix", table)
		}
		fn := ribbon.one("CommandDefinitions", "CommandDefinition", "Actions", "JavaScriptFunction")
		if fn == nil {
			t.Fatalf("%s: the command calls no JavaScript", table)
		}
		if fn.attr("FunctionName") != Handler || fn.attr("Library") != "$webresource:"+CommandScript {
			t.Errorf("%s: calls %s in %s", table, fn.attr("FunctionName"), fn.attr("Library"))
		}
		if params := fn.Kids; len(params) != 1 || params[0].XMLName.Local != "CrmParameter" || params[0].attr("Value") != "PrimaryControl" {
			t.Errorf("%s: the handler does not get the form (CrmParameter PrimaryControl) alone", table)
		}
		// English, Portuguese and Spanish titles for every label.
		for _, label := range ribbon.all("LocLabels", "LocLabel") {
			langs := map[string]string{}
			for _, title := range label.all("Titles", "Title") {
				langs[title.attr("languagecode")] = title.attr("description")
			}
			for _, lang := range []string{"1033", "1046", "3082"} {
				if langs[lang] == "" {
					t.Errorf("%s: label %s has no title in %s", table, label.attr("Id"), lang)
				}
			}
		}
	}
}

// TestScriptsAreES5: the scripts run as written in whatever browser the
// agent has; no syntax newer than ES5 slips in.
func TestScriptsAreES5(t *testing.T) {
	res := build(t, fullOptions).webResources(t)
	newer := regexp.MustCompile("=>|`|\\blet\\s|\\bconst\\s|\\bclass\\s|\\basync\\s|\\bawait\\s|\\?\\.|\\?\\?|\\.\\.\\.")
	page := string(res[PanePage].body)
	_, script, ok := strings.Cut(page, "<script>")
	script, _, ok2 := strings.Cut(script, "</script>")
	if !ok || !ok2 || strings.Count(page, "<script") != 1 {
		t.Fatalf("%s has not one <script> element", PanePage)
	}
	for name, code := range map[string]string{CommandScript: string(res[CommandScript].body), PanePage: script} {
		for i, line := range strings.Split(code, "\n") {
			code, _, _ := strings.Cut(line, "//")
			if m := newer.FindString(code); m != "" {
				t.Errorf("%s (script line %d) uses %q, which is not ES5: %s", name, i+1, m, strings.TrimSpace(line))
			}
		}
	}
}
