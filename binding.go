package parley

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Bindings fill a template's body variables without anyone typing them:
// each variable ("1", "first_name") is bound to an expression read at
// send time. They belong to a tenant's template name, not to one of its
// variants: every language and every number of a template name shares
// its variables (Meta requires the same variables for each language of a
// name), so an admin binds a name once.
//
// An expression is one of:
//
//	record.<column>   a column of the CRM record the send is filled from, as
//	                  an agent reads it: the label of a choice, the name of
//	                  a lookup (record.parentcustomerid), a formatted date
//	contact.name      the contact's name (else their WhatsApp profile name)
//	contact.first_name the first word of it
//	contact.phone     the contact's E.164 number
//	agent.name        the name of the agent who sends
//	tenant.name       the tenant's name
//	literal:<text>    the text itself, as written after the colon
type Bindings map[string]string

// Binding kinds: where a bound value comes from.
const (
	BindRecord  = "record"
	BindContact = "contact"
	BindAgent   = "agent"
	BindTenant  = "tenant"
	BindLiteral = "literal"
)

// Binding is one parsed expression.
type Binding struct {
	Kind string // record, contact, agent, tenant or literal
	// Arg is the column of a record binding, the field of a contact
	// binding, and the text of a literal.
	Arg string
}

// String is the binding as it is written.
func (b Binding) String() string {
	if b.Kind == BindLiteral {
		return BindLiteral + ":" + b.Arg
	}
	return b.Kind + "." + b.Arg
}

var (
	bindingColumn = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)
	contactFields = []string{"name", "first_name", "phone"}
)

// ParseBinding reads one expression, so that a mistyped binding is refused
// when it is saved rather than leaving a variable empty at every send.
func ParseBinding(expr string) (Binding, error) {
	if text, ok := strings.CutPrefix(expr, BindLiteral+":"); ok {
		if strings.TrimSpace(text) == "" {
			return Binding{}, Errorf(EINVALID, "The literal %q is empty; write the text after the colon, such as literal:Parley Store.", expr)
		}
		return Binding{Kind: BindLiteral, Arg: text}, nil
	}
	kind, arg, _ := strings.Cut(strings.TrimSpace(expr), ".")
	switch {
	case kind == BindRecord && bindingColumn.MatchString(arg):
		return Binding{Kind: kind, Arg: arg}, nil
	case kind == BindRecord:
		return Binding{}, Errorf(EINVALID, "%q does not name a column: write record.<column> with the column's logical name in lower case, such as record.firstname.", expr)
	case kind == BindContact && slices.Contains(contactFields, arg):
		return Binding{Kind: kind, Arg: arg}, nil
	case (kind == BindAgent || kind == BindTenant) && arg == "name":
		return Binding{Kind: kind, Arg: arg}, nil
	}
	return Binding{}, Errorf(EINVALID, "%q is not a binding; use record.<column>, contact.name, contact.first_name, contact.phone, agent.name, tenant.name or literal:<text>.", expr)
}

// Check parses every expression and reports, in one error, the variables
// the template does not have (vars lists those it has).
func (b Bindings) Check(vars []string) error {
	var unknown []string
	for _, v := range b.sortedVariables() {
		if _, err := ParseBinding(b[v]); err != nil {
			return Errorf(EINVALID, "Variable {{%s}}: %s", v, ErrorMessage(err))
		}
		if !slices.Contains(vars, v) {
			unknown = append(unknown, "{{"+v+"}}")
		}
	}
	if len(unknown) > 0 {
		return Errorf(EUNKNOWNVARIABLE, "The template has no variable %s; its variables are %s.", strings.Join(unknown, ", "),
			listVariables(vars))
	}
	return nil
}

func listVariables(vars []string) string {
	if len(vars) == 0 {
		return "none"
	}
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = "{{" + v + "}}"
	}
	return strings.Join(out, ", ")
}

// Columns are the record columns the bindings read, sorted.
func (b Bindings) Columns() []string {
	var out []string
	for _, expr := range b {
		if p, err := ParseBinding(expr); err == nil && p.Kind == BindRecord && !slices.Contains(out, p.Arg) {
			out = append(out, p.Arg)
		}
	}
	sort.Strings(out)
	return out
}

func (b Bindings) sortedVariables() []string {
	vars := make([]string, 0, len(b))
	for v := range b {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	return vars
}

// RecordReader reads a CRM record's columns as an agent reads them: the
// formatted value for choices, lookups, money and dates, the raw value
// otherwise. A column the record does not have is absent from the map.
// The CRM service implements it; nil where one is expected means the
// deployment has no CRM, and record bindings are then left unfilled.
type RecordReader interface {
	RecordValues(ctx context.Context, tenantID string, rec Record, columns []string) (map[string]string, error)
}

// BindingSource is what bindings are read from for one send.
type BindingSource struct {
	// Record is the record the send is filled from, and Values its
	// columns as a RecordReader read them. NoRecord says why there are
	// no values when Values is nil (no record named, no CRM connected).
	Record   *Record
	Values   map[string]string
	NoRecord string
	Contact  *Contact // nil for a number Parley does not know yet
	Agent    string   // the sending agent's name; "" when an API key sends
	Tenant   string
}

// Unfilled is a variable no value was found for, and why.
type Unfilled struct {
	Variable string `json:"variable"`
	Reason   string `json:"reason"`
}

// Filled is the outcome of filling a template's body variables.
type Filled struct {
	// Values holds every variable that has a value.
	Values map[string]string
	// From says where each bound value came from; a variable the caller
	// gave is not in it.
	From     map[string]Binding
	Unfilled []Unfilled
}

// Fill gives each body variable of t a value: the caller's (given) when
// it is not blank, else its binding's. It never fails: a variable with
// neither is listed in Unfilled with the reason, for the caller to report
// or to ask an agent for.
func (t *Template) Fill(b Bindings, given map[string]string, src BindingSource) Filled {
	f := Filled{Values: map[string]string{}, From: map[string]Binding{}}
	for _, v := range t.BodyParams {
		if g := strings.TrimSpace(given[v]); g != "" {
			f.Values[v] = given[v]
			continue
		}
		expr, ok := b[v]
		if !ok {
			f.Unfilled = append(f.Unfilled, Unfilled{v, "no value was given and the variable has no binding"})
			continue
		}
		p, err := ParseBinding(expr)
		if err != nil {
			f.Unfilled = append(f.Unfilled, Unfilled{v, ErrorMessage(err)})
			continue
		}
		value, reason := src.value(p)
		if strings.TrimSpace(value) == "" {
			f.Unfilled = append(f.Unfilled, Unfilled{v, reason})
			continue
		}
		f.Values[v], f.From[v] = value, p
	}
	return f
}

// value is a binding's value, or why it has none.
func (src BindingSource) value(b Binding) (string, string) {
	switch b.Kind {
	case BindLiteral:
		return b.Arg, ""
	case BindTenant:
		return src.Tenant, "the tenant has no name"
	case BindAgent:
		return src.Agent, "agent.name needs an agent, and this send is not made by one"
	case BindContact:
		c := src.Contact
		if c == nil {
			return "", fmt.Sprintf("contact.%s needs a contact Parley knows", b.Arg)
		}
		name := strings.TrimSpace(c.Name)
		if name == "" {
			name = strings.TrimSpace(c.ProfileName)
		}
		switch b.Arg {
		case "name":
			return name, "the contact has no name"
		case "first_name":
			first, _, _ := strings.Cut(name, " ")
			return first, "the contact has no name"
		}
		return c.Phone, "the contact has no phone number"
	}
	// A record binding.
	if src.Values == nil {
		reason := src.NoRecord
		if reason == "" {
			reason = "no record to fill it from"
		}
		return "", fmt.Sprintf("record.%s: %s", b.Arg, reason)
	}
	return src.Values[b.Arg], fmt.Sprintf("the record %s has no value for the column %s", src.Record, b.Arg)
}

// Apply writes the filled values into a send, positionally in the order
// of the template's variables or by name. What the send carried beyond the
// template's variables (an extra parameter, parameters of the other kind)
// stays, for Check to refuse as it refuses any send.
func (f Filled) Apply(t *Template, m *TemplateMessage) {
	if t.ParameterFormat == "named" {
		named := make(map[string]string, len(t.BodyParams))
		for k, v := range m.NamedParameters {
			named[k] = v
		}
		for _, v := range t.BodyParams {
			if value, ok := f.Values[v]; ok {
				named[v] = value
			}
		}
		m.NamedParameters = named
		return
	}
	params := make([]string, max(len(t.BodyParams), len(m.Parameters)))
	copy(params, m.Parameters)
	for i, v := range t.BodyParams {
		if value, ok := f.Values[v]; ok {
			params[i] = value
		}
	}
	m.Parameters = params
}

// Err is nil when every variable is filled; otherwise a template_unfilled
// error naming each variable left and why, one detail a variable.
func (f Filled) Err(t *Template) error {
	if len(f.Unfilled) == 0 {
		return nil
	}
	names := make([]string, len(f.Unfilled))
	details := make([]string, len(f.Unfilled))
	for i, u := range f.Unfilled {
		names[i] = "{{" + u.Variable + "}}"
		details[i] = fmt.Sprintf("{{%s}}: %s", u.Variable, u.Reason)
	}
	e := Errorf(ETEMPLATEUNFILLED, "Template %q could not be filled: %s (%s).", t.Name, strings.Join(names, ", "), strings.Join(details, "; "))
	e.Details = details
	return e.WithHint("Give the missing values in template.parameters or template.named_parameters, or bind the variables with PUT /v1/templates/{name}/bindings.")
}

// Given reads the values a send gives for a template's body variables:
// positional parameters by their place (blank ones count as not given),
// named ones by name.
func (t *Template) Given(m *TemplateMessage) map[string]string {
	given := map[string]string{}
	if t.ParameterFormat == "named" {
		for _, v := range t.BodyParams {
			given[v] = m.NamedParameters[v]
		}
		return given
	}
	for i, v := range m.Parameters {
		if i < len(t.BodyParams) {
			given[t.BodyParams[i]] = v
		}
	}
	return given
}
