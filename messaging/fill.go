package messaging

import (
	"context"
	"slices"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// FillSource is whom a template is filled for: the record whose columns
// its bindings read, the contact, and the agent who sends.
type FillSource struct {
	Record  *parley.Record  // nil when no record is named
	Contact *parley.Contact // nil for a number Parley does not know yet
	Agent   string          // the agent's name; "" when an API key sends
}

// filling is what filling a template name reads, once per send.
type filling struct {
	bindings  parley.Bindings
	connector *parley.Connector // nil when the tenant has no CRM connector
	src       parley.BindingSource
}

// load reads a template name's bindings and the record's columns they
// (and the connector's language column) need, in one call to the CRM.
func (s *Service) load(ctx context.Context, tenantID, name string, records parley.RecordReader, in FillSource) (*filling, error) {
	t, err := s.tenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	f := &filling{src: parley.BindingSource{Record: in.Record, Contact: in.Contact, Agent: in.Agent, Tenant: t.Name}}
	f.bindings = parley.Bindings{}
	if name != "" {
		if f.bindings, err = s.DB.TemplateBindings(ctx, tenantID, name); err != nil {
			return nil, err
		}
	}
	connectors, err := s.DB.ListConnectors(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if len(connectors) > 0 {
		f.connector = connectors[0]
	}
	columns := f.bindings.Columns()
	if f.connector != nil && f.connector.LanguageColumn != "" && !slices.Contains(columns, f.connector.LanguageColumn) {
		columns = append(columns, f.connector.LanguageColumn)
	}
	switch {
	case in.Record == nil:
		f.src.NoRecord = "no record was named to fill it from"
	case records == nil || f.connector == nil:
		f.src.NoRecord = "no CRM is connected to read the record " + in.Record.String() + " from"
	case len(columns) > 0:
		values, err := records.RecordValues(ctx, tenantID, *in.Record, columns)
		if err != nil {
			return nil, errorf("read record %s: %w", in.Record, err)
		}
		if values == nil {
			values = map[string]string{}
		}
		f.src.Values = values
	}
	return f, nil
}

// languages is the chain of languages to try for this customer.
func (f *filling) languages() []string {
	var record string
	var fallback []string
	if c := f.connector; c != nil {
		record, fallback = f.src.Values[c.LanguageColumn], c.Languages
	}
	var contact string
	if f.src.Contact != nil {
		contact = f.src.Contact.Language
	}
	return parley.LanguageChain(record, contact, fallback)
}

// FillTemplate fills a template an agent picked from its bindings, for
// the console's form to show: the values found, where each came from, and
// the variables left for the agent.
func (s *Service) FillTemplate(ctx context.Context, tenantID string, records parley.RecordReader, t *parley.Template, in FillSource) (parley.Filled, error) {
	f, err := s.load(ctx, tenantID, t.Name, records, in)
	if err != nil {
		return parley.Filled{}, err
	}
	return t.Fill(f.bindings, nil, f.src), nil
}

// TemplateLanguage is the language a customer's templates are best sent
// in (the first of the chain), for the console to list those first; ""
// when nothing says.
func (s *Service) TemplateLanguage(ctx context.Context, tenantID string, records parley.RecordReader, in FillSource) (string, error) {
	f, err := s.load(ctx, tenantID, "", records, in)
	if err != nil {
		return "", err
	}
	if chain := f.languages(); len(chain) > 0 {
		return chain[0], nil
	}
	return "", nil
}

// PrepareTemplate completes a template send before Send checks it, when
// the request leaves something to Parley:
//
//   - no language: the language of the record's language column, else the
//     contact's, then the tenant's fallback chain, then a variant of the
//     same base language; the first with an approved variant on the
//     number is sent;
//   - fill (the record named by template.fill_from_record), or bindings
//     for the template: variables the request leaves blank are filled from
//     them. Any variable left unfilled refuses the send with
//     template_unfilled, naming each and why, before anything is queued.
//
// A request that gives its language and every parameter, for a template
// with no bindings, is left as it is.
func (s *Service) PrepareTemplate(ctx context.Context, tenantID string, records parley.RecordReader, req *SendRequest, fill *parley.Record) error {
	tm := req.Template
	if req.Type != parley.TypeTemplate || tm == nil || strings.TrimSpace(tm.Name) == "" {
		return nil // Send says what is missing
	}
	if fill == nil && strings.TrimSpace(tm.Language) != "" {
		// The common send, complete as it is, costs one lookup.
		b, err := s.DB.TemplateBindings(ctx, tenantID, tm.Name)
		if err != nil || len(b) == 0 {
			return err
		}
	}
	contact, err := s.knownRecipient(ctx, tenantID, req.To)
	if err != nil {
		return err
	}
	agent := ""
	if req.By.Kind == parley.ActorUser {
		agent = req.By.Name
	}
	f, err := s.load(ctx, tenantID, tm.Name, records, FillSource{Record: fill, Contact: contact, Agent: agent})
	if err != nil {
		return err
	}
	if strings.TrimSpace(tm.Language) == "" {
		t, err := s.pickTemplate(ctx, tenantID, req.ChannelID, tm.Name, f.languages())
		if err != nil {
			return err
		}
		tm.Language = t.Language
	}
	if fill == nil && len(f.bindings) == 0 {
		return nil // only the language was Parley's to choose
	}
	t, err := s.DB.FindTemplate(ctx, tenantID, req.ChannelID, tm.Name, tm.Language)
	if err != nil {
		return err
	}
	filled := t.Fill(f.bindings, t.Given(tm), f.src)
	if err := filled.Err(t); err != nil {
		return err
	}
	filled.Apply(t, tm)
	return nil
}

// pickTemplate returns the variant of a template name to send on a
// number, by the chain of languages.
func (s *Service) pickTemplate(ctx context.Context, tenantID, channelID, name string, chain []string) (*parley.Template, error) {
	all, err := s.DB.ListTemplates(ctx, tenantID, store.TemplateFilter{ChannelID: channelID, Name: name})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "Template %q is not known for this channel; sync the channel's templates or check the name.", name)
	}
	var approved []*parley.Template
	for _, t := range all {
		if t.Status == parley.TemplateApproved {
			approved = append(approved, t)
		}
	}
	if t := parley.PickTemplate(approved, chain); t != nil {
		return t, nil
	}
	// A variant in the customer's language that cannot be sent is still
	// the one they should get: Send then says why it cannot go.
	if t := parley.PickTemplate(all, chain); t != nil {
		return t, nil
	}
	have := make([]string, len(all))
	for i, t := range all {
		have[i] = t.Language
	}
	tried := "no language (the contact has none, and the tenant's CRM connector has no fallback chain)"
	if len(chain) > 0 {
		tried = strings.Join(chain, ", ")
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "Template %q has no variant in %s; it exists in %s. Give template.language.", name, tried,
		strings.Join(have, ", "))
}

// knownRecipient is the contact a send is for, when Parley knows it; a
// number it has never seen is nil (Send creates its contact).
func (s *Service) knownRecipient(ctx context.Context, tenantID, to string) (*parley.Contact, error) {
	contactID, e164, err := parseRecipient(to)
	switch {
	case err != nil:
		return nil, err
	case contactID != "":
		return s.DB.FindContact(ctx, tenantID, contactID)
	}
	c, err := s.DB.FindContactByPhone(ctx, tenantID, e164)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return nil, nil
	}
	return c, err
}

// TemplateVariables are the body variables of a tenant's template name,
// across its languages and numbers, in order of first appearance. A name
// the tenant has no template of is not found.
func (s *Service) TemplateVariables(ctx context.Context, tenantID, name string) ([]string, error) {
	list, err := s.DB.ListTemplates(ctx, tenantID, store.TemplateFilter{Name: name})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, parley.Errorf(parley.ENOTFOUND, "No template is named %q; sync the channel's templates or check the name.", name)
	}
	vars := []string{}
	for _, t := range list {
		for _, v := range t.BodyParams {
			if !slices.Contains(vars, v) {
				vars = append(vars, v)
			}
		}
	}
	return vars, nil
}

// SetTemplateBindings replaces the bindings of a template name, after
// checking each expression and that the template has each variable.
func (s *Service) SetTemplateBindings(ctx context.Context, tenantID, name string, b parley.Bindings, by parley.Actor) error {
	vars, err := s.TemplateVariables(ctx, tenantID, name)
	if err != nil {
		return err
	}
	if err := b.Check(vars); err != nil {
		return err
	}
	return s.DB.SetTemplateBindings(ctx, tenantID, name, b, by)
}
