package acs

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// swagger is the part of the ACS Advanced Messaging Swagger document
// (communicationservicesmessages.2024-11-15.json) the fake checks bodies
// against.
type swagger struct {
	Definitions map[string]*schema `json:"definitions"`
}

// schema is a Swagger 2.0 schema object, as far as the document uses it.
type schema struct {
	Ref           string             `json:"$ref"`
	Type          string             `json:"type"`
	Format        string             `json:"format"`
	Enum          []string           `json:"enum"`
	Properties    map[string]*schema `json:"properties"`
	Required      []string           `json:"required"`
	Items         *schema            `json:"items"`
	AllOf         []*schema          `json:"allOf"`
	Discriminator string             `json:"discriminator"`
	Value         string             `json:"x-ms-discriminator-value"`
}

var (
	specOnce sync.Once
	spec     *swagger
	specErr  error
)

// specDir is testdata/specs/azure, found from this file's place in the
// module, so that the fake works from any test's working directory.
func specDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "specs", "azure")
}

// loadSpec reads the Swagger document once.
//
// One correction is made, and only one: ListOptionRow names its third
// property "rows" (described as "Description of the row option") and
// requires it, while the document's own example for the operation
// (NotificationMessages_SendListInteractiveMessage) and WhatsApp's list
// rows use an optional "description". A client following the property
// name would send a list row WhatsApp cannot show, so the fake takes
// "description", optional as WhatsApp has it.
func loadSpec() (*swagger, error) {
	specOnce.Do(func() {
		b, err := os.ReadFile(filepath.Join(specDir(), "communicationservicesmessages.2024-11-15.json"))
		if err != nil {
			specErr = fmt.Errorf("acs fake: read the Swagger document: %w", err)
			return
		}
		var s swagger
		if err := json.Unmarshal(b, &s); err != nil {
			specErr = fmt.Errorf("acs fake: parse the Swagger document: %w", err)
			return
		}
		if row := s.Definitions["ListOptionRow"]; row != nil && row.Properties["rows"] != nil {
			row.Properties["description"] = row.Properties["rows"]
			delete(row.Properties, "rows")
			row.Required = []string{"id", "title"}
		}
		spec = &s
	})
	return spec, specErr
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validate checks v (decoded with UseNumber) against definition def and
// returns every problem found, each naming where it is.
func (s *swagger) validate(def string, v any) []string {
	var probs []string
	s.check(&schema{Ref: "#/definitions/" + def}, v, "body", &probs)
	sort.Strings(probs)
	return probs
}

func (s *swagger) deref(sc *schema) (*schema, string) {
	name := ""
	for sc != nil && sc.Ref != "" {
		name = strings.TrimPrefix(sc.Ref, "#/definitions/")
		sc = s.Definitions[name]
	}
	return sc, name
}

func (s *swagger) check(sc *schema, v any, at string, probs *[]string) {
	add := func(format string, args ...any) { *probs = append(*probs, at+": "+fmt.Sprintf(format, args...)) }
	sc, name := s.deref(sc)
	if sc == nil {
		add("schema has an unresolvable reference")
		return
	}
	if sc.Discriminator != "" && name != "" {
		// A polymorphic base: the discriminator picks the concrete
		// definition, which must be one of the base's children.
		obj, ok := v.(map[string]any)
		if !ok {
			add("must be an object")
			return
		}
		kind, _ := obj[sc.Discriminator].(string)
		child := s.child(name, kind)
		if child == "" {
			add("unknown %s %q (one of %s)", sc.Discriminator, kind, strings.Join(s.children(name), ", "))
			return
		}
		s.object(child, obj, at, probs)
		return
	}
	switch sc.Type {
	case "object", "":
		if sc.Properties == nil && sc.AllOf == nil && sc.Type == "" {
			return // {}: anything
		}
		obj, ok := v.(map[string]any)
		if !ok {
			add("must be an object")
			return
		}
		s.object(name, obj, at, probs)
	case "array":
		list, ok := v.([]any)
		if !ok {
			add("must be an array")
			return
		}
		for i, it := range list {
			s.check(sc.Items, it, fmt.Sprintf("%s[%d]", at, i), probs)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			add("must be a string")
			return
		}
		if len(sc.Enum) > 0 && !contains(sc.Enum, str) {
			add("%q is not one of %s", str, strings.Join(sc.Enum, ", "))
		}
		switch sc.Format {
		case "uuid":
			if !uuidRE.MatchString(str) {
				add("%q is not a UUID", str)
			}
		case "uri":
			if u, err := url.Parse(str); err != nil || !u.IsAbs() || u.Host == "" {
				add("%q is not an absolute URI", str)
			}
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			add("must be a number")
			return
		}
		if sc.Type == "integer" {
			if _, err := n.Int64(); err != nil {
				add("must be an integer")
			}
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			add("must be a boolean")
		}
	}
}

// object checks an object against a concrete definition (with its allOf
// parents): no unknown property, every required one, each one's type.
// An anonymous object schema is passed by name "" and checked on sc's
// own properties through props.
func (s *swagger) object(name string, obj map[string]any, at string, probs *[]string) {
	props, required, disc := s.flatten(name)
	for _, r := range required {
		if _, ok := obj[r]; !ok {
			*probs = append(*probs, fmt.Sprintf("%s: missing required property %q (%s)", at, r, name))
		}
	}
	for k, v := range obj {
		p, ok := props[k]
		if !ok {
			*probs = append(*probs, fmt.Sprintf("%s: unknown property %q (%s)", at, k, name))
			continue
		}
		s.check(p, v, at+"."+k, probs)
	}
	for prop, want := range disc {
		if got, _ := obj[prop].(string); got != want {
			*probs = append(*probs, fmt.Sprintf("%s: %s is %q, %s requires %q", at, prop, got, name, want))
		}
	}
}

// flatten gathers a definition's properties and required names with its
// allOf parents (the child's own win), and the discriminator values its
// parents require of it.
func (s *swagger) flatten(name string) (map[string]*schema, []string, map[string]string) {
	props := map[string]*schema{}
	var required []string
	disc := map[string]string{}
	var walk func(sc *schema)
	walk = func(sc *schema) {
		for _, parent := range sc.AllOf {
			ps, _ := s.deref(parent)
			if ps == nil {
				continue
			}
			walk(ps)
			if ps.Discriminator != "" && sc.Value != "" {
				disc[ps.Discriminator] = sc.Value
			}
		}
		for k, v := range sc.Properties {
			props[k] = v
		}
		required = append(required, sc.Required...)
	}
	if d := s.Definitions[name]; d != nil {
		walk(d)
	}
	return props, required, disc
}

// child is the definition deriving from base whose discriminator value is
// kind.
func (s *swagger) child(base, kind string) string {
	if kind == "" {
		return ""
	}
	for name, d := range s.Definitions {
		if d.Value != kind {
			continue
		}
		for _, p := range d.AllOf {
			if strings.TrimPrefix(p.Ref, "#/definitions/") == base {
				return name
			}
		}
	}
	return ""
}

func (s *swagger) children(base string) []string {
	var out []string
	for _, d := range s.Definitions {
		for _, p := range d.AllOf {
			if strings.TrimPrefix(p.Ref, "#/definitions/") == base && d.Value != "" {
				out = append(out, d.Value)
			}
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
