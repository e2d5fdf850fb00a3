package dataverse

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// write is a create or update body, checked and normalized.
type write struct {
	fields   map[string]any // columns to set
	parties  []map[string]any
	children []childBind // rows to associate through a collection-valued navigation property
}

type childBind struct {
	table  *table
	column string
	ids    []string
}

// parseWrite checks a create or update body against the table: columns
// with values of their type, @odata.bind to rows that exist
// (create-odata-bind.exchange.http), and deep-inserted activity parties
// (activity-party-facts.json).
func (s *Server) parseWrite(c *call, t *table, body []byte, create bool) (*write, *apiError) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, s.reject(c, docCompose+": the body is a JSON object", errPayload(t.set, "Microsoft.OData.ODataException: "+err.Error()))
	}
	w := &write{fields: map[string]any{}}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case k == "@odata.type":
			if v != "Microsoft.Dynamics.CRM."+t.logical && v != "#Microsoft.Dynamics.CRM."+t.logical {
				return nil, s.reject(c, docCreate, errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: A type named '%v' could not be resolved by the model.", v)))
			}
		case strings.HasSuffix(k, "@odata.bind"):
			if e := s.parseBind(c, t, w, strings.TrimSuffix(k, "@odata.bind"), v); e != nil {
				return nil, e
			}
		case strings.Contains(k, "@"):
			s.misuse(c, docCompose, "the body carries the instance annotation %q, which Dataverse ignores (is a response being sent back?)", k)
		default:
			if cn, ok := s.st.coll(t, k); ok {
				list, isList := v.([]any)
				if !isList || cn.child != "activityparty" {
					return nil, s.unsupported(c, "deep insert through %s", k)
				}
				if !create {
					return nil, s.unsupported(c, "activity parties in an update (%s)", k)
				}
				for _, item := range list {
					p, e := s.parseParty(c, t, item)
					if e != nil {
						return nil, e
					}
					w.parties = append(w.parties, p)
				}
				continue
			}
			if _, ok := s.st.nav(t, k); ok {
				if _, isObj := v.(map[string]any); isObj {
					return nil, s.unsupported(c, "deep insert through %s", k)
				}
			}
			col := t.column(k)
			if col == nil || col.typ == typeLookup {
				doc := docClientErr
				if col != nil {
					doc = docCreate + ": set a lookup with <navigation property>@odata.bind"
				}
				return nil, s.reject(c, doc, errInvalidProperty(t.logical, k))
			}
			if col.readOnly && col.typ != typeID {
				s.misuse(c, docCreate, "%s.%s is computed by Dataverse; the value sent is ignored", t.logical, k)
				continue
			}
			n, e := normalize(t, col, v)
			if e != nil {
				if e.code == "0x80044331" || e.code == "0x8004431a" {
					return nil, e // a validation error the client is expected to handle
				}
				return nil, s.reject(c, docCreate, e)
			}
			w.fields[k] = n
		}
	}
	return w, nil
}

// parseBind resolves one <nav>@odata.bind.
func (s *Server) parseBind(c *call, t *table, w *write, nav string, v any) *apiError {
	if np, ok := s.st.nav(t, nav); ok {
		ref, isString := v.(string)
		if !isString {
			return s.reject(c, docCreate+": a single-valued @odata.bind is a string", errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: The value of '%s@odata.bind' must be a URL string.", nav)))
		}
		target, id, e := s.resolveRef(c, t, ref)
		if e != nil {
			return e
		}
		switch {
		case np.target == "" && target.logical != "systemuser" && target.logical != "team":
			return s.reject(c, docCreate, errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: The entity set '%s' is not valid for the navigation property '%s'.", target.set, nav)))
		case np.target != "" && np.target != target.logical:
			return s.reject(c, docCreate, errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: The entity set '%s' is not valid for the navigation property '%s', which points to %s.", target.set, nav, np.target)))
		}
		if prev, ok := w.fields[np.column].(Ref); ok && prev.Table != target.logical {
			return s.reject(c, docCreate, errPayload(t.set, fmt.Sprintf("Microsoft.Crm.CrmException: The lookup %s is bound twice.", np.column)))
		}
		w.fields[np.column] = Ref{Table: target.logical, ID: id}
		return nil
	}
	if cn, ok := s.st.coll(t, nav); ok {
		list, isList := v.([]any)
		if !isList {
			return s.reject(c, docCreate+": a collection-valued @odata.bind is an array of URLs", errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: The value of '%s@odata.bind' must be an array.", nav)))
		}
		child := s.st.tables[cn.child]
		b := childBind{table: child, column: cn.column}
		for _, item := range list {
			ref, _ := item.(string)
			target, id, e := s.resolveRef(c, t, ref)
			if e != nil {
				return e
			}
			if target != child {
				return s.reject(c, docCreate, errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: The entity set '%s' is not valid for the navigation property '%s'.", target.set, nav)))
			}
			b.ids = append(b.ids, id)
		}
		w.children = append(w.children, b)
		return nil
	}
	return s.reject(c, docClientErr+": use the navigation property's name, such as parentcustomerid_account", errUndeclaredNav(t.set, nav))
}

// resolveRef reads an entity reference, in any of the documented forms:
// "/contacts(<id>)", "accounts(<id>)", the full URL, or an alternate key.
// The row must exist.
func (s *Server) resolveRef(c *call, from *table, ref string) (*table, string, *apiError) {
	p := ref
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		u, err := url.Parse(p)
		if err != nil || !strings.HasPrefix(p, s.APIBase()+"/") {
			return nil, "", s.reject(c, docCreate, errPayload(from.set, fmt.Sprintf("Microsoft.OData.ODataException: The URL '%s' is not a resource of this service.", ref)))
		}
		p = strings.TrimPrefix(u.EscapedPath(), APIPath)
	}
	p = strings.TrimPrefix(p, "/")
	segs, err := parsePath(p)
	if err != nil || len(segs) != 1 || segs[0].key == nil {
		return nil, "", s.reject(c, docCreate+": bind to entityset(<id>)", errPayload(from.set, fmt.Sprintf("Microsoft.OData.ODataException: The value '%s' is not a valid entity reference.", ref)))
	}
	target := s.st.bySet(segs[0].name)
	if target == nil {
		return nil, "", s.reject(c, docClientErr, errSegment(segs[0].name))
	}
	r, _, e := s.resolveKey(c, target, segs[0].key)
	if e != nil {
		return nil, "", e
	}
	if r == nil {
		id := segs[0].key.id
		if id == "" {
			id = segs[0].key.String()
		}
		return nil, "", errNotFound(target, id)
	}
	return target, r.id, nil
}

// parseParty checks one deep-inserted activity party: a participation type
// and exactly one partyid_<table>@odata.bind (or an addressused for an
// unresolved address).
func (s *Server) parseParty(c *call, activity *table, item any) (map[string]any, *apiError) {
	party := s.st.tables["activityparty"]
	m, ok := item.(map[string]any)
	if !ok {
		return nil, s.reject(c, docParties, errPayload(activity.set, "Microsoft.OData.ODataException: An activity party is a JSON object."))
	}
	out := map[string]any{}
	w := &write{fields: out}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch {
		case strings.HasPrefix(k, "partyid_") && strings.HasSuffix(k, "@odata.bind"):
			if e := s.parseBind(c, party, w, strings.TrimSuffix(k, "@odata.bind"), v); e != nil {
				return nil, e
			}
		case k == "participationtypemask" || k == "addressused":
			n, e := normalize(party, party.column(k), v)
			if e != nil {
				return nil, s.reject(c, docParties, e)
			}
			out[k] = n
		default:
			return nil, s.reject(c, docParties, errInvalidProperty(party.logical, k))
		}
	}
	mask, _ := out["participationtypemask"].(int64)
	if mask == 0 {
		return nil, s.reject(c, docParties+": every party has a participationtypemask", errorf(http.StatusBadRequest, "0x80040203", "participationtypemask is required for an activity party."))
	}
	if out["partyid"] == nil && out["addressused"] == nil {
		return nil, s.reject(c, docParties+": a party is bound with partyid_<table>@odata.bind", errorf(http.StatusBadRequest, "0x80040203", "An activity party needs a partyid or an addressused."))
	}
	if allowed, ok := partyTypes[activity.logical]; ok && !allowed[mask] {
		return nil, s.reject(c, docParties+": supported_per_activity", errorf(http.StatusBadRequest, "0x80040203", "The participation type %d (%s) is not valid for a %s.", mask, participationTypes[mask], activity.logical))
	}
	return out, nil
}

// partyTypes are the participation types each built-in activity supports
// (activity-party-facts.json, supported_per_activity); custom activities
// take them all.
var partyTypes = map[string]map[int64]bool{
	"phonecall": {1: true, 2: true},
}

// resolveKey finds the row a key predicate names: by primary key, or by an
// alternate key defined on the table (its columns all given, in any order).
// A missing row is not an error here.
func (s *Server) resolveKey(c *call, t *table, k *keyPred) (*record, *altKey, *apiError) {
	if k.id != "" {
		return t.records[k.id], nil, nil
	}
	names := map[string]literal{}
	for _, p := range k.pairs {
		name := p.name
		if strings.HasPrefix(name, "_") && strings.HasSuffix(name, "_value") {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "_"), "_value")
		}
		names[name] = p.lit
	}
	var key *altKey
	for _, ak := range t.keys {
		if len(ak.cols) != len(names) {
			continue
		}
		match := true
		for _, col := range ak.cols {
			if _, ok := names[col]; !ok {
				match = false
			}
		}
		if match {
			key = ak
			break
		}
	}
	if key == nil {
		// guess: the message for a key that is not defined.
		return nil, nil, s.reject(c, docUpsert+": alternate keys must be defined on the table ("+docKeys+")",
			errorf(http.StatusBadRequest, "0x80060892", "The key attributes (%s) do not match any alternate key of the %s entity.", strings.Join(sortedKeys(names), ","), t.logical))
	}
	if key.status != "Active" {
		// guess: a key whose index is not built cannot be used.
		return nil, nil, errorf(http.StatusBadRequest, "0x80060892", "The alternate key %s of the %s entity is %s, not Active.", key.name, t.logical, key.status)
	}
	want := map[string]any{}
	for _, col := range key.cols {
		cl := t.column(col)
		lit := names[col]
		v, e := keyValue(t, cl, lit)
		if e != nil {
			return nil, nil, s.reject(c, docUpsert, e)
		}
		want[col] = v
	}
	for _, r := range sortedRecords(t) {
		match := true
		for col, v := range want {
			if !sameValue(r.fields[col], v) {
				match = false
				break
			}
		}
		if match {
			return r, key, nil
		}
	}
	return nil, key, nil
}

// keyValue converts a key literal to the value a column holds.
func keyValue(t *table, c *column, l literal) (any, *apiError) {
	bad := errQuery("The key value %s is not valid for %s (%s).", formatLiteral(l), c.name, edmType(c.typ))
	switch c.typ {
	case typeString, typeMemo:
		if l.kind != litString {
			return nil, bad
		}
		return l.s, nil
	case typeInteger, typePicklist, typeState, typeStatus:
		if l.kind != litInt {
			return nil, bad
		}
		return l.i, nil
	case typeDecimal, typeMoney, typeDouble:
		f, ok := toFloat(l.value())
		if !ok {
			return nil, bad
		}
		return f, nil
	case typeDateTime:
		if l.kind != litDate {
			return nil, bad
		}
		return l.s, nil
	case typeLookup:
		if l.kind != litGuid {
			return nil, bad
		}
		return Ref{ID: l.s}, nil
	}
	return nil, bad
}

func (s *Server) entityURL(t *table, key string) string {
	return s.APIBase() + "/" + t.set + "(" + key + ")"
}

// create serves POST on an entity set: 204 with OData-EntityId, or 201 with
// the row when return=representation is preferred
// (create-odata-bind.exchange.http).
func (s *Server) create(c *call, t *table) reply {
	o, e := s.parseList(c, t)
	if e != nil {
		return e.reply()
	}
	w, e := s.parseWrite(c, t, c.body, true)
	if e != nil {
		return e.reply()
	}
	id, _ := w.fields[t.primaryID].(string)
	delete(w.fields, t.primaryID)
	if id == "" {
		id = s.st.newID()
	} else if t.records[id] != nil {
		return errDuplicate().reply()
	}
	if s.breaksKey(t, w.fields, "") != nil {
		return errDuplicate().reply()
	}
	r := s.commit(t, nil, id, w)
	return s.written(c, t, r, o, true, s.entityURL(t, id), true)
}

// commit applies a write: inserts or modifies the row, then the parties and
// associations it carries.
func (s *Server) commit(t *table, r *record, id string, w *write) *record {
	if r == nil {
		r = s.insert(t, id, w.fields)
	} else {
		s.modify(t, r, w.fields)
	}
	party := s.st.tables["activityparty"]
	for _, p := range w.parties {
		p["activityid"] = Ref{Table: t.logical, ID: r.id}
		s.insert(party, s.st.newID(), p)
	}
	for _, b := range w.children {
		for _, cid := range b.ids {
			s.modify(b.table, b.table.records[cid], map[string]any{b.column: Ref{Table: t.logical, ID: r.id}})
		}
	}
	return r
}

// written answers a successful create or update.
func (s *Server) written(c *call, t *table, r *record, o *listOptions, created bool, entityID string, location bool) reply {
	if !c.prefer.representation {
		h := http.Header{"Odata-Version": {"4.0"}}
		if location {
			h.Set("Location", entityID)
		}
		h.Set("Odata-Entityid", entityID)
		return reply{status: http.StatusNoContent, header: h}
	}
	body := s.entityJSON(t, r, o.sel, newAnnotations(c.prefer), o.exp)
	body.keys = append([]string{"@odata.context"}, body.keys...)
	body.vals = append([]any{s.contextURL(t.set, o.sel, o.exp, "/$entity")}, body.vals...)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	rep := jsonReply(status, body, "")
	rep.header.Set("Etag", etag(r.version))
	if created {
		// upsert-alternate-key.exchange.http shows Preference-Applied on
		// the 201 and not on the 200.
		rep.header.Set("Preference-Applied", "return=representation")
	}
	return rep
}

// retrieve serves GET on one row, with If-None-Match answered 304 when the
// row has not changed (conditional-etag.exchange.http).
func (s *Server) retrieve(c *call, t *table) reply {
	o, e := s.parseList(c, t)
	if e != nil {
		return e.reply()
	}
	for _, q := range c.query {
		if q.name != "$select" && q.name != "$expand" {
			return s.reject(c, docCompose, errQuery("The query option %s is not supported when retrieving a single row.", q.name)).reply()
		}
	}
	r, _, e := s.resolveKey(c, t, c.segs[0].key)
	if e != nil {
		return e.reply()
	}
	if r == nil {
		return errNotFound(t, c.segs[0].key.String()).reply()
	}
	if inm := c.header.Get("If-None-Match"); inm != "" && inm != "null" && inm == etag(r.version) {
		return reply{status: http.StatusNotModified, header: http.Header{"Content-Type": {"application/json; odata.metadata=minimal"}, "Odata-Version": {"4.0"}}}
	}
	body := s.entityJSON(t, r, o.sel, newAnnotations(c.prefer), o.exp)
	body.keys = append([]string{"@odata.context"}, body.keys...)
	body.vals = append([]any{s.contextURL(t.set, o.sel, o.exp, "/$entity")}, body.vals...)
	rep := jsonReply(http.StatusOK, body, "")
	rep.header.Set("Etag", etag(r.version))
	if a := s.applied(c); len(a) > 0 {
		rep.header.Set("Preference-Applied", strings.Join(a, ","))
	}
	return rep
}

// update serves PATCH on one row: an update, or an upsert that creates the
// row when it does not exist, by primary or alternate key
// (upsert-alternate-key.exchange.http), honouring If-Match and
// If-None-Match (conditional-etag.exchange.http).
func (s *Server) update(c *call, t *table) reply {
	o, e := s.parseList(c, t)
	if e != nil {
		return e.reply()
	}
	key := c.segs[0].key
	r, ak, e := s.resolveKey(c, t, key)
	if e != nil {
		return e.reply()
	}
	w, e := s.parseWrite(c, t, c.body, r == nil)
	if e != nil {
		return e.reply()
	}
	if id, ok := w.fields[t.primaryID].(string); ok {
		if key.id != "" && id != key.id {
			return s.reject(c, docUpsert, errPayload(t.set, "Microsoft.Crm.CrmException: The primary key in the body does not match the key in the URL.")).reply()
		}
		delete(w.fields, t.primaryID)
	}
	ifMatch, ifNoneMatch := c.header.Get("If-Match"), c.header.Get("If-None-Match")
	switch {
	case ifMatch == "*" && r == nil:
		return errNotFound(t, key.String()).reply()
	case ifMatch != "" && ifMatch != "*" && r == nil:
		return errNotFound(t, key.String()).reply()
	case ifMatch != "" && ifMatch != "*" && ifMatch != etag(r.version):
		return errVersionMismatch().reply()
	case ifNoneMatch == "*" && r != nil:
		return errExists().reply()
	case ifNoneMatch != "" && ifNoneMatch != "*" && ifNoneMatch != "null":
		return s.reject(c, docConditional+": If-None-Match on PATCH is null or *", errQuery("The If-None-Match value %q is not supported on PATCH.", ifNoneMatch)).reply()
	}
	if ak != nil {
		inBody := false
		for _, col := range ak.cols {
			if _, ok := w.fields[col]; ok {
				inBody = true
			}
		}
		if inBody {
			s.misuse(c, docUpsert, "\"When you use alternate keys to identify a record, don't include the alternate key data in the portion of the request that represents the data to save.\"")
		}
	}
	entityID := s.entityURL(t, key.String())
	if r == nil {
		id := key.id
		if id == "" {
			id = s.st.newID()
			for _, p := range key.pairs {
				col := strings.TrimSuffix(strings.TrimPrefix(p.name, "_"), "_value")
				if _, ok := w.fields[col]; ok {
					continue // the body wins on create (use-upsert-insert-update-record)
				}
				v, _ := keyValue(t, t.column(col), p.lit)
				if ref, ok := v.(Ref); ok {
					targets := s.st.targets(t, t.column(col))
					if len(targets) > 0 {
						ref.Table = targets[0]
					}
					v = ref
				}
				w.fields[col] = v
			}
		}
		if s.breaksKey(t, w.fields, "") != nil {
			return errDuplicate().reply()
		}
		r = s.commit(t, nil, id, w)
		return s.written(c, t, r, o, true, entityID, false)
	}
	if ak != nil {
		for _, col := range ak.cols {
			delete(w.fields, col) // the server ignores key values on update
		}
	}
	merged := map[string]any{}
	for k, v := range r.fields {
		merged[k] = v
	}
	for k, v := range w.fields {
		merged[k] = v
	}
	if s.breaksKey(t, merged, r.id) != nil {
		return errDuplicate().reply()
	}
	s.commit(t, r, r.id, w)
	return s.written(c, t, r, o, false, entityID, false)
}

// remove serves DELETE on one row, honouring If-Match
// (conditional-etag.exchange.http).
func (s *Server) remove(c *call, t *table) reply {
	if len(c.query) > 0 {
		return s.reject(c, docCompose, errQuery("DELETE takes no query options.")).reply()
	}
	r, _, e := s.resolveKey(c, t, c.segs[0].key)
	if e != nil {
		return e.reply()
	}
	if r == nil {
		return errNotFound(t, c.segs[0].key.String()).reply()
	}
	if im := c.header.Get("If-Match"); im != "" && im != "*" && im != etag(r.version) {
		return errVersionMismatch().reply()
	}
	s.delete(t, r.id)
	return reply{status: http.StatusNoContent, header: http.Header{"Odata-Version": {"4.0"}}}
}

// property serves entityset(<key>)/<property>: a column's value (GET, PUT
// with {"value": …}, DELETE to clear it), or the rows of a
// collection-valued navigation property (GET), as the $batch examples read
// accounts(<id>)/Account_Tasks.
func (s *Server) property(c *call, t *table) reply {
	name := c.segs[1].name
	r, _, e := s.resolveKey(c, t, c.segs[0].key)
	if e != nil {
		return e.reply()
	}
	if cn, ok := s.st.coll(t, name); ok {
		if c.method != http.MethodGet {
			return s.unsupported(c, "%s on a collection-valued navigation property", c.method).reply()
		}
		if r == nil {
			return errNotFound(t, c.segs[0].key.String()).reply()
		}
		child := s.st.tables[cn.child]
		o, e := s.parseList(c, child)
		if e != nil {
			return e.reply()
		}
		var rows []*record
		for _, cr := range sortedRecords(child) {
			if ref, ok := cr.fields[cn.column].(Ref); ok && ref.Table == t.logical && ref.ID == r.id {
				rows = append(rows, cr)
			}
		}
		return s.list(c, child, child.set, o, rows, nil)
	}
	col := t.byProp(name)
	if col == nil || c.segs[1].key != nil {
		if strings.HasPrefix(name, "$") {
			return s.unsupported(c, "the %s segment", name).reply()
		}
		return s.reject(c, docClientErr, errSegment(name)).reply()
	}
	if r == nil {
		return errNotFound(t, c.segs[0].key.String()).reply()
	}
	switch c.method {
	case http.MethodGet:
		v := r.fields[col.name]
		if ref, ok := v.(Ref); ok {
			v = ref.ID
		}
		if col.typ == typeID {
			v = r.id
		}
		return jsonReply(http.StatusOK, obj("@odata.context", s.APIBase()+"/$metadata#"+t.set+"("+r.id+")/"+name, "value", v), "")
	case http.MethodPut, http.MethodDelete:
		if col.readOnly || col.typ == typeLookup {
			return s.reject(c, docCompose, errInvalidProperty(t.logical, name)).reply()
		}
		var v any
		if c.method == http.MethodPut {
			m, err := decodeObject(c.body)
			if err != nil || len(m) != 1 {
				return s.reject(c, docCompose+": PUT of a property sends {\"value\": …}", errPayload(t.set, "Microsoft.OData.ODataException: The body of a property PUT is {\"value\": …}.")).reply()
			}
			raw, ok := m["value"]
			if !ok {
				return s.reject(c, docCompose+": PUT of a property sends {\"value\": …}", errPayload(t.set, "Microsoft.OData.ODataException: The body of a property PUT is {\"value\": …}.")).reply()
			}
			n, e := normalize(t, col, raw)
			if e != nil {
				return e.reply()
			}
			v = n
		}
		merged := map[string]any{}
		for k, x := range r.fields {
			merged[k] = x
		}
		merged[col.name] = v
		if s.breaksKey(t, merged, r.id) != nil {
			return errDuplicate().reply()
		}
		s.modify(t, r, map[string]any{col.name: v})
		return reply{status: http.StatusNoContent, header: http.Header{"Odata-Version": {"4.0"}}}
	}
	return s.reject(c, docCompose, errorf(http.StatusMethodNotAllowed, "0x80060888", "The requested resource does not support http method '%s'.", c.method)).reply()
}

// count serves entityset/$count (with $filter), and the number of changes
// since a delta token (change-tracking-deltalink.exchange.http, Request 3).
func (s *Server) count(c *call, t *table) reply {
	if _, ok := c.get("$deltatoken"); ok {
		rows, tombs, e := s.changesSince(c, t)
		if e != nil {
			return e.reply()
		}
		return textReply(len(rows) + len(tombs))
	}
	o, e := s.parseList(c, t)
	if e != nil {
		return e.reply()
	}
	return textReply(min(len(o.rows(t, sortedRecords(t))), maxPageSize))
}

func textReply(n int) reply {
	return reply{status: http.StatusOK, header: http.Header{"Content-Type": {"text/plain"}, "Odata-Version": {"4.0"}}, body: []byte(strconv.Itoa(n))}
}
