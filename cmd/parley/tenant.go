package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// runTenant is `parley tenant create NAME`.
func runTenant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: parley tenant create NAME")
		return errUsage
	}
	cfg, rest, err := parseFlags("tenant create", args[1:], stderr, nil)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(strings.Join(rest, " "))
	if name == "" {
		fmt.Fprintln(stderr, "usage: parley tenant create NAME")
		return errUsage
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	t, err := db.CreateTenant(ctx, name)
	if err != nil {
		return err
	}
	key, _, err := db.CreateAPIKey(ctx, t.ID, "created with parley tenant create")
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"tenant_id": t.ID, "api_key": key})
}
