package dataverse_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse"
	fake "github.com/parleyhq/parley/internal/fake/dataverse"
)

func TestInstallTwice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	opts := dataverse.InstallOptions{Tables: parley.DefaultCRMTables()}

	rep, err := e.client.Install(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Changed || rep.KeyStatus != "Active" {
		t.Errorf("first install: changed %v, key %q; want true, Active", rep.Changed, rep.KeyStatus)
	}
	want := []string{"created table parley_whatsappmessage"}
	for _, col := range dataverse.MessageColumns {
		want = append(want, "added column "+col.Name)
	}
	want = append(want, "created alternate key parley_messageidkey (Active)",
		"enabled change tracking on contact", "enabled change tracking on lead", "enabled change tracking on account",
		"published parley_whatsappmessage, contact, lead, account")
	if !slices.Equal(rep.Lines, want) {
		t.Errorf("first report:\n%s\nwant:\n%s", rep, strings.Join(want, "\n"))
	}

	info, ok := e.fake.Table(dataverse.MessageTable)
	if !ok {
		t.Fatal("no message table")
	}
	if !info.IsActivity || info.HasActivities || !info.HasNotes || info.EntitySetName != dataverse.MessageEntitySet || info.PrimaryNameAttribute != "subject" {
		t.Errorf("the message table is %+v", info)
	}
	cols := map[string]bool{}
	for _, c := range info.Columns {
		cols[c.LogicalName] = true
		switch c.LogicalName {
		case dataverse.ColMediaLink:
			if c.Format != "Url" || c.MaxLength != 1000 {
				t.Errorf("media link column %+v", c)
			}
		case dataverse.ColStatus:
			if c.Options[dataverse.StatusReceived] != "Received" || len(c.Options) != 6 {
				t.Errorf("status options %v", c.Options)
			}
		}
	}
	for _, c := range dataverse.MessageColumns {
		if !cols[c.Name] {
			t.Errorf("column %s missing", c.Name)
		}
	}
	if len(info.Keys) != 1 || info.Keys[0].LogicalName != dataverse.MessageKey || !slices.Equal(info.Keys[0].Columns, []string{dataverse.ColMessageID}) {
		t.Errorf("keys %+v", info.Keys)
	}
	for _, name := range []string{"lead", "contact", "account"} {
		if ti, _ := e.fake.Table(name); !ti.ChangeTrackingEnabled {
			t.Errorf("change tracking is off on %s", name)
		}
	}
	if n := e.fake.Published(); n != 1 {
		t.Errorf("published %d times, want once", n)
	}

	n := len(e.fake.Requests())
	rep, err = e.client.Install(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed || !slices.Equal(rep.Lines, []string{"already installed: nothing to change"}) {
		t.Errorf("second report: changed %v\n%s", rep.Changed, rep)
	}
	for _, r := range since(e.fake, n) {
		if r.Method != http.MethodGet {
			t.Errorf("the second install sent %s %s", r.Method, r.Path)
		}
	}
	if n := e.fake.Published(); n != 1 {
		t.Errorf("published %d times after the second install, want once", n)
	}
}

func TestInstallResumesAfterFailure(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	// Reading the keys fails, retries included: Install stops after the
	// columns.
	fault := fake.Outage(http.StatusInternalServerError)
	fault.Path = "/Keys"
	e.fake.FailNext(3, fault)
	rep, err := e.client.Install(ctx, dataverse.InstallOptions{})
	if err == nil || !strings.Contains(err.Error(), "alternate keys") {
		t.Fatalf("Install during an outage: %v", err)
	}
	if len(rep.Lines) != 1+len(dataverse.MessageColumns) || e.fake.Published() != 0 {
		t.Errorf("the failed install reported\n%s\nand published %d times", rep, e.fake.Published())
	}
	rep, err = e.client.Install(ctx, dataverse.InstallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"created alternate key parley_messageidkey (Active)", "published parley_whatsappmessage"}
	if !slices.Equal(rep.Lines, want) {
		t.Errorf("the second install reported\n%s\nwant\n%s", rep, strings.Join(want, "\n"))
	}
}

func TestStatusOption(t *testing.T) {
	for s, want := range map[parley.Status]int{
		"pending": dataverse.StatusPending, parley.StatusQueued: dataverse.StatusPending,
		parley.StatusSent: dataverse.StatusSent, parley.StatusDelivered: dataverse.StatusDelivered,
		parley.StatusRead: dataverse.StatusRead, parley.StatusPlayed: dataverse.StatusRead,
		parley.StatusFailed: dataverse.StatusFailed, parley.StatusReceived: dataverse.StatusReceived,
	} {
		if got, ok := dataverse.StatusOption(s); !ok || got != want {
			t.Errorf("StatusOption(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	if _, ok := dataverse.StatusOption(parley.StatusDeleted); ok {
		t.Errorf("deleted has a CRM status")
	}
	if v, ok := dataverse.DirectionOption(parley.Inbound); !ok || v != dataverse.DirectionInbound {
		t.Errorf("DirectionOption(in) = %d, %v", v, ok)
	}
}
