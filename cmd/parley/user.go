package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/web"
)

// runUser is `parley user create --tenant T --email E --role R [--password P] [--name N]`.
func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: parley user create --tenant TENANT --email EMAIL --role agent|supervisor|admin [--name NAME] [--password PASSWORD]"
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	var tenant, email, role, name, password string
	cfg, _, err := parseFlags("user create", args[1:], stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "the tenant's ID or name")
		fs.StringVar(&email, "email", "", "the user's email, with which they sign in")
		fs.StringVar(&role, "role", "agent", "agent, supervisor or admin")
		fs.StringVar(&name, "name", "", "the user's name, as colleagues see it")
		fs.StringVar(&password, "password", "", "the password; by default a one-time password is generated and printed, to be changed at the first sign-in")
	})
	if err != nil {
		return err
	}
	if tenant == "" || email == "" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := findTenant(ctx, db, tenant)
	if err != nil {
		return err
	}
	generated := password == ""
	if generated {
		password = web.NewPassword()
	}
	hash, err := web.HashPassword(password)
	if err != nil {
		return err
	}
	// A generated password passes through whoever ran this command, so
	// the user must replace it with their own at the first sign-in.
	u := &parley.User{TenantID: t.ID, Email: email, Name: name, Role: role, MustChangePassword: generated}
	if err := db.CreateUser(ctx, u, hash); err != nil {
		return err
	}
	out := map[string]any{"user_id": u.ID, "tenant_id": t.ID, "email": u.Email, "role": u.Role}
	if generated {
		out["password"] = password
		out["must_change_password"] = true
		fmt.Fprintln(stderr, "The password is for the first sign-in only: the console then asks the user to choose their own.")
	}
	return json.NewEncoder(stdout).Encode(out)
}

// findTenant finds a tenant by ID or, failing that, by name.
func findTenant(ctx context.Context, db *store.DB, idOrName string) (*parley.Tenant, error) {
	if strings.HasPrefix(idOrName, parley.PrefixTenant+"_") {
		return db.FindTenant(ctx, idOrName)
	}
	return db.FindTenantByName(ctx, idOrName)
}
