package parley

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Connector types.
const (
	ConnectorDataverse = "dataverse" // Dynamics 365 and every model-driven app on Dataverse
	ConnectorWebhook   = "webhook"   // any CRM, through signed webhooks both ways (crm/webhook)
)

// A Connector links a tenant to its CRM: where to find the records of a
// phone number, where to log every message, and which CRM changes to hear
// of. A tenant has at most one connector of a type.
type Connector struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Type     string `json:"type"`
	Name     string `json:"name,omitempty"`

	// Tables are searched for a customer's phone, in order of preference:
	// when several records match, the first table's is the primary one.
	Tables []CRMTable `json:"tables"`
	// CreateLeads creates a lead for an inbound number no record has.
	CreateLeads bool `json:"create_leads"`
	// LanguageColumn names a record column holding the customer's
	// language (e.g. "parley_language"); empty uses the contact's.
	LanguageColumn string `json:"language_column,omitempty"`
	// Languages is the tenant's fallback chain for template languages,
	// e.g. pt_BR, es, en_US.
	Languages []string `json:"language_fallback,omitempty"`

	Health    ChannelHealth `json:"health"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`

	// Settings of the type. They are encrypted at rest as a whole and
	// never rendered to API callers.
	Dataverse *DataverseConfig  `json:"-"`
	Webhook   *WebhookCRMConfig `json:"-"`
}

// DataverseConfig is how Parley reaches one Dataverse environment: an Entra
// app registration with a client secret, given an application user in the
// environment.
type DataverseConfig struct {
	// EnvironmentURL is the organisation's address, such as
	// https://contoso.crm4.dynamics.com.
	EnvironmentURL string `json:"environment_url"`
	EntraTenantID  string `json:"entra_tenant_id"`
	ClientID       string `json:"client_id"`
	ClientSecret   string `json:"client_secret"`
	// TokenURL and APIBase default to Entra's and the environment's; tests
	// point them at fakes.
	TokenURL string `json:"token_url,omitempty"`
	APIBase  string `json:"api_base,omitempty"`
	// WebhookKey authenticates Dataverse's service-endpoint webhooks to
	// /webhooks/dataverse/{connector}.
	WebhookKey string `json:"webhook_key,omitempty"`
}

// Token is where client credentials are exchanged for a token.
func (c *DataverseConfig) Token() string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	return "https://login.microsoftonline.com/" + url.PathEscape(c.EntraTenantID) + "/oauth2/v2.0/token"
}

// API is the base of the environment's Web API.
func (c *DataverseConfig) API() string {
	if c.APIBase != "" {
		return strings.TrimSuffix(c.APIBase, "/")
	}
	return strings.TrimSuffix(c.EnvironmentURL, "/") + "/api/data/v9.2"
}

// Scope is what the token is asked for: the environment's default scope.
func (c *DataverseConfig) Scope() string {
	return strings.TrimSuffix(c.EnvironmentURL, "/") + "/.default"
}

// Check reports the first missing or malformed setting.
func (c *DataverseConfig) Check() error {
	u, err := url.Parse(c.EnvironmentURL)
	switch {
	case c.EnvironmentURL == "" || err != nil || u.Host == "" || (u.Scheme != "https" && !isLoopback(u.Hostname())):
		return Errorf(EINVALID, "environment_url must be the environment's https address, such as https://contoso.crm4.dynamics.com.")
	case !guidLike.MatchString(c.EntraTenantID) && !strings.Contains(c.EntraTenantID, "."):
		return Errorf(EINVALID, "entra_tenant_id must be the directory (tenant) ID of the app registration, a GUID, or its domain.")
	case !guidLike.MatchString(c.ClientID):
		return Errorf(EINVALID, "client_id must be the app registration's application (client) ID, a GUID.")
	case c.ClientSecret == "":
		return Errorf(EINVALID, "client_secret is required: a secret of the app registration.")
	}
	for _, s := range []string{c.TokenURL, c.APIBase} {
		if s == "" {
			continue
		}
		if u, err := url.Parse(s); err != nil || u.Host == "" || (u.Scheme != "https" && !isLoopback(u.Hostname())) {
			return Errorf(EINVALID, "%q is not an https address.", s)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

var guidLike = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// CRMTable is a CRM table Parley looks phones up in.
type CRMTable struct {
	// Name is the table's logical name (lead); EntitySet its Web API
	// collection (leads); IDColumn its primary key (leadid).
	Name      string `json:"name"`
	EntitySet string `json:"entity_set"`
	IDColumn  string `json:"id_column"`
	// NameColumn is shown as the record's name (fullname).
	NameColumn string `json:"name_column"`
	// PhoneColumns hold phone numbers, as free text.
	PhoneColumns []string `json:"phone_columns"`
	// WatchColumns are the columns whose changes are written in the
	// thread of the linked contacts and published as crm.record.changed
	// events (e.g. statuscode: "Lead status: Qualified").
	WatchColumns []string `json:"watch_columns,omitempty"`
}

// Columns are the columns Parley reads of the table's records: the ID,
// the name, the phones and the watched columns, each once.
func (t CRMTable) Columns() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append(append([]string{t.IDColumn, t.NameColumn}, t.PhoneColumns...), t.WatchColumns...) {
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// DefaultCRMTables are Dynamics' own tables with phones, contact first: a
// contact is the person, a lead may become one, an account is a company.
func DefaultCRMTables() []CRMTable {
	return []CRMTable{
		{Name: "contact", EntitySet: "contacts", IDColumn: "contactid", NameColumn: "fullname", PhoneColumns: []string{"mobilephone", "telephone1"},
			WatchColumns: []string{"statecode", "_ownerid_value"}},
		{Name: "lead", EntitySet: "leads", IDColumn: "leadid", NameColumn: "fullname", PhoneColumns: []string{"mobilephone", "telephone1"},
			WatchColumns: []string{"statuscode", "_ownerid_value"}},
		{Name: "account", EntitySet: "accounts", IDColumn: "accountid", NameColumn: "name", PhoneColumns: []string{"telephone1"},
			WatchColumns: []string{"statecode", "_ownerid_value"}},
	}
}

var column = regexp.MustCompile(`^_?[a-z][a-z0-9_]{0,99}$`)

// CheckTables reports the first malformed table. An entity set, ID column
// and name column left empty are derived from the logical name the way
// Dataverse names its own (lead → leads, leadid, fullname is not derived).
func CheckTables(ts []CRMTable) ([]CRMTable, error) {
	if len(ts) == 0 {
		return nil, Errorf(EINVALID, "List at least one table to look phones up in.")
	}
	out := make([]CRMTable, len(ts))
	seen := map[string]bool{}
	for i, t := range ts {
		if !recordTable.MatchString(t.Name) {
			return nil, Errorf(EINVALID, "%q is not a table's logical name (lowercase, such as lead or new_student).", t.Name)
		}
		if seen[t.Name] {
			return nil, Errorf(EINVALID, "The table %s is listed twice.", t.Name)
		}
		seen[t.Name] = true
		if t.EntitySet == "" {
			t.EntitySet = t.Name + "s"
		}
		if t.IDColumn == "" {
			t.IDColumn = t.Name + "id"
		}
		if len(t.PhoneColumns) == 0 {
			return nil, Errorf(EINVALID, "The table %s needs at least one phone column.", t.Name)
		}
		for _, c := range append(append([]string{t.EntitySet, t.IDColumn, t.NameColumn}, t.PhoneColumns...), t.WatchColumns...) {
			if c != "" && !column.MatchString(c) {
				return nil, Errorf(EINVALID, "%q is not a column or entity set name.", c)
			}
		}
		out[i] = t
	}
	return out, nil
}

// Table returns the connector's table of that logical name.
func (c *Connector) Table(name string) (CRMTable, bool) {
	for _, t := range c.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return CRMTable{}, false
}

// RecordLink is a contact's link to a CRM record, as the console shows it.
type RecordLink struct {
	Record
	ConnectorID string `json:"connector_id,omitempty"`
	Name        string `json:"name,omitempty"` // the record's name in the CRM, when known
	Primary     bool   `json:"primary,omitempty"`
}

// DeepLink is the record's address in Dynamics' Unified Interface.
func (c *DataverseConfig) DeepLink(r Record) string {
	return fmt.Sprintf("%s/main.aspx?etn=%s&id=%s&pagetype=entityrecord", strings.TrimSuffix(c.EnvironmentURL, "/"),
		url.QueryEscape(r.Table), url.QueryEscape(r.ID))
}
