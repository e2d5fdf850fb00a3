// Package solution builds the Dynamics 365 solution that puts a WhatsApp
// button on the main form of Leads, Contacts, Accounts or any other table.
// The button opens a side pane with Parley's chat panel for the record.
//
// The result is an unmanaged solution zip, imported through Settings →
// Solutions → Import. It holds three web resources: the command script
// the button calls, the page the side pane shows (which frames Parley's
// /panel), and an icon. It also adds a RibbonDiffXml to each table.
// Parley's address is written into the page when the zip is built, so a
// solution is built for one deployment, and rebuilt (with a higher
// Version) when the address or the tables change.
//
// Microsoft publishes schemas for customizations.xml but not for
// solution.xml or [Content_Types].xml. So the structure follows
// Microsoft's XSDs and real exported solutions, as written up in
// testdata/specs/dataverse/solution-schemas/README.md (sections 4 and 5).
// Each file here cites the example its layout came from.
package solution

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// Names of the solution and of its publisher. They are fixed, so that
// importing a newer build upgrades the solution already installed instead
// of adding a second one beside it.
const (
	UniqueName = "ParleyWhatsApp"
	// Prefix is the publisher's customization prefix. Every component name
	// starts with it, e.g. parley_/whatsapp/command.js.
	Prefix = "parley"
	// optionValuePrefix is the publisher's option-value prefix (10000 to
	// 99999). The solution adds no choices, but every publisher needs one.
	// It was picked at random once and must not change, because Dataverse
	// remembers it with the publisher.
	optionValuePrefix = 72519
	// DefaultVersion is the solution version when Options.Version is empty.
	DefaultVersion = "1.0.0.0"
)

// Names of the web resources, as Dynamics serves them at
// <org>/WebResources/<name> and as the ribbon refers to them with
// $webresource:<name>.
const (
	CommandScript = Prefix + "_/whatsapp/command.js"
	PanePage      = Prefix + "_/whatsapp/pane.htm"
	Icon          = Prefix + "_/whatsapp/icon.svg"
)

// Handler is the command script's function that the button calls with
// the form (PrimaryControl). IsAvailable is its enable rule: it hides the
// button where side panes do not exist.
const (
	Handler     = "Parley.WhatsApp.open"
	IsAvailable = "Parley.WhatsApp.isAvailable"
	// PaneID is the side pane's ID, so a second click reuses the pane.
	PaneID = "parley-whatsapp"
)

// Options for Build.
type Options struct {
	// BaseURL is Parley's public address, e.g. https://parley.example.com.
	// It must be https, except http://localhost and http://127.0.0.1 for
	// tests.
	BaseURL string
	// Tables are the logical names of the tables whose main form gets the
	// button; by default lead, contact and account.
	Tables []string
	// Version is the solution's version, four numbers such as 1.0.0.0;
	// DefaultVersion by default. Dynamics refuses to import a version
	// lower than the one installed.
	Version string
	// PhoneColumns lists, per table, the columns the button reads the
	// customer's phone from; the first non-empty one wins. Columns the form
	// lacks are skipped. By default lead and contact use mobilephone then
	// telephone1, account telephone1, and other tables mobilephone then
	// telephone1. An empty list sends no phone, and the panel finds the
	// contact by the record alone.
	PhoneColumns map[string][]string
}

// DefaultTables are the tables that get the button when Options.Tables is
// empty.
func DefaultTables() []string { return []string{"lead", "contact", "account"} }

// defaultPhoneColumns are Dynamics' standard phone columns of each table.
var defaultPhoneColumns = map[string][]string{
	"lead":    {"mobilephone", "telephone1"},
	"contact": {"mobilephone", "telephone1"},
	"account": {"telephone1"},
}

// otherPhoneColumns are tried on tables Parley knows nothing about.
var otherPhoneColumns = []string{"mobilephone", "telephone1"}

// logicalName is a Dataverse logical name of a table or column: lower
// case, as Dataverse writes them, and at most 50 characters, the limit of
// an entity's Name in CustomizationsSolution.xsd (EntityAttributeNameBaseType).
var logicalName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,49}$`)

var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)

// modified is the time stamp of every file in the zip, so that the same
// options always give the same bytes.
var modified = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// config is Options checked and with defaults filled in.
type config struct {
	base    string // without a trailing slash
	tables  []string
	version string
	phones  map[string][]string
}

// Build returns the solution zip for o, or an EINVALID error saying what
// is wrong with o.
func Build(o Options) ([]byte, error) {
	c, err := o.check()
	if err != nil {
		return nil, err
	}
	res, err := c.webResources()
	if err != nil {
		return nil, err
	}
	custom, err := c.customizations(res)
	if err != nil {
		return nil, err
	}
	manifest, err := c.manifest(res)
	if err != nil {
		return nil, err
	}
	types, err := contentTypes(res)
	if err != nil {
		return nil, err
	}
	type part struct {
		name string
		body []byte
	}
	parts := []part{{"[Content_Types].xml", types}, {"solution.xml", manifest}, {"customizations.xml", custom}}
	for _, r := range res {
		parts = append(parts, part{r.zipPath(), r.body})
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, p := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return nil, fmt.Errorf("solution: zip %s: %w", p.name, err)
		}
		if _, err := w.Write(p.body); err != nil {
			return nil, fmt.Errorf("solution: zip %s: %w", p.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("solution: zip: %w", err)
	}
	return b.Bytes(), nil
}

// tables are the tables that get the button: o.Tables, or the defaults.
func (o Options) tables() []string {
	if len(o.Tables) == 0 {
		return DefaultTables()
	}
	return o.Tables
}

func (o Options) check() (*config, error) {
	base, err := checkBaseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &config{base: base, version: o.Version, phones: map[string][]string{}}
	if c.version == "" {
		c.version = DefaultVersion
	}
	if err := checkVersion(c.version); err != nil {
		return nil, err
	}
	for _, t := range o.tables() {
		if !logicalName.MatchString(t) {
			return nil, parley.Errorf(parley.EINVALID,
				"%q is not a table's logical name: lower-case letters, digits and underscores, starting with a letter, at most 50 characters (lead, new_student).", t)
		}
		if slices.Contains(c.tables, t) {
			return nil, parley.Errorf(parley.EINVALID, "The table %q is listed twice.", t)
		}
		c.tables = append(c.tables, t)
	}
	for t, cols := range o.PhoneColumns {
		if !slices.Contains(c.tables, t) {
			return nil, parley.Errorf(parley.EINVALID, "Phone columns are given for %q, which is not one of the tables (%s).", t, strings.Join(c.tables, ", "))
		}
		for _, col := range cols {
			if !logicalName.MatchString(col) {
				return nil, parley.Errorf(parley.EINVALID, "%q (a phone column of %s) is not a column's logical name.", col, t)
			}
		}
		c.phones[t] = slices.Clone(cols)
	}
	for _, t := range c.tables {
		if _, ok := o.PhoneColumns[t]; ok {
			continue
		}
		if cols, ok := defaultPhoneColumns[t]; ok {
			c.phones[t] = slices.Clone(cols)
		} else {
			c.phones[t] = slices.Clone(otherPhoneColumns)
		}
	}
	return c, nil
}

// checkBaseURL accepts an https address, or http on the loopback host for
// tests, and returns it without a trailing slash. The address is baked
// into the pane's page, so anything that could break out of a quoted
// string there is refused outright, before any escaping gets a say.
func checkBaseURL(raw string) (string, error) {
	bad := func(why string) error {
		return parley.Errorf(parley.EINVALID, "The base URL %q %s.", raw, why).
			WithHint("Give Parley's public address, such as https://parley.example.com.")
	}
	if raw == "" {
		return "", parley.Errorf(parley.EINVALID, "The base URL is missing.").
			WithHint("Give Parley's public address, such as https://parley.example.com.")
	}
	if strings.ContainsAny(raw, "\"'`<>\\ \t\r\n") {
		return "", bad("has quotes, angle brackets, backslashes or spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("does not parse")
	}
	switch {
	case u.Host == "" || u.Opaque != "":
		return "", bad("has no host")
	case u.User != nil:
		return "", bad("carries a user name or password")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", bad("has a query or a fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", bad("is not https (Dynamics is served over https, and browsers block http frames inside it; http is allowed for localhost alone, for tests)")
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkVersion accepts major.minor.build.revision, each a number Dataverse
// stores in an int.
func checkVersion(v string) error {
	bad := parley.Errorf(parley.EINVALID, "The version %q is not four numbers such as 1.0.0.0.", v)
	if !versionPattern.MatchString(v) {
		return bad
	}
	for p := range strings.SplitSeq(v, ".") {
		if _, err := strconv.ParseInt(p, 10, 32); err != nil {
			return bad
		}
	}
	return nil
}
