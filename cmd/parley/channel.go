package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
)

// runChannel is `parley channel list|migrate`.
func runChannel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return runChannelList(ctx, args[1:], stdout, stderr)
		case "migrate":
			return runChannelMigrate(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: parley channel list --tenant TENANT\n       parley channel migrate --tenant TENANT --channel ID --to PROVIDER --settings JSON|@FILE [--dry-run] [--no-verify]")
	return errUsage
}

func runChannelList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: parley channel list --tenant TENANT"
	var tenant string
	cfg, _, err := parseFlags("channel list", args, stderr, func(fs *flag.FlagSet) {
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
	chs, err := m.DB.ListChannels(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\n", ch.ID, ch.Provider, ch.PhoneNumber, ch.Health.Status, ch.Name)
	}
	return nil
}

// runChannelMigrate is `parley channel migrate`: it moves a number to
// another provider, keeping its history. --dry-run checks the new
// settings with the provider and tells what would move, changing nothing.
func runChannelMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = `usage: parley channel migrate --tenant TENANT --channel ID --to meta|twilio|acs --settings JSON|@FILE [--dry-run] [--no-verify]

--settings is the new provider's object of POST /v1/channels, such as
  {"phone_number_id":"…","waba_id":"…","access_token":"…","app_secret":"…","verify_token":"…"} for meta,
  {"account_sid":"AC…","auth_token":"…"} for twilio,
  {"endpoint":"https://….communication.azure.com","access_key":"…","channel_registration_id":"…"} for acs.
@FILE reads it from a file, which keeps secrets out of the shell history.`
	var tenant, channel, to, settings string
	var in messaging.MigrateInput
	cfg, _, err := parseFlags("channel migrate", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&tenant, "tenant", "", "the tenant's ID or name")
		fs.StringVar(&channel, "channel", "", "the channel's ID (see parley channel list)")
		fs.StringVar(&to, "to", "", "the provider the number moves to: meta, twilio or acs")
		fs.StringVar(&settings, "settings", "", "the new provider's settings as JSON, or @FILE")
		fs.BoolVar(&in.DryRun, "dry-run", false, "check the settings and report what would move, changing nothing")
		fs.BoolVar(&in.SkipVerify, "no-verify", false, "do not ask the new provider whether the credentials work")
	})
	if err != nil {
		return err
	}
	if channel == "" || to == "" || settings == "" {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	in.Provider = to
	if err := decodeSettings(settings, &in.ChannelInput); err != nil {
		return err
	}
	m, t, err := openTenant(ctx, cfg, tenant, usage, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	in.By = parley.Actor{Kind: parley.ActorSystem, Name: "parley channel migrate"}
	mig, err := m.Messaging.MigrateChannel(ctx, t.ID, channel, in)
	if err != nil {
		return err
	}
	printMigration(stdout, mig)
	return nil
}

// decodeSettings reads the provider's settings object into in.
func decodeSettings(arg string, in *messaging.ChannelInput) error {
	raw := []byte(arg)
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if raw, err = os.ReadFile(name); err != nil {
			return fmt.Errorf("read --settings: %w", err)
		}
	}
	var target any
	switch in.Provider {
	case parley.ProviderMeta:
		in.Meta = &parley.MetaConfig{}
		target = in.Meta
	case parley.ProviderTwilio:
		in.Twilio = &parley.TwilioConfig{}
		target = in.Twilio
	case parley.ProviderACS:
		in.ACS = &parley.ACSConfig{}
		target = in.ACS
	default:
		return parley.Errorf(parley.EINVALID, "--to is meta, twilio or acs, not %q.", in.Provider)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return parley.Errorf(parley.EINVALID, "--settings is not a %s settings object: %v", in.Provider, err)
	}
	return nil
}

func printMigration(w io.Writer, mig *messaging.Migration) {
	k := mig.Kept
	fmt.Fprintf(w, "channel %s (%s): %s -> %s\n", mig.ChannelID, mig.PhoneNumber, mig.From, mig.To)
	if mig.Verified {
		fmt.Fprintf(w, "credentials: accepted by %s\n", mig.To)
	} else {
		fmt.Fprintf(w, "credentials: not checked (--no-verify)\n")
	}
	fmt.Fprintf(w, "keeps: %d contacts (%d opted out), %d conversations, %d messages\n", k.Contacts, k.OptedOut, k.Conversations, k.Messages)
	fmt.Fprintf(w, "queued sends: %d, sent through %s\n", k.Queued, mig.To)
	if k.InFlight > 0 {
		fmt.Fprintf(w, "in flight: %d sends wait for %s's answer; the move waits for them\n", k.InFlight, mig.From)
	}
	fmt.Fprintf(w, "templates: %d from %s dropped; %s's are fetched now\n", k.Templates, mig.From, mig.To)
	if mig.DryRun {
		fmt.Fprintln(w, "dry run: nothing changed")
	} else {
		fmt.Fprintf(w, "moved: point %s's webhooks at this channel, then stop %s's\n", mig.To, mig.From)
	}
}
