package oas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Validator checks values against one compiled schema. It is safe for
// concurrent use.
type Validator struct {
	schema *jsonschema.Schema
	name   string
	// formTypes are the declared types of the top-level properties, so
	// that form fields (always strings on the wire) can be checked.
	formTypes map[string]string
}

// Validate checks a JSON body.
func (v *Validator) Validate(body []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return &ValidationError{Schema: v.name, Problems: []Problem{{Path: "/", Message: "not JSON: " + err.Error()}}}
	}
	return v.ValidateValue(inst)
}

// ValidateValue checks an already decoded JSON value. Numbers must be
// json.Number or float64, as encoding/json produces them.
func (v *Validator) ValidateValue(inst any) error {
	err := v.schema.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("oas: validate: %w", err)
	}
	return &ValidationError{Schema: v.name, Problems: problems(ve)}
}

// ValidateForm checks form fields (application/x-www-form-urlencoded or
// the text parts of multipart/form-data) as the object the schema
// describes. A field is a string unless the schema declares the property
// as an array (every value is kept), a number, an integer or a boolean
// (the text is converted; text that does not convert stays a string and
// fails the type check).
func (v *Validator) ValidateForm(fields url.Values) error {
	obj := make(map[string]any, len(fields))
	for name, vals := range fields {
		typ := v.formTypes[name]
		if typ == "array" {
			arr := make([]any, len(vals))
			for i, s := range vals {
				arr[i] = s
			}
			obj[name] = arr
			continue
		}
		if len(vals) > 1 {
			return &ValidationError{Schema: v.name, Problems: []Problem{{Path: "/" + name, Message: fmt.Sprintf("given %d times", len(vals))}}}
		}
		obj[name] = formValue(vals[0], typ)
	}
	return v.ValidateValue(obj)
}

// ValidateMultipart checks a parsed multipart/form-data body: text parts
// as in ValidateForm, file parts as present (their content is binary; the
// schema can only require them).
func (v *Validator) ValidateMultipart(form *multipart.Form) error {
	fields := url.Values{}
	for name, vals := range form.Value {
		fields[name] = slices.Clone(vals)
	}
	for name, files := range form.File {
		for _, f := range files {
			fields.Add(name, f.Filename)
		}
	}
	return v.ValidateForm(fields)
}

func formValue(s, typ string) any {
	switch typ {
	case "integer", "number":
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return json.Number(s)
		}
	case "boolean":
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	}
	return s
}

// formTypes reads the top-level property types of a normalized schema,
// following one level of $ref.
func formTypes(schema any, n *normalizer) map[string]string {
	m, _ := schema.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		m, _ = n.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	}
	props, _ := m["properties"].(map[string]any)
	out := map[string]string{}
	for name, p := range props {
		pm, _ := p.(map[string]any)
		if ref, ok := pm["$ref"].(string); ok {
			pm, _ = n.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		}
		switch t := pm["type"].(type) {
		case string:
			out[name] = t
		case []any:
			for _, e := range t {
				if s, ok := e.(string); ok && s != "null" {
					out[name] = s
					break
				}
			}
		}
	}
	return out
}

// ValidationError lists what is wrong with a body.
type ValidationError struct {
	Schema   string // where the schema is, e.g. "api.yaml#/paths/..."
	Problems []Problem
}

// Problem is one schema violation.
type Problem struct {
	Path    string // JSON pointer into the body, "/" for the whole body
	Message string
}

func (p Problem) String() string { return p.Path + ": " + p.Message }

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("body does not match ")
	b.WriteString(e.Schema)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

var printer = message.NewPrinter(language.English)

// problems flattens the validator's error tree into its leaves, the
// concrete violations. Branch errors ("allOf failed") only repeat their
// causes, and a failing "not" is the unmet side of a discriminator
// implication, so neither is listed.
func problems(ve *jsonschema.ValidationError) []Problem {
	var out []Problem
	seen := map[Problem]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if _, ok := e.ErrorKind.(*kind.Not); ok {
			return
		}
		p := Problem{Path: "/" + strings.Join(escapeAll(e.InstanceLocation), "/"), Message: e.ErrorKind.LocalizedString(printer)}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	walk(ve)
	if len(out) == 0 {
		out = append(out, Problem{Path: "/", Message: ve.ErrorKind.LocalizedString(printer)})
	}
	return out
}

func escapeAll(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = escape(t)
	}
	return out
}
