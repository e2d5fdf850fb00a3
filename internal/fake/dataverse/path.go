package dataverse

import (
	"fmt"
	"net/url"
	"strings"
)

// segment is one path segment: a name and, for an entity, its key
// predicate: leads(<guid>), example_records(example_key1=2,example_key2=2),
// EntityDefinitions(LogicalName='lead').
type segment struct {
	name string
	key  *keyPred
}

type keyPred struct {
	id    string // a GUID key, lower case
	pairs []keyPair
}

type keyPair struct {
	name string
	lit  literal
}

// String writes the predicate back as a URL would carry it.
func (k *keyPred) String() string {
	if k.id != "" {
		return k.id
	}
	parts := make([]string, len(k.pairs))
	for i, p := range k.pairs {
		parts[i] = p.name + "=" + formatLiteral(p.lit)
	}
	return strings.Join(parts, ",")
}

func formatLiteral(l literal) string {
	switch l.kind {
	case litString:
		return "'" + strings.ReplaceAll(l.s, "'", "''") + "'"
	case litInt:
		return fmt.Sprint(l.i)
	case litFloat:
		return fmt.Sprint(l.f)
	case litBool:
		return fmt.Sprint(l.b)
	case litNull:
		return "null"
	}
	return l.s
}

// parsePath splits the escaped path after /api/data/v9.2/ into segments.
// It splits on slashes outside parentheses and quotes, then unescapes each
// segment, so that an encoded slash inside a key stays in the key.
func parsePath(escaped string) ([]segment, error) {
	var raw []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(escaped); i++ {
		switch c := escaped[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '/' && depth == 0:
			raw = append(raw, escaped[start:i])
			start = i + 1
		}
	}
	raw = append(raw, escaped[start:])
	var segs []segment
	for _, r := range raw {
		if r == "" {
			continue
		}
		s, err := url.PathUnescape(r)
		if err != nil {
			return nil, fmt.Errorf("the path segment %q is not valid: %v", r, err)
		}
		seg, err := parseSegment(s)
		if err != nil {
			return nil, err
		}
		segs = append(segs, seg)
	}
	return segs, nil
}

func parseSegment(s string) (segment, error) {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return segment{name: s}, nil
	}
	if !strings.HasSuffix(s, ")") {
		return segment{}, fmt.Errorf("Bad Request - Error in query syntax: the segment '%s' has no closing parenthesis.", s)
	}
	k, err := parseKey(s[open+1 : len(s)-1])
	if err != nil {
		return segment{}, fmt.Errorf("Bad Request - Error in query syntax: the key of '%s': %v", s, err)
	}
	return segment{name: s[:open], key: k}, nil
}

// parseKey parses a key predicate: a GUID, or name=literal pairs.
func parseKey(s string) (*keyPred, error) {
	s = strings.TrimSpace(s)
	if len(s) == 36 && guidRE.MatchString(s) {
		return &keyPred{id: strings.ToLower(s)}, nil
	}
	k := &keyPred{}
	for s != "" {
		name, rest, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("'%s' is neither a GUID nor name=value pairs", s)
		}
		name = strings.TrimSpace(name)
		val, tail := splitKeyValue(strings.TrimSpace(rest))
		lt, err := lex(val)
		if err != nil {
			return nil, err
		}
		if name == "" || len(lt) != 2 || lt[0].kind != tLit {
			return nil, fmt.Errorf("the value of '%s' (%s) is not a literal", name, val)
		}
		k.pairs = append(k.pairs, keyPair{name: name, lit: lt[0].lit})
		s = tail
	}
	if len(k.pairs) == 0 {
		return nil, fmt.Errorf("the key is empty")
	}
	return k, nil
}

// splitKeyValue splits "'a,b',k2=3" into "'a,b'" and "k2=3".
func splitKeyValue(s string) (string, string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			quoted = !quoted
		case ',':
			if !quoted {
				return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
			}
		}
	}
	return s, ""
}

// parseQuery splits a raw query string keeping the order of its options,
// which @odata.nextLink and @odata.deltaLink repeat.
func parseQuery(raw string) ([]queryParam, error) {
	var out []queryParam
	seen := map[string]bool{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		n, v, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(n)
		if err != nil {
			return nil, fmt.Errorf("the query option %q is not valid: %v", n, err)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("the value of %s is not valid: %v", name, err)
		}
		if strings.HasPrefix(name, "$") && seen[name] {
			return nil, fmt.Errorf("Query option '%s' was specified more than once, but it must be specified at most once.", name)
		}
		seen[name] = true
		out = append(out, queryParam{name: name, value: value})
	}
	return out, nil
}

// encodeQueryValue escapes a query option the way Dataverse writes links:
// readable OData punctuation stays, spaces and reserved characters are
// escaped.
func encodeQueryValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~$,'()*:@/!;=", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
