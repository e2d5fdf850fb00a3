package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/sandbox"
)

// The console and the panel in a real browser: Debian's chromium, driven
// by chromedp, against the real server on a random port with the sandbox
// provider. Each flow saves a screenshot, into PARLEY_SCREENSHOTS when
// set (the README's pictures come from there), else into the test's
// temporary directory.

// console is a browser signed in to a running Parley.
type console struct {
	*app
	ctx     context.Context
	demo    *Demo
	shots   string
	channel *parley.Channel
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PARLEY_REQUIRE_BROWSER") != "" {
		t.Fatal("PARLEY_REQUIRE_BROWSER is set and there is no chromium (apt-get install chromium)")
	}
	t.Skip("no chromium on this machine (apt-get install chromium)")
	return ""
}

// startConsole starts Parley with the demo set up, and a browser.
func startConsole(t *testing.T, width, height int, appOpts ...appOption) *console {
	t.Helper()
	exe := chromiumPath(t)
	a := startApp(t, append([]appOption{func(m *Main) { m.Pace = sandbox.Pace{Tick: 250 * time.Millisecond} }}, appOpts...)...)
	d, err := a.m.SetUpDemo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true),
		// Third-party cookies blocked, as Safari, Firefox and Chrome for
		// some users do: the panel in a CRM's iframe must work there.
		chromedp.Flag("test-third-party-cookie-phaseout", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	shots := os.Getenv("PARLEY_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	return &console{app: a, ctx: ctx, demo: d, shots: shots, channel: d.Channel}
}

// do runs browser actions or fails the test.
func (c *console) run(actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, actions...); err != nil {
		c.t.Fatalf("browser: %v", err)
	}
}

// eval runs JavaScript in the page and returns its result, awaiting it
// when it is a promise.
func eval[T any](c *console, js string) T {
	c.t.Helper()
	v, err := chromedp.Run(c.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// until polls a JavaScript condition in the page until it holds.
func (c *console) until(what, js string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !eval[bool](c, js) {
		if time.Now().After(deadline) {
			c.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
			buf := make([]byte, 1<<22)
			dump := string(buf[:runtime.Stack(buf, true)])
			rows, err := c.m.DB.Reader().Query(`SELECT id, kind, state, attempt, snoozes, scheduled_at, last_error FROM jobs ORDER BY id`)
			if err == nil {
				for rows.Next() {
					var id, attempt, snoozes, at int64
					var kind, state, last string
					rows.Scan(&id, &kind, &state, &attempt, &snoozes, &at, &last)
					dump = fmt.Sprintf("job %d %s %s attempt=%d snoozes=%d in=%v %s\n", id, kind, state, attempt, snoozes,
						time.Until(time.UnixMilli(at)), last) + dump
				}
				rows.Close()
			}
			os.WriteFile(filepath.Join(c.shots, "failed-goroutines.txt"), []byte(dump), 0o644)
			c.t.Fatalf("gave up waiting in the browser: %s (%s)", what, js)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// settled waits until htmx has no request, swap or settle under way, so
// the next click lands on an element htmx has already wired up.
func (c *console) settled() {
	c.t.Helper()
	c.until("htmx settles", `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")`)
}

func (c *console) screenshot(name string) {
	c.t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(c.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// signIn signs in through the login form as the demo user of a role.
func (c *console) signIn(role string) {
	c.t.Helper()
	for _, l := range c.demo.Logins {
		if l.Role != role {
			continue
		}
		c.run(chromedp.Navigate(c.url+"/console"),
			chromedp.WaitVisible(chromedp.CSS("#email")),
			chromedp.SendKeys(chromedp.CSS("#email"), l.Email),
			chromedp.SendKeys(chromedp.CSS("#password"), l.Password),
			chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#inbox-list")))
		c.until("the live stream connects", `document.body.dataset.live === "on"`)
		return
	}
	c.t.Fatalf("no demo %s", role)
}

// customer is a simulated customer of the sandbox.
func (c *console) customer(i int) sandbox.Customer { return sandbox.Customers[i] }

func (c *console) customerWrites(i int, text string) {
	c.t.Helper()
	if err := c.m.Sandbox.Write(context.Background(), c.channel, c.customer(i), text); err != nil {
		c.t.Fatal(err)
	}
}

// openConversation clicks a customer's row in the inbox.
func (c *console) openConversation(name string) {
	c.t.Helper()
	sel := fmt.Sprintf(`Array.from(document.querySelectorAll("#inbox-list .row-name")).find(e => e.textContent === %q)`, name)
	c.until("the conversation of "+name+" is listed", sel+` !== undefined`)
	eval[bool](c, sel+`.closest("a").click(), true`)
	c.until("the conversation opens", `!!document.querySelector("#composer") && document.querySelector("#conversation-title").textContent === `+fmt.Sprintf("%q", name))
	c.settled()
}

func TestBrowserSignIn(t *testing.T) {
	c := startConsole(t, 1280, 800)
	// A wrong password says so, in the browser's language.
	c.run(chromedp.Navigate(c.url+"/login"),
		chromedp.SendKeys(chromedp.CSS("#email"), "agent@demo.parley.test"),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	c.screenshot("1-sign-in-refused")
	c.signIn(parley.RoleAgent)
	if got := eval[string](c, `document.querySelector(".whoami").textContent`); !strings.Contains(got, "Alice Agent") {
		t.Fatalf("signed in as %q", got)
	}
	c.screenshot("1-signed-in")
}

// TestBrowserLiveInbox: a customer writes, and the conversation appears
// without a reload.
func TestBrowserLiveInbox(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.signIn(parley.RoleAgent)
	eval[bool](c, `window.__marker = 1, true`) // gone if the page reloads
	c.customerWrites(0, "Olá! Vocês entregam no sábado?")
	c.until("the new conversation appears live", `Array.from(document.querySelectorAll("#inbox-list .row-preview")).some(e => e.textContent.includes("sábado"))`)
	c.until("with its unread count", `!!document.querySelector("#inbox-list .badge")`)
	if !eval[bool](c, `window.__marker === 1`) {
		t.Fatal("the page reloaded")
	}
	c.screenshot("2-live-inbox")
}

// TestBrowserReplyTicks: an agent replies and sees the message go from
// sent to delivered to read.
func TestBrowserReplyTicks(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.signIn(parley.RoleAgent)
	c.customerWrites(0, "Oi, meu pedido não chegou.")
	c.openConversation(c.customer(0).Name)
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Olá Ana! Vou verificar agora mesmo.\r"))
	mine := `Array.from(document.querySelectorAll("#thread li.msg-out")).find(li => li.textContent.includes("verificar"))`
	c.until("the reply is in the thread", mine+` !== undefined`)
	// Watch the tick change, without reloading anything.
	var seen []string
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1] != "tick-read" {
		if time.Now().After(deadline) {
			t.Fatalf("the ticks went %v and stopped", seen)
		}
		tick := eval[string](c, mine+`.querySelector(".tick").className.replace("tick ", "")`)
		if len(seen) == 0 || seen[len(seen)-1] != tick {
			seen = append(seen, tick)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.Join(seen, " "); !strings.Contains(got, "tick-sent") || !strings.Contains(got, "tick-delivered") {
		t.Fatalf("the ticks went %s; want sent, then delivered, then read", got)
	}
	if color := eval[string](c, `getComputedStyle(`+mine+`.querySelector(".tick")).color`); color != "rgb(11, 98, 164)" {
		t.Errorf("the read tick is %s, want the read blue", color)
	}
	c.until("the customer answers", `document.querySelectorAll("#thread li.msg-in").length >= 2`)
	if got := eval[string](c, `document.querySelector("#composer-text").value`); got != "" {
		t.Fatalf("the composer kept %q after sending", got)
	}
	c.screenshot("3-reply-ticks")
}

// TestBrowserClosedWindow: outside the window the text box is disabled
// with the reason, and a template with its variables goes instead.
func TestBrowserClosedWindow(t *testing.T) {
	c := startConsole(t, 1280, 800)
	// The customer wrote 25 hours ago.
	cust := c.customer(0)
	err := c.m.Ingester.Submit(context.Background(), messaging.Delivery{Channel: c.channel, Batch: oldMessage(c.channel, cust, time.Now().Add(-25*time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	c.signIn(parley.RoleAgent)
	c.openConversation(cust.Name)
	if !eval[bool](c, `document.querySelector("#composer-text").disabled`) {
		t.Fatal("the text box is enabled outside the window")
	}
	if reason := eval[string](c, `document.querySelector("#window-state").textContent`); !strings.Contains(reason, "24") {
		t.Fatalf("the reason shown is %q", reason)
	}
	c.screenshot("4-window-closed")
	// Crafting the request does not help either.
	status := eval[float64](c, `(async () => { const c = document.querySelector("#conversation").dataset.conversation;
		const r = await fetch("/console/c/" + c + "/send", {method: "POST", body: new URLSearchParams({text: "sneaky"})}); return r.status })()`)
	if status != 422 {
		t.Fatalf("a crafted free-text send answered %v, want 422", status)
	}
	c.settled()
	c.run(chromedp.Click(chromedp.CSS(`#composer button[hx-get$="/templates"]`)))
	c.until("the template picker opens", `document.querySelector("#dialog").open && !!document.querySelector(".template-list")`)
	c.settled()
	// The contact's language (pt_BR) comes first.
	if first := eval[string](c, `document.querySelector(".template-list li .lang").textContent`); first != "pt_BR" {
		t.Fatalf("the first template is in %q", first)
	}
	eval[bool](c, `Array.from(document.querySelectorAll(".template-list button")).find(b => b.textContent.includes("order_update") && b.textContent.includes("pt_BR")).click(), true`)
	c.until("the template form opens", `!!document.querySelector("[data-template-form]")`)
	c.settled()
	if v := eval[string](c, `document.querySelector("#tf-body_0").value`); v != "Ana" {
		t.Fatalf("the first variable is pre-filled with %q, want the contact's first name", v)
	}
	c.run(chromedp.SendKeys(chromedp.CSS("#tf-body_1"), "#4521"))
	c.until("the preview shows the variables", `document.querySelector(".preview").textContent.includes("Ana") && document.querySelector(".preview").textContent.includes("#4521")`)
	c.screenshot("4-template-form")
	c.run(chromedp.Click(chromedp.CSS(`#send-template`)))
	c.until("the template is in the thread", `Array.from(document.querySelectorAll("#thread li.msg-out .text")).some(e => e.textContent.includes("#4521"))`)
	c.until("the dialog closes", `!document.querySelector("#dialog").open`)
	if days := eval[[]string](c, `Array.from(document.querySelectorAll("#thread li.day-sep")).map(e => e.textContent)`); len(days) != 2 {
		t.Errorf("the thread across two days has the day separators %q", days)
	}
	c.screenshot("4-template-sent")
}

// TestBrowserNoteAssignResolve: a note is visibly internal, then the
// conversation is assigned and resolved, all in the audit record.
func TestBrowserNoteAssignResolve(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.customerWrites(2, "Hola, ¿tienen talla M?")
	c.signIn(parley.RoleSupervisor)
	c.openConversation(c.customer(2).Name)
	c.run(chromedp.Click(chromedp.CSS(`#composer input[value=note]`)),
		chromedp.SendKeys(chromedp.CSS("#composer-text"), "Cliente VIP: priorizar.\r"))
	c.until("the note is in the thread", `Array.from(document.querySelectorAll("#thread li.msg-note .text")).some(e => e.textContent.includes("VIP"))`)
	c.run(chromedp.SetValue(chromedp.CSS("#assign-to"), "me"), chromedp.Click(chromedp.CSS(".assign button")))
	c.until("the conversation is assigned", `document.querySelector("#assign-to").selectedOptions[0].textContent === "Sam Supervisor"`)
	c.settled()
	c.run(chromedp.Click(chromedp.CSS(`.status-form button`)))
	c.until("the conversation is resolved", `document.querySelector(".status").classList.contains("status-resolved")`)
	c.screenshot("5-note-assign-resolve")
	// Nothing of the note reached the customer, and the audit record has it all.
	conv := eval[string](c, `document.querySelector("#conversation").dataset.conversation`)
	var audit struct {
		Data []parley.AuditEntry `json:"data"`
	}
	c.must(c.app.do("GET", "/v1/audit?subject="+conv, c.demo.APIKey, nil), 200, &audit)
	var actions []string
	for _, e := range audit.Data {
		actions = append(actions, e.Action+" by "+e.Actor.Name)
	}
	for _, want := range []string{"conversation.note by Sam Supervisor", "conversation.assign by Sam Supervisor", "conversation.resolve by Sam Supervisor"} {
		if !strings.Contains(strings.Join(actions, "\n"), want) {
			t.Errorf("the audit record lacks %q: %v", want, actions)
		}
	}
}

// TestBrowserFailedSend: a failed send shows the provider's error in words
// and a button that sends it again.
func TestBrowserFailedSend(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.customerWrites(4, "Hi! Can I book a demo?")
	c.signIn(parley.RoleAgent)
	c.openConversation(c.customer(4).Name)
	c.m.Sandbox.FailNext(sandboxRejection())
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Sure, how about Tuesday?\r"))
	c.until("the message fails with the provider's words", `!!document.querySelector("#thread li.msg-failed .msg-error") &&
		document.querySelector("#thread li.msg-failed .msg-error").textContent.includes("131026")`)
	c.screenshot("6-failed-send")
	c.run(chromedp.Click(chromedp.CSS(`#thread li.msg-failed .msg-error button`)))
	c.until("the message goes out again", `Array.from(document.querySelectorAll("#thread li.msg-out:not(.msg-failed)")).some(li =>
		li.textContent.includes("Tuesday") && li.querySelector(".tick-read, .tick-delivered, .tick-sent"))`)
	c.screenshot("6-resent")
}

// TestBrowserPanel: the panel opens for a phone number at 400 px, in a
// CRM's iframe, with a token from the API.
func TestBrowserPanel(t *testing.T) {
	c := startConsole(t, 400, 760)
	c.run(chromedp.EmulateViewport(400, 760))
	c.customerWrites(1, "Bom dia, a loja abre amanhã?")
	var tok struct {
		URL string `json:"url"`
	}
	c.must(c.app.do("POST", "/v1/panel-tokens", c.demo.APIKey, map[string]any{"phone": c.customer(1).Phone()}), 201, &tok)
	c.run(chromedp.Navigate(tok.URL), chromedp.WaitVisible(chromedp.CSS("#composer")))
	c.settled()
	c.until("the thread shows the customer's message", `document.querySelector("#thread").textContent.includes("amanhã")`)
	c.until("the live stream connects", `document.body.dataset.live === "on"`)
	if w := eval[float64](c, `document.documentElement.scrollWidth`); w > 400 {
		t.Fatalf("the panel is %v px wide at a 400 px viewport", w)
	}
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Bom dia! Abre às 9h.\r"))
	c.until("the panel's reply is sent and ticks", `!!document.querySelector("#thread li.msg-out .tick-read, #thread li.msg-out .tick-delivered")`)
	c.screenshot("7-panel")
	// Without a token the panel is refused.
	if code := c.app.do("GET", "/panel?phone="+url.QueryEscape(c.customer(1).Phone()), "", nil).status; code != 401 {
		t.Fatalf("the panel without a token answered %d", code)
	}
}

// TestBrowserXSS: a customer's text and profile name full of markup are
// shown as text, and nothing of it runs.
func TestBrowserXSS(t *testing.T) {
	c := startConsole(t, 1280, 800)
	evil := sandbox.Customer{Name: `<img src=x onerror="window.__xss=1">Eve<script>window.__xss=2</script>`, WAID: "5511955554444",
		Language: "pt_BR", Replies: []string{"<script>window.__xss=3</script>"}}
	c.signIn(parley.RoleAgent)
	if err := c.m.Sandbox.Write(context.Background(), c.channel, evil, `<script>window.__xss=4</script><img src=x onerror="window.__xss=5">`); err != nil {
		t.Fatal(err)
	}
	c.until("the message arrives live", `Array.from(document.querySelectorAll("#inbox-list .row-name")).some(e => e.textContent.includes("Eve"))`)
	eval[bool](c, `Array.from(document.querySelectorAll("#inbox-list .row-name")).find(e => e.textContent.includes("Eve")).closest("a").click(), true`)
	c.until("the conversation opens", `!!document.querySelector("#thread li.msg-in")`)
	c.settled()
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "<b>bold?</b>\r"))
	c.until("the customer's answer arrives live", `document.querySelectorAll("#thread li.msg-in").length >= 2`)
	if got := eval[string](c, `document.querySelector("#thread li.msg-in .text").textContent`); !strings.Contains(got, "<script>") {
		t.Fatalf("the message text is shown as %q", got)
	}
	if n := eval[float64](c, `document.querySelectorAll("#thread script, #inbox-list script, #thread img[onerror], #inbox-list img").length`); n != 0 {
		t.Fatalf("%v injected elements in the page", n)
	}
	if eval[bool](c, `window.__xss !== undefined`) {
		t.Fatalf("injected script ran: window.__xss = %v", eval[float64](c, `window.__xss`))
	}
	c.screenshot("9-xss")
}

// oldMessage is a text a customer sent at ts.
func oldMessage(ch *parley.Channel, c sandbox.Customer, ts time.Time) *whatsapp.Batch {
	return &whatsapp.Batch{Messages: []whatsapp.Message{{Account: ch.AccountID, Contact: whatsapp.Contact{WAID: c.WAID, ProfileName: c.Name},
		Content: parley.Message{Type: parley.TypeText, ProviderMessageID: "wamid.old." + c.WAID, Text: "Vocês ainda têm o modelo azul?", Timestamp: ts}}}}
}

// sandboxRejection is Meta's refusal of an undeliverable message.
func sandboxRejection() *whatsapp.Error {
	return &whatsapp.Error{Kind: whatsapp.Rejected, Code: "131026", Title: "Message undeliverable",
		Message: "Message undeliverable: the recipient cannot receive this message."}
}

// press presses one named key the way a keyboard does: a keyDown that
// carries the key's text, so a page that cancels the keydown also stops
// the character, then a keyUp. (chromedp.KeyEvent sends the character as
// a separate event, which a cancelled keydown cannot stop.)
func press(key string, mods ...chromedp.Modifier) chromedp.Action[chromedp.Void] {
	codes := map[string]struct {
		vk   int64
		text string
	}{"Enter": {13, "\r"}, "Tab": {9, ""}, "Escape": {27, ""}, "ArrowDown": {40, ""}, "ArrowUp": {38, ""}, " ": {32, " "}}
	k, ok := codes[key]
	if !ok {
		panic("press: unknown key " + key)
	}
	code := key
	if key == " " {
		code = "Space"
	}
	var m int64
	for _, x := range mods {
		m |= int64(x)
	}
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		typ := input.DispatchKeyEventTypeKeyDown
		if k.text == "" {
			typ = input.DispatchKeyEventTypeRawKeyDown
		}
		down := input.DispatchKeyEventParams{Type: typ, Key: key, Code: code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk,
			Text: k.text, UnmodifiedText: k.text, Modifiers: m}
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		_, err := chromedp.Call(ctx, input.DispatchKeyEvent, up)
		return err
	})
}
