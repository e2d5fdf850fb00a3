package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	fakeoidc "github.com/parleyhq/parley/internal/fake/oidc"
)

// TestBrowserOIDC: the panel inside a CRM, the way Dynamics 365 shows it:
// a page of another site (127.0.0.1, while Parley is on localhost) frames
// /panel, in a browser that blocks third-party cookies. The agent clicks
// "Sign in with Microsoft"; the popup signs in against the fake Entra ID
// and posts its one-time code back; the panel trades it for its
// partitioned cookie, reloads, and shows the conversation, from which the
// agent replies.
func TestBrowserOIDC(t *testing.T) {
	idp := fakeoidc.New(t, fakeoidc.Options{})
	var panelURL string
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Dynamics 365</title><h1>Contact</h1>
<iframe id="pane" title="WhatsApp" src="%s" width="400" height="700"></iframe>`, panelURL)
	}))
	t.Cleanup(crm.Close)
	c := startConsole(t, 1000, 800, func(m *Main) {
		m.Config.OIDCIssuer, m.Config.OIDCClientID = idp.Issuer(), idp.ClientID()
		m.Config.FrameAncestors = crm.URL
	})
	if !strings.HasPrefix(c.url, "http://localhost:") {
		t.Fatalf("Parley runs at %s; the test needs localhost, another site than the CRM's 127.0.0.1", c.url)
	}
	// Alice Agent signs in with Microsoft under her Parley email.
	var agent string
	for _, l := range c.demo.Logins {
		if l.Role == "agent" {
			agent = l.Email
		}
	}
	idp.SetUser(fakeoidc.User{OID: "9f1c2d3e-0000-4000-8000-00000000a11c", Email: agent, Name: "Alice (Entra)"})
	c.customerWrites(1, "Bom dia, a loja abre amanhã?")
	panelURL = c.url + "/panel?phone=" + url.QueryEscape(c.customer(1).Phone())

	c.run(chromedp.Navigate(crm.URL + "/contact"))
	frame := c.frame(c.url + "/panel")
	frame.run(chromedp.WaitVisible(chromedp.CSS("#oidc-signin")))
	if got := eval[string](frame, `document.querySelector("#oidc-signin").textContent`); got != "Sign in with Microsoft" {
		t.Fatalf("the panel's button says %q", got)
	}
	c.screenshot("10-panel-sign-in")
	// The button's script is deferred: it runs before the document stops
	// loading.
	frame.until("the panel's script is ready", `document.readyState !== "loading"`)
	frame.run(chromedp.Click(chromedp.CSS("#oidc-signin")))
	frame.acrossReload("the panel shows the conversation once signed in", `!!document.querySelector("#composer") &&
		document.querySelector("#thread").textContent.includes("amanhã")`)
	c.screenshot("10-panel-signed-in")
	if idp.Redeemed() != 1 {
		t.Fatalf("the provider redeemed %d codes", idp.Redeemed())
	}
	// The popup closed itself after posting the code.
	deadline := time.Now().Add(10 * time.Second)
	for {
		infos, err := chromedp.Targets(c.ctx)
		if err != nil {
			t.Fatal(err)
		}
		open := false
		for _, info := range infos {
			open = open || info.Type == "page" && strings.Contains(info.URL, "/auth/oidc/")
		}
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sign-in popup is still open")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The panel's cookie is partitioned under the CRM's site, so the
	// console at the top level knows nothing of it.
	cookies := eval[string](frame, `document.cookie`)
	if strings.Contains(cookies, "parley_panel_session") {
		t.Errorf("the panel's session cookie is readable by script: %q", cookies)
	}
	// The panel acts as the agent: the live stream and a reply.
	frame.until("the live stream connects", `document.body.dataset.live === "on"`)
	frame.settled()
	frame.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Bom dia! Abre às 9h.\r"))
	frame.until("the reply is sent", `Array.from(document.querySelectorAll("#thread li.msg-out")).some(li => li.textContent.includes("9h"))`)
	var kind, name string
	if err := c.m.DB.Reader().QueryRow(`SELECT sent_by_kind, sent_by_name FROM messages WHERE text = 'Bom dia! Abre às 9h.'`).Scan(&kind, &name); err != nil {
		t.Fatalf("the reply's author: %v", err)
	}
	if kind != "user" || name != "Alice Agent" {
		t.Errorf("the reply was sent by %s %q, want the user Alice Agent", kind, name)
	}
	c.screenshot("10-panel-reply")
}

// frame attaches to the cross-site iframe whose address starts with
// prefix: Chrome runs it as a target of its own.
func (c *console) frame(prefix string) *console {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		infos, err := chromedp.Targets(c.ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithTargetID(info.TargetID))
				c.t.Cleanup(cancel)
				f := *c
				f.ctx = ctx
				return &f
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no iframe at %s", prefix)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// acrossReload polls a JavaScript condition like until, through a reload
// of the page, when an evaluation may find no document to run in.
func (c *console) acrossReload(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(c.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
			c.t.Fatalf("gave up waiting in the browser: %s (%s; last error %v)", what, js, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
