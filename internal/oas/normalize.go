package oas

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// A normalizer rewrites OpenAPI schemas into plain JSON Schema 2020-12
// that means what OpenAPI tooling takes the schema to mean:
//
//   - allOf branches are merged into one schema: properties and required
//     are united, and additionalProperties: false from any branch applies
//     to the merged property set. Strict JSON Schema applies each branch
//     on its own, so Meta's
//     allOf: [BaseMessageProperties, {additionalProperties: false, ...}]
//     would reject the base properties and every valid message with them.
//     Constraints that cannot be merged (two different enums for one
//     property, a oneOf in two branches) stay, as an allOf of the
//     remainders, so merging never loosens a schema.
//   - A discriminator picks the schema to check: when the property holds a
//     mapped value, only the mapped schema applies (that also gives errors
//     about one schema instead of all oneOf branches). Otherwise the schema
//     is checked as written. This works both for oneOf/anyOf and for a base
//     schema that its subtypes allOf-include.
//   - OpenAPI-only keywords are dropped (discriminator, example, xml,
//     externalDocs, x-*), and OpenAPI 3.0 / Swagger 2.0 dialect is turned
//     into 2020-12: nullable becomes a type union, boolean
//     exclusiveMinimum/Maximum become numbers, type file becomes string,
//     and siblings of $ref are ignored.
//
// Every schema reachable through $ref is normalized once and stored under
// $defs of the compiled resource; references are rewritten to point there.
type normalizer struct {
	root   map[string]any
	legacy bool // OpenAPI 3.0 or Swagger 2.0 dialect

	keys     map[string]string // original pointer → $defs key
	used     map[string]bool   // $defs keys taken
	queue    []string          // pointers still to normalize
	defs     map[string]any    // $defs key → normalized schema
	inlining map[string]bool   // pointers being merged into an allOf
	err      error
}

func newNormalizer(root map[string]any, legacy bool) *normalizer {
	return &normalizer{
		root: root, legacy: legacy,
		keys: map[string]string{}, used: map[string]bool{},
		defs: map[string]any{}, inlining: map[string]bool{},
	}
}

// schemaAt normalizes the schema at pointer.
func (n *normalizer) schemaAt(pointer string) (any, error) {
	raw, ok := lookup(n.root, pointer)
	if !ok {
		return nil, fmt.Errorf("no schema at %s", pointer)
	}
	s := n.schema(raw, true)
	return s, n.err
}

// resource normalizes every referenced schema and returns the document
// to compile.
func (n *normalizer) resource() (map[string]any, error) {
	for len(n.queue) > 0 {
		ptr := n.queue[0]
		n.queue = n.queue[1:]
		raw, ok := lookup(n.root, ptr)
		if !ok {
			return nil, fmt.Errorf("unresolved $ref #%s", ptr)
		}
		n.defs[n.keys[ptr]] = n.schema(raw, true)
	}
	if n.err != nil {
		return nil, n.err
	}
	return map[string]any{"$defs": n.defs}, nil
}

// ref returns the rewritten reference for a local $ref and queues its
// target.
func (n *normalizer) ref(ref string) string {
	ptr, err := refPointer(ref)
	if err != nil {
		n.fail(err)
		return ref
	}
	key, ok := n.keys[ptr]
	if !ok {
		key = n.newKey(ptr)
		n.keys[ptr] = key
		n.queue = append(n.queue, ptr)
	}
	return "#/$defs/" + key
}

// newKey makes a readable $defs name from a pointer, such as
// "components.schemas.Message", since it shows in error messages.
func (n *normalizer) newKey(ptr string) string {
	base := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '.'
	}, strings.TrimPrefix(ptr, "/"))
	key := base
	for i := 2; n.used[key]; i++ {
		key = fmt.Sprintf("%s.%d", base, i)
	}
	n.used[key] = true
	return key
}

func (n *normalizer) fail(err error) {
	if n.err == nil {
		n.err = err
	}
}

// Keywords whose value is one schema, a map of schemas, or a list of them.
var (
	oneSchema   = []string{"items", "additionalProperties", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames", "unevaluatedProperties", "unevaluatedItems", "contentSchema"}
	schemaMaps  = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
	schemaLists = []string{"anyOf", "oneOf", "prefixItems"}
	// dropped are OpenAPI keywords that are not JSON Schema, or
	// annotations that only add noise to the compiled schema.
	dropped = []string{"discriminator", "example", "examples", "xml", "externalDocs", "nullable"}
)

// schema normalizes one schema. dispatch says whether a discriminator on
// it picks a subtype; it is false when the schema is being merged into a
// subtype's allOf (the subtype is the dispatch target).
func (n *normalizer) schema(v any, dispatch bool) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v // true, false, or something invalid the compiler reports
	}
	if ref, ok := m["$ref"].(string); ok {
		out := map[string]any{"$ref": n.ref(ref)}
		if n.legacy {
			return out // OpenAPI 3.0 ignores everything beside $ref
		}
		rest := without(m, "$ref")
		if len(rest) == 0 {
			return out
		}
		return merge([]any{out, n.schema(rest, dispatch)})
	}
	if d, ok := m["discriminator"].(map[string]any); ok && dispatch {
		if s, ok := n.discriminate(m, d); ok {
			return s
		}
	}
	out := map[string]any{}
	for k, val := range m {
		switch {
		case slices.Contains(dropped, k), strings.HasPrefix(k, "x-"), k == "allOf":
		case slices.Contains(oneSchema, k):
			out[k] = n.schema(val, true)
		case slices.Contains(schemaMaps, k):
			if vm, ok := val.(map[string]any); ok {
				nm := make(map[string]any, len(vm))
				for name, s := range vm {
					nm[name] = n.schema(s, true)
				}
				out[k] = nm
			} else {
				out[k] = val
			}
		case slices.Contains(schemaLists, k):
			out[k] = n.list(val)
		default:
			out[k] = val
		}
	}
	if n.legacy {
		legacyDialect(m, out)
	}
	if branches, ok := m["allOf"].([]any); ok {
		parts := []any{out}
		for _, b := range branches {
			parts = append(parts, n.inline(b))
		}
		return allowDeclared(merge(parts))
	}
	return allowDeclared(out)
}

func (n *normalizer) list(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(arr))
	for i, s := range arr {
		out[i] = n.schema(s, true)
	}
	return out
}

// inline returns an allOf branch ready to merge: a referenced schema is
// normalized in place (without discriminator dispatch, since the branch
// is the base of the schema being built). A reference cycle through allOf
// stays a reference and is not merged.
func (n *normalizer) inline(b any) any {
	m, ok := b.(map[string]any)
	if !ok {
		return b
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return n.schema(b, true)
	}
	ptr, err := refPointer(ref)
	if err != nil {
		n.fail(err)
		return b
	}
	target, found := lookup(n.root, ptr)
	if !found || n.inlining[ptr] {
		return n.schema(b, true)
	}
	n.inlining[ptr] = true
	defer delete(n.inlining, ptr)
	s := n.schema(target, false)
	if rest := without(m, "$ref"); len(rest) > 0 && !n.legacy {
		return merge([]any{s, n.schema(rest, true)})
	}
	return s
}

// discriminate builds the dispatch on a discriminator:
//
//	if the property holds a mapped value
//	then check the schema mapped to that value (plus the parent's own
//	     constraints other than oneOf/anyOf)
//	else check the schema as written.
//
// ok is false when the discriminator maps nothing usable.
func (n *normalizer) discriminate(m, d map[string]any) (any, bool) {
	prop, _ := d["propertyName"].(string)
	if prop == "" {
		return nil, false
	}
	targets := map[string]string{}
	if mapping, ok := d["mapping"].(map[string]any); ok {
		for val, ref := range mapping {
			if s, ok := ref.(string); ok {
				if !strings.HasPrefix(s, "#") {
					s = "#/components/schemas/" + s
				}
				targets[val] = s
			}
		}
	}
	// OpenAPI's implicit mapping: a oneOf/anyOf branch referenced by name.
	branches, _ := m["oneOf"].([]any)
	if b, ok := m["anyOf"].([]any); ok {
		branches = b
	}
	mapped := map[string]bool{}
	for _, r := range targets {
		mapped[r] = true
	}
	for _, b := range branches {
		bm, _ := b.(map[string]any)
		r, _ := bm["$ref"].(string)
		if r != "" && !mapped[r] {
			name := r[strings.LastIndex(r, "/")+1:]
			if _, taken := targets[name]; !taken {
				targets[name] = r
			}
		}
	}
	if len(targets) == 0 {
		return nil, false
	}
	own := n.schema(without(m, "discriminator"), false)
	values := make([]string, 0, len(targets))
	for v := range targets {
		values = append(values, v)
	}
	sort.Strings(values)
	var then []any
	if len(branches) > 0 {
		// The mapped schema replaces the oneOf/anyOf; anything else the
		// parent says still holds.
		if rest := without(own.(map[string]any), "oneOf", "anyOf"); len(rest) > 0 {
			then = append(then, rest)
		}
	}
	enum := make([]any, len(values))
	for i, v := range values {
		enum[i] = v
		then = append(then, map[string]any{
			"if":   map[string]any{"properties": map[string]any{prop: map[string]any{"const": v}}},
			"then": map[string]any{"$ref": n.ref(targets[v])},
		})
	}
	return map[string]any{
		"if": map[string]any{
			"required":   []any{prop},
			"properties": map[string]any{prop: map[string]any{"enum": enum}},
		},
		"then": map[string]any{"allOf": then},
		"else": own,
	}, true
}

// legacyDialect turns OpenAPI 3.0 / Swagger 2.0 keywords in the raw
// schema m into their 2020-12 form in out.
func legacyDialect(m, out map[string]any) {
	if t, ok := out["type"].(string); ok && t == "file" {
		out["type"] = "string"
	}
	if m["nullable"] == true {
		if t, ok := out["type"].(string); ok {
			out["type"] = []any{t, "null"}
		}
		if e, ok := out["enum"].([]any); ok && !slices.Contains(e, nil) {
			out["enum"] = append(slices.Clip(e), nil)
		}
	}
	for _, kw := range []string{"Minimum", "Maximum"} {
		excl, bound := "exclusive"+kw, strings.ToLower(kw)
		switch out[excl] {
		case true:
			if b, ok := out[bound]; ok {
				out[excl] = b
				delete(out, bound)
			} else {
				delete(out, excl)
			}
		case false:
			delete(out, excl)
		}
	}
}

// annotations are kept from the first schema that has them when merging.
var annotations = []string{"title", "description", "default", "deprecated", "readOnly", "writeOnly", "$comment"}

// merge folds normalized allOf parts into one schema. Parts that are
// references (cycles) or booleans cannot be merged and stay in allOf.
func merge(parts []any) any {
	dst := map[string]any{}
	var rest []any
	for _, p := range parts {
		pm, ok := p.(map[string]any)
		if !ok || pm["$ref"] != nil {
			rest = append(rest, p)
			continue
		}
		rest = append(rest, mergeInto(dst, pm)...)
	}
	if len(rest) > 0 {
		all, _ := dst["allOf"].([]any)
		dst["allOf"] = append(all, rest...)
	}
	return dst
}

// mergeInto adds src's constraints to dst and returns what could not be
// merged, as schemas to keep under allOf.
func mergeInto(dst, src map[string]any) []any {
	var rest []any
	leftover := map[string]any{}
	for k, v := range src {
		cur, has := dst[k]
		switch {
		case !has:
			dst[k] = v
		case k == "properties":
			dst[k] = mergeProperties(cur, v)
		case k == "required":
			dst[k] = union(cur, v)
		case k == "allOf":
			a, _ := cur.([]any)
			b, _ := v.([]any)
			dst[k] = append(slices.Clip(a), b...)
		case k == "additionalProperties" && (cur == false || v == false):
			dst[k] = false
		case slices.Contains(annotations, k), reflect.DeepEqual(cur, v):
		default:
			leftover[k] = v
		}
	}
	if len(leftover) > 0 {
		rest = append(rest, leftover)
	}
	return rest
}

func mergeProperties(a, b any) any {
	am, _ := a.(map[string]any)
	bm, _ := b.(map[string]any)
	out := make(map[string]any, len(am)+len(bm))
	for k, v := range am {
		out[k] = v
	}
	for k, v := range bm {
		if cur, ok := out[k]; ok && !reflect.DeepEqual(cur, v) {
			out[k] = merge([]any{cur, v})
		} else {
			out[k] = v
		}
	}
	return out
}

func union(a, b any) any {
	as, _ := a.([]any)
	out := slices.Clone(as)
	bs, _ := b.([]any)
	for _, v := range bs {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// allowDeclared makes additionalProperties: false count the properties
// declared in the schema's own oneOf/anyOf/allOf branches as known, the
// way OpenAPI readers treat a composed object: JSON Schema would reject
// them, since the branches' properties are not the schema's own.
func allowDeclared(v any) any {
	m, ok := v.(map[string]any)
	if !ok || m["additionalProperties"] != false {
		return v
	}
	props, _ := m["properties"].(map[string]any)
	var added map[string]any
	for _, kw := range []string{"oneOf", "anyOf", "allOf"} {
		list, _ := m[kw].([]any)
		for _, b := range list {
			bm, _ := b.(map[string]any)
			bp, _ := bm["properties"].(map[string]any)
			for name := range bp {
				if _, ok := props[name]; ok {
					continue
				}
				if added == nil {
					added = map[string]any{}
					for k, s := range props {
						added[k] = s
					}
				}
				added[name] = true
			}
		}
	}
	if added != nil {
		m["properties"] = added
	}
	return m
}

func without(m map[string]any, keys ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !slices.Contains(keys, k) {
			out[k] = v
		}
	}
	return out
}
