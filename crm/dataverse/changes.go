package dataverse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrDeltaExpired means a delta link can no longer be followed: its token
// outlived the environment's retention (7 days by default) or is not
// valid. The caller starts over with a full sync (Changes with no link).
var ErrDeltaExpired = errors.New("dataverse: the change-tracking token expired; sync again from the start")

// Changes is what changed in a table since a delta link.
type Changes struct {
	Rows      []Row    // rows created or updated, with their ID column
	Deleted   []string // IDs of rows deleted
	DeltaLink string   // where to ask next time
}

// Changes reads a table's changes (use-change-tracking-synchronize-data-
// external-systems, change-tracking-deltalink.exchange.http). With no
// deltaLink it starts tracking: every row is returned, as changed, with
// the first link. With one it returns what changed since that link was
// handed out. The table must have change tracking on (Install turns it
// on). An expired token is ErrDeltaExpired.
func (c *Client) Changes(ctx context.Context, entitySet string, columns []string, deltaLink string) (Changes, error) {
	h := http.Header{"Prefer": {preferFormatted}}
	u := deltaLink
	if u == "" {
		// Tracking allows $select only: no $filter, $orderby or $top.
		u = c.api + "/" + pathEscape(entitySet)
		if len(columns) > 0 {
			u += "?$select=" + queryEscape(strings.Join(columns, ","))
		}
		h.Add("Prefer", "odata.track-changes")
	}
	var ch Changes
	for u != "" {
		p, err := c.page(ctx, u, h)
		if err != nil {
			var e *Error
			if deltaLink != "" && errors.As(err, &e) && deltaExpired(e) {
				return Changes{}, fmt.Errorf("dataverse: changes of %s: %w (%w)", entitySet, ErrDeltaExpired, e)
			}
			return Changes{}, fmt.Errorf("dataverse: changes of %s: %w", entitySet, err)
		}
		for _, r := range p.Value {
			if oc, _ := r["@odata.context"].(string); strings.HasSuffix(oc, "/$deletedEntity") {
				ch.Deleted = append(ch.Deleted, r.String("id"))
				continue
			}
			ch.Rows = append(ch.Rows, r)
		}
		u = p.NextLink
		if p.DeltaLink != "" {
			ch.DeltaLink = p.DeltaLink
		}
	}
	if ch.DeltaLink == "" {
		return Changes{}, fmt.Errorf("dataverse: changes of %s: the last page has no @odata.deltaLink; is change tracking on?", entitySet)
	}
	return ch, nil
}

// deltaExpired tells an expired or refused delta token:
// ExpiredVersionStamp (0x80044352), or a 400 about the token itself.
func deltaExpired(e *Error) bool {
	if e.Code == "0x80044352" {
		return true
	}
	m := strings.ToLower(e.Message)
	return e.Status == http.StatusBadRequest && (strings.Contains(m, "deltatoken") || strings.Contains(m, "version stamp"))
}
