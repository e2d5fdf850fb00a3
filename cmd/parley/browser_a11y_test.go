package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley"
)

// The console for people who use a keyboard or a screen reader, or who
// see poorly: every control has a name, every text meets WCAG AA
// contrast, and an agent can sign in, open a conversation and reply
// without a mouse, always seeing where the focus is.

// unnamed lists the controls, links and images of the page (or of an open
// dialog) that have no accessible name, as Chromium computes it for
// screen readers.
func (c *console) unnamed() []string {
	c.t.Helper()
	var tree accessibility.GetFullAXTreeResult
	err := chromedp.Do(c.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var err error
		tree, err = chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		return err
	}))
	if err != nil {
		c.t.Fatal(err)
	}
	needName := map[string]bool{"button": true, "link": true, "textbox": true, "searchbox": true, "combobox": true, "checkbox": true,
		"radio": true, "listbox": true, "option": true, "image": true, "img": true, "progressbar": true, "slider": true, "dialog": true,
		"MenuListPopup": false, "textField": true}
	str := func(v *accessibility.Value) string {
		if v == nil {
			return ""
		}
		var s string
		json.Unmarshal(v.Value, &s)
		return strings.TrimSpace(s)
	}
	var bad []string
	for _, n := range tree.Nodes {
		if n.Ignored || !needName[str(n.Role)] || str(n.Name) != "" {
			continue
		}
		bad = append(bad, fmt.Sprintf("a %s (value %q, node %d)", str(n.Role), str(n.Value), n.BackendDOMNodeID))
	}
	return bad
}

// lowContrast lists the visible texts under root whose contrast with
// their background is below WCAG AA: 4.5:1, or 3:1 for large text.
// Disabled controls are exempt, as WCAG exempts inactive components.
func (c *console) lowContrast(root string) []string {
	c.t.Helper()
	return eval[[]string](c, `(() => {
	const parse = c => { const m = /rgba?\(([^)]+)\)/.exec(c); if (!m) return [0, 0, 0, 0];
		const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
	const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
	const background = el => {
		const layers = [];
		for (let e = el; e; e = e.parentElement) {
			const c = parse(getComputedStyle(e).backgroundColor);
			if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
		}
		return layers.reduceRight((acc, c) => over(c, acc), [255, 255, 255, 1]);
	};
	const lum = c => c.slice(0, 3).map(v => (v /= 255) <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4))
		.reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
	const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
	const bad = [];
	for (const el of document.querySelectorAll(`+fmt.Sprintf("%q", root+" *")+`)) {
		if (!Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())) continue;
		if (!el.getClientRects().length || el.closest("option, [hidden], .visually-hidden, :disabled, [aria-disabled=true], .skip-link")) continue;
		const s = getComputedStyle(el);
		if (s.visibility === "hidden") continue;
		const bg = background(el), fg = over(parse(s.color), bg);
		const size = parseFloat(s.fontSize), large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
		const r = ratio(fg, bg);
		if (r < (large ? 3 : 4.5)) bad.push(el.tagName.toLowerCase() + "." + el.className + " «" + el.textContent.trim().slice(0, 30) + "» " + r.toFixed(2) + ":1");
	}
	return bad;
})()`)
}

// checkPage fails the test for every unnamed control and low-contrast
// text on the page as it is now.
func (c *console) checkPage(name, root string) {
	c.t.Helper()
	for _, b := range c.unnamed() {
		c.t.Errorf("%s: %s has no accessible name", name, b)
	}
	for _, b := range c.lowContrast(root) {
		c.t.Errorf("%s: low contrast: %s", name, b)
	}
}

// TestBrowserAccessibility checks the names and contrast of every page an
// agent and a supervisor use, in each state that shows other controls.
func TestBrowserAccessibility(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.run(chromedp.Navigate(c.url+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")))
	// First, the checks catch what they are meant to catch.
	eval[bool](c, `(() => { const p = document.createElement("p"); p.id = "probe"; p.textContent = "pale"; p.style.color = "#aaa";
		const b = document.createElement("button"); b.id = "probe-button"; document.body.append(p, b); return true })()`)
	if bad := c.lowContrast("body"); len(bad) != 1 || !strings.Contains(bad[0], "pale") {
		t.Fatalf("the contrast check found %v in grey on white", bad)
	}
	if bad := c.unnamed(); len(bad) != 1 || !strings.Contains(bad[0], "button") {
		t.Fatalf("the name check found %v for an empty button", bad)
	}
	c.run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#email")))
	c.checkPage("sign-in", "body")
	c.customerWrites(0, "Oi, meu pedido não chegou.")
	c.customerWrites(2, "Hola, ¿tienen talla M?")
	c.signIn(parley.RoleSupervisor)
	c.openConversation(c.customer(0).Name)
	// A failed message, a note and a reply put every kind of bubble on screen.
	c.m.Sandbox.FailNext(sandboxRejection())
	c.run(chromedp.SendKeys(chromedp.CSS("#composer-text"), "Vou verificar."), press("Enter"))
	c.until("the failure shows", `!!document.querySelector("#thread li.msg-failed .msg-error")`)
	c.run(chromedp.Click(chromedp.CSS(`#composer input[value=note]`)),
		chromedp.SendKeys(chromedp.CSS("#composer-text"), "Checar estoque."), press("Enter"))
	c.until("the note shows", `!!document.querySelector("#thread li.msg-note")`)
	c.checkPage("conversation", "body")
	c.settled()
	c.run(chromedp.Click(chromedp.CSS(`#composer button[hx-get$="/templates"]`)))
	c.until("the template picker opens", `document.querySelector("#dialog").open && !!document.querySelector(".template-list")`)
	c.checkPage("template picker", "#dialog")
	c.settled()
	eval[bool](c, `document.querySelector(".template-list button").click(), true`)
	c.until("the template form opens", `!!document.querySelector("[data-template-form]")`)
	c.checkPage("template form", "#dialog")
	for _, page := range []string{"/console/supervisor", "/console/settings", "/console/quick-replies", "/account/password"} {
		c.run(chromedp.Navigate(c.url+page), chromedp.WaitVisible(chromedp.CSS("#main")))
		c.checkPage(page, "body")
	}
	var tok struct {
		URL string `json:"url"`
	}
	c.must(c.app.do("POST", "/v1/panel-tokens", c.demo.APIKey, map[string]any{"phone": c.customer(2).Phone()}), 201, &tok)
	c.run(chromedp.EmulateViewport(400, 760), chromedp.Navigate(tok.URL), chromedp.WaitVisible(chromedp.CSS("#composer")))
	c.checkPage("panel", "body")
}

// tabTo presses Tab until the focused element satisfies the JavaScript
// predicate on el, checking at every stop that the focus can be seen.
func (c *console) tabTo(what, predicate string) {
	c.t.Helper()
	for range 60 {
		c.run(press("Tab"))
		if eval[bool](c, `document.activeElement === document.body`) {
			continue
		}
		if !eval[bool](c, focusShown) {
			c.screenshot("failed-focus")
			c.t.Fatalf("on the way to %s, the focus on %s cannot be seen", what, eval[string](c, `document.activeElement.outerHTML.slice(0, 120)`))
		}
		if eval[bool](c, `!!((el => `+predicate+`)(document.activeElement))`) {
			return
		}
	}
	c.t.Fatalf("60 presses of Tab did not reach %s", what)
}

// focusShown holds when the focused element draws a focus ring, or the
// label that stands in for it draws one (a ring on a visually hidden file
// input would be a ring nobody sees).
const focusShown = `(el => {
	const ring = e => { const s = getComputedStyle(e); return s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2; };
	const r = el.getBoundingClientRect(), clip = getComputedStyle(el).clip;
	if (r.width > 1 && r.height > 1 && (clip === "auto" || clip === "") && ring(el)) return true;
	return Array.from(el.labels || []).concat([el.closest("label")]).some(l => l && ring(l));
})(document.activeElement)`

// TestBrowserKeyboard: an agent signs in, opens a conversation, replies,
// and opens and leaves the template picker with the keyboard alone.
func TestBrowserKeyboard(t *testing.T) {
	c := startConsole(t, 1280, 800)
	c.customerWrites(1, "Bom dia, a loja abre amanhã?")
	var login DemoLogin
	for _, l := range c.demo.Logins {
		if l.Role == parley.RoleAgent {
			login = l
		}
	}
	c.run(chromedp.Navigate(c.url+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if !eval[bool](c, `document.activeElement.id === "email"`) {
		t.Fatal("the sign-in page does not start in the e-mail field")
	}
	c.run(chromedp.KeyEvent(login.Email))
	c.tabTo("the password", `el.id === "password"`)
	c.run(chromedp.KeyEvent(login.Password), press("Enter"))
	c.until("the console opens", `!!document.querySelector("#inbox-list") && document.body.dataset.live === "on"`)

	// The first stop skips to the content.
	c.tabTo("the skip link", `el.classList.contains("skip-link")`)
	name := c.customer(1).Name
	c.tabTo("the conversation in the inbox", fmt.Sprintf(`el.closest("#inbox-list a") && el.textContent.includes(%q)`, name))
	c.screenshot("10-keyboard-inbox")
	c.run(press("Enter"))
	c.until("the conversation opens", fmt.Sprintf(`!!document.querySelector("#composer") && document.querySelector("#conversation-title").textContent === %q`, name))
	c.settled()
	c.tabTo("the text box", `el.id === "composer-text"`)
	c.run(chromedp.KeyEvent("Bom dia! Abrimos às 9h."), press("Enter"))
	c.until("the reply is sent", `Array.from(document.querySelectorAll("#thread li.msg-out")).some(li => li.textContent.includes("9h"))`)

	// The template picker opens from the keyboard, and Escape leaves it
	// with the focus back where it was.
	c.settled()
	c.tabTo("the template button", `el.matches("#composer button[hx-get$='/templates']")`)
	c.run(press("Enter"))
	c.until("the template picker opens with the focus inside", `document.querySelector("#dialog").open && document.querySelector("#dialog").contains(document.activeElement)`)
	c.screenshot("10-keyboard-dialog")
	c.run(press("Escape"))
	c.until("the picker closes", `!document.querySelector("#dialog").open`)
	if !eval[bool](c, `document.activeElement.matches("#composer button[hx-get$='/templates']")`) {
		t.Errorf("after Escape the focus is on %s", eval[string](c, `document.activeElement.outerHTML.slice(0, 120)`))
	}
}
