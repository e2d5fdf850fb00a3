// Package oas checks HTTP bodies against a vendor's published OpenAPI
// document (OpenAPI 3.0, 3.1, or Swagger 2.0). The test fakes use it so
// that every request an adapter sends is valid against the schema the
// vendor publishes, instead of against our own idea of the wire format.
//
// Vendor documents are written for code generators, not validators: they
// merge allOf branches, pick oneOf branches by discriminator and carry
// OpenAPI-only keywords. Before compiling a schema with
// santhosh-tekuri/jsonschema the package rewrites it the way OpenAPI tooling
// reads it (see normalize.go), so a strict JSON Schema validator agrees with
// what the vendor meant.
package oas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// Document is a loaded OpenAPI document. It is safe for concurrent use.
type Document struct {
	name    string
	root    map[string]any // JSON-shaped: map[string]any, []any, json.Number, string, bool, nil
	version string         // "2.0", "3.0.x" or "3.1.x"

	mu    sync.Mutex
	cache map[string]*Validator
}

// Load reads a YAML or JSON OpenAPI document.
func Load(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("oas: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("oas: %s: %w", filepath.Base(path), err)
	}
	d.name = filepath.Base(path)
	return d, nil
}

// Parse reads a YAML or JSON OpenAPI document from memory. JSON is YAML,
// so one decoder reads both; the tree is then re-encoded as JSON so that
// it holds only what a JSON schema validator expects (string keys,
// json.Number, no YAML timestamps).
func Parse(data []byte) (*Document, error) {
	var tree any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	js, err := json.Marshal(jsonShape(tree))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("parse: the document is not an object")
	}
	d := &Document{name: "document", root: root, cache: map[string]*Validator{}}
	switch {
	case str(root["openapi"]) != "":
		d.version = str(root["openapi"])
	case str(root["swagger"]) != "":
		d.version = str(root["swagger"])
	default:
		return nil, errors.New("parse: neither an openapi nor a swagger document")
	}
	return d, nil
}

// jsonShape turns what yaml.v3 produced into values encoding/json can
// marshal: maps with non-string keys (such as response codes written as
// bare numbers) get string keys.
func jsonShape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonShape(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonShape(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonShape(e)
		}
		return v
	}
	return v
}

// Version is the document's openapi (or swagger) version.
func (d *Document) Version() string { return d.version }

// Patch sets the value at a JSON pointer ("/components/schemas/X/..."),
// whose parent must exist. It exists for vendor schema bugs a test must
// work around; each patch should say why next to the call. Validators
// built before keep the old schema; later ones see the patch.
func (d *Document) Patch(pointer string, value any) error {
	js, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("oas: patch %s: %w", pointer, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return fmt.Errorf("oas: patch %s: %w", pointer, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := setPointer(d.root, pointer, v, false); err != nil {
		return fmt.Errorf("oas: patch %s: %w", pointer, err)
	}
	d.cache = map[string]*Validator{}
	return nil
}

// Lookup returns the raw value at a JSON pointer, for tests that inspect
// what the document says.
func (d *Document) Lookup(pointer string) (any, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return lookup(d.root, pointer)
}

// RequestValidator returns a validator for the request body of the
// operation at method and path template (as written in the document, e.g.
// "/{Version}/{Phone-Number-ID}/messages") for contentType.
func (d *Document) RequestValidator(method, pathTemplate, contentType string) (*Validator, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ptr, err := d.requestSchemaPointer(method, pathTemplate, contentType)
	if err != nil {
		return nil, fmt.Errorf("oas: %s %s: %w", method, pathTemplate, err)
	}
	return d.validator(ptr)
}

// ResponseValidator returns a validator for the response body of the
// operation for an HTTP status (such as "200") and contentType.
func (d *Document) ResponseValidator(method, pathTemplate, status, contentType string) (*Validator, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ptr, err := d.responseSchemaPointer(method, pathTemplate, status, contentType)
	if err != nil {
		return nil, fmt.Errorf("oas: %s %s %s: %w", method, pathTemplate, status, err)
	}
	return d.validator(ptr)
}

// SchemaValidator returns a validator for the schema at a JSON pointer,
// such as "/components/schemas/Message".
func (d *Document) SchemaValidator(pointer string) (*Validator, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := lookup(d.root, pointer); !ok {
		return nil, fmt.Errorf("oas: no schema at %s", pointer)
	}
	return d.validator(pointer)
}

func (d *Document) operationPointer(method, pathTemplate string) (string, map[string]any, error) {
	paths, _ := d.root["paths"].(map[string]any)
	item, ok := paths[pathTemplate].(map[string]any)
	if !ok {
		return "", nil, errors.New("no such path")
	}
	m := strings.ToLower(method)
	op, ok := item[m].(map[string]any)
	if !ok {
		return "", nil, fmt.Errorf("no %s operation", strings.ToUpper(method))
	}
	return "/paths/" + escape(pathTemplate) + "/" + m, op, nil
}

func (d *Document) requestSchemaPointer(method, pathTemplate, contentType string) (string, error) {
	opPtr, op, err := d.operationPointer(method, pathTemplate)
	if err != nil {
		return "", err
	}
	if d.version == "2.0" {
		return d.swaggerRequestSchema(opPtr, op, pathTemplate, contentType)
	}
	body, ptr := d.deref(op["requestBody"], opPtr+"/requestBody")
	bm, ok := body.(map[string]any)
	if !ok {
		return "", errors.New("no requestBody")
	}
	return contentSchema(bm, ptr, contentType)
}

func (d *Document) responseSchemaPointer(method, pathTemplate, status, contentType string) (string, error) {
	opPtr, op, err := d.operationPointer(method, pathTemplate)
	if err != nil {
		return "", err
	}
	responses, _ := op["responses"].(map[string]any)
	key := status
	if _, ok := responses[key]; !ok {
		key = "default"
	}
	resp, ptr := d.deref(responses[key], opPtr+"/responses/"+escape(key))
	rm, ok := resp.(map[string]any)
	if !ok {
		return "", fmt.Errorf("no response %s", status)
	}
	if d.version == "2.0" {
		if _, ok := rm["schema"]; !ok {
			return "", fmt.Errorf("response %s has no schema", status)
		}
		return ptr + "/schema", nil
	}
	return contentSchema(rm, ptr, contentType)
}

// contentSchema finds content[contentType].schema in a request body or
// response object. Parameters after ";" in contentType are ignored.
func contentSchema(obj map[string]any, ptr, contentType string) (string, error) {
	content, _ := obj["content"].(map[string]any)
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	for name, media := range content {
		if strings.ToLower(name) != ct {
			continue
		}
		if mm, ok := media.(map[string]any); ok && mm["schema"] != nil {
			return ptr + "/content/" + escape(name) + "/schema", nil
		}
		return "", fmt.Errorf("content %s has no schema", name)
	}
	return "", fmt.Errorf("no %s content", ct)
}

// swaggerRequestSchema finds a Swagger 2.0 request body: the "in: body"
// parameter's schema, or for form content the formData parameters
// gathered into an object schema stored under /x-oas-forms.
func (d *Document) swaggerRequestSchema(opPtr string, op map[string]any, pathTemplate, contentType string) (string, error) {
	params := d.swaggerParams(opPtr, op, pathTemplate)
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	if strings.Contains(ct, "form") {
		schema := map[string]any{"type": "object"}
		props := map[string]any{}
		var required []any
		for _, p := range params {
			if p.value["in"] != "formData" {
				continue
			}
			name := str(p.value["name"])
			prop := map[string]any{}
			for k, v := range p.value {
				switch k {
				case "name", "in", "required", "description", "allowEmptyValue", "collectionFormat":
				default:
					prop[k] = v
				}
			}
			if prop["type"] == "file" {
				prop["type"] = "string"
			}
			props[name] = prop
			if p.value["required"] == true {
				required = append(required, name)
			}
		}
		if len(props) == 0 {
			return "", errors.New("no formData parameters")
		}
		schema["properties"] = props
		if len(required) > 0 {
			schema["required"] = required
		}
		ptr := "/x-oas-forms/" + escape(opPtr)
		if err := setPointer(d.root, ptr, schema, true); err != nil {
			return "", err
		}
		return ptr, nil
	}
	for _, p := range params {
		if p.value["in"] == "body" {
			if _, ok := p.value["schema"]; ok {
				return p.ptr + "/schema", nil
			}
		}
	}
	return "", errors.New("no body parameter")
}

type param struct {
	ptr   string
	value map[string]any
}

// swaggerParams lists an operation's parameters after the path item's,
// with references followed.
func (d *Document) swaggerParams(opPtr string, op map[string]any, pathTemplate string) []param {
	var out []param
	add := func(list any, ptr string) {
		arr, _ := list.([]any)
		for i, p := range arr {
			v, vp := d.deref(p, ptr+"/"+strconv.Itoa(i))
			if m, ok := v.(map[string]any); ok {
				out = append(out, param{vp, m})
			}
		}
	}
	item, _ := d.root["paths"].(map[string]any)[pathTemplate].(map[string]any)
	add(item["parameters"], "/paths/"+escape(pathTemplate)+"/parameters")
	add(op["parameters"], opPtr+"/parameters")
	return out
}

// deref follows a local $ref (a Reference Object, not a schema) and
// returns the value with its pointer.
func (d *Document) deref(v any, ptr string) (any, string) {
	for range 16 {
		m, ok := v.(map[string]any)
		if !ok {
			return v, ptr
		}
		ref, ok := m["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return v, ptr
		}
		p, err := refPointer(ref)
		if err != nil {
			return nil, ptr
		}
		next, ok := lookup(d.root, p)
		if !ok {
			return nil, ptr
		}
		v, ptr = next, p
	}
	return nil, ptr
}

// validator builds (once) and returns the validator for the schema at
// ptr. The caller holds d.mu, which also guards the tree against Patch.
func (d *Document) validator(ptr string) (*Validator, error) {
	if v, ok := d.cache[ptr]; ok {
		return v, nil
	}
	v, err := d.compile(ptr)
	if err != nil {
		return nil, fmt.Errorf("oas: compile %s: %w", ptr, err)
	}
	d.cache[ptr] = v
	return v, nil
}

// The compiled resource is a JSON document holding the normalized target
// schema under /x-oas-target and every schema it reaches at its original
// pointer, so the document's own "#/components/..." references resolve.
const resourceURL = "https://oas.invalid/schema.json"

func (d *Document) compile(ptr string) (*Validator, error) {
	n := newNormalizer(d.root, strings.HasPrefix(d.version, "3.0"))
	target, err := n.schemaAt(ptr)
	if err != nil {
		return nil, err
	}
	out, err := n.resource()
	if err != nil {
		return nil, err
	}
	out["x-oas-target"] = target
	c := jsonschema.NewCompiler()
	// OpenAPI 3.1 schemas are 2020-12; the normalizer has rewritten the
	// draft-04-like dialect of 3.0 and 2.0 into it.
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseRegexpEngine(lenientRegexp)
	if err := c.AddResource(resourceURL, out); err != nil {
		return nil, err
	}
	sch, err := c.Compile(resourceURL + "#/x-oas-target")
	if err != nil {
		return nil, err
	}
	return &Validator{schema: sch, name: d.name + "#" + ptr, formTypes: formTypes(target, n)}, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
