package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/crm/dataverse"
)

// runDynamicsConnect is `parley dynamics connect`: it connects a tenant to
// its Dataverse environment, or changes the connection, after checking
// that Dataverse accepts the credentials. Running it again with the same
// settings changes nothing.
func runDynamicsConnect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = `usage: parley dynamics connect --tenant TENANT --environment-url https://ORG.crm.dynamics.com
           --entra-tenant-id ID --client-id ID [--client-secret SECRET | PARLEY_DATAVERSE_CLIENT_SECRET]
           [--tables contact,lead,account] [--phone-columns TABLE=COLUMN,COLUMN] [--create-leads] [--language-column COLUMN]
           [--languages pt_BR,es,en_US] [--token-url URL] [--api-base URL] [--no-verify]`
	var tenant, secret, tables, languages, languageColumn string
	var dv parley.DataverseConfig
	var createLeads, noVerify bool
	phones := map[string][]string{}
	cfg, _, err := parseFlags("dynamics connect", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "the tenant's ID or name")
		fs.StringVar(&dv.EnvironmentURL, "environment-url", "", "the Dataverse environment, such as https://contoso.crm4.dynamics.com")
		fs.StringVar(&dv.EntraTenantID, "entra-tenant-id", "", "the directory (tenant) ID of the app registration")
		fs.StringVar(&dv.ClientID, "client-id", "", "the application (client) ID of the app registration")
		fs.StringVar(&secret, "client-secret", "", "a client secret of the app registration (better: PARLEY_DATAVERSE_CLIENT_SECRET, kept out of the shell history)")
		fs.StringVar(&dv.TokenURL, "token-url", "", "the token endpoint, if not Entra ID's (tests)")
		fs.StringVar(&dv.APIBase, "api-base", "", "the Web API base, if not the environment's /api/data/v9.2 (tests)")
		fs.StringVar(&tables, "tables", "", "tables to find phones in, in order of preference (default contact,lead,account)")
		fs.BoolVar(&createLeads, "create-leads", false, "create a lead for an inbound number no record has")
		fs.StringVar(&languageColumn, "language-column", "", "a column holding the customer's language, for templates")
		fs.StringVar(&languages, "languages", "", "the template language fallback chain, such as pt_BR,es,en_US")
		fs.BoolVar(&noVerify, "no-verify", false, "save without checking the credentials against Dataverse")
		phoneColumnsFlag(fs, phones)
	})
	if err != nil {
		return err
	}
	dv.ClientSecret = secret
	if dv.ClientSecret == "" {
		dv.ClientSecret = os.Getenv("PARLEY_DATAVERSE_CLIENT_SECRET")
	}
	m, t, err := openTenant(ctx, cfg, tenant, usage, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	in := crm.ConnectorInput{Type: parley.ConnectorDataverse, Dataverse: &dv, Verify: !noVerify}
	if tables != "" || len(phones) > 0 {
		in.Tables, err = tablesByName(cmp.Or(tables, "contact,lead,account"), phones)
		if err != nil {
			return err
		}
	}
	if createLeads {
		in.CreateLeads = &createLeads
	}
	if languageColumn != "" {
		in.LanguageColumn = &languageColumn
	}
	if languages != "" {
		in.Languages = strings.Split(languages, ",")
	}
	c, err := m.DB.ConnectorOf(ctx, t.ID, parley.ConnectorDataverse)
	action := "updated"
	switch {
	case parley.ErrorCode(err) == parley.ENOTFOUND:
		c, err = m.CRM.Connect(ctx, t.ID, in)
		action = "created"
	case err == nil:
		c, err = m.CRM.Update(ctx, t.ID, c.ID, in)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Connector %s %s for tenant %s. Next: parley dynamics install --tenant %s\n", c.ID, action, t.Name, tenant)
	out := map[string]any{"connector_id": c.ID, "tenant_id": t.ID, "environment_url": c.Dataverse.EnvironmentURL, "action": action,
		"tables": c.Tables, "create_leads": c.CreateLeads}
	if cfg.BaseURL != "" {
		out["webhook_url"] = strings.TrimSuffix(cfg.BaseURL, "/") + "/webhooks/dataverse/" + c.ID + "?key=" + c.Dataverse.WebhookKey
	}
	return json.NewEncoder(stdout).Encode(out)
}

// runDynamicsInstall is `parley dynamics install`: it prepares the
// tenant's Dataverse environment (Parley's activity table, its columns and
// key, change tracking on the connector's tables) and prints what it did.
// A second run changes nothing and says so.
func runDynamicsInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: parley dynamics install --tenant TENANT"
	var tenant string
	cfg, _, err := parseFlags("dynamics install", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "the tenant's ID or name")
	})
	if err != nil {
		return err
	}
	m, t, err := openTenant(ctx, cfg, tenant, usage, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	c, err := m.DB.ConnectorOf(ctx, t.ID, parley.ConnectorDataverse)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		return parley.Errorf(parley.ENOTFOUND, "The tenant %s has no Dynamics connection; run parley dynamics connect first.", t.Name)
	} else if err != nil {
		return err
	}
	cl, err := dataverse.New(c.Dataverse, append([]dataverse.Option{dataverse.WithLogger(m.Log)}, m.DataverseOptions...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Installing Parley in %s …\n", c.Dataverse.EnvironmentURL)
	rep, err := cl.Install(ctx, dataverse.InstallOptions{Tables: c.Tables})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rep.String())
	return nil
}

// openTenant opens Parley for a command about one tenant, which the
// command must name.
func openTenant(ctx context.Context, cfg Config, tenant, usage string, stderr io.Writer) (*Main, *parley.Tenant, error) {
	if tenant == "" {
		fmt.Fprintln(stderr, usage)
		return nil, nil, errUsage
	}
	m, err := openForCLI(ctx, cfg, stderr)
	if err != nil {
		return nil, nil, err
	}
	t, err := findTenant(ctx, m.DB, tenant)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, t, nil
}

// openForCLI opens Parley's services without serving, for commands that
// need the stored secrets.
func openForCLI(ctx context.Context, cfg Config, stderr io.Writer) (*Main, error) {
	m := NewMain()
	m.Config = cfg
	m.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := m.Open(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// tablesByName picks tables by logical name: Dynamics' own from their
// defaults, any other as a custom table; phones overrides phone columns.
func tablesByName(list string, phones map[string][]string) ([]parley.CRMTable, error) {
	defaults := map[string]parley.CRMTable{}
	for _, t := range parley.DefaultCRMTables() {
		defaults[t.Name] = t
	}
	var out []parley.CRMTable
	for _, name := range splitList(list) {
		t, ok := defaults[name]
		if !ok {
			t = parley.CRMTable{Name: name}
		}
		if cols, ok := phones[name]; ok {
			t.PhoneColumns = cols
		}
		out = append(out, t)
	}
	return parley.CheckTables(out)
}
