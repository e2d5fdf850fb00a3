package oas

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// escape makes one JSON pointer token (RFC 6901).
func escape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~", "~0"), "/", "~1")
}

func unescape(token string) string {
	return strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
}

func tokens(pointer string) ([]string, error) {
	if pointer == "" {
		return nil, nil
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("bad JSON pointer %q", pointer)
	}
	parts := strings.Split(pointer[1:], "/")
	for i, p := range parts {
		parts[i] = unescape(p)
	}
	return parts, nil
}

// refPointer turns a local reference ("#/components/schemas/X") into a
// JSON pointer. References to other documents are not supported: vendor
// documents used here are self-contained.
func refPointer(ref string) (string, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return "", fmt.Errorf("unsupported external $ref %q", ref)
	}
	p, err := url.PathUnescape(frag)
	if err != nil {
		return "", fmt.Errorf("bad $ref %q: %w", ref, err)
	}
	return p, nil
}

func lookup(root any, pointer string) (any, bool) {
	toks, err := tokens(pointer)
	if err != nil {
		return nil, false
	}
	v := root
	for _, t := range toks {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[t]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// setPointer stores value at pointer. With create, missing objects on the
// way are made; otherwise the parent must exist.
func setPointer(root map[string]any, pointer string, value any, create bool) error {
	toks, err := tokens(pointer)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return errors.New("cannot replace the document root")
	}
	var cur any = root
	for i, t := range toks {
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[t] = value
				return nil
			}
			next, ok := c[t]
			if !ok {
				if !create {
					return fmt.Errorf("no %q in %s", t, pointer)
				}
				next = map[string]any{}
				c[t] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(t)
			if err != nil || n < 0 || n >= len(c) {
				return fmt.Errorf("bad index %q in %s", t, pointer)
			}
			if last {
				c[n] = value
				return nil
			}
			cur = c[n]
		default:
			return fmt.Errorf("%s: %q is inside a scalar", pointer, t)
		}
	}
	return nil
}

// lenientRegexp compiles patterns with Go's regexp. Vendor documents use
// ECMA-262 patterns, some of which (look-arounds, back-references) Go
// cannot compile; those are not enforced rather than making the whole
// schema unusable.
func lenientRegexp(s string) (jsonschema.Regexp, error) {
	re, err := regexp.Compile(s)
	if err != nil {
		return anything(s), nil
	}
	return re, nil
}

type anything string

func (a anything) String() string          { return string(a) }
func (a anything) MatchString(string) bool { return true }
