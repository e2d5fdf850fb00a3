package dataverse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// The metadata API (EntityDefinitions), as far as Parley's installer uses
// it: read a table's definition, PUT it back with ChangeTrackingEnabled,
// create a custom activity table, add columns and an alternate key to it
// (create-update-entity-definitions-using-web-api,
// create-update-column-definitions-using-web-api, custom-activities,
// define-alternate-keys-entity, retrieve-metadata-name-metadataid).

const (
	docColumns  = "webapi/create-update-column-definitions-using-web-api"
	docMetaName = "webapi/retrieve-metadata-name-metadataid"
	lcid        = 1033
)

// metadata routes a request under EntityDefinitions.
func (s *Server) metadata(c *call) reply {
	if c.segs[0].key == nil {
		switch {
		case len(c.segs) == 1 && c.method == http.MethodGet:
			return s.listTables(c)
		case len(c.segs) == 1 && c.method == http.MethodPost:
			return s.createTable(c)
		}
		return s.unsupported(c, "%s %s", c.method, c.path).reply()
	}
	t, e := s.tableByKey(c, c.segs[0].key)
	if e != nil {
		return e.reply()
	}
	if len(c.segs) == 1 {
		switch c.method {
		case http.MethodGet:
			return s.getTable(c, t)
		case http.MethodPut:
			return s.putTable(c, t)
		case http.MethodPatch:
			return s.reject(c, docTables+": \"You can't use the PATCH method to update data model entities\"",
				errorf(http.StatusMethodNotAllowed, "0x80060888", "The requested resource does not support http method 'PATCH'.")).reply()
		}
	}
	if len(c.segs) == 2 {
		sub := c.segs[1]
		switch {
		case sub.name == "Attributes" && sub.key == nil && c.method == http.MethodGet:
			return s.listMeta(c, t, "Attributes", s.attributeDefs(t))
		case sub.name == "Attributes" && sub.key == nil && c.method == http.MethodPost:
			return s.createColumn(c, t)
		case sub.name == "Attributes" && sub.key != nil && c.method == http.MethodGet:
			return s.getMeta(c, t, "Attributes", sub.key, s.attributeDefs(t))
		case sub.name == "Keys" && sub.key == nil && c.method == http.MethodGet:
			return s.listMeta(c, t, "Keys", s.keyDefs(t))
		case sub.name == "Keys" && sub.key == nil && c.method == http.MethodPost:
			return s.createKey(c, t)
		case sub.name == "Keys" && sub.key != nil && c.method == http.MethodGet:
			return s.getMeta(c, t, "Keys", sub.key, s.keyDefs(t))
		}
	}
	return s.unsupported(c, "%s %s", c.method, c.path).reply()
}

// errNoTable answers a table definition that does not exist (guess: the
// ObjectDoesNotExist code with the name in the message).
func errNoTable(name string) *apiError {
	return errorf(http.StatusNotFound, "0x80040217", "Could not find entity with name '%s'.", name)
}

// tableByKey resolves EntityDefinitions(<MetadataId>) and
// EntityDefinitions(LogicalName='x').
func (s *Server) tableByKey(c *call, k *keyPred) (*table, *apiError) {
	if k.id != "" {
		for _, t := range s.st.tables {
			if t.metaID == k.id {
				return t, nil
			}
		}
		return nil, errNoTable(k.id)
	}
	if len(k.pairs) != 1 || k.pairs[0].name != "LogicalName" || k.pairs[0].lit.kind != litString {
		return nil, s.reject(c, docMetaName+": a table definition is named by MetadataId or LogicalName='…'",
			errQuery("The key %s is not a key of EntityMetadata.", k.String()))
	}
	name := k.pairs[0].lit.s
	if t := s.st.tables[name]; t != nil {
		return t, nil
	}
	return nil, errNoTable(name)
}

// label is a Label complex type with one localized label.
func label(text, metaID string) *jsonObj {
	if text == "" {
		return obj("LocalizedLabels", []any{}, "UserLocalizedLabel", nil)
	}
	loc := func() *jsonObj {
		return obj("Label", text, "LanguageCode", lcid, "IsManaged", false, "MetadataId", metaID, "HasChanged", nil)
	}
	return obj("LocalizedLabels", []any{loc()}, "UserLocalizedLabel", loc())
}

// tableDef is a table's EntityMetadata, the properties a client reads
// and PUTs back.
func (s *Server) tableDef(t *table) *jsonObj {
	return obj(
		"MetadataId", t.metaID,
		"LogicalName", t.logical,
		"SchemaName", t.schema,
		"EntitySetName", t.set,
		"LogicalCollectionName", t.set,
		"ObjectTypeCode", t.otc,
		"DisplayName", label(t.display, t.metaID),
		"DisplayCollectionName", label(t.displayPlural, t.metaID),
		"Description", label(t.description, t.metaID),
		"OwnershipType", t.ownership,
		"IsActivity", t.isActivity,
		"IsActivityParty", t.logical == "activityparty",
		"ActivityTypeMask", t.activityTypeMask,
		"HasActivities", t.hasActivities,
		"HasNotes", t.hasNotes,
		"IsAvailableOffline", t.offline,
		"IsMailMergeEnabled", obj("Value", !t.isActivity, "CanBeChanged", true, "ManagedPropertyLogicalName", "canmodifymailmergesettings"),
		"IsCustomEntity", t.custom,
		"IsManaged", !t.custom,
		"ChangeTrackingEnabled", t.tracking,
		"PrimaryIdAttribute", t.primaryID,
		"PrimaryNameAttribute", t.primaryName,
		"PrimaryImageAttribute", nil,
	)
}

// pick keeps the selected properties of a definition, with MetadataId
// (the key) and @odata.type, which Dataverse always returns.
func pick(def *jsonObj, sel []string) *jsonObj {
	if sel == nil {
		return def
	}
	out := &jsonObj{}
	if v, ok := def.get("@odata.type"); ok {
		out.set("@odata.type", v)
	}
	for _, p := range sel {
		v, _ := def.get(p)
		out.set(p, v)
	}
	if v, ok := def.get("MetadataId"); ok {
		out.set("MetadataId", v)
	}
	return out
}

// metaSelect reads $select against a definition's properties.
func (s *Server) metaSelect(c *call, typeName string, sample *jsonObj) ([]string, *apiError) {
	v, ok := c.get("$select")
	if !ok || strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if _, ok := sample.get(p); !ok {
			return nil, s.reject(c, docClientErr, errNoProperty(typeName, p))
		}
		out = append(out, p)
	}
	return out, nil
}

// metaOptions checks the query options of a metadata read: $select, and
// $filter on a list.
func (s *Server) metaOptions(c *call, list bool) *apiError {
	for _, q := range c.query {
		switch {
		case q.name == "$select", q.name == "$filter" && list:
		case q.name == "$expand":
			return s.unsupported(c, "$expand of table definitions")
		default:
			return s.reject(c, "webapi/query-metadata-web-api", errQuery("The query parameter %s is not supported here.", q.name))
		}
	}
	return nil
}

func (s *Server) getTable(c *call, t *table) reply {
	if e := s.metaOptions(c, false); e != nil {
		return e.reply()
	}
	def := s.tableDef(t)
	sel, e := s.metaSelect(c, "EntityMetadata", def)
	if e != nil {
		return e.reply()
	}
	body := obj("@odata.context", s.APIBase()+"/$metadata#EntityDefinitions"+selText(sel)+"/$entity")
	appendObj(body, pick(def, sel))
	return jsonReply(http.StatusOK, body, "")
}

func selText(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

func appendObj(dst, src *jsonObj) {
	for i, k := range src.keys {
		dst.set(k, src.vals[i])
	}
}

// listTables serves GET EntityDefinitions, with $filter on the
// definitions' simple properties (LogicalName eq 'x').
func (s *Server) listTables(c *call) reply {
	var defs []*jsonObj
	for _, name := range sortedKeys(s.st.tables) {
		defs = append(defs, s.tableDef(s.st.tables[name]))
	}
	return s.metaCollection(c, "EntityMetadata", "EntityDefinitions", defs)
}

// listMeta serves a table's Attributes or Keys.
func (s *Server) listMeta(c *call, t *table, nav string, defs []*jsonObj) reply {
	return s.metaCollection(c, nav, "EntityDefinitions("+t.metaID+")/"+nav, defs)
}

func (s *Server) metaCollection(c *call, typeName, contextPath string, defs []*jsonObj) reply {
	if e := s.metaOptions(c, true); e != nil {
		return e.reply()
	}
	var sample *jsonObj
	if len(defs) > 0 {
		sample = defs[0]
	} else {
		sample = &jsonObj{}
	}
	sel, e := s.metaSelect(c, typeName, sample)
	if e != nil {
		return e.reply()
	}
	var keep func(*jsonObj) bool
	if f, ok := c.get("$filter"); ok {
		n, err := parseFilter(f, metaSchema(typeName, sample))
		if err != nil {
			return s.filterError(c, err).reply()
		}
		keep = func(d *jsonObj) bool {
			return n.eval(func(p string) any { v, _ := d.get(p); return v })
		}
	}
	values := []any{}
	for _, d := range defs {
		if keep == nil || keep(d) {
			values = append(values, pick(d, sel))
		}
	}
	return jsonReply(http.StatusOK, obj("@odata.context", s.APIBase()+"/$metadata#"+contextPath+selText(sel), "value", values), "")
}

// metaSchema lets $filter compare the string, number and boolean
// properties of definitions.
func metaSchema(typeName string, sample *jsonObj) filterSchema {
	return filterSchema{typeName: typeName, kind: func(prop string) (fieldKind, bool) {
		v, ok := sample.get(prop)
		if !ok {
			return 0, false
		}
		switch v.(type) {
		case string:
			if prop == "MetadataId" {
				return kGuid, true
			}
			return kString, true
		case bool:
			return kBool, true
		case int, int64:
			return kInt, true
		}
		return kOther, true
	}}
}

// getMeta serves Attributes(LogicalName='x') or Keys(LogicalName='x').
func (s *Server) getMeta(c *call, t *table, nav string, k *keyPred, defs []*jsonObj) reply {
	if e := s.metaOptions(c, false); e != nil {
		return e.reply()
	}
	for _, d := range defs {
		id, _ := d.get("MetadataId")
		name, _ := d.get("LogicalName")
		if k.id != "" && id == k.id || len(k.pairs) == 1 && k.pairs[0].name == "LogicalName" && name == k.pairs[0].lit.s {
			sel, e := s.metaSelect(c, nav, d)
			if e != nil {
				return e.reply()
			}
			body := obj("@odata.context", s.APIBase()+"/$metadata#EntityDefinitions("+t.metaID+")/"+nav+selText(sel)+"/$entity")
			appendObj(body, pick(d, sel))
			return jsonReply(http.StatusOK, body, "")
		}
	}
	// guess: the message of a missing attribute or key.
	return errorf(http.StatusNotFound, "0x80040217", "Could not find %s %s of entity %s.", strings.TrimSuffix(nav, "s"), k.String(), t.logical).reply()
}

// labelText reads a Label: its LocalizedLabels, each with a Label and a
// LanguageCode. It returns the 1033 text (or the first).
func (s *Server) labelText(c *call, doc, prop string, v any, required bool) (string, *apiError) {
	bad := func(why string) (string, *apiError) {
		return "", s.reject(c, doc+": labels are {\"LocalizedLabels\":[{\"Label\":…,\"LanguageCode\":1033}]}",
			errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: %s: %s", prop, why)))
	}
	if v == nil {
		if required {
			return bad("the label is required")
		}
		return "", nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return bad("a label is a Microsoft.Dynamics.CRM.Label object")
	}
	list, _ := m["LocalizedLabels"].([]any)
	if len(list) == 0 {
		return bad("LocalizedLabels is empty")
	}
	text := ""
	for _, item := range list {
		l, _ := item.(map[string]any)
		str, ok := l["Label"].(string)
		if !ok {
			return bad("a localized label has no Label")
		}
		code, ok := l["LanguageCode"].(json.Number)
		if !ok {
			return bad("a localized label has no LanguageCode")
		}
		if text == "" || code.String() == "1033" {
			text = str
		}
	}
	return text, nil
}

// putTable serves PUT EntityDefinitions(…): the definition is replaced by
// the body, of which the fake applies the properties a client may change.
func (s *Server) putTable(c *call, t *table) reply {
	if !strings.EqualFold(c.header.Get("MSCRM.MergeLabels"), "true") {
		s.misuse(c, docTables, "a PUT of a table definition should carry MSCRM.MergeLabels: true, or the labels in other languages are lost")
	}
	m, err := decodeObject(c.body)
	if err != nil {
		return s.reject(c, docTables, errPayload("", "Microsoft.OData.ODataException: "+err.Error())).reply()
	}
	var missing []string
	for _, p := range []string{"LogicalName", "SchemaName", "DisplayName", "DisplayCollectionName", "OwnershipType", "HasActivities", "HasNotes", "IsActivity", "ChangeTrackingEnabled"} {
		if _, ok := m[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		s.misuse(c, docTables, "\"you must use the PUT method … and be careful to include all the existing properties that you don't intend to change\"; missing: %s", strings.Join(missing, ", "))
	}
	for _, p := range []string{"LogicalName", "SchemaName", "MetadataId", "EntitySetName"} {
		want, _ := s.tableDef(t).get(p)
		if v, ok := m[p]; ok && v != want {
			return s.reject(c, docTables+": the names of a table cannot change",
				errorf(http.StatusBadRequest, "0x80048435", "The %s of entity %s cannot be changed from %v to %v.", p, t.logical, want, v)).reply()
		}
	}
	if v, ok := m["IsActivity"]; ok && v != t.isActivity {
		return s.reject(c, docActivities+": IsActivity is set when the table is created",
			errorf(http.StatusBadRequest, "0x80048435", "IsActivity of entity %s cannot be changed.", t.logical)).reply()
	}
	for prop, dst := range map[string]*bool{"ChangeTrackingEnabled": &t.tracking, "HasActivities": &t.hasActivities, "HasNotes": &t.hasNotes, "IsAvailableOffline": &t.offline} {
		if v, ok := m[prop]; ok {
			b, isBool := v.(bool)
			if !isBool {
				return s.reject(c, docTables, errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: %s is a boolean.", prop))).reply()
			}
			*dst = b
		}
	}
	for prop, dst := range map[string]*string{"DisplayName": &t.display, "DisplayCollectionName": &t.displayPlural, "Description": &t.description} {
		if v, ok := m[prop]; ok {
			text, e := s.labelText(c, docTables, prop, v, false)
			if e != nil {
				return e.reply()
			}
			if text != "" {
				*dst = text
			}
		}
	}
	return reply{status: http.StatusNoContent, header: http.Header{"Odata-Version": {"4.0"}}}
}

// errMetaExists answers a table, column or key that already exists
// (guess for tables and keys; DuplicateAttributeSchemaName, 0x80047013,
// is the code Microsoft's column samples test for).
func errMetaExists(code, what, name string) *apiError {
	return errorf(http.StatusBadRequest, code, "A %s with the specified name %s already exists.", what, name)
}

// schemaName checks a custom SchemaName: a customization prefix, an
// underscore, letters, digits and underscores.
func (s *Server) schemaName(c *call, doc string, v any) (string, *apiError) {
	name, _ := v.(string)
	prefix, rest, ok := strings.Cut(name, "_")
	valid := ok && prefix != "" && rest != ""
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			valid = false
		}
	}
	if !valid {
		return "", s.reject(c, doc+": a custom SchemaName starts with the publisher's customization prefix, such as new_",
			errorf(http.StatusBadRequest, "0x80044150", "The schema name %q is not valid: it must start with a customization prefix and contain only letters, digits and underscores.", name))
	}
	return name, nil
}

// createTable serves POST EntityDefinitions: a custom table, or a custom
// activity when IsActivity is true (custom-activities).
func (s *Server) createTable(c *call) reply {
	m, err := decodeObject(c.body)
	if err != nil {
		return s.reject(c, docTables, errPayload("", "Microsoft.OData.ODataException: "+err.Error())).reply()
	}
	if m["@odata.type"] != "Microsoft.Dynamics.CRM.EntityMetadata" && m["@odata.type"] != "#Microsoft.Dynamics.CRM.EntityMetadata" {
		return s.reject(c, docTables+": the body has \"@odata.type\": \"Microsoft.Dynamics.CRM.EntityMetadata\"",
			errPayload("", "Microsoft.OData.ODataException: The @odata.type of the entity definition is missing or not EntityMetadata.")).reply()
	}
	schema, e := s.schemaName(c, docTables, m["SchemaName"])
	if e != nil {
		return e.reply()
	}
	logical := strings.ToLower(schema)
	if s.st.tables[logical] != nil {
		return errMetaExists("0x80047014", "entity", schema).reply()
	}
	spec, e := s.parseTableSpec(c, m)
	if e != nil {
		return e.reply()
	}
	t := newTable(logical, spec.display, pluralize(logical), logical+"id", spec.primary.name, 10000+s.customTables())
	t.schema, t.displayPlural, t.description = schema, spec.plural, spec.description
	t.ownership, t.hasActivities, t.hasNotes, t.custom, t.offline = spec.ownership, spec.hasActivities, spec.hasNotes, true, spec.offline
	if spec.isActivity {
		s.makeActivity(t, spec)
	} else {
		t.add(spec.primary)
		if t.ownership != "OrganizationOwned" {
			t.add(ownerCols()...)
		}
		t.add(choice("statecode", typeState, activeState), choice("statuscode", typeStatus, activeStatus))
	}
	t.metaID = s.st.newID()
	t.add(&column{name: t.primaryID, typ: typeID, readOnly: true})
	for _, col := range t.cols {
		col.metaID = s.st.newID()
	}
	s.st.tables[logical] = t
	h := http.Header{"Odata-Version": {"4.0"}, "Odata-Entityid": {s.APIBase() + "/EntityDefinitions(" + t.metaID + ")"}}
	return reply{status: http.StatusNoContent, header: h}
}

func (s *Server) customTables() int {
	n := 0
	for _, t := range s.st.tables {
		if t.custom {
			n++
		}
	}
	return n
}

// tableSpec is a checked POST EntityDefinitions body.
type tableSpec struct {
	display, plural, description string
	ownership                    string
	isActivity, hasActivities    bool
	hasNotes, offline            bool
	activityTypeMask             int
	primary                      *column
}

func (s *Server) parseTableSpec(c *call, m map[string]any) (*tableSpec, *apiError) {
	sp := &tableSpec{offline: true, activityTypeMask: 1}
	var e *apiError
	if sp.display, e = s.labelText(c, docTables, "DisplayName", m["DisplayName"], true); e != nil {
		return nil, e
	}
	if sp.plural, e = s.labelText(c, docTables, "DisplayCollectionName", m["DisplayCollectionName"], true); e != nil {
		return nil, e
	}
	if sp.description, e = s.labelText(c, docTables, "Description", m["Description"], false); e != nil {
		return nil, e
	}
	sp.ownership, _ = m["OwnershipType"].(string)
	if sp.ownership != "UserOwned" && sp.ownership != "TeamOwned" && sp.ownership != "OrganizationOwned" {
		return nil, s.reject(c, docTables+": OwnershipType is UserOwned, TeamOwned or OrganizationOwned", errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: The OwnershipType %v is not valid.", m["OwnershipType"])))
	}
	for prop, dst := range map[string]*bool{"IsActivity": &sp.isActivity, "HasActivities": &sp.hasActivities, "HasNotes": &sp.hasNotes, "IsAvailableOffline": &sp.offline} {
		v, ok := m[prop]
		if !ok {
			continue
		}
		b, isBool := v.(bool)
		if !isBool {
			return nil, s.reject(c, docTables, errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: %s is a boolean.", prop)))
		}
		*dst = b
	}
	if v, ok := m["ActivityTypeMask"].(json.Number); ok {
		n, _ := v.Int64()
		sp.activityTypeMask = int(n)
	}
	attrs, _ := m["Attributes"].([]any)
	var primaries []map[string]any
	for _, a := range attrs {
		am, _ := a.(map[string]any)
		if am["IsPrimaryName"] == true {
			primaries = append(primaries, am)
		} else {
			return nil, s.unsupported(c, "columns other than the primary name in a table creation (add them with POST …/Attributes)")
		}
	}
	if len(primaries) != 1 || primaries[0]["@odata.type"] != "Microsoft.Dynamics.CRM.StringAttributeMetadata" && primaries[0]["@odata.type"] != "#Microsoft.Dynamics.CRM.StringAttributeMetadata" {
		return nil, s.reject(c, docTables+": \"the Attributes property must contain an array that includes one StringAttributeMetadata … IsPrimaryName … true\"",
			errorf(http.StatusBadRequest, "0x80044150", "The entity must have exactly one primary name attribute of type String."))
	}
	if e := s.checkActivitySpec(c, sp, primaries[0]); e != nil {
		return nil, e
	}
	if sp.primary, e = s.parseColumn(c, docTables, primaries[0], sp.isActivity); e != nil {
		return nil, e
	}
	return sp, nil
}

// checkActivitySpec holds a custom activity to the properties
// custom-activities lists.
func (s *Server) checkActivitySpec(c *call, sp *tableSpec, primary map[string]any) *apiError {
	if !sp.isActivity {
		return nil
	}
	rule := func(ok bool, what string) *apiError {
		if ok {
			return nil
		}
		return s.reject(c, docActivities+": "+what, errorf(http.StatusBadRequest, "0x80044150", "A custom activity is not valid: %s", what))
	}
	for _, e := range []*apiError{
		rule(primary["SchemaName"] == "Subject", "\"The schema name of the PrimaryAttribute for all activities must be 'Subject'\""),
		rule(!sp.hasActivities, "\"A custom activity table must not have a relationship with activities\" (HasActivities false)"),
		rule(sp.hasNotes, "\"A custom activity table must have a relationship to notes\" (HasNotes true)"),
		rule(sp.offline, "\"A custom activity table must have offline availability\" (IsAvailableOffline true)"),
		rule(sp.ownership != "OrganizationOwned", "\"A custom activity table can be either team-owned or user-owned\""),
		rule(sp.activityTypeMask == 0 || sp.activityTypeMask == 1, "ActivityTypeMask is 0 or 1"),
	} {
		if e != nil {
			return e
		}
	}
	return nil
}

// makeActivity gives a custom activity the columns it inherits from
// activitypointer, with the primary name column as its subject.
func (s *Server) makeActivity(t *table, sp *tableSpec) {
	t.isActivity, t.activityTypeMask = true, sp.activityTypeMask
	t.primaryID, t.primaryName = "activityid", "subject"
	t.add(activityCols(sp.primary.maxLength)...)
	t.add(choice("statecode", typeState, activityState), choice("statuscode", typeStatus, activityStatus))
	subject := t.byName["subject"]
	subject.schema, subject.label, subject.meta = "Subject", sp.primary.label, sp.primary.meta
}

// attributeTypes by @odata.type, for the column types the installer
// creates.
var columnTypes = map[string]colType{
	"StringAttributeMetadata":   typeString,
	"MemoAttributeMetadata":     typeMemo,
	"PicklistAttributeMetadata": typePicklist,
	"DateTimeAttributeMetadata": typeDateTime,
	"IntegerAttributeMetadata":  typeInteger,
}

// parseColumn checks an attribute definition and builds the column. The
// primary name of an activity is "Subject", without a prefix.
func (s *Server) parseColumn(c *call, doc string, m map[string]any, activitySubject bool) (*column, *apiError) {
	odataType, _ := m["@odata.type"].(string)
	typ, ok := columnTypes[strings.TrimPrefix(strings.TrimPrefix(odataType, "#"), "Microsoft.Dynamics.CRM.")]
	if !ok {
		if odataType == "" {
			return nil, s.reject(c, doc+": a column definition carries its @odata.type, such as Microsoft.Dynamics.CRM.StringAttributeMetadata",
				errPayload("", "Microsoft.OData.ODataException: The @odata.type of the attribute is missing."))
		}
		return nil, s.unsupported(c, "columns of type %s", odataType)
	}
	var schema string
	var e *apiError
	if activitySubject {
		schema = "Subject"
	} else if schema, e = s.schemaName(c, doc, m["SchemaName"]); e != nil {
		return nil, e
	}
	display, e := s.labelText(c, doc, "DisplayName", m["DisplayName"], true)
	if e != nil {
		return nil, e
	}
	if _, e := s.labelText(c, doc, "Description", m["Description"], false); e != nil {
		return nil, e
	}
	col := &column{name: strings.ToLower(schema), schema: schema, typ: typ, label: display, meta: m, custom: !activitySubject}
	switch typ {
	case typeString, typeMemo:
		n, ok := m["MaxLength"].(json.Number)
		max, err := n.Int64()
		if !ok || err != nil || max < 1 || typ == typeString && max > 4000 || typ == typeMemo && max > 1048576 {
			return nil, s.reject(c, docColumns+": MaxLength is required (1–4000 for text, up to 1048576 for multiline text)",
				errorf(http.StatusBadRequest, "0x80044150", "The MaxLength %v of %s is not valid.", m["MaxLength"], schema))
		}
		col.maxLength = int(max)
		if typ == typeString {
			if e := s.checkFormat(c, m); e != nil {
				return nil, e
			}
		}
	case typePicklist:
		if col.options, e = s.parseOptions(c, m["OptionSet"]); e != nil {
			return nil, e
		}
	}
	return col, nil
}

// stringFormats are the FormatName values of text columns
// (entity-attribute-metadata, "String formats").
var stringFormats = map[string]bool{"Text": true, "TextArea": true, "Email": true, "Url": true, "Phone": true, "TickerSymbol": true, "Json": true, "RichText": true}

func (s *Server) checkFormat(c *call, m map[string]any) *apiError {
	f, ok := m["FormatName"]
	if !ok {
		return nil
	}
	fm, _ := f.(map[string]any)
	v, _ := fm["Value"].(string)
	if !stringFormats[v] {
		return s.reject(c, docColumns+": FormatName is {\"Value\": \"Text\"}, \"Url\", \"Phone\", …",
			errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: The FormatName %v is not valid.", f)))
	}
	return nil
}

// parseOptions reads a local option set. Values Dataverse would assign
// are assigned from 100000000, the default publisher's range.
func (s *Server) parseOptions(c *call, v any) (map[int64]string, *apiError) {
	m, _ := v.(map[string]any)
	if m == nil || m["IsGlobal"] == true {
		return nil, s.unsupported(c, "choice columns without a local OptionSet (global choices)")
	}
	if t, ok := m["OptionSetType"]; ok && t != "Picklist" {
		return nil, s.reject(c, docColumns, errPayload("", fmt.Sprintf("Microsoft.OData.ODataException: The OptionSetType %v is not valid for a choice column.", t)))
	}
	list, _ := m["Options"].([]any)
	if len(list) == 0 {
		return nil, s.reject(c, docColumns+": a choice column lists its Options", errorf(http.StatusBadRequest, "0x80044150", "The option set has no options."))
	}
	out := map[int64]string{}
	next := int64(100000000)
	for _, item := range list {
		om, _ := item.(map[string]any)
		text, e := s.labelText(c, docColumns, "Options.Label", om["Label"], true)
		if e != nil {
			return nil, e
		}
		value := next
		if n, ok := om["Value"].(json.Number); ok {
			value, _ = n.Int64()
		}
		if _, dup := out[value]; dup {
			return nil, s.reject(c, docColumns, errorf(http.StatusBadRequest, "0x80044150", "The option value %d is used twice.", value))
		}
		out[value] = text
		next = max(next, value) + 1
	}
	return out, nil
}

// createColumn serves POST EntityDefinitions(…)/Attributes.
func (s *Server) createColumn(c *call, t *table) reply {
	m, err := decodeObject(c.body)
	if err != nil {
		return s.reject(c, docColumns, errPayload("", "Microsoft.OData.ODataException: "+err.Error())).reply()
	}
	col, e := s.parseColumn(c, docColumns, m, false)
	if e != nil {
		return e.reply()
	}
	if t.column(col.name) != nil {
		return errMetaExists("0x80047013", "attribute", col.schema).reply()
	}
	col.metaID = s.st.newID()
	t.add(col)
	for _, r := range t.records {
		r.fields[col.name] = nil
	}
	h := http.Header{"Odata-Version": {"4.0"}, "Odata-Entityid": {s.APIBase() + "/EntityDefinitions(" + t.metaID + ")/Attributes(" + col.metaID + ")"}}
	return reply{status: http.StatusNoContent, header: h}
}

// attributeDefs are a table's AttributeMetadata.
func (s *Server) attributeDefs(t *table) []*jsonObj {
	out := make([]*jsonObj, 0, len(t.cols))
	for _, col := range t.cols {
		out = append(out, s.attributeDef(t, col))
	}
	return out
}

func (s *Server) attributeDef(t *table, col *column) *jsonObj {
	typeName := attributeTypes[col.typ]
	if col.attrType != "" {
		typeName = col.attrType
	}
	d := obj(
		"@odata.type", "#Microsoft.Dynamics.CRM."+metaTypeName(col)+"AttributeMetadata",
		"MetadataId", col.metaID,
		"LogicalName", col.name,
		"SchemaName", col.schema,
		"EntityLogicalName", t.logical,
		"AttributeType", typeName,
		"AttributeTypeName", obj("Value", typeName+"Type"),
		"DisplayName", label(col.label, col.metaID),
		"IsCustomAttribute", col.custom,
		"IsPrimaryId", col.typ == typeID,
		"IsPrimaryName", col.name == t.primaryName,
		"IsValidForCreate", !col.readOnly,
		"IsValidForUpdate", !col.readOnly,
	)
	if col.typ == typeString || col.typ == typeMemo {
		d.set("MaxLength", col.maxLength)
	}
	if f, ok := col.meta["FormatName"]; ok {
		d.set("FormatName", f)
	}
	if col.typ == typeLookup {
		d.set("Targets", s.st.targets(t, col))
	}
	return d
}

// metaTypeName is the metadata type a column's definition has.
func metaTypeName(col *column) string {
	switch col.typ {
	case typeString:
		return "String"
	case typeMemo:
		return "Memo"
	case typeInteger:
		return "Integer"
	case typePicklist:
		return "Picklist"
	case typeState:
		return "State"
	case typeStatus:
		return "Status"
	case typeBoolean:
		return "Boolean"
	case typeDateTime:
		return "DateTime"
	case typeDecimal:
		return "Decimal"
	case typeMoney:
		return "Money"
	case typeDouble:
		return "Double"
	case typeLookup:
		return "Lookup"
	}
	return "UniqueIdentifier"
}

// createKey serves POST EntityDefinitions(…)/Keys. Dataverse builds the
// key's index in the background, so the key is Pending until a client
// has seen it so, then Active (or Failed when rows already break it).
func (s *Server) createKey(c *call, t *table) reply {
	var in struct {
		ODataType     string          `json:"@odata.type"`
		SchemaName    string          `json:"SchemaName"`
		DisplayName   json.RawMessage `json:"DisplayName"`
		KeyAttributes []string        `json:"KeyAttributes"`
	}
	if err := decodeStrict(c.body, &in); err != nil {
		return s.reject(c, docKeys+": a key is {\"SchemaName\", \"DisplayName\", \"KeyAttributes\"}", errPayload("", "Microsoft.OData.ODataException: "+err.Error())).reply()
	}
	if _, e := s.schemaName(c, docKeys, in.SchemaName); e != nil {
		return e.reply()
	}
	m, _ := decodeObject(c.body)
	text, e := s.labelText(c, docKeys, "DisplayName", m["DisplayName"], true)
	if e != nil {
		return e.reply()
	}
	if len(in.KeyAttributes) == 0 {
		return s.reject(c, docKeys, errorf(http.StatusBadRequest, "0x80044150", "KeyAttributes is empty.")).reply()
	}
	for _, name := range in.KeyAttributes {
		col := t.column(name)
		if col == nil {
			return s.reject(c, docKeys, errorf(http.StatusBadRequest, "0x80044150", "The attribute %s of the key does not exist in entity %s.", name, t.logical)).reply()
		}
		switch col.typ {
		case typeString, typeInteger, typeDecimal, typeDateTime, typeLookup, typePicklist:
		default:
			return s.reject(c, docKeys+": key columns are decimal, whole number, single line of text, date time, lookup or choice",
				errorf(http.StatusBadRequest, "0x80044150", "The attribute %s cannot be part of a key.", name)).reply()
		}
	}
	name := strings.ToLower(in.SchemaName)
	if t.key(name) != nil {
		return errMetaExists("0x80048cff", "key", in.SchemaName).reply()
	}
	k := &altKey{name: name, schema: in.SchemaName, display: text, cols: in.KeyAttributes, metaID: s.st.newID(), status: "Pending"}
	t.keys = append(t.keys, k)
	h := http.Header{"Odata-Version": {"4.0"}, "Odata-Entityid": {s.APIBase() + "/EntityDefinitions(" + t.metaID + ")/Keys(" + k.metaID + ")"}}
	return reply{status: http.StatusNoContent, header: h}
}

// keyDefs are a table's EntityKeyMetadata. Reading a Pending key lets its
// index job finish.
func (s *Server) keyDefs(t *table) []*jsonObj {
	out := make([]*jsonObj, 0, len(t.keys))
	for _, k := range t.keys {
		out = append(out, obj(
			"MetadataId", k.metaID,
			"LogicalName", k.name,
			"SchemaName", k.schema,
			"EntityLogicalName", t.logical,
			"DisplayName", label(k.display, k.metaID),
			"KeyAttributes", k.cols,
			"EntityKeyIndexStatus", k.status,
			"IsCustomizable", obj("Value", true, "CanBeChanged", true, "ManagedPropertyLogicalName", "iscustomizable"),
		))
		if k.status == "Pending" {
			k.status = "Active"
			if s.keyBroken(t, k) {
				k.status = "Failed"
			}
		}
	}
	return out
}

// TableInfo describes a table as the metadata API defines it, for tests
// of code that creates or changes tables (such as Parley's installer).
type TableInfo struct {
	LogicalName, SchemaName, EntitySetName   string
	PrimaryIDAttribute, PrimaryNameAttribute string
	MetadataID                               string
	IsActivity, HasActivities, HasNotes      bool
	IsCustom, ChangeTrackingEnabled          bool
	Columns                                  []ColumnInfo // in creation order
	Keys                                     []KeyInfo
}

// ColumnInfo describes a column.
type ColumnInfo struct {
	LogicalName, SchemaName string
	AttributeType           string // String, Memo, Picklist, DateTime, Lookup, …
	MaxLength               int    // text columns
	Format                  string // FormatName of a text column, such as Url
	Options                 map[int]string
	Custom                  bool
}

// KeyInfo describes an alternate key.
type KeyInfo struct {
	LogicalName, SchemaName string
	Columns                 []string
	Status                  string // EntityKeyIndexStatus: Pending, Active or Failed
}

// Table reports whether a table exists (by logical name) and how it is
// defined. It does not move a Pending key on, as a client's read does.
func (s *Server) Table(logical string) (TableInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.st.tables[logical]
	if t == nil {
		return TableInfo{}, false
	}
	info := TableInfo{
		LogicalName: t.logical, SchemaName: t.schema, EntitySetName: t.set,
		PrimaryIDAttribute: t.primaryID, PrimaryNameAttribute: t.primaryName, MetadataID: t.metaID,
		IsActivity: t.isActivity, HasActivities: t.hasActivities, HasNotes: t.hasNotes,
		IsCustom: t.custom, ChangeTrackingEnabled: t.tracking,
	}
	for _, col := range t.cols {
		ci := ColumnInfo{LogicalName: col.name, SchemaName: col.schema, AttributeType: attributeTypes[col.typ], MaxLength: col.maxLength, Custom: col.custom}
		if col.attrType != "" {
			ci.AttributeType = col.attrType
		}
		if f, ok := col.meta["FormatName"].(map[string]any); ok {
			ci.Format, _ = f["Value"].(string)
		}
		if col.options != nil {
			ci.Options = map[int]string{}
			for v, l := range col.options {
				ci.Options[int(v)] = l
			}
		}
		info.Columns = append(info.Columns, ci)
	}
	for _, k := range t.keys {
		info.Keys = append(info.Keys, KeyInfo{LogicalName: k.name, SchemaName: k.schema, Columns: append([]string(nil), k.cols...), Status: k.status})
	}
	return info, true
}
