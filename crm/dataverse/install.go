package dataverse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/parleyhq/parley"
)

// Parley's table: a custom activity, so that every WhatsApp message shows
// in the timeline of the record it is regarding, beside emails and calls
// (custom-activities).
const (
	MessageTable     = "parley_whatsappmessage"
	MessageEntitySet = "parley_whatsappmessages"
	// MessageKey is the alternate key on ColMessageID that makes logging a
	// message an idempotent upsert.
	MessageKey = "parley_messageidkey"
)

// Columns of the message table, besides those every activity has
// (subject, description, regardingobjectid, actualstart…).
const (
	ColMessageID    = "parley_messageid"    // Parley's message ID
	ColDirection    = "parley_direction"    // DirectionInbound or DirectionOutbound
	ColStatus       = "parley_status"       // Status… values
	ColBody         = "parley_body"         // the text, or a media caption
	ColMediaLink    = "parley_medialink"    // where to see the media in Parley
	ColFrom         = "parley_from"         // E.164 phone numbers
	ColTo           = "parley_to"           //
	ColChannel      = "parley_channel"      // the channel's name
	ColConversation = "parley_conversation" // Parley's conversation ID
	ColVendorError  = "parley_vendorerror"  // why WhatsApp failed the message
	ColSentAt       = "parley_sentat"       // when it was sent or received
)

// Values of ColDirection.
const (
	DirectionInbound  = 100000000
	DirectionOutbound = 100000001
)

// Values of ColStatus.
const (
	StatusPending   = 100000000
	StatusSent      = 100000001
	StatusDelivered = 100000002
	StatusRead      = 100000003
	StatusFailed    = 100000004
	StatusReceived  = 100000005
)

// DirectionOption is the ColDirection value of a message's direction.
func DirectionOption(d parley.Direction) (int, bool) {
	switch d {
	case parley.Inbound:
		return DirectionInbound, true
	case parley.Outbound:
		return DirectionOutbound, true
	}
	return 0, false
}

// StatusOption is the ColStatus value of a message's status. Parley's
// finer steps fold into the CRM's: queued and sending are pending, played
// (a voice note) is read. A deleted message has no status in the CRM.
func StatusOption(s parley.Status) (int, bool) {
	switch s {
	case "pending", parley.StatusQueued, parley.StatusSending:
		return StatusPending, true
	case parley.StatusSent:
		return StatusSent, true
	case parley.StatusDelivered:
		return StatusDelivered, true
	case parley.StatusRead, parley.StatusPlayed:
		return StatusRead, true
	case parley.StatusFailed:
		return StatusFailed, true
	case parley.StatusReceived:
		return StatusReceived, true
	}
	return 0, false
}

// Column is a column Install creates.
type Column struct {
	Name      string // logical name
	Schema    string // SchemaName
	Label     string
	Type      string // String, Memo, Picklist or DateTime
	MaxLength int    // of String and Memo
	Format    string // of String: Text, Url or Phone
	Choices   []Choice
}

// Choice is an option of a Picklist column.
type Choice struct {
	Value int
	Label string
}

// MessageColumns are the columns of the message table, in the order
// Install adds them.
var MessageColumns = []Column{
	{Name: ColMessageID, Schema: "parley_MessageId", Label: "Message ID", Type: "String", MaxLength: 64, Format: "Text"},
	{Name: ColDirection, Schema: "parley_Direction", Label: "Direction", Type: "Picklist", Choices: []Choice{
		{DirectionInbound, "Inbound"}, {DirectionOutbound, "Outbound"}}},
	{Name: ColStatus, Schema: "parley_Status", Label: "WhatsApp status", Type: "Picklist", Choices: []Choice{
		{StatusPending, "Pending"}, {StatusSent, "Sent"}, {StatusDelivered, "Delivered"},
		{StatusRead, "Read"}, {StatusFailed, "Failed"}, {StatusReceived, "Received"}}},
	{Name: ColBody, Schema: "parley_Body", Label: "Message", Type: "Memo", MaxLength: 4000},
	{Name: ColMediaLink, Schema: "parley_MediaLink", Label: "Media", Type: "String", MaxLength: 1000, Format: "Url"},
	{Name: ColFrom, Schema: "parley_From", Label: "From", Type: "String", MaxLength: 32, Format: "Phone"},
	{Name: ColTo, Schema: "parley_To", Label: "To", Type: "String", MaxLength: 32, Format: "Phone"},
	{Name: ColChannel, Schema: "parley_Channel", Label: "Channel", Type: "String", MaxLength: 100, Format: "Text"},
	{Name: ColConversation, Schema: "parley_Conversation", Label: "Conversation", Type: "String", MaxLength: 64, Format: "Text"},
	{Name: ColVendorError, Schema: "parley_VendorError", Label: "WhatsApp error", Type: "String", MaxLength: 1000, Format: "Text"},
	{Name: ColSentAt, Schema: "parley_SentAt", Label: "Sent at", Type: "DateTime"},
}

// InstallOptions says what Install prepares.
type InstallOptions struct {
	// Tables get change tracking, so that Parley hears of their changes.
	Tables []parley.CRMTable
}

// Report says what Install did, a line each, for the CLI to print.
type Report struct {
	Lines   []string
	Changed bool
	// KeyStatus is the message key's index status: Active once Dataverse
	// has built it; Pending or InProgress before, when upserts by it fail;
	// Failed if existing rows break it.
	KeyStatus string
}

func (r Report) String() string { return strings.Join(r.Lines, "\n") }

func (r *Report) did(format string, args ...any) {
	r.Lines = append(r.Lines, fmt.Sprintf(format, args...))
	r.Changed = true
}

// keyPolls and keyPoll bound how long Install waits for the message key's
// index, which Dataverse builds in the background.
const (
	keyPolls = 5
	keyPoll  = 3 * time.Second
)

// Install creates Parley's message table, its columns and its alternate
// key, and turns change tracking on for the tables, using the metadata API
// only (create-update-entity-definitions-using-web-api). It changes only
// what is missing, so running it again is safe and changes nothing; the
// report says what it did, even when it fails halfway.
func (c *Client) Install(ctx context.Context, opts InstallOptions) (Report, error) {
	var rep Report
	if err := c.ensureTable(ctx, &rep); err != nil {
		return rep, fmt.Errorf("dataverse: install: %w", err)
	}
	if err := c.ensureColumns(ctx, &rep); err != nil {
		return rep, fmt.Errorf("dataverse: install: %w", err)
	}
	if err := c.ensureKey(ctx, &rep); err != nil {
		return rep, fmt.Errorf("dataverse: install: %w", err)
	}
	// The message table is published whenever anything changed, so that
	// a run that failed before publishing is completed by the next one.
	publish := []string{MessageTable}
	for _, t := range opts.Tables {
		changed, err := c.ensureTracking(ctx, t.Name, &rep)
		if err != nil {
			return rep, fmt.Errorf("dataverse: install: %w", err)
		}
		if changed {
			publish = append(publish, t.Name)
		}
	}
	if rep.Changed {
		if err := c.publish(ctx, publish); err != nil {
			return rep, fmt.Errorf("dataverse: install: %w", err)
		}
		rep.did("published %s", strings.Join(publish, ", "))
	}
	if !rep.Changed {
		rep.Lines = append([]string{"already installed: nothing to change"}, rep.Lines...)
	}
	return rep, nil
}

func (c *Client) definition(name string) string {
	return c.api + "/" + pathEscape("EntityDefinitions("+Key("LogicalName", name)+")")
}

// ensureTable creates the message table as a custom activity, whose
// primary column must be Subject (custom-activities).
func (c *Client) ensureTable(ctx context.Context, rep *Report) error {
	u := c.definition(MessageTable) + "?$select=LogicalName,EntitySetName,IsActivity"
	var def struct {
		EntitySetName string
		IsActivity    bool
	}
	_, err := c.do(ctx, &request{method: http.MethodGet, url: u, idempotent: true}, &def)
	switch {
	case err == nil && !def.IsActivity:
		return fmt.Errorf("the table %s exists but is not an activity; delete it and install again", MessageTable)
	case err == nil && def.EntitySetName != MessageEntitySet:
		return fmt.Errorf("the table %s has the entity set %q, not %s", MessageTable, def.EntitySetName, MessageEntitySet)
	case err == nil:
		return nil
	case !isNotFound(err):
		return fmt.Errorf("reading the table %s: %w", MessageTable, err)
	}
	body := map[string]any{
		"@odata.type":           "Microsoft.Dynamics.CRM.EntityMetadata",
		"SchemaName":            "parley_WhatsAppMessage",
		"DisplayName":           label("WhatsApp message"),
		"DisplayCollectionName": label("WhatsApp messages"),
		"Description":           label("A WhatsApp message sent or received through Parley."),
		"OwnershipType":         "UserOwned",
		"IsActivity":            true,
		"HasActivities":         false,
		"HasNotes":              true,
		"IsAvailableOffline":    true,
		"Attributes": []any{map[string]any{
			"@odata.type":       "Microsoft.Dynamics.CRM.StringAttributeMetadata",
			"AttributeType":     "String",
			"AttributeTypeName": map[string]any{"Value": "StringType"},
			"SchemaName":        "Subject",
			"IsPrimaryName":     true,
			"MaxLength":         200,
			"FormatName":        map[string]any{"Value": "Text"},
			"RequiredLevel":     requiredNone,
			"DisplayName":       label("Subject"),
		}},
	}
	if err := c.postMetadata(ctx, c.api+"/EntityDefinitions", body); err != nil {
		return fmt.Errorf("creating the table %s: %w", MessageTable, err)
	}
	rep.did("created table %s", MessageTable)
	return nil
}

// ensureColumns adds the message columns the table lacks.
func (c *Client) ensureColumns(ctx context.Context, rep *Report) error {
	var have struct {
		Value []struct{ LogicalName string }
	}
	u := c.definition(MessageTable) + "/Attributes?$select=LogicalName"
	if _, err := c.do(ctx, &request{method: http.MethodGet, url: u, idempotent: true}, &have); err != nil {
		return fmt.Errorf("listing the columns of %s: %w", MessageTable, err)
	}
	exists := map[string]bool{}
	for _, a := range have.Value {
		exists[a.LogicalName] = true
	}
	for _, col := range MessageColumns {
		if exists[col.Name] {
			continue
		}
		if err := c.postMetadata(ctx, c.definition(MessageTable)+"/Attributes", col.metadata()); err != nil {
			return fmt.Errorf("adding the column %s: %w", col.Name, err)
		}
		rep.did("added column %s", col.Name)
	}
	return nil
}

// metadata is the column's attribute definition, in the shapes of
// create-update-entity-definitions-using-web-api's examples.
func (col Column) metadata() map[string]any {
	m := map[string]any{
		"@odata.type":       "Microsoft.Dynamics.CRM." + col.Type + "AttributeMetadata",
		"AttributeType":     col.Type,
		"AttributeTypeName": map[string]any{"Value": col.Type + "Type"},
		"SchemaName":        col.Schema,
		"DisplayName":       label(col.Label),
		"RequiredLevel":     requiredNone,
	}
	switch col.Type {
	case "String":
		m["MaxLength"] = col.MaxLength
		m["FormatName"] = map[string]any{"Value": col.Format}
	case "Memo":
		m["MaxLength"] = col.MaxLength
		m["Format"] = "TextArea"
	case "DateTime":
		m["Format"] = "DateAndTime"
	case "Picklist":
		var opts []any
		for _, ch := range col.Choices {
			opts = append(opts, map[string]any{"Value": ch.Value, "Label": label(ch.Label)})
		}
		m["OptionSet"] = map[string]any{
			"@odata.type":   "Microsoft.Dynamics.CRM.OptionSetMetadata",
			"IsGlobal":      false,
			"OptionSetType": "Picklist",
			"Options":       opts,
		}
	}
	return m
}

// ensureKey creates the alternate key on the message ID, then waits a
// little for Dataverse to build its index.
func (c *Client) ensureKey(ctx context.Context, rep *Report) error {
	keys := c.definition(MessageTable) + "/Keys"
	status, err := c.keyStatus(ctx, keys)
	if err != nil {
		return err
	}
	if status == "" {
		body := map[string]any{
			"@odata.type":   "Microsoft.Dynamics.CRM.EntityKeyMetadata",
			"SchemaName":    "parley_MessageIdKey",
			"DisplayName":   label("Message ID"),
			"KeyAttributes": []string{ColMessageID},
		}
		if err := c.postMetadata(ctx, keys, body); err != nil {
			return fmt.Errorf("creating the alternate key %s: %w", MessageKey, err)
		}
		for i := 0; ; i++ {
			if status, err = c.keyStatus(ctx, keys); err != nil {
				return err
			}
			if status == "Active" || status == "Failed" || i == keyPolls {
				break
			}
			if err := c.sleep(ctx, keyPoll); err != nil {
				return err
			}
		}
		rep.did("created alternate key %s (%s)", MessageKey, status)
	} else if status != "Active" {
		rep.Lines = append(rep.Lines, fmt.Sprintf("alternate key %s is %s", MessageKey, status))
	}
	rep.KeyStatus = status
	if status == "Failed" {
		return fmt.Errorf("Dataverse failed to build the alternate key %s: two messages share a %s; delete the duplicates and reactivate the key", MessageKey, ColMessageID)
	}
	return nil
}

// keyStatus is the message key's EntityKeyIndexStatus, "" when there is
// no such key.
func (c *Client) keyStatus(ctx context.Context, keys string) (string, error) {
	var have struct {
		Value []struct {
			LogicalName          string
			EntityKeyIndexStatus string
		}
	}
	// Without $select: a table has few keys, and the fake refuses a
	// $select on an empty list of them.
	if _, err := c.do(ctx, &request{method: http.MethodGet, url: keys, idempotent: true}, &have); err != nil {
		return "", fmt.Errorf("listing the alternate keys of %s: %w", MessageTable, err)
	}
	for _, k := range have.Value {
		if k.LogicalName == MessageKey {
			return k.EntityKeyIndexStatus, nil
		}
	}
	return "", nil
}

// ensureTracking turns change tracking on for a table. Table definitions
// cannot be patched: the whole definition is read and PUT back, with
// MSCRM.MergeLabels so that labels in other languages survive.
func (c *Client) ensureTracking(ctx context.Context, table string, rep *Report) (bool, error) {
	resp, err := c.do(ctx, &request{method: http.MethodGet, url: c.definition(table), idempotent: true}, nil)
	if err != nil {
		return false, fmt.Errorf("reading the table %s: %w", table, err)
	}
	var def map[string]any
	if err := decodeJSON(resp.body, &def); err != nil {
		return false, fmt.Errorf("reading the table %s: %w", table, err)
	}
	if on, _ := def["ChangeTrackingEnabled"].(bool); on {
		return false, nil
	}
	id, _ := def["MetadataId"].(string)
	if id == "" {
		return false, fmt.Errorf("the definition of %s has no MetadataId", table)
	}
	for k := range def {
		if strings.HasPrefix(k, "@odata.") && k != "@odata.type" {
			delete(def, k) // annotations of the answer, not of the definition
		}
	}
	def["ChangeTrackingEnabled"] = true
	b, err := marshal(def)
	if err != nil {
		return false, err
	}
	r := &request{method: http.MethodPut, url: c.api + "/EntityDefinitions(" + pathEscape(id) + ")", body: b,
		header: http.Header{"MSCRM.MergeLabels": {"true"}}, idempotent: true}
	if _, err := c.do(ctx, r, nil); err != nil {
		return false, fmt.Errorf("turning change tracking on for %s: %w", table, err)
	}
	rep.did("enabled change tracking on %s", table)
	return true, nil
}

// publish applies the changed definitions to the apps (PublishXml).
func (c *Client) publish(ctx context.Context, tables []string) error {
	var x strings.Builder
	x.WriteString("<importexportxml><entities>")
	for _, t := range tables {
		x.WriteString("<entity>" + t + "</entity>")
	}
	x.WriteString("</entities></importexportxml>")
	b, err := marshal(map[string]string{"ParameterXml": x.String()})
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, &request{method: http.MethodPost, url: c.api + "/PublishXml", body: b, idempotent: true}, nil); err != nil {
		return fmt.Errorf("publishing %s: %w", strings.Join(tables, ", "), err)
	}
	return nil
}

func (c *Client) postMetadata(ctx context.Context, u string, body map[string]any) error {
	b, err := marshal(body)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, &request{method: http.MethodPost, url: u, body: b}, nil)
	return err
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// label is a Label in English (LCID 1033).
func label(s string) map[string]any {
	return map[string]any{
		"@odata.type": "Microsoft.Dynamics.CRM.Label",
		"LocalizedLabels": []any{map[string]any{
			"@odata.type":  "Microsoft.Dynamics.CRM.LocalizedLabel",
			"Label":        s,
			"LanguageCode": 1033,
		}},
	}
}

var requiredNone = map[string]any{
	"Value":                      "None",
	"CanBeChanged":               true,
	"ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
}
