package main

import (
	"net/http"
	"strings"
	"testing"
)

// dataverseInput is a connector's settings, pointing at nothing.
func dataverseInput(verify bool) map[string]any {
	return map[string]any{"type": "dataverse", "name": "Contoso", "verify": verify, "dataverse": map[string]any{
		"environment_url": "https://contoso.crm4.dynamics.com", "entra_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865", "client_secret": "very-secret-value"}}
}

func TestCRMConnectorsAPI(t *testing.T) {
	a := startApp(t)
	var created struct {
		ID         string `json:"id"`
		WebhookURL string `json:"webhook_url"`
		Tables     []struct {
			Name string `json:"name"`
		} `json:"tables"`
	}
	r := a.do("POST", "/v1/crm-connectors", a.keyA, dataverseInput(false))
	a.must(r, http.StatusCreated, &created)
	if strings.Contains(string(r.body), "very-secret-value") {
		t.Fatal("the connector's secret is returned")
	}
	if !strings.Contains(created.WebhookURL, "/webhooks/dataverse/"+created.ID+"?key=") || len(created.Tables) != 3 || created.Tables[0].Name != "contact" {
		t.Fatalf("created %+v", created)
	}
	// One per tenant and type.
	if r := a.do("POST", "/v1/crm-connectors", a.keyA, dataverseInput(false)); r.status != http.StatusConflict {
		t.Errorf("a second connector: %d", r.status)
	}
	// The key is shown once.
	r = a.do("GET", "/v1/crm-connectors/"+created.ID, a.keyA, nil)
	if r.status != 200 || strings.Contains(string(r.body), "key=") || strings.Contains(string(r.body), "very-secret-value") {
		t.Errorf("GET shows %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/v1/crm-connectors/"+created.ID, a.keyB, nil); r.status != http.StatusNotFound {
		t.Errorf("another tenant reads the connector: %d", r.status)
	}
	// A rotated secret alone; other settings stay.
	if r := a.do("PATCH", "/v1/crm-connectors/"+created.ID, a.keyA, map[string]any{"verify": false,
		"dataverse": map[string]any{"client_secret": "rotated"}}); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	c, err := a.m.DB.FindConnectorByID(t.Context(), created.ID)
	if err != nil || c.Dataverse.ClientSecret != "rotated" || c.Dataverse.ClientID != "535fb089-9ff3-47b6-9bfb-4f1264799865" {
		t.Fatalf("after rotation: %+v %v", c, err)
	}
	for name, body := range map[string]map[string]any{
		"no settings":       {"type": "dataverse", "verify": false},
		"an http address":   {"type": "dataverse", "verify": false, "dataverse": map[string]any{"environment_url": "http://x.example", "entra_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47", "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865", "client_secret": "s"}},
		"leads, no lead":    {"type": "dataverse", "verify": false, "create_leads": true, "tables": []any{map[string]any{"name": "contact", "phone_columns": []string{"mobilephone"}}}, "dataverse": dataverseInput(false)["dataverse"]},
		"a table, no phone": {"type": "dataverse", "verify": false, "tables": []any{map[string]any{"name": "contact"}}, "dataverse": dataverseInput(false)["dataverse"]},
	} {
		if r := a.do("POST", "/v1/crm-connectors", a.keyB, body); r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	if r := a.do("DELETE", "/v1/crm-connectors/"+created.ID, a.keyB, nil); r.status != http.StatusNotFound {
		t.Errorf("another tenant deletes the connector: %d", r.status)
	}
	if r := a.do("DELETE", "/v1/crm-connectors/"+created.ID, a.keyA, nil); r.status != http.StatusNoContent {
		t.Errorf("delete: %d", r.status)
	}
}
