package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestConnectors(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		c := &parley.Connector{TenantID: b.tenant.ID, Type: parley.ConnectorDataverse, Name: "Contoso", Tables: parley.DefaultCRMTables(),
			CreateLeads: true, Languages: []string{"pt_BR", "es", "en_US"},
			Dataverse: &parley.DataverseConfig{EnvironmentURL: "https://contoso.crm4.dynamics.com", EntraTenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
				ClientID: "535fb089-9ff3-47b6-9bfb-4f1264799865", ClientSecret: "very-secret-value", WebhookKey: "hook-key-123"}}
		if err := db.CreateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		var raw []byte
		if err := db.Reader().QueryRow(`SELECT config FROM crm_connectors WHERE id = $1`, c.ID).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"very-secret-value", "hook-key-123"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("the connector row holds %q in clear", s)
			}
		}
		got, err := db.ConnectorOf(ctx, b.tenant.ID, parley.ConnectorDataverse)
		if err != nil || got.Dataverse.ClientSecret != "very-secret-value" || len(got.Tables) != 3 || got.Tables[0].Name != "contact" ||
			!got.CreateLeads || len(got.Languages) != 3 || got.Health.Status != parley.HealthHealthy {
			t.Fatalf("ConnectorOf = %+v, %v", got, err)
		}
		if err := db.CreateConnector(ctx, &parley.Connector{TenantID: b.tenant.ID, Type: parley.ConnectorDataverse, Tables: c.Tables,
			Dataverse: c.Dataverse}); parley.ErrorCode(err) != parley.ECONFLICT {
			t.Fatalf("a second Dataverse connector for the tenant: %v, want conflict", err)
		}
		if _, err := db.FindConnector(ctx, b.other.ID, c.ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant finds the connector: %v", err)
		}
		if err := db.SetConnectorHealth(ctx, b.tenant.ID, c.ID, parley.ChannelHealth{Status: parley.HealthUnhealthy, Reason: "invalid_client"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.FindConnectorByID(ctx, c.ID); got.Health.Status != parley.HealthUnhealthy || got.Health.Reason != "invalid_client" {
			t.Fatalf("health %+v", got.Health)
		}
		c.Dataverse.ClientSecret = "rotated"
		c.Tables = c.Tables[:1]
		if err := db.UpdateConnector(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, _ = db.FindConnector(ctx, b.tenant.ID, c.ID)
		if got.Dataverse.ClientSecret != "rotated" || len(got.Tables) != 1 || got.Health.Status != parley.HealthHealthy {
			t.Fatalf("after the update: %+v", got)
		}
		if all, err := db.AllConnectors(ctx); err != nil || len(all) != 1 {
			t.Fatalf("AllConnectors = %d, %v", len(all), err)
		}
		if err := db.DeleteConnector(ctx, b.other.ID, c.ID); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant deletes the connector: %v", err)
		}
		if err := db.DeleteConnector(ctx, b.tenant.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if list, _ := db.ListConnectors(ctx, b.tenant.ID); len(list) != 0 {
			t.Fatalf("%d connectors left", len(list))
		}
	})
}
