package dataverse

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Change tracking (use-change-tracking-synchronize-data-external-systems,
// change-tracking-deltalink.exchange.http). A query with Prefer:
// odata.track-changes returns every row and an @odata.deltaLink whose
// $deltatoken remembers the row version it was taken at; following the
// link returns the rows created or changed since, then a $deletedEntity
// for each row deleted since, and a new link.

const deltaTime = "01/02/2006 15:04:05"

// deltaToken writes a token as Dataverse does, "<version>!<MM/dd/yyyy
// HH:mm:ss>", escaped in lower case (919042%2108%2f22%2f2017%2008%3a10%3a44).
func (s *Server) deltaToken(version int64) string {
	return escapeAll(strconv.FormatInt(version, 10)+"!"+s.now().UTC().Format(deltaTime), false)
}

// trackingOptions are the query options a tracked query may carry; the
// page lists $filter, $orderby, $expand and $top as not supported.
func (s *Server) checkTrackingOptions(c *call) *apiError {
	for _, opt := range []string{"$filter", "$orderby", "$expand", "$top"} {
		if _, ok := c.get(opt); ok {
			return s.reject(c, docTracking+": \"Query options not supported in Change Tracking Web API request\"",
				errQuery(`The "%s" query parameter isn't supported when Change Tracking is enabled.`, opt))
		}
	}
	return nil
}

// trackInitial serves the first query of a sync.
func (s *Server) trackInitial(c *call, t *table, o *listOptions) reply {
	if !t.tracking {
		return errTrackingDisabled(t).reply()
	}
	if e := s.checkTrackingOptions(c); e != nil {
		return e.reply()
	}
	at := s.st.version
	if tok, ok := c.get("$skiptoken"); ok {
		if st, err := parseSkipToken(tok); err == nil && st.trackingAt > 0 {
			at = st.trackingAt
		}
	}
	c.trackingAt = at
	rep := s.list(c, t, t.set, o, sortedRecords(t), func(body *jsonObj) {
		body.set("@odata.deltaLink", s.deltaLink(c, t, at))
	})
	applied := []string{"odata.track-changes"}
	if v := rep.header.Get("Preference-Applied"); v != "" {
		applied = append(applied, v)
	}
	rep.header.Set("Preference-Applied", strings.Join(applied, ","))
	return rep
}

// deltaLink repeats the query's options (but paging) with a new token.
func (s *Server) deltaLink(c *call, t *table, version int64) string {
	var parts []string
	for _, q := range c.query {
		if q.name != "$skiptoken" && q.name != "$deltatoken" {
			parts = append(parts, q.name+"="+encodeQueryValue(q.value))
		}
	}
	parts = append(parts, "$deltatoken="+s.deltaToken(version))
	return s.APIBase() + "/" + t.set + "?" + strings.Join(parts, "&")
}

// changesSince reads the request's $deltatoken and returns the rows changed
// and deleted since it was handed out.
func (s *Server) changesSince(c *call, t *table) ([]*record, []tomb, *apiError) {
	if !t.tracking {
		return nil, nil, errTrackingDisabled(t)
	}
	tok, _ := c.get("$deltatoken")
	vs, ts, ok := strings.Cut(tok, "!")
	version, err := strconv.ParseInt(vs, 10, 64)
	when, terr := time.Parse(deltaTime, ts)
	if !ok || err != nil || terr != nil || version > s.st.version {
		return nil, nil, s.reject(c, docTracking+": delta links are opaque; use them as returned",
			errQuery("The $deltatoken '%s' is not valid.", tok))
	}
	if version < s.st.tokensFrom || s.now().UTC().Sub(when) > s.retention {
		return nil, nil, errExpiredToken()
	}
	var rows []*record
	for _, r := range t.records {
		if r.version > version {
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].version < rows[j].version })
	var tombs []tomb
	for _, tb := range t.tombs {
		if tb.version > version && t.records[tb.id] == nil {
			tombs = append(tombs, tb)
		}
	}
	return rows, tombs, nil
}

// delta serves GET on a delta link: the changed rows first, then the
// deleted ones, as the page describes ("Usually, the caller will get all
// new or updated records first … followed by deleted records").
func (s *Server) delta(c *call, t *table) reply {
	for _, q := range c.query {
		if q.name != "$select" && q.name != "$deltatoken" {
			if e := s.checkTrackingOptions(c); e != nil {
				return e.reply()
			}
			return s.reject(c, docTracking, errQuery("The query parameter %s is not supported with a $deltatoken.", q.name)).reply()
		}
	}
	var sel []*column
	if v, ok := c.get("$select"); ok {
		var e *apiError
		if sel, e = s.parseSelect(c, t, v); e != nil {
			return e.reply()
		}
	}
	rows, tombs, e := s.changesSince(c, t)
	if e != nil {
		return e.reply()
	}
	ann := newAnnotations(c.prefer)
	values := make([]any, 0, len(rows)+len(tombs))
	for _, r := range rows {
		values = append(values, s.entityJSON(t, r, sel, ann, nil))
	}
	for _, tb := range tombs {
		values = append(values, obj(
			"@odata.context", s.APIBase()+"/$metadata#"+t.set+"/$deletedEntity",
			"id", tb.id,
			"reason", "deleted",
		))
	}
	body := obj(
		"@odata.context", s.contextURL(t.set, sel, nil, "/$delta"),
		"@odata.deltaLink", s.deltaLink(c, t, s.st.version),
		"value", values,
	)
	return jsonReply(http.StatusOK, body, "application/json; odata.metadata=minimal; odata.streaming=true")
}
