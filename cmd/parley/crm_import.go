package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/webhook"
)

const crmUsage = `usage: parley crm import --tenant TENANT --connector ID FILE.csv|FILE.json

Imports records into a webhook CRM connector (docs/any-crm.md). A CSV file
has a header row naming entity and source_crm_id, and any of name, phones
(several separated by ;), source_crm_url, source_crm and custom fields:

  entity,source_crm_id,name,phones,source_crm_url,plan
  contact,101,Ana Souza,+55 11 98765-4321;+55 11 3333-4444,https://crm.example/contacts/101,gold

A JSON file is a list of records shaped like the webhook's events.
Bad rows are reported with their line number; the good ones are imported.
`

// importChunk is how many records one transaction stores.
const importChunk = 500

// runCRM is `parley crm …`: for now, importing a webhook CRM's records from a file.
func runCRM(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "import" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, crmUsage)
			return nil
		}
		fmt.Fprint(stderr, crmUsage)
		return errUsage
	}
	var tenant, connector string
	cfg, rest, err := parseFlags("crm import", args[1:], stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "the tenant's ID or name")
		fs.StringVar(&connector, "connector", "", "the webhook connector's ID")
	})
	if err != nil {
		return err
	}
	if connector == "" || len(rest) != 1 {
		fmt.Fprint(stderr, crmUsage)
		return errUsage
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("open %s: %w", rest[0], err)
	}
	defer f.Close()
	recs, bad, err := webhook.ParseFile(filepath.Base(rest[0]), f)
	if err != nil {
		return err
	}
	m, t, err := openTenant(ctx, cfg, tenant, crmUsage, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	c, err := m.DB.FindConnector(ctx, t.ID, connector)
	if err != nil {
		return err
	}
	if c.Type != parley.ConnectorWebhook {
		return parley.Errorf(parley.EINVALID, "The connector %s is a %s connector; records are imported into webhook connectors.", c.ID, c.Type)
	}
	for _, b := range bad {
		fmt.Fprintf(stderr, "%s: %v\n", rest[0], b)
	}
	for start := 0; start < len(recs); start += importChunk {
		end := min(start+importChunk, len(recs))
		if err := m.AnyCRM.Store(ctx, c, recs[start:end]); err != nil {
			return fmt.Errorf("import records %d to %d: %w", start+1, end, err)
		}
		fmt.Fprintf(stdout, "imported %d of %d records\n", end, len(recs))
	}
	fmt.Fprintf(stdout, "Imported %d records into %s; %d bad rows skipped.\n", len(recs), c.ID, len(bad))
	if len(bad) > 0 && len(recs) == 0 {
		return parley.Errorf(parley.EINVALID, "No row of %s could be imported.", rest[0])
	}
	return nil
}
