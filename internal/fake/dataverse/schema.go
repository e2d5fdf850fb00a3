package dataverse

import (
	"fmt"
	"sort"
	"strings"
)

// colType is the kind of a column, as far as the wire cares: which JSON
// values it takes, how $filter compares it, and whether it has a formatted
// value.
type colType int

const (
	typeString colType = iota
	typeMemo
	typeInteger
	typePicklist
	typeState
	typeStatus
	typeBoolean
	typeDateTime
	typeDecimal
	typeMoney
	typeDouble
	typeLookup
	typeID // the primary key (Uniqueidentifier)
)

// attributeTypes are the AttributeType values the metadata API reports.
var attributeTypes = map[colType]string{
	typeString: "String", typeMemo: "Memo", typeInteger: "Integer", typePicklist: "Picklist",
	typeState: "State", typeStatus: "Status", typeBoolean: "Boolean", typeDateTime: "DateTime",
	typeDecimal: "Decimal", typeMoney: "Money", typeDouble: "Double", typeLookup: "Lookup",
	typeID: "Uniqueidentifier",
}

// column is one column of a table. Lookups are stored under their logical
// name (ownerid) and appear on the wire as _ownerid_value.
type column struct {
	name      string
	schema    string
	typ       colType
	attrType  string // AttributeType when it is not the default (Owner, Customer)
	maxLength int
	options   map[int64]string // labels of choices, states, statuses, yes/no (1 and 0)
	targets   []string         // lookup targets; nil for regardingobjectid (every table with activities)
	readOnly  bool
	label     string
	meta      map[string]any // the attribute metadata as created through the metadata API
	metaID    string
	custom    bool
}

// prop is the column's Web API property name.
func (c *column) prop() string {
	if c.typ == typeLookup {
		return "_" + c.name + "_value"
	}
	return c.name
}

// altKey is an alternate key. Dataverse builds its index in the background
// (EntityKeyIndexStatus): a key created through the metadata API is
// Pending until a client has read it so, then Active, or Failed when
// existing rows already break it, as the index job would. AddAlternateKey
// makes it Active at once.
type altKey struct {
	name, schema, display, metaID string
	cols                          []string
	status                        string
}

// collNav is a collection-valued navigation property: the rows of child
// whose lookup column points at the parent.
type collNav struct {
	child  string
	column string
}

// navProp is a single-valued navigation property: the lookup column it
// sets and the table it points to.
type navProp struct {
	column string
	target string
}

// record is one row. Lookups are stored as Ref.
type record struct {
	id      string
	fields  map[string]any
	version int64
}

// tomb remembers a deleted row for change tracking.
type tomb struct {
	id      string
	version int64
}

// table is a table's definition (what EntityDefinitions describes) and its
// rows.
type table struct {
	logical, schema, set, primaryID, primaryName string
	display, displayPlural, description          string
	cols                                         []*column
	byName                                       map[string]*column
	navs                                         map[string]navProp
	colls                                        map[string]collNav
	keys                                         []*altKey
	tracking, isActivity, hasActivities          bool
	hasNotes, custom, offline                    bool
	ownership                                    string
	otc                                          int
	metaID                                       string
	activityTypeMask                             int
	defaultStatus                                int64
	records                                      map[string]*record
	tombs                                        []tomb
}

func newTable(logical, display, set, primaryID, primaryName string, otc int) *table {
	return &table{
		logical: logical, schema: schemaOf(logical), set: set, primaryID: primaryID, primaryName: primaryName,
		display: display, displayPlural: display + "s", description: display,
		byName: map[string]*column{}, navs: map[string]navProp{}, colls: map[string]collNav{},
		ownership: "UserOwned", otc: otc, offline: true, defaultStatus: 1,
		records: map[string]*record{},
	}
}

func (t *table) add(cols ...*column) *table {
	for _, c := range cols {
		if c.schema == "" {
			c.schema = schemaOf(c.name)
		}
		if c.label == "" {
			c.label = c.schema
		}
		t.cols = append(t.cols, c)
		t.byName[c.name] = c
		if c.typ == typeLookup && len(c.targets) == 1 && c.name != "ownerid" {
			t.navs[c.name] = navProp{column: c.name, target: c.targets[0]}
		}
	}
	return t
}

// column finds a column by its logical name.
func (t *table) column(name string) *column { return t.byName[name] }

// byProp finds a column by its Web API property name (_x_value for lookups).
func (t *table) byProp(prop string) *column {
	if strings.HasPrefix(prop, "_") && strings.HasSuffix(prop, "_value") {
		if c := t.byName[strings.TrimSuffix(strings.TrimPrefix(prop, "_"), "_value")]; c != nil && c.typ == typeLookup {
			return c
		}
		return nil
	}
	if c := t.byName[prop]; c != nil && c.typ != typeLookup {
		return c
	}
	return nil
}

func (t *table) key(name string) *altKey {
	for _, k := range t.keys {
		if k.name == name {
			return k
		}
	}
	return nil
}

// schemaOf guesses a SchemaName for the built-in tables and columns, which
// are described by logical name only.
func schemaOf(logical string) string {
	if logical == "" {
		return ""
	}
	return strings.ToUpper(logical[:1]) + logical[1:]
}

func col(name string, typ colType, maxLength int) *column {
	return &column{name: name, typ: typ, maxLength: maxLength}
}

func readOnly(c *column) *column { c.readOnly = true; return c }

func choice(name string, typ colType, options map[int64]string) *column {
	return &column{name: name, typ: typ, options: options}
}

func lookup(name string, targets ...string) *column {
	return &column{name: name, typ: typeLookup, targets: targets}
}

func yesNo(name, no, yes string) *column {
	return &column{name: name, typ: typeBoolean, options: map[int64]string{0: no, 1: yes}}
}

// Columns every user-owned table has.
func ownerCols() []*column {
	owner := lookup("ownerid", "systemuser", "team")
	owner.attrType = "Owner"
	return []*column{
		owner,
		readOnly(col("createdon", typeDateTime, 0)),
		readOnly(col("modifiedon", typeDateTime, 0)),
	}
}

var (
	activeState  = map[int64]string{0: "Active", 1: "Inactive"}
	activeStatus = map[int64]string{1: "Active", 2: "Inactive"}
	// Custom activities inherit activitypointer's states.
	activityState  = map[int64]string{0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"}
	activityStatus = map[int64]string{1: "Open", 2: "Completed", 3: "Canceled", 4: "Scheduled"}
	// participationtypemask, from activity-party-facts.json (13 is only on
	// the live page).
	participationTypes = map[int64]string{
		1: "Sender", 2: "ToRecipient", 3: "CCRecipient", 4: "BccRecipient", 5: "RequiredAttendee",
		6: "OptionalAttendee", 7: "Organizer", 8: "Regarding", 9: "Owner", 10: "Resource",
		11: "Customer", 12: "ChatParticipant", 13: "Related",
	}
)

// activityCols are the columns every activity inherits from activitypointer.
func activityCols(subjectMax int) []*column {
	regarding := lookup("regardingobjectid")
	regarding.targets = nil // every table with HasActivities
	cols := []*column{
		col("subject", typeString, subjectMax),
		col("description", typeMemo, 2000),
		regarding,
		col("scheduledstart", typeDateTime, 0),
		col("scheduledend", typeDateTime, 0),
		col("actualstart", typeDateTime, 0),
		col("actualend", typeDateTime, 0),
		readOnly(col("activitytypecode", typeString, 64)),
	}
	return append(cols, ownerCols()...)
}

// builtinTables are the tables every fake starts with: the three a CRM
// connector reads and writes, the two activities the $batch documentation
// creates, the users and teams that own rows, and activity parties.
func builtinTables() []*table {
	lead := newTable("lead", "Lead", "leads", "leadid", "fullname", 4).add(
		col("firstname", typeString, 50), col("lastname", typeString, 50),
		readOnly(col("fullname", typeString, 160)),
		col("companyname", typeString, 100), col("subject", typeString, 300),
		col("mobilephone", typeString, 50), col("telephone1", typeString, 50),
		col("emailaddress1", typeString, 100), col("description", typeMemo, 2000),
		choice("statecode", typeState, map[int64]string{0: "Open", 1: "Qualified", 2: "Disqualified"}),
		choice("statuscode", typeStatus, map[int64]string{1: "New", 2: "Contacted", 3: "Qualified", 4: "Lost", 5: "Cannot Contact", 6: "No Longer Interested", 7: "Canceled"}),
		lookup("parentaccountid", "account"), lookup("parentcontactid", "contact"),
	).add(ownerCols()...)
	lead.hasActivities, lead.hasNotes = true, true

	customer := lookup("parentcustomerid", "account", "contact")
	customer.attrType = "Customer"
	contact := newTable("contact", "Contact", "contacts", "contactid", "fullname", 2).add(
		col("firstname", typeString, 50), col("lastname", typeString, 50),
		readOnly(col("fullname", typeString, 160)),
		col("mobilephone", typeString, 50), col("telephone1", typeString, 50),
		col("emailaddress1", typeString, 100), col("jobtitle", typeString, 100),
		col("description", typeMemo, 2000),
		choice("statecode", typeState, activeState), choice("statuscode", typeStatus, activeStatus),
		customer,
	).add(ownerCols()...)
	contact.hasActivities, contact.hasNotes = true, true
	contact.navs["parentcustomerid_account"] = navProp{column: "parentcustomerid", target: "account"}
	contact.navs["parentcustomerid_contact"] = navProp{column: "parentcustomerid", target: "contact"}

	account := newTable("account", "Account", "accounts", "accountid", "name", 1).add(
		col("name", typeString, 160), col("accountnumber", typeString, 20),
		col("telephone1", typeString, 50), col("fax", typeString, 50),
		col("emailaddress1", typeString, 100), col("websiteurl", typeString, 200),
		col("description", typeMemo, 2000),
		col("revenue", typeMoney, 0), yesNo("creditonhold", "No", "Yes"),
		col("address1_latitude", typeDouble, 0),
		choice("accountcategorycode", typePicklist, map[int64]string{1: "Preferred Customer", 2: "Standard"}),
		choice("statecode", typeState, activeState), choice("statuscode", typeStatus, activeStatus),
		lookup("primarycontactid", "contact"), lookup("originatingleadid", "lead"),
	).add(ownerCols()...)
	account.hasActivities, account.hasNotes = true, true

	task := newTable("task", "Task", "tasks", "activityid", "subject", 4212).add(activityCols(200)...).add(
		choice("statecode", typeState, map[int64]string{0: "Open", 1: "Completed", 2: "Canceled"}),
		choice("statuscode", typeStatus, map[int64]string{2: "Not Started", 3: "In Progress", 4: "Waiting on someone else", 5: "Completed", 6: "Canceled", 7: "Deferred"}),
	)
	task.isActivity, task.defaultStatus = true, 2

	phonecall := newTable("phonecall", "Phone Call", "phonecalls", "activityid", "subject", 4210).add(activityCols(200)...).add(
		col("phonenumber", typeString, 200), yesNo("directioncode", "Incoming", "Outgoing"),
		choice("statecode", typeState, map[int64]string{0: "Open", 1: "Completed", 2: "Canceled"}),
		choice("statuscode", typeStatus, map[int64]string{1: "Open", 2: "Made", 3: "Canceled", 4: "Received"}),
	)
	phonecall.isActivity = true

	user := newTable("systemuser", "User", "systemusers", "systemuserid", "fullname", 8).add(
		col("firstname", typeString, 64), col("lastname", typeString, 64),
		readOnly(col("fullname", typeString, 200)), col("internalemailaddress", typeString, 100),
	)
	user.ownership = "BusinessOwned"
	team := newTable("team", "Team", "teams", "teamid", "name", 9).add(col("name", typeString, 160))
	team.ownership = "BusinessOwned"

	party := newTable("activityparty", "Activity Party", "activityparties", "activitypartyid", "partyidname", 135).add(
		choice("participationtypemask", typePicklist, participationTypes),
		lookup("activityid"), lookup("partyid"), col("addressused", typeString, 200),
	)
	party.byName["activityid"].targets = nil // every activity
	party.byName["partyid"].targets = nil    // contacts, accounts, leads, users
	party.ownership = "None"
	party.offline = false

	for _, parent := range []*table{account, contact, lead} {
		for _, act := range []*table{task, phonecall} {
			parent.colls[schemaOf(parent.logical)+"_"+schemaOf(act.set)] = collNav{child: act.logical, column: "regardingobjectid"}
		}
	}
	return []*table{lead, contact, account, task, phonecall, user, team, party}
}

// pluralize forms an entity set name the way Dataverse does for most
// English names.
func pluralize(s string) string {
	switch {
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "z"),
		strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	}
	return s + "s"
}

// store is all the fake's data: table definitions and rows. It is cloned
// before a change set runs so a failure can roll everything back.
type store struct {
	tables  map[string]*table // by logical name
	version int64             // rowversion of the last write
	seq     int64             // last GUID handed out
	// tokensFrom is the oldest version a delta token may carry;
	// ExpireDeltaTokens moves it.
	tokensFrom int64
}

func newStore() *store {
	st := &store{tables: map[string]*table{}, version: 1000, seq: 0x425195a4}
	for i, t := range builtinTables() {
		t.metaID = fmt.Sprintf("70816501-edb9-4740-a16c-6a5efbc05d%02x", i)
		for j, c := range t.cols {
			c.metaID = fmt.Sprintf("%08x-0000-4000-8000-00000000%04x", 0x1000+i, j)
		}
		st.tables[t.logical] = t
	}
	for _, t := range st.tables {
		t.add(&column{name: t.primaryID, typ: typeID, readOnly: true})
		t.byName[t.primaryID].metaID = t.metaID[:24] + "ffffffffffff"
	}
	return st
}

// clone copies the store deeply enough that writing to the copy never
// changes the original.
func (st *store) clone() *store {
	out := &store{tables: map[string]*table{}, version: st.version, seq: st.seq, tokensFrom: st.tokensFrom}
	for name, t := range st.tables {
		c := *t
		c.cols = append([]*column(nil), t.cols...)
		c.byName = make(map[string]*column, len(t.byName))
		for k, v := range t.byName {
			c.byName[k] = v
		}
		c.navs = make(map[string]navProp, len(t.navs))
		for k, v := range t.navs {
			c.navs[k] = v
		}
		c.colls = make(map[string]collNav, len(t.colls))
		for k, v := range t.colls {
			c.colls[k] = v
		}
		c.keys = make([]*altKey, len(t.keys))
		for i, k := range t.keys {
			kk := *k
			c.keys[i] = &kk
		}
		c.records = make(map[string]*record, len(t.records))
		for id, r := range t.records {
			f := make(map[string]any, len(r.fields))
			for k, v := range r.fields {
				f[k] = v
			}
			c.records[id] = &record{id: r.id, fields: f, version: r.version}
		}
		c.tombs = append([]tomb(nil), t.tombs...)
		out.tables[name] = &c
	}
	return out
}

func (st *store) bySet(set string) *table {
	for _, t := range st.tables {
		if t.set == set {
			return t
		}
	}
	return nil
}

// newID hands out GUIDs that grow with time, as Dataverse's sequential
// GUIDs do, so that the default order is the order of creation.
func (st *store) newID() string {
	st.seq++
	return fmt.Sprintf("%08x-7a75-e911-a97a-000d3a34a1bd", st.seq)
}

func (st *store) bump() int64 {
	st.version++
	return st.version
}

// activityParents are the tables activities can be regarding.
func (st *store) activityParents() []string {
	var out []string
	for _, t := range st.tables {
		if t.hasActivities {
			out = append(out, t.logical)
		}
	}
	sort.Strings(out)
	return out
}

// targets are the tables a lookup may point to.
func (st *store) targets(t *table, c *column) []string {
	if c.targets != nil {
		return c.targets
	}
	switch {
	case c.name == "regardingobjectid":
		return st.activityParents()
	case t.logical == "activityparty" && c.name == "activityid":
		var out []string
		for _, a := range st.tables {
			if a.isActivity {
				out = append(out, a.logical)
			}
		}
		sort.Strings(out)
		return out
	case t.logical == "activityparty" && c.name == "partyid":
		return []string{"account", "contact", "lead", "systemuser"}
	}
	return nil
}

// nav resolves a single-valued navigation property, including the ones
// every activity has for each table it can be regarding
// (regardingobjectid_account_task, as in create-odata-bind.exchange.http)
// and the party lookups of activityparty (partyid_contact, as in
// activity-party-facts.json).
func (st *store) nav(t *table, name string) (navProp, bool) {
	if n, ok := t.navs[name]; ok {
		return n, true
	}
	if t.isActivity && strings.HasPrefix(name, "regardingobjectid_") && strings.HasSuffix(name, "_"+t.logical) {
		parent := strings.TrimSuffix(strings.TrimPrefix(name, "regardingobjectid_"), "_"+t.logical)
		if p := st.tables[parent]; p != nil && p.hasActivities {
			return navProp{column: "regardingobjectid", target: parent}, true
		}
	}
	if t.logical == "activityparty" {
		if target, ok := strings.CutPrefix(name, "partyid_"); ok {
			for _, x := range st.targets(t, t.byName["partyid"]) {
				if x == target {
					return navProp{column: "partyid", target: target}, true
				}
			}
		}
	}
	if name == "ownerid" && t.byName["ownerid"] != nil {
		return navProp{column: "ownerid"}, true // target depends on the bound set
	}
	return navProp{}, false
}

// coll resolves a collection-valued navigation property, including
// <activity>_activity_parties.
func (st *store) coll(t *table, name string) (collNav, bool) {
	if c, ok := t.colls[name]; ok {
		return c, true
	}
	if t.isActivity && name == t.logical+"_activity_parties" {
		return collNav{child: "activityparty", column: "activityid"}, true
	}
	return collNav{}, false
}
