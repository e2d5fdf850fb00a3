package dataverse

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Ref is the value of a lookup column: the table and ID of the row it
// points to. AddRecord and UpdateRecord take it for lookups; a plain GUID
// string is enough when the lookup has a single target table.
type Ref struct {
	Table string // logical name, such as "account"
	ID    string
}

// Record is a row as tests see it: column logical names to values
// (string, int64, float64, bool, Ref or nil; dates as RFC 3339 strings).
type Record struct {
	ID     string
	ETag   string // W/"<version>"
	Fields map[string]any
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// AddRecord inserts a row into a table (by logical name, such as "lead")
// as if a user had created it in Dataverse, and returns its ID. Fields may
// set the primary key to choose the ID. It fails the test on an unknown
// table or column or a value of the wrong type.
func (s *Server) AddRecord(table string, fields map[string]any) string {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	norm := s.helperFields(t, fields)
	id, _ := norm[t.primaryID].(string)
	delete(norm, t.primaryID)
	if id == "" {
		id = s.st.newID()
	}
	if t.records[id] != nil {
		s.t.Fatalf("dataverse: AddRecord: %s %s already exists", table, id)
	}
	if s.breaksKey(t, norm, "") != nil {
		s.t.Fatalf("dataverse: AddRecord: %s %v breaks an alternate key", table, fields)
	}
	s.insert(t, id, norm)
	return id
}

// UpdateRecord changes a row as if a user had edited it in Dataverse.
func (s *Server) UpdateRecord(table, id string, fields map[string]any) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	r := t.records[strings.ToLower(id)]
	if r == nil {
		s.t.Fatalf("dataverse: UpdateRecord: no %s %s", table, id)
	}
	norm := s.helperFields(t, fields)
	delete(norm, t.primaryID)
	s.modify(t, r, norm)
}

// DeleteRecord deletes a row as if a user had deleted it in Dataverse;
// change tracking reports it as a $deletedEntity.
func (s *Server) DeleteRecord(table, id string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	if t.records[strings.ToLower(id)] == nil {
		s.t.Fatalf("dataverse: DeleteRecord: no %s %s", table, id)
	}
	s.delete(t, strings.ToLower(id))
}

// Records returns a table's rows, in the order Dataverse returns them by
// default (by primary key).
func (s *Server) Records(table string) []Record {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	var out []Record
	for _, r := range sortedRecords(t) {
		out = append(out, exportRecord(t, r))
	}
	return out
}

// Record returns one row.
func (s *Server) Record(table, id string) (Record, bool) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	r := t.records[strings.ToLower(id)]
	if r == nil {
		return Record{}, false
	}
	return exportRecord(t, r), true
}

// EnableChangeTracking turns change tracking on for a table, as setting
// ChangeTrackingEnabled through the metadata API does.
func (s *Server) EnableChangeTracking(table string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.helperTable(table).tracking = true
}

// AddAlternateKey defines an alternate key on a table, as an administrator
// would in Power Apps, so that the table can be upserted by it.
func (s *Server) AddAlternateKey(table, name string, columns ...string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.helperTable(table)
	for _, c := range columns {
		if t.column(c) == nil {
			s.t.Fatalf("dataverse: AddAlternateKey: %s has no column %s", table, c)
		}
	}
	k := &altKey{name: strings.ToLower(name), schema: name, display: name, cols: columns, metaID: s.st.newID(), status: "Active"}
	if s.keyBroken(t, k) {
		k.status = "Failed"
	}
	t.keys = append(t.keys, k)
}

// ExpireDeltaTokens makes every delta token handed out so far invalid, as
// when they outlive the retention (7 days by default): following an old
// @odata.deltaLink answers ExpiredVersionStamp, and a client must resync.
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.tokensFrom = s.st.bump()
}

func (s *Server) helperTable(name string) *table {
	s.t.Helper()
	t := s.st.tables[name]
	if t == nil {
		s.t.Fatalf("dataverse: no table %q (use the logical name, such as \"lead\")", name)
	}
	return t
}

// helperFields checks and normalizes the fields a test passes.
func (s *Server) helperFields(t *table, fields map[string]any) map[string]any {
	s.t.Helper()
	out := map[string]any{}
	for _, k := range sortedKeys(fields) {
		v := fields[k]
		c := t.column(k)
		if c == nil {
			s.t.Fatalf("dataverse: %s has no column %q", t.logical, k)
		}
		if c.typ == typeLookup {
			ref, ok := v.(Ref)
			if id, isString := v.(string); isString {
				targets := s.st.targets(t, c)
				if len(targets) != 1 {
					s.t.Fatalf("dataverse: %s.%s can point to %v; pass a Ref", t.logical, k, targets)
				}
				ref, ok = Ref{Table: targets[0], ID: id}, true
			}
			if v == nil {
				out[k] = nil
				continue
			}
			if !ok {
				s.t.Fatalf("dataverse: %s.%s is a lookup; pass a Ref, not %T", t.logical, k, v)
			}
			ref.ID = strings.ToLower(ref.ID)
			out[k] = ref
			continue
		}
		n, e := normalize(t, c, toJSONValue(v))
		if e != nil {
			s.t.Fatalf("dataverse: %s.%s = %v: %s", t.logical, k, v, e.message)
		}
		out[k] = n
	}
	return out
}

// toJSONValue turns Go values a test passes into what a JSON body decodes
// to.
func toJSONValue(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.Itoa(x))
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	case time.Time:
		return x.UTC().Format(time.RFC3339)
	}
	return v
}

// normalize checks a JSON value against a column and returns it as the
// store keeps it.
func normalize(t *table, c *column, v any) (any, *apiError) {
	if v == nil {
		return nil, nil
	}
	switch c.typ {
	case typeString, typeMemo:
		s, ok := v.(string)
		if !ok {
			return nil, errValue(t, c, v)
		}
		if c.maxLength > 0 && utf8.RuneCountInString(s) > c.maxLength {
			return nil, errTooLong(t, c)
		}
		return s, nil
	case typeInteger, typePicklist, typeState, typeStatus:
		n, ok := v.(json.Number)
		if !ok {
			return nil, errValue(t, c, v)
		}
		i, err := n.Int64()
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, errValue(t, c, v)
		}
		if c.options != nil {
			if _, ok := c.options[i]; !ok {
				// guess: the validation error Dataverse gives an unknown
				// choice value.
				return nil, errorf(http.StatusBadRequest, "0x8004431a", "A validation error occurred. The value %d of '%s' on record of type '%s' is outside the valid range.", i, c.name, t.logical)
			}
		}
		return i, nil
	case typeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, errValue(t, c, v)
		}
		return b, nil
	case typeDecimal, typeMoney, typeDouble:
		n, ok := v.(json.Number)
		if !ok {
			return nil, errValue(t, c, v)
		}
		f, err := n.Float64()
		if err != nil {
			return nil, errValue(t, c, v)
		}
		return f, nil
	case typeDateTime:
		s, ok := v.(string)
		if !ok {
			return nil, errValue(t, c, v)
		}
		d, ok := normalizeDate(s)
		if !ok {
			return nil, errValue(t, c, v)
		}
		return d, nil
	case typeID:
		s, ok := v.(string)
		if !ok || len(s) != 36 || !guidRE.MatchString(s) {
			return nil, errValue(t, c, v)
		}
		return strings.ToLower(s), nil
	}
	return nil, errInvalidProperty(t.logical, c.name)
}

func exportRecord(t *table, r *record) Record {
	f := map[string]any{t.primaryID: r.id}
	for k, v := range r.fields {
		f[k] = v
	}
	return Record{ID: r.id, ETag: etag(r.version), Fields: f}
}

func sortedRecords(t *table) []*record {
	out := make([]*record, 0, len(t.records))
	for _, r := range t.records {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// insert adds a row with the defaults Dataverse fills in: owner, state and
// status, creation and modification times, computed names, and the
// activity type of an activity.
func (s *Server) insert(t *table, id string, fields map[string]any) *record {
	r := &record{id: id, fields: map[string]any{}}
	now := s.now().UTC().Format(time.RFC3339)
	for _, c := range t.cols {
		switch {
		case c.typ == typeID:
		case c.name == "ownerid":
			r.fields[c.name] = Ref{Table: "systemuser", ID: DefaultUserID}
		case c.name == "createdon" || c.name == "modifiedon":
			r.fields[c.name] = now
		case c.typ == typeState:
			r.fields[c.name] = int64(0)
		case c.typ == typeStatus:
			r.fields[c.name] = t.defaultStatus
		case c.name == "activitytypecode":
			r.fields[c.name] = t.logical
		default:
			r.fields[c.name] = nil
		}
	}
	for k, v := range fields {
		r.fields[k] = v
	}
	computeNames(t, r)
	r.version = s.st.bump()
	t.records[id] = r
	return r
}

// modify writes columns to an existing row.
func (s *Server) modify(t *table, r *record, fields map[string]any) {
	for k, v := range fields {
		r.fields[k] = v
	}
	if _, ok := t.byName["modifiedon"]; ok {
		r.fields["modifiedon"] = s.now().UTC().Format(time.RFC3339)
	}
	computeNames(t, r)
	r.version = s.st.bump()
}

// delete removes a row, leaves a tombstone for change tracking, and
// deletes the activity parties of an activity with it.
func (s *Server) delete(t *table, id string) {
	delete(t.records, id)
	t.tombs = append(t.tombs, tomb{id: id, version: s.st.bump()})
	if t.isActivity {
		parties := s.st.tables["activityparty"]
		for pid, p := range parties.records {
			if ref, ok := p.fields["activityid"].(Ref); ok && ref.ID == id {
				delete(parties.records, pid)
				parties.tombs = append(parties.tombs, tomb{id: pid, version: s.st.bump()})
			}
		}
	}
}

// computeNames fills fullname from firstname and lastname, as Dataverse
// does with its default name format.
func computeNames(t *table, r *record) {
	if _, ok := t.byName["fullname"]; !ok {
		return
	}
	first, _ := r.fields["firstname"].(string)
	last, _ := r.fields["lastname"].(string)
	if name := strings.TrimSpace(first + " " + last); name != "" {
		r.fields["fullname"] = name
	} else {
		r.fields["fullname"] = nil
	}
}

// breaksKey returns the active alternate key that fields would duplicate
// in another row than except.
func (s *Server) breaksKey(t *table, fields map[string]any, except string) *altKey {
	for _, k := range t.keys {
		if k.status != "Active" {
			continue
		}
		want := make([]any, len(k.cols))
		complete := true
		for i, c := range k.cols {
			want[i] = fields[c]
			if want[i] == nil {
				complete = false
			}
		}
		if !complete {
			continue
		}
		for id, r := range t.records {
			if id == except {
				continue
			}
			same := true
			for i, c := range k.cols {
				if !sameValue(r.fields[c], want[i]) {
					same = false
					break
				}
			}
			if same {
				return k
			}
		}
	}
	return nil
}

// keyBroken tells whether existing rows already hold duplicate values of a
// key, which makes Dataverse's index job fail.
func (s *Server) keyBroken(t *table, k *altKey) bool {
	seen := map[string]bool{}
	for _, r := range t.records {
		var parts []string
		complete := true
		for _, c := range k.cols {
			v := r.fields[c]
			if v == nil {
				complete = false
				break
			}
			parts = append(parts, strings.ToLower(fmt.Sprint(v)))
		}
		if !complete {
			continue
		}
		key := strings.Join(parts, "\x00")
		if seen[key] {
			return true
		}
		seen[key] = true
	}
	return false
}

func sameValue(a, b any) bool {
	if ra, ok := a.(Ref); ok {
		rb, ok := b.(Ref)
		return ok && strings.EqualFold(ra.ID, rb.ID)
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return equalValues(a, b)
}

// propValue is a row's value for a Web API property, as $filter and
// $orderby see it.
func propValue(t *table, r *record, prop string) any {
	c := t.byProp(prop)
	if c == nil {
		return nil
	}
	if c.typ == typeID {
		return r.id
	}
	v := r.fields[c.name]
	if ref, ok := v.(Ref); ok {
		return ref.ID
	}
	return v
}

// formatted is a value's formatted-value annotation, as select-columns
// describes them: labels of choices and yes/no columns, the primary name
// of a lookup's row, currency with its symbol, and dates in the user's
// time zone (UTC for the fake's user).
func (s *Server) formatted(c *column, v any) (string, bool) {
	if v == nil {
		return "", false
	}
	switch c.typ {
	case typePicklist, typeState, typeStatus:
		l, ok := c.options[v.(int64)]
		return l, ok
	case typeBoolean:
		i := int64(0)
		if v.(bool) {
			i = 1
		}
		l, ok := c.options[i]
		return l, ok
	case typeLookup:
		ref := v.(Ref)
		t := s.st.tables[ref.Table]
		if t == nil {
			return "", false
		}
		r := t.records[ref.ID]
		if r == nil {
			return "", false
		}
		name, ok := r.fields[t.primaryName].(string)
		return name, ok
	case typeMoney:
		return "$" + groupThousands(fmt.Sprintf("%.2f", v.(float64))), true
	case typeDateTime:
		d := v.(string)
		if len(d) == 10 {
			tm, err := time.Parse("2006-01-02", d)
			return tm.Format("1/2/2006"), err == nil
		}
		tm, err := time.Parse(time.RFC3339, d)
		return tm.Format("1/2/2006 3:04 PM"), err == nil
	}
	return "", false
}

func groupThousands(s string) string {
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}
