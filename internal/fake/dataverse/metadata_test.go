package dataverse

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// lbl is a Label as the metadata API takes it.
func lbl(text string) string {
	return `{"@odata.type":"Microsoft.Dynamics.CRM.Label","LocalizedLabels":[{"@odata.type":"Microsoft.Dynamics.CRM.LocalizedLabel","Label":"` + text + `","LanguageCode":1033}]}`
}

// activityTable is the body Parley's installer posts to create its
// custom activity (custom-activities, create-update-entity-definitions).
var activityTable = `{
 "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
 "SchemaName": "parley_WhatsAppMessage",
 "DisplayName": ` + lbl("WhatsApp Message") + `,
 "DisplayCollectionName": ` + lbl("WhatsApp Messages") + `,
 "Description": ` + lbl("A WhatsApp message sent or received through Parley") + `,
 "OwnershipType": "UserOwned",
 "IsActivity": true,
 "HasActivities": false,
 "HasNotes": true,
 "Attributes": [{
  "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
  "SchemaName": "Subject",
  "IsPrimaryName": true,
  "MaxLength": 400,
  "FormatName": {"Value": "Text"},
  "DisplayName": ` + lbl("Subject") + `
 }]
}`

// columns are the columns the installer adds to the activity.
var columns = []string{
	`{"@odata.type":"Microsoft.Dynamics.CRM.StringAttributeMetadata","SchemaName":"parley_MessageId","MaxLength":128,"FormatName":{"Value":"Text"},"DisplayName":` + lbl("Message ID") + `}`,
	`{"@odata.type":"Microsoft.Dynamics.CRM.StringAttributeMetadata","SchemaName":"parley_ConversationUrl","MaxLength":400,"FormatName":{"Value":"Url"},"DisplayName":` + lbl("Conversation") + `}`,
	`{"@odata.type":"Microsoft.Dynamics.CRM.StringAttributeMetadata","SchemaName":"parley_Phone","MaxLength":32,"FormatName":{"Value":"Phone"},"DisplayName":` + lbl("Phone") + `}`,
	`{"@odata.type":"Microsoft.Dynamics.CRM.MemoAttributeMetadata","SchemaName":"parley_Body","MaxLength":10000,"DisplayName":` + lbl("Body") + `}`,
	`{"@odata.type":"Microsoft.Dynamics.CRM.PicklistAttributeMetadata","SchemaName":"parley_Direction","DisplayName":` + lbl("Direction") + `,"OptionSet":{"@odata.type":"Microsoft.Dynamics.CRM.OptionSetMetadata","IsGlobal":false,"OptionSetType":"Picklist","Options":[{"Value":100000000,"Label":` + lbl("Inbound") + `},{"Value":100000001,"Label":` + lbl("Outbound") + `}]}}`,
	`{"@odata.type":"Microsoft.Dynamics.CRM.DateTimeAttributeMetadata","SchemaName":"parley_SentOn","Format":"DateAndTime","DisplayName":` + lbl("Sent on") + `}`,
}

const messageKey = `{"SchemaName":"parley_MessageIdKey","DisplayName":` + `{"@odata.type":"Microsoft.Dynamics.CRM.Label","LocalizedLabels":[{"@odata.type":"Microsoft.Dynamics.CRM.LocalizedLabel","Label":"Message ID","LanguageCode":1033}]}` + `,"KeyAttributes":["parley_messageid"]}`

const defSelect = "$select=LogicalName,EntitySetName,MetadataId,ChangeTrackingEnabled,IsActivity,PrimaryIdAttribute,PrimaryNameAttribute"

// TestInstallerExchanges runs the installer's exchanges in order: look
// the activity up (404), create it, add its columns and key, enable
// change tracking on lead, and upsert a message regarding a lead by its
// key once the key is Active.
func TestInstallerExchanges(t *testing.T) {
	s := New(t)
	const table = "EntityDefinitions(LogicalName='parley_whatsappmessage')"

	a := send(t, s, http.MethodGet, table+"?"+defSelect, "")
	a.wantStatus(t, "unknown table", http.StatusNotFound)
	if e := a.json(t)["error"].(map[string]any); !strings.Contains(e["message"].(string), "parley_whatsappmessage") {
		t.Errorf("404 body %s does not name the table", a.body)
	}

	a = send(t, s, http.MethodPost, "EntityDefinitions", activityTable)
	a.wantStatus(t, "create activity", http.StatusNoContent)
	info, ok := s.Table("parley_whatsappmessage")
	if !ok {
		t.Fatal("the activity table was not created")
	}
	if want := s.APIBase() + "/EntityDefinitions(" + info.MetadataID + ")"; a.header.Get("OData-EntityId") != want {
		t.Errorf("OData-EntityId %q, want %q", a.header.Get("OData-EntityId"), want)
	}
	if info.EntitySetName != "parley_whatsappmessages" || !info.IsActivity || info.PrimaryIDAttribute != "activityid" || info.PrimaryNameAttribute != "subject" || !info.IsCustom {
		t.Errorf("table %+v, want the activity parley_whatsappmessages keyed by activityid, named by subject", info)
	}
	for _, col := range []string{"subject", "description", "regardingobjectid", "ownerid", "statecode", "statuscode", "actualstart", "actualend"} {
		if !hasColumn(info, col) {
			t.Errorf("the activity lacks the inherited column %s", col)
		}
	}
	a = send(t, s, http.MethodPost, "EntityDefinitions", activityTable)
	a.wantStatus(t, "duplicate table", http.StatusBadRequest)

	a = send(t, s, http.MethodGet, table+"?"+defSelect, "")
	a.wantStatus(t, "table definition", http.StatusOK)
	def := a.json(t)
	for k, want := range map[string]any{"LogicalName": "parley_whatsappmessage", "EntitySetName": "parley_whatsappmessages", "MetadataId": info.MetadataID, "ChangeTrackingEnabled": false, "IsActivity": true, "PrimaryIdAttribute": "activityid", "PrimaryNameAttribute": "subject"} {
		if def[k] != want {
			t.Errorf("%s = %v, want %v", k, def[k], want)
		}
	}
	if got := jsonKeys(t, a.body); len(got) != 8 {
		t.Errorf("selected definition has keys %v, want @odata.context and the 7 selected", got)
	}

	for _, c := range columns {
		send(t, s, http.MethodPost, table+"/Attributes", c).wantStatus(t, "add column", http.StatusNoContent)
	}
	send(t, s, http.MethodPost, table+"/Attributes", columns[0]).wantStatus(t, "duplicate column", http.StatusBadRequest)
	a = send(t, s, http.MethodGet, table+"/Attributes?$select=LogicalName", "")
	a.wantStatus(t, "list columns", http.StatusOK)
	for _, want := range []string{`"parley_messageid"`, `"parley_direction"`, `"parley_senton"`, `"subject"`} {
		if !strings.Contains(string(a.body), `"LogicalName":`+want) {
			t.Errorf("the column list lacks %s: %s", want, a.body)
		}
	}
	info, _ = s.Table("parley_whatsappmessage")
	if c := columnInfo(info, "parley_conversationurl"); c.Format != "Url" || c.MaxLength != 400 || c.AttributeType != "String" {
		t.Errorf("parley_conversationurl %+v, want a String of 400 in Url format", c)
	}
	if c := columnInfo(info, "parley_direction"); c.Options[100000001] != "Outbound" {
		t.Errorf("parley_direction options %v, want 100000001 Outbound", c.Options)
	}

	send(t, s, http.MethodPost, table+"/Keys", messageKey).wantStatus(t, "add key", http.StatusNoContent)
	lead := s.AddRecord("lead", map[string]any{"firstname": "Ana", "lastname": "Lima"})
	upsert := `{"subject":"Olá","parley_direction":100000000,"regardingobjectid_lead_parley_whatsappmessage@odata.bind":"/leads(` + lead + `)"}`
	send(t, s, http.MethodPatch, "parley_whatsappmessages(parley_messageid='wamid.1')", upsert).wantStatus(t, "upsert before the key is Active", http.StatusBadRequest)
	keys := func() string {
		a := send(t, s, http.MethodGet, table+"/Keys?$select=LogicalName,KeyAttributes,EntityKeyIndexStatus", "")
		a.wantStatus(t, "keys", http.StatusOK)
		return regexp.MustCompile(`"EntityKeyIndexStatus":"(\w+)"`).FindStringSubmatch(string(a.body))[1]
	}
	if first, second := keys(), keys(); first != "Pending" || second != "Active" {
		t.Errorf("EntityKeyIndexStatus %s then %s, want Pending then Active", first, second)
	}
	a = send(t, s, http.MethodPatch, "parley_whatsappmessages(parley_messageid='wamid.1')", upsert)
	a.wantStatus(t, "upsert by key", http.StatusNoContent)
	msgs := s.Records("parley_whatsappmessage")
	if len(msgs) != 1 || msgs[0].Fields["regardingobjectid"] != (Ref{Table: "lead", ID: lead}) || msgs[0].Fields["parley_messageid"] != "wamid.1" {
		t.Fatalf("messages %+v, want one regarding the lead with the key's value", msgs)
	}
	a = send(t, s, http.MethodGet, "parley_whatsappmessages("+msgs[0].ID+")?$select=parley_direction", "", `Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"`)
	if got := a.json(t)["parley_direction@OData.Community.Display.V1.FormattedValue"]; got != "Inbound" {
		t.Errorf("formatted parley_direction %v, want Inbound", got)
	}

	a = send(t, s, http.MethodGet, "EntityDefinitions(LogicalName='lead')", "")
	a.wantStatus(t, "full lead definition", http.StatusOK)
	full := a.json(t)
	for _, k := range []string{"@odata.context", "MetadataId", "LogicalName", "SchemaName", "EntitySetName", "DisplayName", "ChangeTrackingEnabled", "IsActivity", "HasActivities", "HasNotes", "OwnershipType", "PrimaryIdAttribute", "PrimaryNameAttribute"} {
		if _, ok := full[k]; !ok {
			t.Errorf("the full definition lacks %s", k)
		}
	}
	full["ChangeTrackingEnabled"] = true
	send(t, s, http.MethodPut, "EntityDefinitions(LogicalName='lead')", mustJSON(t, full), "MSCRM.MergeLabels: true").wantStatus(t, "enable change tracking", http.StatusNoContent)
	if info, _ := s.Table("lead"); !info.ChangeTrackingEnabled {
		t.Error("lead is not change-tracked after the PUT")
	}
	a = send(t, s, http.MethodGet, "leads?$select=fullname", "", "Prefer: odata.track-changes")
	a.wantStatus(t, "tracked query on lead", http.StatusOK)
	if _, ok := a.json(t)["@odata.deltaLink"]; !ok {
		t.Errorf("tracked query answered %s, want an @odata.deltaLink", a.body)
	}

	a = send(t, s, http.MethodGet, "EntityDefinitions?$select=LogicalName,MetadataId&$filter=LogicalName%20eq%20'parley_whatsappmessage'", "")
	a.wantStatus(t, "filtered definitions", http.StatusOK)
	if v := a.json(t)["value"].([]any); len(v) != 1 || v[0].(map[string]any)["MetadataId"] != info.MetadataID {
		t.Errorf("filtered definitions %s, want the activity alone", a.body)
	}
}

// TestMetadataRejections checks the requests the documentation rules
// out: a PUT without MSCRM.MergeLabels, an activity whose primary column
// is not Subject, a label without LanguageCode.
func TestMetadataRejections(t *testing.T) {
	cases := []struct {
		name, method, target, body string
		headers                    []string
		status                     int
		report                     string
	}{
		{"PUT without MergeLabels", http.MethodPut, "EntityDefinitions(LogicalName='contact')", "", nil, http.StatusNoContent, "MSCRM.MergeLabels"},
		{"activity primary not Subject", http.MethodPost, "EntityDefinitions", strings.Replace(activityTable, `"SchemaName": "Subject"`, `"SchemaName": "parley_Name"`, 1), nil, http.StatusBadRequest, "Subject"},
		{"label without LanguageCode", http.MethodPost, "EntityDefinitions", strings.Replace(activityTable, `"Label":"WhatsApp Message","LanguageCode":1033`, `"Label":"WhatsApp Message"`, 1), nil, http.StatusBadRequest, "LanguageCode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := New(rec)
			body := tc.body
			if body == "" {
				a := send(t, s, http.MethodGet, tc.target, "")
				m := a.json(t)
				m["ChangeTrackingEnabled"] = true
				body = mustJSON(t, m)
			}
			send(t, s, tc.method, tc.target, body, tc.headers...).wantStatus(t, tc.name, tc.status)
			rec.wantReport(t, tc.report)
		})
	}
}

func hasColumn(info TableInfo, name string) bool { return columnInfo(info, name).LogicalName != "" }

func columnInfo(info TableInfo, name string) ColumnInfo {
	for _, c := range info.Columns {
		if c.LogicalName == name {
			return c
		}
	}
	return ColumnInfo{}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
