package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Annotations Parley asks for on every read.
const (
	// FormattedValue is the annotation of a value as people see it: the
	// label of a choice, the name of a lookup's row, money with its
	// currency, a date in the user's format.
	FormattedValue  = "OData.Community.Display.V1.FormattedValue"
	preferFormatted = `odata.include-annotations="` + FormattedValue + `"`
)

// Row is one row as Dataverse returns it: Web API property names (a
// lookup appears as _<column>_value) to JSON values, with annotations
// under "<property>@<annotation>".
type Row map[string]any

// String is a column's raw value as text: a GUID, a number as Dataverse
// wrote it, a date in ISO 8601; "" when null or absent.
func (r Row) String(col string) string {
	v, ok := r[col]
	if !ok {
		v = r["_"+col+"_value"]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Formatted is a column's value as people see it, for template
// variables: its formatted-value annotation when Dataverse gave one (a
// choice's label, a lookup's name), else its String. col is a column's
// logical name; a lookup's is enough (parentaccountid finds
// _parentaccountid_value).
func (r Row) Formatted(col string) string {
	for _, p := range []string{col, "_" + col + "_value"} {
		if s, ok := r[p+"@"+FormattedValue].(string); ok {
			return s
		}
	}
	return r.String(col)
}

// Query is a read of a table's rows (webapi/query).
type Query struct {
	Select  []string // columns; lookups as _<name>_value
	Filter  string   // an OData $filter, such as crm.PhoneFilter's
	OrderBy string   // such as "modifiedon desc"
	// Top is the most rows returned; 0 returns them all.
	Top int
	// PageSize asks for pages of that many rows (odata.maxpagesize);
	// Dataverse's default is 5000. It is not sent with Top, which
	// Dataverse documents as not to be combined with it.
	PageSize int
	// Formatted asks for formatted values (see Row.Formatted).
	Formatted bool
}

// Query returns the rows of an entity set (leads, not lead) that match,
// following @odata.nextLink until the last page.
func (c *Client) Query(ctx context.Context, entitySet string, q Query) ([]Row, error) {
	var opts []string
	if len(q.Select) > 0 {
		opts = append(opts, "$select="+queryEscape(strings.Join(q.Select, ",")))
	}
	if q.Filter != "" {
		opts = append(opts, "$filter="+queryEscape(q.Filter))
	}
	if q.OrderBy != "" {
		opts = append(opts, "$orderby="+queryEscape(q.OrderBy))
	}
	if q.Top > 0 {
		opts = append(opts, "$top="+strconv.Itoa(q.Top))
	}
	u := c.api + "/" + pathEscape(entitySet)
	if len(opts) > 0 {
		u += "?" + strings.Join(opts, "&")
	}
	h := http.Header{}
	if q.Formatted {
		h.Add("Prefer", preferFormatted)
	}
	if q.PageSize > 0 && q.Top == 0 {
		h.Add("Prefer", "odata.maxpagesize="+strconv.Itoa(q.PageSize))
	}
	var rows []Row
	for u != "" {
		p, err := c.page(ctx, u, h)
		if err != nil {
			return rows, fmt.Errorf("dataverse: query %s: %w", entitySet, err)
		}
		rows = append(rows, p.Value...)
		if q.Top > 0 && len(rows) >= q.Top {
			return rows[:q.Top], nil
		}
		u = p.NextLink
	}
	return rows, nil
}

// page is one page of a collection.
type page struct {
	Value     []Row  `json:"value"`
	NextLink  string `json:"@odata.nextLink"`
	DeltaLink string `json:"@odata.deltaLink"`
}

// page GETs one page. Links from Dataverse are followed verbatim, with the
// same Prefer headers (paging-maxpagesize.exchange.http), but only within
// the environment: the token is never sent elsewhere.
func (c *Client) page(ctx context.Context, u string, h http.Header) (*page, error) {
	if !c.sameEnvironment(u) {
		return nil, fmt.Errorf("the link %q leads out of the environment %s", redact(u), c.api)
	}
	resp, err := c.do(ctx, &request{method: http.MethodGet, url: u, header: h.Clone(), idempotent: true}, nil)
	if err != nil {
		return nil, err
	}
	var p page
	if err := decodeJSON(resp.body, &p); err != nil {
		return nil, fmt.Errorf("GET %s: decoding the answer: %w", redact(u), err)
	}
	return &p, nil
}

// sameEnvironment tells whether a link Dataverse gave (or a stored delta
// link) is on the environment's Web API, whatever the case of its host.
func (c *Client) sameEnvironment(link string) bool {
	u, err := url.Parse(link)
	base, berr := url.Parse(c.api)
	return err == nil && berr == nil && u.Scheme == base.Scheme && strings.EqualFold(u.Host, base.Host) &&
		strings.HasPrefix(u.Path, base.Path+"/")
}

// Get reads one row by its ID (or an alternate key, see Key), with
// formatted values, so that choices, lookups, money and dates read as
// people see them. A missing row is parley.ENOTFOUND.
func (c *Client) Get(ctx context.Context, entitySet, id string, columns []string) (Row, error) {
	u := c.api + "/" + pathEscape(entitySet+"("+id+")")
	if len(columns) > 0 {
		u += "?$select=" + queryEscape(strings.Join(columns, ","))
	}
	h := http.Header{"Prefer": {preferFormatted}}
	resp, err := c.do(ctx, &request{method: http.MethodGet, url: u, header: h, idempotent: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("dataverse: get %s(%s): %w", entitySet, id, err)
	}
	var row Row
	if err := decodeJSON(resp.body, &row); err != nil {
		return nil, fmt.Errorf("dataverse: get %s(%s): decoding the answer: %w", entitySet, id, err)
	}
	return row, nil
}

// Key is an alternate key predicate for Get and Upsert, such as
// parley_messageid='wamid.X': single quotes in the value are doubled, as
// OData string literals need.
func Key(column, value string) string {
	return column + "='" + strings.ReplaceAll(value, "'", "''") + "'"
}

// decodeJSON keeps numbers as json.Number, so that big integers and
// decimals survive the round trip.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// pathEscape escapes a path segment (entityset(key)) as RFC 3986 says,
// keeping OData's punctuation readable: quotes, parentheses, '=' and ','
// stay, while '/', '?', '#', '%' and spaces inside key values are escaped.
func pathEscape(s string) string {
	return escape(s, "-._~!$&'()*+,;=:@")
}

// queryEscape escapes a query option's value, keeping OData's punctuation
// readable and escaping what would end it ('&', '#') or change it ('+',
// '%', spaces).
func queryEscape(s string) string {
	return escape(s, "-._~!$'()*,;:@/")
}

func escape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || strings.IndexByte(keep, ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}
