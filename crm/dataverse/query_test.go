package dataverse_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/crm/dataverse"
)

func TestQueryFollowsNextLinks(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 5 {
		e.fake.AddRecord("contact", map[string]any{"lastname": fmt.Sprint("C", i), "mobilephone": fmt.Sprintf("+55 11 9876-%04d", 4321+i%2)})
	}
	rows, err := e.client.Query(context.Background(), "contacts", dataverse.Query{
		Select:   []string{"fullname", "mobilephone"},
		Filter:   "endswith(mobilephone,'4321') or endswith(mobilephone,'4322')",
		PageSize: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5", len(rows))
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.String("contactid")] = true
	}
	if len(seen) != 5 {
		t.Errorf("%d distinct contacts over the pages, want 5", len(seen))
	}
	reqs := e.fake.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 5 rows in pages of 2, want 3", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Values("Prefer"); len(got) != 1 || got[0] != "odata.maxpagesize=2" {
			t.Errorf("%s?%s carries Prefer %q, want odata.maxpagesize=2 on every page", r.Path, r.RawQuery, got)
		}
	}
}

func TestQueryTop(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 4 {
		e.fake.AddRecord("lead", map[string]any{"lastname": fmt.Sprint("L", i)})
	}
	rows, err := e.client.Query(context.Background(), "leads", dataverse.Query{
		Select: []string{"lastname", "statuscode"}, OrderBy: "lastname desc", Top: 2, PageSize: 1, Formatted: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].String("lastname") != "L3" || rows[1].String("lastname") != "L2" {
		t.Errorf("rows %v, want L3 and L2", rows)
	}
	if len(rows) > 0 && rows[0].Formatted("statuscode") != "New" {
		t.Errorf(`Formatted("statuscode") = %q, want the label New`, rows[0].Formatted("statuscode"))
	}
}

func TestGetFormattedValues(t *testing.T) {
	e := newEnv(t, nil)
	acc := e.fake.AddRecord("account", map[string]any{"name": "Contoso", "revenue": 1234567.5})
	id := e.fake.AddRecord("lead", map[string]any{"firstname": "Ana", "statuscode": 2, "parentaccountid": acc})
	row, err := e.client.Get(context.Background(), "leads", id, []string{"fullname", "statuscode", "_parentaccountid_value"})
	if err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]string{
		"statuscode":      "Contacted", // the choice's label
		"parentaccountid": "Contoso",   // the lookup's name
		"fullname":        "Ana",       // plain text, as is
	} {
		if got := row.Formatted(col); got != want {
			t.Errorf("Formatted(%q) = %q, want %q", col, got, want)
		}
	}
	if got := row.String("statuscode"); got != "2" {
		t.Errorf(`String("statuscode") = %q, want the raw value 2`, got)
	}
	if got := row.String("parentaccountid"); got != acc {
		t.Errorf(`String("parentaccountid") = %q, want the account's ID %s`, got, acc)
	}
	accRow, err := e.client.Get(context.Background(), "accounts", acc, []string{"revenue"})
	if err != nil {
		t.Fatal(err)
	}
	if got := accRow.Formatted("revenue"); got != "$1,234,567.50" {
		t.Errorf(`Formatted("revenue") = %q, want the money as shown`, got)
	}
	if got := accRow.String("revenue"); got != "1234567.5" {
		t.Errorf(`String("revenue") = %q, want the number as sent`, got)
	}
}

func TestKeyDoublesQuotes(t *testing.T) {
	if got := dataverse.Key("parley_messageid", "it's"); got != "parley_messageid='it''s'" {
		t.Errorf("Key = %q", got)
	}
}
