package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// TestTemplateBindings: a template name's bindings are replaced as a
// whole, removed by an empty set, and kept per tenant.
func TestTemplateBindings(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		by := parley.Actor{Kind: parley.ActorAPIKey, Name: "admin"}
		get := func(tenantID string) parley.Bindings {
			t.Helper()
			got, err := db.TemplateBindings(ctx, tenantID, "welcome")
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := get(b.tenant.ID); got == nil || len(got) != 0 {
			t.Errorf("before any: %v", got)
		}
		first := parley.Bindings{"1": "record.firstname", "2": "agent.name"}
		second := parley.Bindings{"1": "contact.first_name"}
		for _, want := range []parley.Bindings{first, second} {
			if err := db.SetTemplateBindings(ctx, b.tenant.ID, "welcome", want, by); err != nil {
				t.Fatal(err)
			}
			if got := get(b.tenant.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		}
		if got := get(b.other.ID); len(got) != 0 {
			t.Errorf("another tenant sees %v", got)
		}
		if err := db.SetTemplateBindings(ctx, b.tenant.ID, "welcome", nil, by); err != nil {
			t.Fatal(err)
		}
		if got := get(b.tenant.ID); len(got) != 0 {
			t.Errorf("after removing: %v", got)
		}
		var audits int
		if err := db.Reader().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'template.bind' AND subject = 'welcome'`).Scan(&audits); err != nil {
			t.Fatal(err)
		}
		if audits != 3 {
			t.Errorf("%d changes audited, want 3", audits)
		}
	})
}
