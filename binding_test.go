package parley_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
)

func TestParseBinding(t *testing.T) {
	for _, c := range []struct {
		expr string
		want parley.Binding
		err  string // part of the error, "" for none
	}{
		{"record.firstname", parley.Binding{Kind: "record", Arg: "firstname"}, ""},
		{"record.parentcustomerid", parley.Binding{Kind: "record", Arg: "parentcustomerid"}, ""},
		{"contact.name", parley.Binding{Kind: "contact", Arg: "name"}, ""},
		{"contact.first_name", parley.Binding{Kind: "contact", Arg: "first_name"}, ""},
		{"contact.phone", parley.Binding{Kind: "contact", Arg: "phone"}, ""},
		{"agent.name", parley.Binding{Kind: "agent", Arg: "name"}, ""},
		{"tenant.name", parley.Binding{Kind: "tenant", Arg: "name"}, ""},
		{"literal:Loja Paulista", parley.Binding{Kind: "literal", Arg: "Loja Paulista"}, ""},
		{"literal:record.firstname", parley.Binding{Kind: "literal", Arg: "record.firstname"}, ""},
		{"literal: ", parley.Binding{}, "empty"},
		{"record.FirstName", parley.Binding{}, "does not name a column"},
		{"record._parentcustomerid_value", parley.Binding{}, "does not name a column"},
		{"record.", parley.Binding{}, "does not name a column"},
		{"agent.email", parley.Binding{}, "is not a binding"},
		{"\"Ana\"", parley.Binding{}, "is not a binding"},
		{"", parley.Binding{}, "is not a binding"},
	} {
		got, err := parley.ParseBinding(c.expr)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.expr, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err) || parley.ErrorCode(err) != parley.EINVALID):
			t.Errorf("%q: error %v, want one saying %q", c.expr, err, c.err)
		case got != c.want:
			t.Errorf("%q = %+v, want %+v", c.expr, got, c.want)
		case c.err == "" && got.String() != c.expr:
			t.Errorf("%q is written back as %q", c.expr, got.String())
		}
	}
}

func TestBindingsCheck(t *testing.T) {
	vars := []string{"1", "2"}
	if err := (parley.Bindings{"1": "record.firstname", "2": "agent.name"}).Check(vars); err != nil {
		t.Errorf("good bindings: %v", err)
	}
	err := (parley.Bindings{"1": "record.firstname", "3": "agent.name", "first_name": "contact.name"}).Check(vars)
	if parley.ErrorCode(err) != parley.EUNKNOWNVARIABLE || !strings.Contains(parley.ErrorMessage(err), "{{3}}, {{first_name}}") ||
		!strings.Contains(parley.ErrorMessage(err), "{{1}}, {{2}}") {
		t.Errorf("unknown variables: %v", err)
	}
	if err := (parley.Bindings{"2": "agent.email"}).Check(vars); parley.ErrorCode(err) != parley.EINVALID || !strings.Contains(err.Error(), "{{2}}") {
		t.Errorf("a bad expression: %v", err)
	}
	if got := (parley.Bindings{"1": "record.b", "2": "record.a", "3": "record.b", "4": "agent.name"}).Columns(); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("columns = %v", got)
	}
}

func TestTemplateFill(t *testing.T) {
	positional := &parley.Template{Name: "order", ParameterFormat: "positional", BodyParams: []string{"1", "2", "3"}}
	named := &parley.Template{Name: "welcome", ParameterFormat: "named", BodyParams: []string{"first_name", "owner", "store"}}
	lead := parley.Record{Table: "lead", ID: "3f2c"}
	values := map[string]string{"firstname": "Ana", "parentcustomerid": "Contoso Ltda", "statuscode": "Qualificado"}
	ana := &parley.Contact{Name: "Ana Souza", Phone: "+5511987654321"}
	src := parley.BindingSource{Record: &lead, Values: values, Contact: ana, Agent: "Rita", Tenant: "Loja"}

	for _, c := range []struct {
		name     string
		tpl      *parley.Template
		bindings parley.Bindings
		given    map[string]string
		src      parley.BindingSource
		values   map[string]string
		unfilled []string // variable: part of the reason
	}{
		{name: "positional from the record, the agent and a literal", tpl: positional,
			bindings: parley.Bindings{"1": "record.firstname", "2": "agent.name", "3": "literal:Loja Paulista"}, src: src,
			values: map[string]string{"1": "Ana", "2": "Rita", "3": "Loja Paulista"}},
		{name: "named, a lookup's formatted name and the tenant", tpl: named,
			bindings: parley.Bindings{"first_name": "contact.first_name", "owner": "record.parentcustomerid", "store": "tenant.name"}, src: src,
			values: map[string]string{"first_name": "Ana", "owner": "Contoso Ltda", "store": "Loja"}},
		{name: "given values win over bindings; blank ones do not", tpl: positional,
			bindings: parley.Bindings{"1": "record.firstname", "2": "agent.name", "3": "contact.phone"},
			given:    map[string]string{"1": "Aninha", "2": "  "}, src: src,
			values: map[string]string{"1": "Aninha", "2": "Rita", "3": "+5511987654321"}},
		{name: "a column the record lacks, and no binding", tpl: positional,
			bindings: parley.Bindings{"1": "record.firstname", "2": "record.new_plan"}, src: src,
			values:   map[string]string{"1": "Ana"},
			unfilled: []string{"2: the record lead:3f2c has no value for the column new_plan", "3: no value was given and the variable has no binding"}},
		{name: "no CRM", tpl: positional, bindings: parley.Bindings{"1": "record.firstname", "2": "contact.name", "3": "literal:x"},
			src:      parley.BindingSource{Record: &lead, NoRecord: "no CRM is connected", Contact: ana},
			values:   map[string]string{"2": "Ana Souza", "3": "x"},
			unfilled: []string{"1: record.firstname: no CRM is connected"}},
		{name: "an API key is no agent, an unknown number no contact", tpl: positional,
			bindings: parley.Bindings{"1": "agent.name", "2": "contact.name", "3": "tenant.name"},
			src:      parley.BindingSource{Tenant: "Loja"}, values: map[string]string{"3": "Loja"},
			unfilled: []string{"1: agent.name needs an agent", "2: contact.name needs a contact"}},
		{name: "a contact known only by profile name", tpl: named,
			bindings: parley.Bindings{"first_name": "contact.first_name", "owner": "contact.name", "store": "literal:Loja"},
			src:      parley.BindingSource{Contact: &parley.Contact{ProfileName: "Zé Carlos"}},
			values:   map[string]string{"first_name": "Zé", "owner": "Zé Carlos", "store": "Loja"}},
		{name: "an empty column is unfilled", tpl: positional, bindings: parley.Bindings{"1": "record.firstname", "2": "literal:a", "3": "literal:b"},
			src:      parley.BindingSource{Record: &lead, Values: map[string]string{"firstname": " "}},
			values:   map[string]string{"2": "a", "3": "b"},
			unfilled: []string{"1: the record lead:3f2c has no value for the column firstname"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := c.tpl.Fill(c.bindings, c.given, c.src)
			if !reflect.DeepEqual(f.Values, c.values) {
				t.Errorf("values = %v, want %v", f.Values, c.values)
			}
			if len(f.Unfilled) != len(c.unfilled) {
				t.Fatalf("unfilled = %+v, want %v", f.Unfilled, c.unfilled)
			}
			for i, u := range f.Unfilled {
				if got := u.Variable + ": " + u.Reason; !strings.HasPrefix(got, c.unfilled[i]) {
					t.Errorf("unfilled %d = %q, want %q", i, got, c.unfilled[i])
				}
			}
			err := f.Err(c.tpl)
			if (err != nil) != (len(c.unfilled) > 0) {
				t.Fatalf("Err = %v", err)
			}
			if err != nil && (parley.ErrorCode(err) != parley.ETEMPLATEUNFILLED || len(parley.ErrorDetails(err)) != len(c.unfilled)) {
				t.Errorf("Err = %v, details %v", err, parley.ErrorDetails(err))
			}
		})
	}
}

// TestFilledApply: filled values reach the send in the template's own
// form, and what the template cannot take stays for Check to refuse.
func TestFilledApply(t *testing.T) {
	positional := &parley.Template{Name: "order", Status: parley.TemplateApproved, ParameterFormat: "positional", BodyParams: []string{"1", "2"}}
	named := &parley.Template{Name: "welcome", Status: parley.TemplateApproved, ParameterFormat: "named", BodyParams: []string{"first_name"}}
	f := parley.Filled{Values: map[string]string{"1": "Ana", "2": "#42", "first_name": "Ana"}}

	m := &parley.TemplateMessage{Parameters: []string{"", "#41"}}
	if got := positional.Given(m); !reflect.DeepEqual(got, map[string]string{"1": "", "2": "#41"}) {
		t.Errorf("given = %v", got)
	}
	f.Apply(positional, m)
	if !reflect.DeepEqual(m.Parameters, []string{"Ana", "#42"}) || positional.Check(m) != nil {
		t.Errorf("positional: %v %v", m.Parameters, positional.Check(m))
	}
	m = &parley.TemplateMessage{Parameters: []string{"a", "b", "c"}}
	f.Apply(positional, m)
	if positional.Check(m) == nil {
		t.Errorf("an extra parameter was dropped instead of refused: %v", m.Parameters)
	}
	m = &parley.TemplateMessage{NamedParameters: map[string]string{"nickname": "x"}}
	f.Apply(named, m)
	if m.NamedParameters["first_name"] != "Ana" || named.Check(m) == nil {
		t.Errorf("named: %v %v", m.NamedParameters, named.Check(m))
	}
}

func TestPickTemplate(t *testing.T) {
	variants := func(langs ...string) []*parley.Template {
		var out []*parley.Template
		for _, l := range langs {
			out = append(out, &parley.Template{Name: "welcome", Language: l})
		}
		return out
	}
	for _, c := range []struct {
		variants []*parley.Template
		chain    []string
		want     string
	}{
		{variants("en_US", "pt_BR", "es"), parley.LanguageChain("pt_BR", "es", []string{"en_US"}), "pt_BR"},
		{variants("en_US", "es"), parley.LanguageChain("pt-br", "", []string{"pt_BR", "es", "en_US"}), "es"},
		{variants("en_US", "es"), parley.LanguageChain("", "", []string{"pt_BR", "es", "en_US"}), "es"},
		{variants("en_US", "pt_BR"), parley.LanguageChain("", "pt_PT", nil), "pt_BR"},
		// The tenant's chain comes before a relative of the contact's language.
		{variants("en_US", "pt_BR"), parley.LanguageChain("", "pt_PT", []string{"en_US"}), "en_US"},
		{variants("en_US"), parley.LanguageChain("", "pt_BR", []string{"es"}), ""},
		{variants("en_US"), nil, ""},
	} {
		got := parley.PickTemplate(c.variants, c.chain)
		if (got == nil && c.want != "") || (got != nil && got.Language != c.want) {
			t.Errorf("chain %v: %v, want %q", c.chain, got, c.want)
		}
	}
	if got := parley.LanguageChain("pt-br", "pt_BR", []string{"ES", "", "en_us"}); !reflect.DeepEqual(got, []string{"pt_BR", "es", "en_US"}) {
		t.Errorf("LanguageChain = %v", got)
	}
}
