package dataverse

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The $filter subset a CRM connector needs: eq, ne, and, or, parentheses,
// string literals with '' escaping, GUID literals, null, numbers, booleans,
// dates, and contains/startswith/endswith on strings. Everything else that
// OData has is answered "not implemented" so that a client depending on it
// fails loudly here rather than in production; syntax OData itself refuses
// is answered as Dataverse would.

type litKind int

const (
	litString litKind = iota
	litGuid
	litInt
	litFloat
	litBool
	litNull
	litDate
)

// literal is an OData literal from a $filter or a key predicate.
type literal struct {
	kind litKind
	s    string // string, GUID (lower case) or date (RFC 3339)
	i    int64
	f    float64
	b    bool
}

func (l literal) edm() string {
	switch l.kind {
	case litString:
		return "Edm.String"
	case litGuid:
		return "Edm.Guid"
	case litInt:
		return "Edm.Int32"
	case litFloat:
		return "Edm.Double"
	case litBool:
		return "Edm.Boolean"
	case litDate:
		return "Edm.DateTimeOffset"
	}
	return "null"
}

// value is the literal as the store holds values.
func (l literal) value() any {
	switch l.kind {
	case litString, litGuid, litDate:
		return l.s
	case litInt:
		return l.i
	case litFloat:
		return l.f
	case litBool:
		return l.b
	}
	return nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tLit
	tLParen
	tRParen
	tComma
	tSlash
)

type token struct {
	kind tokKind
	text string
	lit  literal
	pos  int
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?`)
	numRE  = regexp.MustCompile(`^-?\d+(\.\d+)?([eE][+-]?\d+)?`)
)

// syntaxError is OData refusing the text; notImplemented is the fake
// refusing what OData allows.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

type notImplemented struct{ what string }

func (e *notImplemented) Error() string { return e.what }

func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(':
			out = append(out, token{kind: tLParen, text: "(", pos: i})
			i++
		case c == ')':
			out = append(out, token{kind: tRParen, text: ")", pos: i})
			i++
		case c == ',':
			out = append(out, token{kind: tComma, text: ",", pos: i})
			i++
		case c == '/':
			out = append(out, token{kind: tSlash, text: "/", pos: i})
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, &syntaxError{fmt.Sprintf("There is an unterminated string literal at position %d in '%s'.", i, src)}
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, token{kind: tLit, text: src[i : j+1], lit: literal{kind: litString, s: b.String()}, pos: i})
			i = j + 1
		case guidRE.MatchString(src[i:]) && !isIdentByte(byteAt(src, i+36)):
			g := src[i : i+36]
			out = append(out, token{kind: tLit, text: g, lit: literal{kind: litGuid, s: strings.ToLower(g)}, pos: i})
			i += 36
		case dateRE.MatchString(src[i:]) && !isIdentByte(byteAt(src, i+len(dateRE.FindString(src[i:])))):
			d := dateRE.FindString(src[i:])
			norm, ok := normalizeDate(d)
			if !ok {
				return nil, &syntaxError{fmt.Sprintf("Unrecognized 'Edm.DateTimeOffset' literal '%s' at '%d' in '%s'.", d, i, src)}
			}
			out = append(out, token{kind: tLit, text: d, lit: literal{kind: litDate, s: norm}, pos: i})
			i += len(d)
		case numRE.MatchString(src[i:]) && (c != '-' || len(out) == 0 || out[len(out)-1].kind != tLit):
			n := numRE.FindString(src[i:])
			if strings.ContainsAny(n, ".eE") {
				f, err := strconv.ParseFloat(n, 64)
				if err != nil {
					return nil, &syntaxError{fmt.Sprintf("Unrecognized literal '%s' at '%d' in '%s'.", n, i, src)}
				}
				out = append(out, token{kind: tLit, text: n, lit: literal{kind: litFloat, f: f}, pos: i})
			} else {
				v, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					return nil, &syntaxError{fmt.Sprintf("Unrecognized literal '%s' at '%d' in '%s'.", n, i, src)}
				}
				out = append(out, token{kind: tLit, text: n, lit: literal{kind: litInt, i: v}, pos: i})
			}
			i += len(n)
		case isIdentStart(c):
			j := i
			for j < len(src) && (isIdentByte(src[j]) || src[j] == '.') {
				j++
			}
			word := src[i:j]
			tok := token{kind: tIdent, text: word, pos: i}
			switch word {
			case "null":
				tok = token{kind: tLit, text: word, lit: literal{kind: litNull}, pos: i}
			case "true", "false":
				tok = token{kind: tLit, text: word, lit: literal{kind: litBool, b: word == "true"}, pos: i}
			}
			out = append(out, tok)
			i = j
		default:
			return nil, &syntaxError{fmt.Sprintf("Syntax error: character '%c' is not valid at position %d in '%s'.", c, i, src)}
		}
	}
	return append(out, token{kind: tEOF, pos: len(src)}), nil
}

func byteAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c == '@' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentByte(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '-'
}

// normalizeDate turns an OData date or date-time literal into the form the
// store keeps (RFC 3339 in UTC, or yyyy-mm-dd).
func normalizeDate(s string) (string, bool) {
	if len(s) == 10 {
		if _, err := time.Parse("2006-01-02", s); err != nil {
			return "", false
		}
		return s, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339), true
		}
	}
	return "", false
}

// Kinds of properties a filter can compare.
type fieldKind int

const (
	kString fieldKind = iota
	kGuid
	kInt
	kFloat
	kBool
	kDate
	kOther
)

func (k fieldKind) edm() string {
	return [...]string{"Edm.String", "Edm.Guid", "Edm.Int32", "Edm.Decimal", "Edm.Boolean", "Edm.DateTimeOffset", "Edm.ComplexType"}[k]
}

// filterSchema tells the parser which properties exist and what they hold.
type filterSchema struct {
	typeName string
	kind     func(prop string) (fieldKind, bool)
}

// filterNode is a parsed $filter, evaluated against a row's properties.
type filterNode interface {
	eval(get func(prop string) any) bool
}

type orNode struct{ l, r filterNode }

func (n orNode) eval(get func(string) any) bool { return n.l.eval(get) || n.r.eval(get) }

type andNode struct{ l, r filterNode }

func (n andNode) eval(get func(string) any) bool { return n.l.eval(get) && n.r.eval(get) }

type cmpNode struct {
	prop string
	ne   bool
	lit  literal
}

// eval compares as SQL Server does under Dataverse: strings and GUIDs
// without regard to case, and null equal only to null; ne never matches a
// null column (guess: Dataverse translates ne to SQL <>).
func (n cmpNode) eval(get func(string) any) bool {
	v := get(n.prop)
	if n.lit.kind == litNull {
		return (v == nil) != n.ne
	}
	if v == nil {
		return false
	}
	return equalValues(v, n.lit.value()) != n.ne
}

func equalValues(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && strings.EqualFold(x, y)
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	fa, ok1 := toFloat(a)
	fb, ok2 := toFloat(b)
	return ok1 && ok2 && math.Abs(fa-fb) < 1e-9
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

type funcNode struct {
	fn, prop, arg string
}

func (n funcNode) eval(get func(string) any) bool {
	v, ok := get(n.prop).(string)
	if !ok {
		return false
	}
	v, arg := strings.ToLower(v), strings.ToLower(n.arg)
	switch n.fn {
	case "contains":
		return strings.Contains(v, arg)
	case "startswith":
		return strings.HasPrefix(v, arg)
	}
	return strings.HasSuffix(v, arg)
}

// otherFunctions are OData's and Dataverse's other query functions: valid,
// but not implemented by the fake.
var otherFunctions = map[string]bool{
	"substringof": true, "tolower": true, "toupper": true, "trim": true, "length": true, "indexof": true,
	"substring": true, "concat": true, "year": true, "month": true, "day": true, "hour": true, "minute": true,
	"second": true, "date": true, "time": true, "round": true, "floor": true, "ceiling": true, "now": true,
	"matchespattern": true,
}

type filterParser struct {
	src    string
	toks   []token
	pos    int
	schema filterSchema
}

// parseFilter parses a $filter. Its errors are *syntaxError (Dataverse
// would refuse), *notImplemented (the fake cannot serve it), or *apiError
// (an unknown property or a type mismatch, as Dataverse words them).
func parseFilter(src string, schema filterSchema) (filterNode, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{src: src, toks: toks, schema: schema}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &syntaxError{fmt.Sprintf("Syntax error at position %d in '%s'.", t.pos, src)}
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.pos] }

func (p *filterParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *filterParser) syntax(t token) error {
	return &syntaxError{fmt.Sprintf("Syntax error at position %d in '%s'.", t.pos, p.src)}
}

func (p *filterParser) or() (filterNode, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tIdent && p.peek().text == "or" {
		p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *filterParser) and() (filterNode, error) {
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tIdent && p.peek().text == "and" {
		p.next()
		r, err := p.primary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *filterParser) primary() (filterNode, error) {
	t := p.next()
	switch t.kind {
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tRParen {
			return nil, &syntaxError{fmt.Sprintf("')' or operator expected at position %d in '%s'.", p.toks[p.pos-1].pos, p.src)}
		}
		return n, nil
	case tLit:
		return nil, &notImplemented{fmt.Sprintf("a literal (%s) on the left of a comparison", t.text)}
	case tIdent:
	default:
		return nil, p.syntax(t)
	}
	if t.text == "not" {
		return nil, &notImplemented{"the 'not' operator"}
	}
	if p.peek().kind == tLParen {
		return p.function(t)
	}
	if p.peek().kind == tSlash {
		return nil, &notImplemented{fmt.Sprintf("navigation paths and lambda operators (%s/…)", t.text)}
	}
	kind, ok := p.schema.kind(t.text)
	if !ok {
		return nil, errNoProperty(p.schema.typeName, t.text)
	}
	op := p.next()
	if op.kind != tIdent {
		return nil, p.syntax(op)
	}
	switch op.text {
	case "eq", "ne":
	case "gt", "ge", "lt", "le", "has", "in":
		return nil, &notImplemented{fmt.Sprintf("the '%s' operator", op.text)}
	case "add", "sub", "mul", "div", "mod":
		return nil, &notImplemented{fmt.Sprintf("arithmetic ('%s')", op.text)}
	default:
		return nil, p.syntax(op)
	}
	v := p.next()
	if v.kind == tIdent {
		return nil, &notImplemented{fmt.Sprintf("comparing two properties (%s %s %s)", t.text, op.text, v.text)}
	}
	if v.kind != tLit {
		return nil, p.syntax(v)
	}
	if !compatible(kind, v.lit.kind) {
		opName := "Equal"
		if op.text == "ne" {
			opName = "NotEqual"
		}
		return nil, errQuery("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", kind.edm(), v.lit.edm(), opName)
	}
	lit := v.lit
	if kind == kDate && lit.kind == litDate && len(lit.s) == 10 {
		lit.s += "T00:00:00Z"
	}
	return cmpNode{prop: t.text, ne: op.text == "ne", lit: lit}, nil
}

func compatible(k fieldKind, l litKind) bool {
	if l == litNull {
		return true
	}
	switch k {
	case kString:
		return l == litString
	case kGuid:
		return l == litGuid
	case kInt:
		return l == litInt
	case kFloat:
		return l == litInt || l == litFloat
	case kBool:
		return l == litBool
	case kDate:
		return l == litDate
	}
	return false
}

func (p *filterParser) function(name token) (filterNode, error) {
	switch fn := strings.ToLower(name.text); {
	case fn == "contains" || fn == "startswith" || fn == "endswith":
		if name.text != fn {
			return nil, &syntaxError{fmt.Sprintf("An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", name.text)}
		}
		p.next() // (
		prop := p.next()
		if prop.kind != tIdent {
			return nil, p.syntax(prop)
		}
		kind, ok := p.schema.kind(prop.text)
		if !ok {
			return nil, errNoProperty(p.schema.typeName, prop.text)
		}
		if p.next().kind != tComma {
			return nil, &syntaxError{fmt.Sprintf("',' expected at position %d in '%s'.", p.toks[p.pos-1].pos, p.src)}
		}
		arg := p.next()
		if arg.kind != tLit || arg.lit.kind != litString {
			return nil, &notImplemented{fmt.Sprintf("%s with a non-string argument", fn)}
		}
		if p.next().kind != tRParen {
			return nil, &syntaxError{fmt.Sprintf("')' expected at position %d in '%s'.", p.toks[p.pos-1].pos, p.src)}
		}
		if kind != kString {
			return nil, errQuery("No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String Nullable=true).", fn, fn)
		}
		return funcNode{fn: fn, prop: prop.text, arg: arg.lit.s}, nil
	case otherFunctions[fn] || strings.HasPrefix(name.text, "Microsoft.Dynamics.CRM."):
		return nil, &notImplemented{fmt.Sprintf("the %s function", name.text)}
	default:
		return nil, &syntaxError{fmt.Sprintf("An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", name.text)}
	}
}
