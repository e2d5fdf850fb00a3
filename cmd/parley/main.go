// Command parley runs Parley, WhatsApp inside the CRM: one binary that
// serves the API, receives the providers' webhooks and works the job
// queue, on an embedded SQLite database by default or on PostgreSQL.
//
//	parley serve                 run the server
//	parley demo                  run it with a demo tenant, a sandbox number and simulated customers
//	parley migrate               bring the database schema up to date
//	parley tenant create NAME    create a tenant and print its first API key
//	parley user create …         create a console user (agent, supervisor or admin)
//	parley channel migrate …     move a number to another provider, keeping its history
//	parley version               print the version
//	parley bench ingest          measure webhook ingestion
//	parley dynamics solution …   build the Dynamics 365 solution that adds the WhatsApp button
//	parley crm import …          import a webhook CRM's records from a CSV or JSON file
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleyhq/parley"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "parley:", describe(err))
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// describe is an error as a person at the terminal reads it: an
// application error's message, or the whole chain for anything else.
func describe(err error) string {
	if code := parley.ErrorCode(err); code != parley.EINTERNAL {
		msg := parley.ErrorMessage(err)
		if hint := parley.ErrorHint(err); hint != "" {
			msg += " " + hint
		}
		return msg
	}
	return err.Error()
}

const usage = `Parley puts WhatsApp inside your CRM.

Usage:
  parley serve                  run the server
  parley demo                   run the server with a demo tenant, a sandbox number and simulated customers
  parley migrate                bring the database schema up to date
  parley tenant create NAME     create a tenant; prints {"tenant_id":…,"api_key":…}
  parley user create --tenant T --email E --role agent|supervisor|admin [--password P]
                                create a console user; prints a one-time password, to be changed at
                                the first sign-in, unless one is given
  parley channel list --tenant T
                                list a tenant's numbers
  parley channel migrate --tenant T --channel ID --to meta|twilio|acs --settings JSON|@FILE [--dry-run]
                                move a number to another provider, keeping its contacts, conversations,
                                consent and history (--dry-run checks and reports, changing nothing)
  parley version                print the version
  parley bench ingest           measure webhook ingestion (see docs/performance.md)
  parley dynamics solution --base-url URL [--out FILE] [--tables lead,contact,account]
                                build the Dynamics 365 solution zip that adds a WhatsApp button
                                to the tables' forms (parley dynamics help lists more)
  parley crm import --tenant T --connector ID FILE.csv|FILE.json
                                import records into a webhook CRM connector (docs/any-crm.md)

Configuration comes from the environment, overridden by flags (parley serve -h):
  PARLEY_ADDR          listen address (default :8080)
  PARLEY_DATA_DIR      data directory (default ./data)
  PARLEY_DATABASE_URL  postgres://… for PostgreSQL; default a SQLite file in the data directory
  PARLEY_BASE_URL      public URL used in webhook addresses (default http://localhost:PORT)
  PARLEY_MASTER_KEY    32-byte key (base64 or hex) that encrypts secrets; generated into the data directory if absent
  PARLEY_LOG_LEVEL     debug, info, warn or error (default info)
  PARLEY_FRAME_ANCESTORS  origins allowed to embed the chat panel, e.g. https://*.dynamics.com
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "tenant":
		return runTenant(ctx, args[1:], stdout, stderr)
	case "user":
		return runUser(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "dynamics":
		return runDynamics(ctx, args[1:], stdout, stderr)
	case "crm":
		return runCRM(ctx, args[1:], stdout, stderr)
	case "channel":
		return runChannel(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "parley", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}
