package solution

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The button in a real browser (Debian's chromium, driven by chromedp),
// with Dynamics played by a test page: an Xrm whose side pane loads the
// web resource the way Dynamics does, /WebResources/<name>?data=…, and a
// form (PrimaryControl) for a Lead. The web resources are the built zip's,
// found through customizations.xml as an import finds them; the handler
// is the one the ribbon names. Parley's /panel is a stub that echoes its
// query.

func chromium(t *testing.T) string {
	t.Helper()
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

// dynamicsStandIn is the page the button runs on: the form, Xrm, and the
// side pane (an iframe).
const dynamicsStandIn = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Lead</title>
<script>
window.calls = { createPane: [], getPane: [], navigate: [], select: 0 };
var panes = {};
function Pane(options) { this.paneId = options.paneId; }
Pane.prototype.select = function () { calls.select++; };
Pane.prototype.navigate = function (input) {
  calls.navigate.push(JSON.parse(JSON.stringify(input)));
  // What Dynamics does with a webresource page input: the HTML web
  // resource, with the data in its data parameter.
  document.getElementById("pane").src = "/WebResources/" + input.webresourceName + "?data=" + encodeURIComponent(input.data);
  return Promise.resolve();
};
window.Xrm = { App: { sidePanes: {
  createPane: function (options) {
    calls.createPane.push(JSON.parse(JSON.stringify(options)));
    var pane = new Pane(options);
    panes[options.paneId] = pane;
    return Promise.resolve(pane);
  },
  getPane: function (id) { calls.getPane.push(id); return panes[id]; }
} } };
// form is a stand-in for the form context Dynamics passes as PrimaryControl.
window.form = function (table, id, values) {
  return {
    data: { entity: { getEntityName: function () { return table; }, getId: function () { return id; } } },
    getAttribute: function (name) {
      if (!Object.prototype.hasOwnProperty.call(values, name)) { return null; }
      return { getValue: function () { return values[name]; } };
    }
  };
};
// ribbon calls a function by its dotted name, as the ribbon does.
window.ribbon = function (name, arg) {
  var f = name.split(".").reduce(function (o, k) { return o && o[k]; }, window);
  if (typeof f !== "function") { return Promise.resolve("no function " + name); }
  try {
    return Promise.resolve(f(arg)).then(function (v) { return "ok " + v; }, function (e) { return "rejected: " + e; });
  } catch (e) {
    return Promise.resolve("threw: " + (e && e.stack || e));
  }
};
// panel is where the pane's iframe is, once the stub panel has loaded.
window.panel = function () {
  var pane = document.getElementById("pane").contentDocument;
  var frame = pane && pane.getElementById("parley-panel");
  var doc = frame && frame.contentDocument;
  return doc && doc.getElementById("query") ? frame.contentWindow.location.href : "";
};
</script>
<script src="/WebResources/%s"></script>
</head>
<body><iframe id="pane" style="width:400px;height:600px;border:0"></iframe></body></html>`

func TestBrowserWhatsAppButton(t *testing.T) {
	exe := chromium(t)

	var mu sync.Mutex
	var panelQueries []url.Values
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()

	p := build(t, Options{BaseURL: srv.URL, Tables: []string{"lead", "contact", "new_student"},
		PhoneColumns: map[string][]string{"new_student": {"new_phone"}}})
	res := p.webResources(t)

	// The ribbon's command for the lead form: the handler and its library.
	var handler, library, enable string
	for _, e := range p.xml(t, "customizations.xml").all("Entities", "Entity") {
		if e.text("Name") != "Lead" {
			continue
		}
		fn := e.one("RibbonDiffXml", "CommandDefinitions", "CommandDefinition", "Actions", "JavaScriptFunction")
		handler, library = fn.attr("FunctionName"), strings.TrimPrefix(fn.attr("Library"), "$webresource:")
		for _, r := range e.all("RibbonDiffXml", "RuleDefinitions", "EnableRules", "EnableRule", "CustomRule") {
			enable = r.attr("FunctionName")
		}
	}
	if handler == "" || enable == "" {
		t.Fatal("the lead's ribbon calls no JavaScript")
	}

	types := map[string]string{".js": "text/javascript", ".htm": "text/html; charset=utf-8", ".svg": "image/svg+xml"}
	mux.HandleFunc("GET /WebResources/", func(w http.ResponseWriter, r *http.Request) {
		res, ok := res[strings.TrimPrefix(r.URL.Path, "/WebResources/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", types[path.Ext(res.name)])
		w.Write(res.body)
	})
	mux.HandleFunc("GET /form", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, dynamicsStandIn, html.EscapeString(library))
	})
	mux.HandleFunc("GET /panel", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		panelQueries = append(panelQueries, r.URL.Query())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><title>panel</title><pre id="query">%s</pre>`, html.EscapeString(r.URL.RawQuery))
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/form")); err != nil {
		t.Fatalf("open the form: %v", err)
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	type calls struct {
		CreatePane []map[string]any
		GetPane    []string
		Navigate   []map[string]string
		Select     int
	}
	state := func() calls {
		t.Helper()
		var c calls
		if err := json.Unmarshal([]byte(eval(`JSON.stringify(calls)`)), &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// panelAt waits, with a deadline, until the pane's iframe has loaded
	// the stub panel, and returns where it is.
	panelAt := func(want string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Poll[string](`panel() === `+jsString(want)+` && panel()`,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatalf("the pane's iframe never reached %s (it is at %q; calls %+v): %v", want, eval(`panel()`), state(), err)
		}
		if got != want {
			t.Fatalf("the pane's iframe is at %s, want %s", got, want)
		}
	}
	click := func(form string) {
		t.Helper()
		if got := eval(`ribbon(` + jsString(handler) + `, ` + form + `)`); !strings.HasPrefix(got, "ok") {
			t.Fatalf("%s(%s): %s", handler, form, got)
		}
	}

	if got := eval(`ribbon(` + jsString(enable) + `)`); got != "ok true" {
		t.Errorf("the enable rule %s says %q where Xrm.App.sidePanes exists", enable, got)
	}

	// 1. A lead with a mobile phone: a new pane, on the record and the phone.
	click(`form("lead", "{3F2C9A4E-1B7D-4C8E-9F00-2A6B5C4D3E21}", {mobilephone: "+55 11 98765-4321", telephone1: "+55 11 3333-4444"})`)
	panelAt(srv.URL + "/panel?record=lead:3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21&phone=%2B5511987654321")
	c := state()
	wantPane := map[string]any{"title": "WhatsApp", "paneId": PaneID, "canClose": true, "width": float64(400), "imageSrc": "WebResources/" + Icon}
	if len(c.CreatePane) != 1 || !reflect.DeepEqual(c.CreatePane[0], wantPane) {
		t.Errorf("createPane calls %v, want one with %v", c.CreatePane, wantPane)
	}
	if len(c.Navigate) != 1 {
		t.Fatalf("navigate calls %v, want one", c.Navigate)
	}
	nav := c.Navigate[0]
	if nav["pageType"] != "webresource" || nav["webresourceName"] != PanePage {
		t.Errorf("navigate(%v), want the web resource %s", nav, PanePage)
	}
	data, err := url.ParseQuery(nav["data"])
	if err != nil || data.Get("table") != "lead" || data.Get("id") != "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21" || data.Get("phone") != "+55 11 98765-4321" {
		t.Errorf("navigate's data %q reads %v (%v)", nav["data"], data, err)
	}

	// 2. A contact without a mobile phone: the same pane, on telephone1.
	click(`form("contact", "{0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D}", {mobilephone: null, telephone1: "0055 (21) 2345-6789"})`)
	panelAt(srv.URL + "/panel?record=contact:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d&phone=%2B552123456789")
	if c := state(); len(c.CreatePane) != 1 || c.Select != 1 || len(c.Navigate) != 2 {
		t.Errorf("a second click made %d panes, selected %d times, navigated %d times; want the pane reused", len(c.CreatePane), c.Select, len(c.Navigate))
	}

	// 3. A custom table whose phone is no international number: the record alone.
	click(`form("new_student", "{B0B0B0B0-0000-4000-8000-000000000001}", {new_phone: "98765-4321", mobilephone: "+5511912345678"})`)
	panelAt(srv.URL + "/panel?record=new_student:b0b0b0b0-0000-4000-8000-000000000001")

	// 4. A record not saved yet: nothing happens.
	click(`form("lead", "", {mobilephone: "+5511987654321"})`)
	if c := state(); len(c.Navigate) != 3 {
		t.Errorf("an unsaved record navigated the pane: %v", c.Navigate)
	}

	mu.Lock()
	got := panelQueries
	mu.Unlock()
	if len(got) != 3 || got[0].Get("record") != "lead:3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21" || got[0].Get("phone") != "+5511987654321" ||
		got[1].Get("phone") != "+552123456789" || got[2].Has("phone") {
		t.Errorf("the panel was asked for %v", got)
	}

	// The page opened without a record says how to open it.
	eval(`document.getElementById("pane").src = "/WebResources/` + PanePage + `", "ok"`)
	msg, err := chromedp.Run(ctx, chromedp.Poll[string](`(function () {
		var d = document.getElementById("pane").contentDocument;
		var p = d && d.readyState === "complete" && d.querySelector("p");
		return p && !d.getElementById("parley-panel") ? p.textContent : "";
	})()`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil || !strings.Contains(msg, "WhatsApp") {
		t.Errorf("the pane without a record shows %q (%v)", msg, err)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
