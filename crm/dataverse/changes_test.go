package dataverse_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parleyhq/parley/crm/dataverse"
)

func TestChanges(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.fake.EnableChangeTracking("contact")
	a := e.fake.AddRecord("contact", map[string]any{"firstname": "A", "mobilephone": "+5511900000001"})
	b := e.fake.AddRecord("contact", map[string]any{"firstname": "B"})
	cols := []string{"fullname", "mobilephone"}

	first, err := e.client.Changes(ctx, "contacts", cols, "")
	if err != nil {
		t.Fatal(err)
	}
	if ids := rowIDs(first.Rows, "contactid"); !slices.Equal(ids, sorted(a, b)) || len(first.Deleted) != 0 || first.DeltaLink == "" {
		t.Fatalf("initial changes: rows %v, deleted %v, link %q; want both contacts and a link", ids, first.Deleted, first.DeltaLink)
	}
	if p := e.fake.Requests()[0].Header.Values("Prefer"); !slices.Contains(p, "odata.track-changes") {
		t.Errorf("the initial read carried Prefer %q, without odata.track-changes", p)
	}

	e.fake.UpdateRecord("contact", a, map[string]any{"mobilephone": "+5511900000009"})
	e.fake.DeleteRecord("contact", b)
	c := e.fake.AddRecord("contact", map[string]any{"firstname": "C"})
	next, err := e.client.Changes(ctx, "contacts", cols, first.DeltaLink)
	if err != nil {
		t.Fatal(err)
	}
	if ids := rowIDs(next.Rows, "contactid"); !slices.Equal(ids, sorted(a, c)) {
		t.Errorf("changed rows %v, want %v", ids, sorted(a, c))
	}
	if !slices.Equal(next.Deleted, []string{b}) {
		t.Errorf("deleted %v, want [%s]", next.Deleted, b)
	}
	for _, r := range next.Rows {
		if r.String("contactid") == a && r.String("mobilephone") != "+5511900000009" {
			t.Errorf("the changed contact reads %v", r)
		}
	}
	if next.DeltaLink == "" || next.DeltaLink == first.DeltaLink {
		t.Errorf("the delta link did not move on: %q", next.DeltaLink)
	}

	none, err := e.client.Changes(ctx, "contacts", cols, next.DeltaLink)
	if err != nil || len(none.Rows)+len(none.Deleted) != 0 {
		t.Errorf("with nothing changed: %v, %v", none, err)
	}

	e.fake.ExpireDeltaTokens()
	_, err = e.client.Changes(ctx, "contacts", cols, none.DeltaLink)
	if !errors.Is(err, dataverse.ErrDeltaExpired) {
		t.Fatalf("an expired link: %v, want ErrDeltaExpired", err)
	}
	again, err := e.client.Changes(ctx, "contacts", cols, "")
	if err != nil || len(again.Rows) != 2 {
		t.Errorf("the full resync: %d rows, %v; want 2", len(again.Rows), err)
	}
}

func TestChangesUntrackedTable(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.client.Changes(context.Background(), "accounts", []string{"name"}, "")
	var apiErr *dataverse.Error
	if !errors.As(err, &apiErr) || apiErr.Code != "0x80072491" || errors.Is(err, dataverse.ErrDeltaExpired) {
		t.Errorf("changes of an untracked table: %v, want Dataverse's ChangeTrackingNotEnabled, not ErrDeltaExpired", err)
	}
}

func rowIDs(rows []dataverse.Row, idCol string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.String(idCol))
	}
	slices.Sort(out)
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
