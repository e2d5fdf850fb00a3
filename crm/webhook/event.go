package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
)

// Event is a change a CRM posts to Parley:
//
//	{"type": "updated", "entity": "contact", "source_crm": "hubspot",
//	 "source_crm_id": "101", "source_crm_url": "https://crm.example/contacts/101",
//	 "fields": {"name": "Ana Souza", "phones": ["+55 11 98765-4321"],
//	            "language": "pt_BR", "owner": "Rita", "plan": "gold"}}
//
// A body holds one event, or several as {"events": [...]}.
type Event struct {
	Type         string                     `json:"type"` // created, updated or deleted
	Entity       string                     `json:"entity"`
	SourceCRM    string                     `json:"source_crm,omitempty"`
	SourceCRMID  string                     `json:"source_crm_id"`
	SourceCRMURL string                     `json:"source_crm_url,omitempty"`
	Fields       map[string]json.RawMessage `json:"fields,omitempty"`
	// ID is taken for source_crm_id in imported items, which are often
	// the CRM's own records.
	ID json.RawMessage `json:"id,omitempty"`
}

// Event types.
const (
	Created = "created"
	Updated = "updated"
	Deleted = "deleted"
)

// Record is an event as Parley applies it: fields as text, phones as a
// list, and which of them the event carried (an update names only what
// changed; the rest is kept).
type Record struct {
	Entity, ID, URL, SourceCRM string
	Deleted                    bool
	Name                       string
	HasName                    bool
	Phones                     []string
	HasPhones                  bool
	Fields                     map[string]string
}

var (
	entityName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	recordID   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	fieldName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,99}$`)
)

// maxEvents bounds one body's events: a CRM with more sends more bodies.
const maxEvents = 1000

// ParseEvents reads a body of one event or {"events": [...]}, checking
// each: a body with one bad event is refused whole, so the CRM's retry
// of a fixed body applies everything once.
func ParseEvents(body []byte) ([]Record, error) {
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	raw := []json.RawMessage{body}
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, parley.Errorf(parley.EINVALID, "The body is not a JSON event: %v", err)
	}
	if batch.Events != nil {
		raw = batch.Events
	}
	if len(raw) == 0 {
		return nil, parley.Errorf(parley.EINVALID, "The body has no events.")
	}
	if len(raw) > maxEvents {
		return nil, parley.Errorf(parley.EINVALID, "A body holds at most %d events (this one has %d).", maxEvents, len(raw))
	}
	out := make([]Record, 0, len(raw))
	for i, r := range raw {
		var e Event
		if err := json.Unmarshal(r, &e); err != nil {
			return nil, parley.Errorf(parley.EINVALID, "Event %d is not an event object: %v", i+1, err)
		}
		rec, err := e.Record(false)
		if err != nil {
			if len(raw) > 1 {
				return nil, parley.Errorf(parley.EINVALID, "Event %d: %s", i+1, parley.ErrorMessage(err))
			}
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Record checks an event and reads its fields. An imported item
// (imported) may leave out its type, and name its ID id.
func (e *Event) Record(imported bool) (Record, error) {
	r := Record{Entity: strings.ToLower(strings.TrimSpace(e.Entity)), ID: strings.TrimSpace(e.SourceCRMID), URL: e.SourceCRMURL,
		SourceCRM: e.SourceCRM, Fields: map[string]string{}}
	if r.ID == "" && len(e.ID) > 0 {
		r.ID = text(e.ID)
	}
	switch e.Type {
	case Created, Updated:
	case Deleted:
		r.Deleted = true
	case "":
		if !imported {
			return r, parley.Errorf(parley.EINVALID, "type must be created, updated or deleted.")
		}
	default:
		return r, parley.Errorf(parley.EINVALID, "type must be created, updated or deleted (got %q).", e.Type)
	}
	if !entityName.MatchString(r.Entity) {
		return r, parley.Errorf(parley.EINVALID, "entity must be a lowercase name such as contact, account or lead (got %q).", e.Entity)
	}
	if !recordID.MatchString(r.ID) {
		return r, parley.Errorf(parley.EINVALID, "source_crm_id must be 1 to 128 letters, digits, dots, dashes or underscores (got %q).", r.ID)
	}
	if r.URL != "" && checkURL(r.URL) != nil {
		return r, parley.Errorf(parley.EINVALID, "source_crm_url must be an http or https address (got %q).", r.URL)
	}
	for k, v := range e.Fields {
		if !fieldName.MatchString(k) {
			return r, parley.Errorf(parley.EINVALID, "%q is not a field name (letters, digits and underscores).", k)
		}
		switch k {
		case "phones", "phone":
			phones, err := phoneList(v)
			if err != nil {
				return r, err
			}
			r.Phones, r.HasPhones = append(r.Phones, phones...), true
		case "name":
			r.Name, r.HasName = text(v), true
			r.Fields[k] = r.Name
		default:
			r.Fields[k] = text(v)
		}
	}
	return r, nil
}

// phoneList reads phones given as a list, or as one string where several
// are separated by semicolons.
func phoneList(v json.RawMessage) ([]string, error) {
	var list []string
	if err := json.Unmarshal(v, &list); err != nil {
		var one *string
		if err := json.Unmarshal(v, &one); err != nil {
			return nil, parley.Errorf(parley.EINVALID, "phones must be a list of strings, such as [\"+55 11 98765-4321\"].")
		}
		if one != nil {
			list = strings.Split(*one, ";")
		}
	}
	var out []string
	for _, p := range list {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// text is a field's value as an agent reads it: a string as it is, a
// number or boolean as JSON writes it, null as nothing, an object by its
// name (an owner as {"id", "name"}), and anything else as JSON.
func text(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(v, &obj) == nil {
		for _, k := range []string{"name", "label", "value", "id"} {
			if n, ok := obj[k]; ok {
				return text(n)
			}
		}
	}
	var f float64
	if json.Unmarshal(v, &f) == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return string(v)
}

// merge is the mirror's record after r: what r names replaces what was
// kept (prev, nil for a new record), the rest stays.
func (r Record) merge(prev *store.MirrorRecord) store.MirrorRecord {
	m := store.MirrorRecord{Entity: r.Entity, ID: r.ID, Name: r.Name, URL: r.URL, SourceCRM: r.SourceCRM, Phones: r.Phones,
		Fields: map[string]string{}}
	if prev != nil && !prev.Deleted {
		for k, v := range prev.Fields {
			m.Fields[k] = v
		}
		if !r.HasName {
			m.Name = prev.Name
		}
		if !r.HasPhones {
			m.Phones = prev.Phones
		}
		m.URL, m.SourceCRM = cmpOr(r.URL, prev.URL), cmpOr(r.SourceCRM, prev.SourceCRM)
	}
	for k, v := range r.Fields {
		m.Fields[k] = v
	}
	m.Fields["name"] = m.Name
	m.Fields["phones"] = strings.Join(m.Phones, "; ")
	return m
}

// row is a mirrored record as the crm port reads one: its fields, with
// phones holding the one matching e164 when given (the service checks
// phone columns one value at a time), else the first.
func row(m *store.MirrorRecord, e164 string, same func(raw, e164 string) bool) map[string]string {
	vals := make(map[string]string, len(m.Fields)+2)
	for k, v := range m.Fields {
		vals[k] = v
	}
	vals["id"], vals["name"] = m.ID, m.Name
	vals["phones"] = ""
	for _, p := range m.Phones {
		if e164 == "" || same(p, e164) {
			vals["phones"] = p
			break
		}
	}
	return vals
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func checkURL(s string) error {
	if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
		return fmt.Errorf("not an http address")
	}
	return nil
}
