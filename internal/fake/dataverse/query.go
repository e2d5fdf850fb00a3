package dataverse

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// entityTypeSchema tells $filter which properties a table has.
func entityTypeSchema(t *table) filterSchema {
	return filterSchema{typeName: t.logical, kind: func(prop string) (fieldKind, bool) {
		c := t.byProp(prop)
		if c == nil {
			return 0, false
		}
		switch c.typ {
		case typeString, typeMemo:
			return kString, true
		case typeInteger, typePicklist, typeState, typeStatus:
			return kInt, true
		case typeBoolean:
			return kBool, true
		case typeDateTime:
			return kDate, true
		case typeDecimal, typeMoney, typeDouble:
			return kFloat, true
		}
		return kGuid, true
	}}
}

// filterError turns a parser error into the answer, reporting it.
func (s *Server) filterError(c *call, err error) *apiError {
	var syn *syntaxError
	var ni *notImplemented
	var ae *apiError
	switch {
	case errors.As(err, &ni):
		return s.unsupported(c, "%s in $filter", ni.what)
	case errors.As(err, &ae):
		return s.reject(c, docClientErr, ae)
	case errors.As(err, &syn):
		return s.reject(c, "OData 4.0 $filter syntax (webapi/query/filter-rows)", errQuery("%s", syn.msg))
	}
	return s.reject(c, docCompose, errQuery("%s", err))
}

// parseSelect reads $select. Lookups are selected as _<name>_value: a
// lookup's own name is a navigation property, which "you can't use
// $select" on (select-columns, "Lookup property data").
func (s *Server) parseSelect(c *call, t *table, v string) ([]*column, *apiError) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []*column
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		col := t.byProp(p)
		if col == nil {
			doc := docClientErr
			if lc := t.column(p); lc != nil && lc.typ == typeLookup {
				doc = docSelect + `: select the lookup as _` + p + `_value`
			}
			return nil, s.reject(c, doc, errNoProperty(t.logical, p))
		}
		out = append(out, col)
	}
	return out, nil
}

// selectText is how a context URL lists the selected properties.
func selectText(cols []*column, exp []expansion) string {
	var parts []string
	for _, c := range cols {
		parts = append(parts, c.prop())
	}
	for _, e := range exp {
		parts = append(parts, e.name+"("+selectText(e.sel, nil)+")")
	}
	return strings.Join(parts, ",")
}

// contextURL is the @odata.context of a collection or entity of t.
func (s *Server) contextURL(set string, cols []*column, exp []expansion, suffix string) string {
	u := s.APIBase() + "/$metadata#" + set
	if sel := selectText(cols, exp); sel != "" {
		u += "(" + sel + ")"
	}
	return u + suffix
}

// expansion is one $expand item: a navigation property with its $select.
type expansion struct {
	name   string
	single *navProp
	coll   *collNav
	sel    []*column
}

// parseExpand reads $expand=nav($select=a,b),nav2, the form
// create-odata-bind.exchange.http uses. Other nested options are not
// implemented.
func (s *Server) parseExpand(c *call, t *table, v string) ([]expansion, *apiError) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []expansion
	for _, item := range splitTop(v) {
		name, opts, _ := strings.Cut(item, "(")
		name = strings.TrimSpace(name)
		opts = strings.TrimSuffix(strings.TrimSpace(opts), ")")
		e := expansion{name: name}
		var target *table
		if np, ok := s.st.nav(t, name); ok {
			if np.target == "" {
				return nil, s.unsupported(c, "$expand of the polymorphic %s", name)
			}
			e.single, target = &np, s.st.tables[np.target]
		} else if cn, ok := s.st.coll(t, name); ok {
			e.coll, target = &cn, s.st.tables[cn.child]
		} else {
			return nil, s.reject(c, docClientErr, errNoProperty(t.logical, name))
		}
		if opts != "" {
			o, rest := strings.CutPrefix(opts, "$select=")
			if !rest || strings.Contains(o, "$") || strings.Contains(o, ";") {
				return nil, s.unsupported(c, "$expand options other than $select (%s)", opts)
			}
			sel, err := s.parseSelect(c, target, o)
			if err != nil {
				return nil, err
			}
			e.sel = sel
		}
		out = append(out, e)
	}
	return out, nil
}

// splitTop splits on commas outside parentheses.
func splitTop(v string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

// annotations decides which instance annotations a response carries, from
// odata.include-annotations: names, Namespace.* patterns, * and -exclusions
// (compose-http-requests-handle-errors, "Request annotations").
type annotations struct{ patterns []string }

func (a annotations) want(term string) bool {
	match := func(p string) bool {
		return p == "*" || strings.EqualFold(p, term) || strings.HasSuffix(p, ".*") && strings.HasPrefix(strings.ToLower(term), strings.ToLower(strings.TrimSuffix(p, "*")))
	}
	ok := false
	for _, p := range a.patterns {
		if strings.HasPrefix(p, "-") {
			if match(p[1:]) {
				return false
			}
		} else if match(p) {
			ok = true
		}
	}
	return ok
}

func newAnnotations(p prefer) annotations {
	var a annotations
	for _, x := range strings.Split(p.annotations, ",") {
		if x = strings.TrimSpace(x); x != "" {
			a.patterns = append(a.patterns, x)
		}
	}
	return a
}

const (
	annFormatted  = "OData.Community.Display.V1.FormattedValue"
	annNavigation = "Microsoft.Dynamics.CRM.associatednavigationproperty"
	annLogical    = "Microsoft.Dynamics.CRM.lookuplogicalname"
)

// entityJSON renders a row: its ETag, the selected properties (all when
// none are) with the annotations asked for before each, the primary key
// last, then expanded navigation properties.
func (s *Server) entityJSON(t *table, r *record, sel []*column, ann annotations, exp []expansion) *jsonObj {
	o := obj("@odata.etag", etag(r.version))
	cols := sel
	if cols == nil {
		for _, c := range t.cols {
			if c.typ != typeID {
				cols = append(cols, c)
			}
		}
	}
	for _, c := range cols {
		if c.typ == typeID {
			continue
		}
		v := r.fields[c.name]
		prop := c.prop()
		if f, ok := s.formatted(c, v); ok && ann.want(annFormatted) {
			o.set(prop+"@"+annFormatted, f)
		}
		if ref, ok := v.(Ref); ok {
			if ann.want(annNavigation) {
				o.set(prop+"@"+annNavigation, s.navName(t, c, ref))
			}
			if ann.want(annLogical) {
				o.set(prop+"@"+annLogical, ref.Table)
			}
			v = ref.ID
		}
		o.set(prop, v)
	}
	o.set(t.primaryID, r.id)
	for _, e := range exp {
		o.set(e.name, s.expanded(t, r, e, ann))
	}
	return o
}

// navName is the navigation property behind a lookup value.
func (s *Server) navName(t *table, c *column, ref Ref) string {
	switch {
	case c.name == "regardingobjectid":
		return "regardingobjectid_" + ref.Table + "_" + t.logical
	case c.name == "ownerid" || len(s.st.targets(t, c)) <= 1:
		return c.name
	}
	return c.name + "_" + ref.Table
}

func (s *Server) expanded(t *table, r *record, e expansion, ann annotations) any {
	if e.single != nil {
		ref, ok := r.fields[e.single.column].(Ref)
		target := s.st.tables[e.single.target]
		if !ok || ref.Table != e.single.target || target.records[ref.ID] == nil {
			return nil
		}
		return s.entityJSON(target, target.records[ref.ID], e.sel, ann, nil)
	}
	child := s.st.tables[e.coll.child]
	out := []any{}
	for _, cr := range sortedRecords(child) {
		if ref, ok := cr.fields[e.coll.column].(Ref); ok && ref.Table == t.logical && ref.ID == r.id {
			out = append(out, s.entityJSON(child, cr, e.sel, ann, nil))
		}
	}
	return out
}

// listOptions are the query options of a collection request.
type listOptions struct {
	sel     []*column
	exp     []expansion
	filter  filterNode
	orderBy []orderItem
	top     int
	count   bool
}

type orderItem struct {
	prop string
	desc bool
}

// parseList reads and checks the query options of a collection request.
// Dataverse does not support $skip (page-results); the other options
// beyond the ones a connector needs are not implemented by the fake.
func (s *Server) parseList(c *call, t *table) (*listOptions, *apiError) {
	o := &listOptions{}
	for _, q := range c.query {
		switch q.name {
		case "$select", "$filter", "$orderby", "$top", "$count", "$expand", "$skiptoken", "$deltatoken":
		case "$skip":
			return nil, s.reject(c, docPaging+": \"Dataverse doesn't support the $skip query option\"", errQuery("The query parameter $skip is not supported."))
		case "$apply", "$search", "$compute", "$format", "$levels", "fetchXml", "savedQuery", "userQuery":
			return nil, s.unsupported(c, "the %s query option", q.name)
		default:
			return nil, s.reject(c, docCompose, errQuery("The query parameter %s is not supported.", q.name))
		}
	}
	var e *apiError
	if v, ok := c.get("$select"); ok {
		if o.sel, e = s.parseSelect(c, t, v); e != nil {
			return nil, e
		}
	}
	if v, ok := c.get("$expand"); ok {
		if o.exp, e = s.parseExpand(c, t, v); e != nil {
			return nil, e
		}
	}
	if v, ok := c.get("$filter"); ok {
		n, err := parseFilter(v, entityTypeSchema(t))
		if err != nil {
			return nil, s.filterError(c, err)
		}
		o.filter = n
	}
	if v, ok := c.get("$orderby"); ok {
		for _, item := range strings.Split(v, ",") {
			f := strings.Fields(item)
			if len(f) == 0 || len(f) > 2 || len(f) == 2 && f[1] != "asc" && f[1] != "desc" {
				return nil, s.reject(c, "OData 4.0 $orderby syntax (webapi/query/order-rows)", errQuery("Syntax error in $orderby '%s'.", v))
			}
			if t.byProp(f[0]) == nil {
				return nil, s.reject(c, docClientErr, errNoProperty(t.logical, f[0]))
			}
			o.orderBy = append(o.orderBy, orderItem{prop: f[0], desc: len(f) == 2 && f[1] == "desc"})
		}
	}
	if v, ok := c.get("$top"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, s.reject(c, "OData 4.0 $top", errQuery("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v))
		}
		o.top = n
	}
	if v, ok := c.get("$count"); ok {
		if v != "true" && v != "false" {
			return nil, s.reject(c, "OData 4.0 $count", errQuery("'%s' is not a valid count option.", v))
		}
		o.count = v == "true"
	}
	return o, nil
}

// rows filters and orders a table's rows (by primary key unless $orderby
// says otherwise).
func (o *listOptions) rows(t *table, in []*record) []*record {
	var out []*record
	for _, r := range in {
		if o.filter == nil || o.filter.eval(func(p string) any { return propValue(t, r, p) }) {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		for _, ob := range o.orderBy {
			c := compareValues(propValue(t, out[i], ob.prop), propValue(t, out[j], ob.prop))
			if c != 0 {
				return c < 0 != ob.desc
			}
		}
		return out[i].id < out[j].id
	})
	return out
}

// compareValues orders nulls first, strings without regard to case.
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if sa, ok := a.(string); ok {
		sb, _ := b.(string)
		return strings.Compare(strings.ToLower(sa), strings.ToLower(sb))
	}
	if ba, ok := a.(bool); ok {
		bb, _ := b.(bool)
		switch {
		case ba == bb:
			return 0
		case !ba:
			return -1
		}
		return 1
	}
	fa, _ := toFloat(a)
	fb, _ := toFloat(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

// query serves GET on an entity set.
func (s *Server) query(c *call, t *table) reply {
	if _, ok := c.get("$deltatoken"); ok {
		return s.delta(c, t)
	}
	o, e := s.parseList(c, t)
	if e != nil {
		return e.reply()
	}
	tracked := c.prefer.trackChanges
	if tok, ok := c.get("$skiptoken"); ok {
		if st, err := parseSkipToken(tok); err == nil && st.trackingAt > 0 {
			tracked = true // the next page of a tracked query
		}
	}
	if tracked {
		return s.trackInitial(c, t, o)
	}
	return s.list(c, t, t.set, o, sortedRecords(t), nil)
}

// pageState is what a $skiptoken carries.
type pageState struct {
	page       int
	last       string
	trackingAt int64 // the version a tracked query started at; 0 when not tracking
}

// list answers a collection: the rows of in that match, paged when the
// client asked for odata.maxpagesize (page-results), with @odata.count
// when asked. finish adds the @odata.deltaLink of a tracked query to the
// last page.
func (s *Server) list(c *call, t *table, set string, o *listOptions, in []*record, finish func(*jsonObj)) reply {
	rows := o.rows(t, in)
	total := len(rows)
	applied := s.applied(c)
	if o.top > 0 && c.prefer.maxPageSize > 0 {
		s.misuse(c, docPaging, "\"Don't use $top with the Prefer: odata.maxpagesize request header. If you include both, $top is ignored.\"")
	} else if o.top > 0 && len(rows) > o.top {
		rows = rows[:o.top]
	}
	var next string
	if size := c.prefer.maxPageSize; size > 0 || len(rows) > maxPageSize {
		if size == 0 {
			size = maxPageSize
		}
		st := pageState{page: 1}
		if tok, ok := c.get("$skiptoken"); ok {
			var err error
			if st, err = parseSkipToken(tok); err != nil {
				return s.reject(c, docPaging+": \"You shouldn't modify the encoded information\"", errQuery("The $skiptoken is not valid: %v", err)).reply()
			}
		}
		if st.trackingAt == 0 {
			st.trackingAt = c.trackingAt
		}
		start := 0
		if len(o.orderBy) == 0 && st.last != "" {
			for start < len(rows) && rows[start].id <= st.last {
				start++
			}
		} else {
			start = min((st.page-1)*size, len(rows))
		}
		end := min(start+size, len(rows))
		page := rows[start:end]
		if end < len(rows) && len(page) > 0 {
			next = s.nextLink(c, set, t.primaryID, pageState{page: st.page + 1, last: page[len(page)-1].id, trackingAt: st.trackingAt}, page[0].id)
		}
		rows = page
		if c.prefer.maxPageSize > 0 {
			applied = append(applied, "odata.maxpagesize="+strconv.Itoa(c.prefer.maxPageSize))
		}
	}
	ann := newAnnotations(c.prefer)
	values := make([]any, 0, len(rows))
	for _, r := range rows {
		values = append(values, s.entityJSON(t, r, o.sel, ann, o.exp))
	}
	body := obj("@odata.context", s.contextURL(set, o.sel, o.exp, ""))
	if o.count {
		body.set("@odata.count", min(total, maxPageSize))
	}
	if finish != nil && next == "" {
		finish(body)
	}
	body.set("value", values)
	if next != "" {
		body.set("@odata.nextLink", next)
	}
	rep := jsonReply(http.StatusOK, body, "application/json; odata.metadata=minimal; odata.streaming=true")
	if len(applied) > 0 {
		rep.header.Set("Preference-Applied", strings.Join(applied, ","))
	}
	return rep
}

// applied lists the preferences a read applied.
func (s *Server) applied(c *call) []string {
	var out []string
	if c.prefer.hasAnnotations {
		out = append(out, `odata.include-annotations="`+c.prefer.annotations+`"`)
	}
	return out
}

// nextLink repeats the request's query options and adds the $skiptoken,
// in the shape of paging-maxpagesize.exchange.http.
func (s *Server) nextLink(c *call, set, primaryID string, st pageState, first string) string {
	var parts []string
	for _, q := range c.query {
		if q.name != "$skiptoken" {
			parts = append(parts, q.name+"="+encodeQueryValue(q.value))
		}
	}
	parts = append(parts, "$skiptoken="+encodeSkipToken(primaryID, st, first))
	return s.APIBase() + "/" + set + "?" + strings.Join(parts, "&")
}

// encodeSkipToken writes the paging cookie Dataverse writes:
//
//	<cookie pagenumber="2" pagingcookie="<escaped inner cookie>" istracking="False" />
//
// whose inner cookie is <cookie page="1"><contactid last="{GUID}"
// first="{GUID}" /></cookie>, escaped in lower case, and the whole escaped
// again in upper case. A tracked query's inner cookie also carries the
// version it started at (the real cookie's content is opaque).
func encodeSkipToken(primaryID string, st pageState, first string) string {
	page := fmt.Sprintf(`page="%d"`, st.page-1)
	if st.trackingAt > 0 {
		page += fmt.Sprintf(` trackingversion="%d"`, st.trackingAt)
	}
	inner := fmt.Sprintf(`<cookie %s><%s last="{%s}" first="{%s}" /></cookie>`, page, primaryID, strings.ToUpper(st.last), strings.ToUpper(first))
	tracking := "False"
	if st.trackingAt > 0 {
		tracking = "True"
	}
	outer := fmt.Sprintf(`<cookie pagenumber="%d" pagingcookie="%s" istracking="%s" />`, st.page, escapeAll(inner, false), tracking)
	var b strings.Builder
	for i := 0; i < len(outer); i++ {
		switch ch := outer[i]; ch {
		case '<', '>', ' ', '"', '%':
			fmt.Fprintf(&b, "%%%02X", ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// escapeAll percent-escapes everything but letters, digits and '-', in
// lower or upper case hex: the escaping of the paging cookie and of delta
// tokens.
func escapeAll(s string, upper bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-':
			b.WriteByte(ch)
		case upper:
			fmt.Fprintf(&b, "%%%02X", ch)
		default:
			fmt.Fprintf(&b, "%%%02x", ch)
		}
	}
	return b.String()
}

// parseSkipToken reads back a $skiptoken (already unescaped once by the
// query string).
func parseSkipToken(tok string) (pageState, error) {
	var st pageState
	attr := func(s, name string) (string, bool) {
		i := strings.Index(s, " "+name+`="`)
		if i < 0 {
			return "", false
		}
		rest := s[i+len(name)+3:]
		j := strings.IndexByte(rest, '"')
		if j < 0 {
			return "", false
		}
		return rest[:j], true
	}
	pn, ok := attr(tok, "pagenumber")
	if !ok || !strings.HasPrefix(tok, "<cookie ") {
		return st, fmt.Errorf("no pagenumber")
	}
	n, err := strconv.Atoi(pn)
	if err != nil || n < 2 {
		return st, fmt.Errorf("pagenumber %q", pn)
	}
	st.page = n
	pc, ok := attr(tok, "pagingcookie")
	if !ok {
		return st, fmt.Errorf("no pagingcookie")
	}
	inner, err := unescape(pc)
	if err != nil {
		return st, err
	}
	if last, ok := attr(inner, "last"); ok {
		st.last = strings.ToLower(strings.Trim(last, "{}"))
	}
	if v, ok := attr(inner, "trackingversion"); ok {
		st.trackingAt, _ = strconv.ParseInt(v, 10, 64)
	}
	return st, nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
