package solution

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// node is an XML element under construction. The solution files are
// written as trees of nodes rather than as tagged structs because their
// shape is fixed by Microsoft's schemas down to the order of attributes
// that real exports use, and because solution.xml needs attributes such as
// xsi:nil that encoding/xml's struct tags cannot spell. encoding/xml still
// does every escape.
type node struct {
	name  string
	attrs []xml.Attr
	text  string
	kids  []*node
}

// el is an element with children.
func el(name string, kids ...*node) *node { return &node{name: name, kids: kids} }

// textEl is an element holding text.
func textEl(name, text string) *node { return &node{name: name, text: text} }

// attr adds attributes as name, value pairs, in order.
func (n *node) attr(pairs ...string) *node {
	if len(pairs)%2 != 0 {
		panic("solution: attr takes name, value pairs")
	}
	for i := 0; i < len(pairs); i += 2 {
		n.attrs = append(n.attrs, xml.Attr{Name: xml.Name{Local: pairs[i]}, Value: pairs[i+1]})
	}
	return n
}

// add appends children.
func (n *node) add(kids ...*node) *node {
	n.kids = append(n.kids, kids...)
	return n
}

// nilEl is an element Dataverse exports as explicitly null
// (<City xsi:nil="true"></City>), as every real solution.xml does for a
// publisher's empty address fields.
func nilEl(name string) *node { return el(name).attr("xsi:nil", "true") }

// document renders root as an indented XML document with the declaration
// real exports carry.
func document(root *node) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := root.encode(enc); err != nil {
		return nil, fmt.Errorf("solution: write <%s>: %w", root.name, err)
	}
	if err := enc.Flush(); err != nil {
		return nil, fmt.Errorf("solution: write <%s>: %w", root.name, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func (n *node) encode(enc *xml.Encoder) error {
	start := xml.StartElement{Name: xml.Name{Local: n.name}, Attr: n.attrs}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if n.text != "" {
		if err := enc.EncodeToken(xml.CharData(n.text)); err != nil {
			return err
		}
	}
	for _, k := range n.kids {
		if err := k.encode(enc); err != nil {
			return err
		}
	}
	return enc.EncodeToken(start.End())
}
