package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse/solution"
)

// runDynamicsSolution is `parley dynamics solution`: it writes the
// solution zip an administrator imports into Dynamics 365 (Settings →
// Solutions → Import) to get the WhatsApp button on the tables' forms.
func runDynamicsSolution(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := solution.Options{PhoneColumns: map[string][]string{}}
	var tables, out string
	fs := flag.NewFlagSet("parley dynamics solution", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.BaseURL, "base-url", os.Getenv("PARLEY_BASE_URL"),
		"Parley's public https address, which the side pane frames (default $PARLEY_BASE_URL)")
	fs.StringVar(&tables, "tables", strings.Join(solution.DefaultTables(), ","),
		"logical names of the tables whose main form gets the button, separated by commas")
	fs.StringVar(&o.Version, "version", solution.DefaultVersion,
		"the solution's version, four numbers; raise it for every new build of an installed solution")
	fs.StringVar(&out, "out", "", "the zip to write (default "+solution.UniqueName+"_<version>.zip, as Dynamics names its exports)")
	phoneColumnsFlag(fs, o.PhoneColumns)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "parley dynamics solution: unexpected %q\n\n%s", fs.Arg(0), dynamicsUsage)
		return errUsage
	}
	o.Tables = splitList(tables)
	if len(o.Tables) == 0 {
		return parley.Errorf(parley.EINVALID, "--tables names no table.")
	}
	zip, err := solution.Build(o)
	if err != nil {
		return err
	}
	if out == "" {
		out = solution.UniqueName + "_" + strings.ReplaceAll(o.Version, ".", "_") + ".zip"
	}
	if err := os.WriteFile(out, zip, 0o644); err != nil {
		return fmt.Errorf("dynamics solution: %w", err)
	}
	fmt.Fprintf(stdout, "Wrote %s (%s, %d bytes): solution %s %s, a WhatsApp button on the main form of %s, opening %s.\n",
		out, sizeOf(len(zip)), len(zip), solution.UniqueName, o.Version, strings.Join(o.Tables, ", "), strings.TrimRight(o.BaseURL, "/"))
	fmt.Fprintln(stdout, "Import it in Dynamics 365 (Settings → Solutions → Import) and publish all customizations.")
	fmt.Fprintln(stdout, "Parley must let Dynamics frame the panel: set PARLEY_FRAME_ANCESTORS to the organization's address, e.g. https://*.dynamics.com.")
	return nil
}

// phoneColumnsFlag adds the repeatable --phone-columns TABLE=COLUMN,COLUMN
// flag, which fills into.
func phoneColumnsFlag(fs *flag.FlagSet, into map[string][]string) {
	fs.Func("phone-columns", "TABLE=COLUMN,COLUMN: the columns of TABLE holding the customer's phone, first non-empty wins (repeatable)",
		func(v string) error {
			table, cols, ok := strings.Cut(v, "=")
			if !ok || strings.TrimSpace(table) == "" {
				return fmt.Errorf("want TABLE=COLUMN,COLUMN, got %q", v)
			}
			into[strings.TrimSpace(table)] = splitList(cols)
			return nil
		})
}

// splitList splits a comma-separated flag, dropping blanks.
func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// sizeOf writes a byte count for people.
func sizeOf(n int) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
