package parley

import (
	"regexp"
	"strings"
)

// Record is a CRM record a contact is linked to: a Dynamics lead, say, or
// a row of any CRM that calls the API. The panel opens a contact's
// conversation from the record an agent is looking at.
type Record struct {
	Table string `json:"table"` // the CRM's name for the table, e.g. "lead"
	ID    string `json:"id"`
}

// String is the record as the panel's record= parameter writes it.
func (r Record) String() string { return r.Table + ":" + r.ID }

var (
	recordTable = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	recordID    = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	guid        = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)
)

// ParseRecord reads "table:id". Dynamics hands out record IDs as
// "{GUID}" in upper case from a form and as a bare lower-case GUID from the
// Web API; both become the lower-case GUID, so one record has one key.
func ParseRecord(s string) (Record, error) {
	table, id, ok := strings.Cut(strings.TrimSpace(s), ":")
	id = strings.TrimSuffix(strings.TrimPrefix(id, "{"), "}")
	if guid.MatchString(id) {
		id = strings.ToLower(id)
	}
	table = strings.ToLower(table)
	if !ok || !recordTable.MatchString(table) || !recordID.MatchString(id) {
		return Record{}, Errorf(EINVALID, "A record is written table:id, such as lead:3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21 (got %q).", s)
	}
	return Record{Table: table, ID: id}, nil
}
