package solution

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// pkg is a built solution, unzipped.
type pkg struct {
	names []string          // the zip's entries, in order
	files map[string][]byte // by entry name
}

func build(t *testing.T, o Options) *pkg {
	t.Helper()
	b, err := Build(o)
	if err != nil {
		t.Fatalf("Build(%+v): %v", o, err)
	}
	return unpack(t, b)
}

func unpack(t *testing.T, b []byte) *pkg {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the solution is not a zip: %v", err)
	}
	p := &pkg{files: map[string][]byte{}}
	for _, f := range zr.File {
		if _, dup := p.files[f.Name]; dup {
			t.Fatalf("the zip holds %s twice", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		p.names = append(p.names, f.Name)
		p.files[f.Name] = body
	}
	return p
}

func (p *pkg) file(t *testing.T, name string) []byte {
	t.Helper()
	b, ok := p.files[name]
	if !ok {
		t.Fatalf("the zip has no %s; it has %v", name, p.names)
	}
	return b
}

func (p *pkg) xml(t *testing.T, name string) *xnode {
	t.Helper()
	return parseXML(t, name, p.file(t, name))
}

// wr is a WebResource of customizations.xml with its content.
type wr struct {
	name, fileName, kind string
	body                 []byte
}

// webResources reads the web resources the way an import does: the
// records in customizations.xml, each with the zip file its FileName
// names.
func (p *pkg) webResources(t *testing.T) map[string]wr {
	t.Helper()
	out := map[string]wr{}
	for _, n := range p.xml(t, "customizations.xml").all("WebResources", "WebResource") {
		r := wr{name: n.text("Name"), fileName: n.text("FileName"), kind: n.text("WebResourceType")}
		r.body = p.file(t, strings.TrimPrefix(r.fileName, "/"))
		out[r.name] = r
	}
	return out
}

// xnode is any XML element, for reading the generated files back.
type xnode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Kids    []*xnode   `xml:",any"`
	Text    string     `xml:",chardata"`
}

func parseXML(t *testing.T, name string, b []byte) *xnode {
	t.Helper()
	// Well-formed first: every token, to the end.
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
	}
	var n xnode
	if err := xml.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &n
}

// attr is the value of an attribute without a namespace.
func (n *xnode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements at a path of names below n.
func (n *xnode) all(path ...string) []*xnode {
	level := []*xnode{n}
	for _, name := range path {
		var next []*xnode
		for _, m := range level {
			for _, k := range m.Kids {
				if k.XMLName.Local == name {
					next = append(next, k)
				}
			}
		}
		level = next
	}
	return level
}

// one returns the single element at a path, or nil.
func (n *xnode) one(path ...string) *xnode {
	if all := n.all(path...); len(all) == 1 {
		return all[0]
	}
	return nil
}

// text is the trimmed text of the single element at a path.
func (n *xnode) text(path ...string) string {
	if m := n.one(path...); m != nil {
		return strings.TrimSpace(m.Text)
	}
	return ""
}

// kidNames are the names of n's children, in order.
func (n *xnode) kidNames() []string {
	var out []string
	for _, k := range n.Kids {
		out = append(out, k.XMLName.Local)
	}
	return out
}

// walk calls f on n and every element below it.
func (n *xnode) walk(f func(*xnode)) {
	f(n)
	for _, k := range n.Kids {
		k.walk(f)
	}
}
