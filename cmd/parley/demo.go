package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/web"
	"github.com/parleyhq/parley/whatsapp/sandbox"
)

func logins(ls []DemoLogin) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "    %-11s %-30s password %s\n", l.Role, l.Email, l.Password)
	}
	return b.String()
}

// demoTenant names the tenant `parley demo` creates, and finds again on
// the next run.
const demoTenant = "Demo"

// Demo is what `parley demo` set up.
type Demo struct {
	Tenant  *parley.Tenant
	Channel *parley.Channel
	APIKey  string
	// Logins are the demo users, by role, with a fresh password each run.
	Logins []DemoLogin
}

// DemoLogin is a demo user's email and password.
type DemoLogin struct {
	Role, Email, Password string
}

// demoUsers are created by `parley demo`.
var demoUsers = []struct{ role, email, name string }{
	{parley.RoleAgent, "agent@demo.parley.test", "Alice Agent"},
	{parley.RoleSupervisor, "supervisor@demo.parley.test", "Sam Supervisor"},
}

// SetUpDemo creates (or finds) the demo tenant and its sandbox number, and
// makes a new API key for it.
func (m *Main) SetUpDemo(ctx context.Context) (*Demo, error) {
	d := &Demo{}
	t, err := m.DB.FindTenantByName(ctx, demoTenant)
	if parley.ErrorCode(err) == parley.ENOTFOUND {
		t, err = m.DB.CreateTenant(ctx, demoTenant)
	}
	if err != nil {
		return nil, err
	}
	d.Tenant = t
	if d.APIKey, _, err = m.DB.CreateAPIKey(ctx, t.ID, "parley demo"); err != nil {
		return nil, err
	}
	chs, err := m.DB.ListChannels(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for _, ch := range chs {
		if ch.Provider == parley.ProviderSandbox {
			d.Channel = ch
		}
	}
	if d.Channel == nil {
		d.Channel, err = m.Messaging.ConnectChannel(ctx, t.ID, messaging.ChannelInput{Provider: parley.ProviderSandbox,
			PhoneNumber: "+551140028922", Name: "Demo sandbox", Sandbox: &parley.SandboxConfig{Customers: len(sandbox.Customers)},
			By: parley.Actor{Kind: parley.ActorSystem, Name: "parley demo"}})
		if err != nil {
			return nil, err
		}
	}
	if _, err := m.Messaging.SyncTemplates(ctx, t.ID, d.Channel.ID); err != nil {
		return nil, err
	}
	if err := m.demoUsers(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// demoUsers creates the demo agent and supervisor, or gives them a new
// password: only hashes are stored, so a login can be printed only when
// it is set.
func (m *Main) demoUsers(ctx context.Context, d *Demo) error {
	for _, du := range demoUsers {
		password := web.NewPassword()
		hash, err := web.HashPassword(password)
		if err != nil {
			return err
		}
		u, _, err := m.DB.UserByEmail(ctx, du.email)
		switch {
		case parley.ErrorCode(err) == parley.ENOTFOUND:
			err = m.DB.CreateUser(ctx, &parley.User{TenantID: d.Tenant.ID, Email: du.email, Name: du.name, Role: du.role}, hash)
		case err == nil:
			// Demo passwords are printed for trying things out, not handed
			// to a person to keep: they need not be changed.
			err = m.DB.SetPassword(ctx, u.ID, hash, false)
		}
		if err != nil {
			return err
		}
		d.Logins = append(d.Logins, DemoLogin{Role: du.role, Email: du.email, Password: password})
	}
	for _, q := range []struct{ shortcut, text string }{
		{"ola", "Olá! Obrigado por escrever. Como posso ajudar?"},
		{"hours", "We are open Monday to Friday, 9:00–18:00."},
		{"horario", "Abrimos de lunes a viernes, de 9:00 a 18:00."},
	} {
		if _, err := m.DB.CreateQuickReply(ctx, d.Tenant.ID, q.shortcut, q.text); err != nil && parley.ErrorCode(err) != parley.ECONFLICT {
			return err
		}
	}
	return nil
}

// runDemo is `parley demo`.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m, err := mainFromFlags("demo", args, stderr)
	if err != nil {
		return err
	}
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	d, err := m.SetUpDemo(ctx)
	if err != nil {
		m.Close()
		return err
	}
	m.info = func(ctx context.Context) httpapi.RootInfo {
		info := m.baseInfo(ctx, "running the demo")
		info.Demo = &httpapi.DemoInfo{APIKey: d.APIKey, ChannelID: d.Channel.ID, CustomerPhone: sandbox.Customers[0].Phone()}
		return info
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	customers := len(sandbox.Customers)
	if d.Channel.Sandbox != nil && d.Channel.Sandbox.Customers > 0 {
		customers = d.Channel.Sandbox.Customers
	}
	m.Sandbox.Simulate(d.Channel, customers)

	fmt.Fprintf(stdout, `
Parley demo is running at %[1]s

  Open %[1]s in a browser and sign in:
%[7]s
  API key (tenant %[2]q):  %[3]s
  Sandbox number:           %[4]s (channel %[5]s)
  Simulated customers write in Portuguese, English and Spanish, and answer when you reply.

Try:
  export PARLEY_API_KEY=%[3]s
  curl -s -H "Authorization: Bearer $PARLEY_API_KEY" %[1]s/v1/conversations
  curl -s -H "Authorization: Bearer $PARLEY_API_KEY" -H "Content-Type: application/json" \
    -d '{"channel_id":"%[5]s","to":"%[6]s","type":"text","text":{"body":"Olá Ana! Já verifico o seu pedido."}}' \
    %[1]s/v1/messages

Press Ctrl+C to stop.
`, m.URL(), d.Tenant.Name, d.APIKey, d.Channel.PhoneNumber, d.Channel.ID, sandbox.Customers[0].Phone(), logins(d.Logins))
	<-ctx.Done()
	m.Log.Info("shutting down")
	return m.Close()
}
