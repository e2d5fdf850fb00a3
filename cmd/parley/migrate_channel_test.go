package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	twiliofake "github.com/parleyhq/parley/internal/fake/twilio"
	"github.com/parleyhq/parley/messaging"
)

// TestChannelMigrate moves a Meta number to Twilio and back through the
// API: a dry run changes nothing, a move waits for in-flight sends, and
// after two moves the number has the same contacts, conversation,
// consent and history, and sends through Meta again.
func TestChannelMigrate(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	waid := "5511912340001"
	a.inbound(waid, "hello before the move", time.Now())
	var first struct{ ID string }
	a.must(a.sendText("+"+waid, "answer through Meta"), http.StatusAccepted, &first)
	a.eventually("the first answer is sent", func() bool { return a.message(first.ID).Status == parley.StatusSent })
	var contacts struct{ Data []parley.Contact }
	a.must(a.do("GET", "/v1/contacts", a.keyA, nil), http.StatusOK, &contacts)
	if len(contacts.Data) != 1 {
		t.Fatalf("contacts = %d, want 1", len(contacts.Data))
	}
	contactID := contacts.Data[0].ID
	a.must(a.do("POST", "/v1/contacts/"+contactID+"/consent", a.keyA, map[string]any{"state": "opted_out", "source": "asked by phone"}), http.StatusOK, nil)

	migrate := func(body map[string]any) response {
		return a.do("POST", "/v1/channels/"+a.channelID+"/migrate", a.keyA, body)
	}
	toTwilio := map[string]any{"provider": "twilio", "skip_verify": true,
		"twilio": map[string]any{"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "tw-token", "api_url": "http://127.0.0.1:1"}}

	// A send the provider has not answered holds the move back.
	release := a.graph.Stall()
	var held struct{ ID string }
	a.must(a.sendText("+"+waid, "held in flight"), http.StatusAccepted, &held)
	a.eventually("the held send is in flight", func() bool { return a.message(held.ID).Status == parley.StatusSending })
	r := migrate(toTwilio)
	if code, msg := r.apiError(); r.status != http.StatusConflict || !strings.Contains(msg, "in flight") {
		t.Errorf("move with a send in flight: %d %s %q, want 409 naming the send in flight", r.status, code, msg)
	}
	release()
	a.eventually("the held send is sent", func() bool { return a.message(held.ID).Status == parley.StatusSent })

	dry := map[string]any{"dry_run": true}
	for k, v := range toTwilio {
		dry[k] = v
	}
	var plan struct {
		From, To string
		DryRun   bool `json:"dry_run"`
		Kept     struct {
			Contacts, Conversations, Messages int
			OptedOut                          int `json:"opted_out"`
		}
	}
	a.must(migrate(dry), http.StatusOK, &plan)
	if plan.From != "meta" || plan.To != "twilio" || !plan.DryRun || plan.Kept.Contacts != 1 || plan.Kept.Conversations != 1 ||
		plan.Kept.Messages != 3 || plan.Kept.OptedOut != 1 {
		t.Errorf("dry run = %+v, want meta→twilio keeping 1 contact (opted out), 1 conversation, 3 messages", plan)
	}
	if ch, _ := a.m.DB.FindChannel(ctx, a.tenantA.ID, a.channelID); ch.Provider != parley.ProviderMeta {
		t.Fatalf("the dry run moved the channel to %s", ch.Provider)
	}

	a.must(migrate(toTwilio), http.StatusOK, nil)
	ch, err := a.m.DB.FindChannel(ctx, a.tenantA.ID, a.channelID)
	if err != nil || ch.Provider != parley.ProviderTwilio || ch.Meta != nil || ch.Twilio == nil {
		t.Fatalf("after the move: %+v, %v; want a Twilio channel without Meta secrets", ch, err)
	}

	// Back to Meta, this time checked with Meta.
	g := a.graph.Channel().Meta
	toMeta := map[string]any{"provider": "meta", "meta": map[string]any{"phone_number_id": g.PhoneNumberID, "waba_id": g.WABAID,
		"access_token": "wrong-token", "app_secret": g.AppSecret, "verify_token": testVerifyToken, "graph_url": g.GraphURL, "api_version": g.APIVersion}}
	r = migrate(toMeta)
	if r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("nothing was changed")) {
		t.Errorf("move with a bad token: %d %s, want 400 and nothing changed", r.status, r.body)
	}
	toMeta["meta"].(map[string]any)["access_token"] = g.AccessToken
	a.must(migrate(toMeta), http.StatusOK, nil)

	a.inbound(waid, "hello after two moves", time.Now())
	var convs struct{ Data []parley.Conversation }
	a.must(a.do("GET", "/v1/conversations", a.keyA, nil), http.StatusOK, &convs)
	if len(convs.Data) != 1 {
		t.Fatalf("conversations = %d, want the one from before the moves", len(convs.Data))
	}
	var msgs struct{ Data []parley.Message }
	a.must(a.do("GET", "/v1/conversations/"+convs.Data[0].ID+"/messages", a.keyA, nil), http.StatusOK, &msgs)
	if len(msgs.Data) != 4 {
		t.Errorf("messages = %d, want the 3 from before and the new one", len(msgs.Data))
	}
	var c parley.Contact
	a.must(a.do("GET", "/v1/contacts/"+contactID, a.keyA, nil), http.StatusOK, &c)
	if c.Consent.State != parley.ConsentOptedOut {
		t.Errorf("consent after the moves = %q, want opted_out", c.Consent.State)
	}
	sentBefore := len(a.graph.Sent())
	var after struct{ ID string }
	a.must(a.sendText("+"+waid, "answer after the moves"), http.StatusAccepted, &after)
	a.eventually("the answer after the moves is sent through Meta", func() bool { return a.message(after.ID).Status == parley.StatusSent })
	if n := len(a.graph.Sent()); n != sentBefore+1 {
		t.Errorf("Meta received %d more messages, want 1", n-sentBefore)
	}
	var audit int
	a.m.DB.Reader().QueryRow(`SELECT COUNT(*) FROM audit WHERE action = 'channel.migrated' AND subject = $1`, a.channelID).Scan(&audit)
	if audit != 2 {
		t.Errorf("audit entries = %d, want 2 moves", audit)
	}
}

// TestChannelMigrateCLI: `parley channel migrate --dry-run` reports and
// changes nothing; without it the number moves; bad settings are refused
// with what is wrong.
func TestChannelMigrateCLI(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := cli(t, dir, "tenant", "create", "Escola"); err != nil {
		t.Fatal(err)
	}
	graph := metagraph.New(t)
	m, tn, err := openTenant(context.Background(), cliConfig(t, dir), "Escola", "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	g := graph.Channel()
	g.Meta.VerifyToken = testVerifyToken
	ch, err := m.Messaging.ConnectChannel(context.Background(), tn.ID, messaging.ChannelInput{Provider: "meta", PhoneNumber: g.PhoneNumber, Meta: g.Meta})
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "twilio.json")
	os.WriteFile(settings, []byte(`{"account_sid":"AC0123456789abcdef0123456789abcdef","auth_token":"tw-token"}`), 0o600)
	args := []string{"channel", "migrate", "--tenant", "Escola", "--channel", ch.ID, "--to", "twilio", "--settings", "@" + settings, "--no-verify"}

	out, _, err := cli(t, dir, append(args, "--dry-run")...)
	if err != nil || !strings.Contains(out, "meta -> twilio") || !strings.Contains(out, "dry run: nothing changed") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if out, _, _ := cli(t, dir, "channel", "list", "--tenant", "Escola"); !strings.Contains(out, "\tmeta\t") {
		t.Fatalf("after the dry run: %s", out)
	}
	if out, _, err = cli(t, dir, args...); err != nil || !strings.Contains(out, "moved:") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if out, _, _ := cli(t, dir, "channel", "list", "--tenant", "Escola"); !strings.Contains(out, ch.ID+"\ttwilio\t"+g.PhoneNumber) {
		t.Fatalf("after the move: %s", out)
	}
	_, _, err = cli(t, dir, "channel", "migrate", "--tenant", "Escola", "--channel", ch.ID, "--to", "meta", "--settings", `{"phone_number_id":"x","token":1}`)
	if err == nil || !strings.Contains(err.Error(), "not a meta settings object") {
		t.Errorf("bad settings: %v", err)
	}
}

// cliConfig is the configuration cli runs commands with.
func cliConfig(t *testing.T, dataDir string) Config {
	t.Helper()
	t.Setenv("PARLEY_DATA_DIR", dataDir)
	t.Setenv("PARLEY_DATABASE_URL", "")
	t.Setenv("PARLEY_MASTER_KEY", hex.EncodeToString(make([]byte, 32)))
	cfg, _, err := parseFlags("test", nil, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestChannelMigrateTwilioToMeta is the move the issue names: a Twilio
// number goes to Meta's Cloud API and back, each move checked with the
// provider it goes to, and one conversation holds the whole history.
func TestChannelMigrateTwilioToMeta(t *testing.T) {
	a := startApp(t)
	tw := twiliofake.New(t)
	k := &twilioKit{fake: tw}
	a.channelID = k.connect(t, a)
	// The number is the Meta fake's, so Meta accepts it after the move.
	waid := "5511912340002"
	if st := tw.Inbound("+"+waid, "Oi, pelo Twilio", ""); st != http.StatusOK {
		t.Fatalf("inbound through Twilio: %d", st)
	}
	first := a.mustSend("+"+waid, "Resposta pelo Twilio")
	a.waitStatus(first, parley.StatusSent)

	// Meta knows the number under its own ID (the fake's default number
	// is tenant A's other channel).
	const phoneID = "106540352249999"
	a.graph.AddPhone(metagraph.Phone{ID: phoneID, WABAID: metagraph.DefaultWABAID, DisplayPhone: strings.TrimPrefix(tw.PhoneNumber, "+"),
		Token: metagraph.DefaultToken})
	g := a.graph.Channel().Meta
	a.must(a.do("POST", "/v1/channels/"+a.channelID+"/migrate", a.keyA, map[string]any{"provider": "meta", "meta": map[string]any{
		"phone_number_id": phoneID, "waba_id": g.WABAID, "access_token": g.AccessToken, "app_secret": g.AppSecret,
		"verify_token": testVerifyToken + "-2", "graph_url": g.GraphURL, "api_version": g.APIVersion}}), http.StatusOK, nil)

	// Twilio's late status for the old message no longer reaches the channel.
	if st := tw.Status(tw.Sent()[0].SID, "delivered", ""); st == http.StatusOK {
		t.Errorf("a Twilio callback after the move answered 200")
	}
	hook := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":%q,"phone_number_id":%q},
		"contacts":[{"profile":{"name":"Cliente"},"wa_id":%q}],
		"messages":[{"from":%q,"id":"wamid.after.move","timestamp":"%d","type":"text","text":{"body":"Oi, agora pela Meta"}}]}}]}]}`,
		metagraph.DefaultWABAID, strings.TrimPrefix(tw.PhoneNumber, "+"), phoneID, waid, waid, time.Now().Unix())
	a.must(a.webhook(hook, g.AppSecret), http.StatusOK, nil)
	second := a.mustSend("+"+waid, "Resposta pela Meta")
	a.waitStatus(second, parley.StatusSent)
	if n := len(a.graph.Sent()); n != 1 {
		t.Errorf("Meta sent %d messages, want 1", n)
	}
	var convs struct{ Data []parley.Conversation }
	a.must(a.do("GET", "/v1/conversations", a.keyA, nil), http.StatusOK, &convs)
	if len(convs.Data) != 1 {
		t.Fatalf("conversations = %d, want one across both providers", len(convs.Data))
	}
	var msgs struct{ Data []parley.Message }
	a.must(a.do("GET", "/v1/conversations/"+convs.Data[0].ID+"/messages", a.keyA, nil), http.StatusOK, &msgs)
	if len(msgs.Data) != 4 {
		t.Errorf("messages = %d, want 4 (two through each provider)", len(msgs.Data))
	}

	// And back to Twilio, checked with Twilio: a wrong token changes nothing.
	body := map[string]any{"provider": "twilio", "twilio": map[string]any{"account_sid": tw.AccountSID, "auth_token": "wrong", "api_url": tw.URL}}
	if r := a.do("POST", "/v1/channels/"+a.channelID+"/migrate", a.keyA, body); r.status != http.StatusBadRequest {
		t.Errorf("a wrong Twilio token: %d %s", r.status, r.body)
	}
	body["twilio"].(map[string]any)["auth_token"] = tw.AuthToken
	a.must(a.do("POST", "/v1/channels/"+a.channelID+"/migrate", a.keyA, body), http.StatusOK, nil)
	third := a.mustSend("+"+waid, "De volta ao Twilio")
	a.waitStatus(third, parley.StatusSent)
	if n := len(tw.Sent()); n != 2 {
		t.Errorf("Twilio sent %d messages in all, want 2", n)
	}
}
