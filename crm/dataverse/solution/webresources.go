package solution

import (
	"bytes"
	"crypto/sha1"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

//go:embed webresources
var files embed.FS

// Web resource types (webresource.webresourcetype,
// https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/webresource).
const (
	typeHTML   = 1
	typeScript = 3
	typeSVG    = 11
)

// webResource is one web resource: its record in customizations.xml and
// its content in the zip.
type webResource struct {
	name        string // parley_/whatsapp/command.js
	displayName string
	description string
	kind        int
	body        []byte
}

// id is the web resource's ID, derived from its name so that every build
// gives the same one. Importing a newer build then updates the web
// resources already in the organization instead of clashing with them.
func (r *webResource) id() string { return nameGUID("webresource:" + r.name) }

// zipPath is where the content sits in the zip. It follows Dynamics' own
// exports: the name with every '/' and '.' removed, then the ID in upper
// case, and no extension (lstevensTRA/TRACRMFrontend
// tra-solution-unpacked/WebResources/*.data.xml:
// tra_/HTML/InterviewTranscript → /WebResources/tra_HTMLInterviewTranscript7360A432-…).
// [Content_Types].xml covers these files one by one with an Override, as
// the PCAPredict/Dynamics365 export does for its extension-less files.
func (r *webResource) zipPath() string {
	flat := strings.NewReplacer("/", "", ".", "").Replace(r.name)
	return "WebResources/" + flat + strings.ToUpper(strings.Trim(r.id(), "{}"))
}

// fileName is the web resource's FileName in customizations.xml: its zip
// path from the root.
func (r *webResource) fileName() string { return "/" + r.zipPath() }

// webResources renders the three web resources for c.
func (c *config) webResources() ([]*webResource, error) {
	script, err := c.commandScript()
	if err != nil {
		return nil, err
	}
	page, err := c.panePage()
	if err != nil {
		return nil, err
	}
	icon, err := files.ReadFile("webresources/icon.svg")
	if err != nil {
		return nil, fmt.Errorf("solution: read the icon: %w", err)
	}
	return []*webResource{
		{name: CommandScript, displayName: "Parley WhatsApp button", kind: typeScript, body: script,
			description: "Opens Parley's WhatsApp side pane from a record's form."},
		{name: PanePage, displayName: "Parley WhatsApp pane", kind: typeHTML, body: page,
			description: "The side pane's page: frames Parley's chat panel for the record."},
		{name: Icon, displayName: "Parley WhatsApp icon", kind: typeSVG, body: icon,
			description: "The WhatsApp button's icon."},
	}, nil
}

// commandScript is command.js with the pane's settings and the phone
// columns written in.
func (c *config) commandScript() ([]byte, error) {
	return render("command.js", map[string]any{
		"PaneID":       PaneID,
		"Page":         PanePage,
		"IconSrc":      "WebResources/" + Icon, // relative, as in Microsoft's createPane examples
		"PhoneColumns": c.phones,
	})
}

// panePage is pane.htm with Parley's address written in, on top of
// checkBaseURL's refusal of quotes, angle brackets and backslashes.
func (c *config) panePage() ([]byte, error) {
	return render("pane.htm", map[string]any{"Base": c.base})
}

// render fills in one of the embedded web resources. Every value goes in
// through json, the only function the templates have: JSON is valid
// JavaScript, and encoding/json escapes quotes, backslashes, line
// separators and the <, > and & that could end a <script> element or open
// a comment in it. (html/template would do the same escaping but strips
// the comments, which are the pages' documentation for whoever opens them
// in Dynamics.)
func render(name string, data map[string]any) ([]byte, error) {
	t, err := template.New(name).Funcs(template.FuncMap{"json": jsValue}).ParseFS(files, "webresources/"+name)
	if err != nil {
		return nil, fmt.Errorf("solution: parse %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("solution: write %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// jsValue is v as a JavaScript literal that is safe inside a <script>.
func jsValue(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// namespace is the UUID namespace of Parley's solution components, drawn
// at random once.
var namespace = [16]byte{0xdd, 0x37, 0x7c, 0x4a, 0xce, 0x52, 0x40, 0x22, 0x9f, 0xd2, 0xe9, 0xef, 0xb7, 0xc7, 0x3b, 0x5e}

// nameGUID is the name-based (version 5, SHA-1) UUID of name in Parley's
// namespace (RFC 9562 §5.5), written as Dataverse exports write IDs:
// lower case, in braces.
func nameGUID(name string) string {
	h := sha1.New()
	h.Write(namespace[:])
	h.Write([]byte(name))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("{%x-%x-%x-%x-%x}", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
