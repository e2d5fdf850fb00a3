package parley

import (
	"strings"
	"testing"
)

func TestDataverseConfig(t *testing.T) {
	ok := DataverseConfig{EnvironmentURL: "https://contoso.crm4.dynamics.com/", EntraTenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
		ClientID: "535fb089-9ff3-47b6-9bfb-4f1264799865", ClientSecret: "s"}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	if got := ok.Token(); got != "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" {
		t.Errorf("token URL %s", got)
	}
	if ok.API() != "https://contoso.crm4.dynamics.com/api/data/v9.2" || ok.Scope() != "https://contoso.crm4.dynamics.com/.default" {
		t.Errorf("API %s, scope %s", ok.API(), ok.Scope())
	}
	if got := ok.DeepLink(Record{Table: "lead", ID: "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21"}); got !=
		"https://contoso.crm4.dynamics.com/main.aspx?etn=lead&id=3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21&pagetype=entityrecord" {
		t.Errorf("deep link %s", got)
	}
	for name, bad := range map[string]func(c *DataverseConfig){
		"http environment":   func(c *DataverseConfig) { c.EnvironmentURL = "http://contoso.crm.dynamics.com" },
		"no environment":     func(c *DataverseConfig) { c.EnvironmentURL = "" },
		"client ID not GUID": func(c *DataverseConfig) { c.ClientID = "parley" },
		"tenant not GUID":    func(c *DataverseConfig) { c.EntraTenantID = "contoso" },
		"no secret":          func(c *DataverseConfig) { c.ClientSecret = "" },
		"http token URL":     func(c *DataverseConfig) { c.TokenURL = "http://evil.example/token" },
	} {
		c := ok
		bad(&c)
		if err := c.Check(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	local := ok
	local.EnvironmentURL, local.TokenURL = "http://127.0.0.1:8080", "http://127.0.0.1:8080/t/oauth2/v2.0/token"
	if err := local.Check(); err != nil {
		t.Errorf("a local fake: %v", err)
	}
}

func TestCheckTables(t *testing.T) {
	got, err := CheckTables([]CRMTable{{Name: "new_student", PhoneColumns: []string{"new_mobile"}}})
	if err != nil || got[0].EntitySet != "new_students" || got[0].IDColumn != "new_studentid" {
		t.Fatalf("CheckTables = %+v, %v", got, err)
	}
	for _, bad := range [][]CRMTable{
		nil,
		{{Name: "Lead", PhoneColumns: []string{"mobilephone"}}},
		{{Name: "lead"}},
		{{Name: "lead", PhoneColumns: []string{"mobile phone"}}},
		{{Name: "lead", PhoneColumns: []string{"x"}}, {Name: "lead", PhoneColumns: []string{"x"}}},
	} {
		if _, err := CheckTables(bad); ErrorCode(err) != EINVALID {
			t.Errorf("CheckTables(%+v) = %v, want invalid", bad, err)
		}
	}
	if d := DefaultCRMTables(); d[0].Name != "contact" || !strings.Contains(strings.Join(d[1].PhoneColumns, ","), "mobilephone") {
		t.Errorf("defaults %+v", d)
	}
}
