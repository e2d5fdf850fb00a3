package main

import (
	"context"
	"fmt"
	"io"
)

const dynamicsUsage = `usage: parley dynamics COMMAND

Commands:
  connect    connect a tenant to its Dynamics 365 organization (its Dataverse environment):
             parley dynamics connect --tenant T --environment-url URL --entra-tenant-id ID --client-id ID
                                     [--client-secret S | $PARLEY_DATAVERSE_CLIENT_SECRET] [--create-leads] …
  install    create Parley's WhatsApp message activity table and turn on change tracking:
             parley dynamics install --tenant T
  solution   build the solution zip that adds the WhatsApp button to Dynamics 365 forms:
             parley dynamics solution --base-url URL [--out FILE] [--tables lead,contact,account]
                                      [--version 1.0.0.0] [--phone-columns TABLE=COLUMN,COLUMN ...]
`

// runDynamics is `parley dynamics …`: what an administrator runs to put
// Parley inside Dynamics 365.
func runDynamics(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, dynamicsUsage)
		return errUsage
	}
	switch args[0] {
	case "solution":
		return runDynamicsSolution(ctx, args[1:], stdout, stderr)
	case "connect":
		return runDynamicsConnect(ctx, args[1:], stdout, stderr)
	case "install":
		return runDynamicsInstall(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, dynamicsUsage)
		return nil
	}
	fmt.Fprintf(stderr, "parley dynamics: unknown command %q\n\n%s", args[0], dynamicsUsage)
	return errUsage
}
