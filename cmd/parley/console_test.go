package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/web"
)

// addUser creates a console user of tenant A.
func (a *app) addUser(email, name, role, lang, tz string) *parley.User {
	a.t.Helper()
	hash, err := web.HashPassword("correct horse battery")
	if err != nil {
		a.t.Fatal(err)
	}
	u := &parley.User{TenantID: a.tenantA.ID, Email: email, Name: name, Role: role, Language: lang, TimeZone: tz}
	if err := a.m.DB.CreateUser(context.Background(), u, hash); err != nil {
		a.t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with cookies, like a browser without script.
type browser struct {
	a      *app
	client *http.Client
	lang   string
}

func (a *app) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{a: a, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) req(method, path string, form url.Values, header map[string]string) (int, http.Header, string) {
	b.a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, _ := http.NewRequest(method, b.a.url+path, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		r.Header.Set("Accept-Language", b.lang)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := b.client.Do(r)
	if err != nil {
		b.a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

func (b *browser) signIn(email string) {
	b.a.t.Helper()
	code, h, body := b.req("POST", "/login", url.Values{"email": {email}, "password": {"correct horse battery"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/console" {
		b.a.t.Fatalf("sign in %s: %d %s %s", email, code, h.Get("Location"), body)
	}
}

func TestConsoleSignIn(t *testing.T) {
	a := startApp(t)
	a.addUser("alice@acme.test", "Alice", parley.RoleAgent, "", "")
	b := a.browser()
	if code, h, _ := b.req("GET", "/console", nil, nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") {
		t.Fatalf("the console without a session: %d %s", code, h.Get("Location"))
	}
	if code, _, body := b.req("POST", "/login", url.Values{"email": {"alice@acme.test"}, "password": {"wrong password"}}, nil); code != http.StatusUnauthorized ||
		!strings.Contains(body, "not right") {
		t.Fatalf("a wrong password: %d", code)
	}
	b.signIn("ALICE@acme.test ")
	u, _ := url.Parse(a.url)
	var session *http.Cookie
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "parley_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	// The jar hides the flags: read them from a fresh sign-in's header.
	_, h, _ := a.browser().req("POST", "/login", url.Values{"email": {"alice@acme.test"}, "password": {"correct horse battery"}}, nil)
	sc := h.Get("Set-Cookie")
	for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, flag) {
			t.Errorf("the session cookie lacks %s: %s", flag, sc)
		}
	}
	if code, _, body := b.req("GET", "/console", nil, nil); code != 200 || !strings.Contains(body, "Alice") {
		t.Fatalf("the console after signing in: %d", code)
	}
	// A form posted from another site is refused (CSRF).
	if code, _, _ := b.req("POST", "/console/settings", url.Values{"language": {"es"}}, map[string]string{"Origin": "https://evil.example",
		"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Fatalf("a cross-site post answered %d, want 403", code)
	}
	b.req("POST", "/logout", url.Values{}, nil)
	if code, _, _ := b.req("GET", "/console", nil, nil); code != http.StatusSeeOther {
		t.Fatalf("the console after signing out: %d", code)
	}
}

func TestConsoleSignInThrottled(t *testing.T) {
	a := startApp(t)
	a.addUser("bob@acme.test", "Bob", parley.RoleAgent, "", "")
	b := a.browser()
	codes := map[int]int{}
	for range 12 {
		code, _, _ := b.req("POST", "/login", url.Values{"email": {"bob@acme.test"}, "password": {"guess"}}, nil)
		codes[code]++
	}
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] > 10 {
		t.Fatalf("12 wrong passwords answered %v; want refusals after 10", codes)
	}
	// Even the right password waits now.
	if code, _, body := b.req("POST", "/login", url.Values{"email": {"bob@acme.test"}, "password": {"correct horse battery"}}, nil); code != http.StatusTooManyRequests ||
		!strings.Contains(body, "Too many attempts") {
		t.Fatalf("the right password while throttled: %d", code)
	}
}

// TestConsoleVisibility: agents see their own conversations, their teams'
// and the unassigned ones; supervisors see all.
func TestConsoleVisibility(t *testing.T) {
	a := startApp(t)
	alice := a.addUser("alice@acme.test", "Alice", parley.RoleAgent, "", "")
	bob := a.addUser("bob@acme.test", "Bob", parley.RoleAgent, "", "")
	a.addUser("sam@acme.test", "Sam", parley.RoleSupervisor, "", "")
	ctx := context.Background()
	a.inbound("5511911110001", "one", time.Now())
	a.inbound("5511911110002", "two", time.Now())
	a.inbound("5511911110003", "three", time.Now())
	list, _, _ := a.m.DB.ListConversations(ctx, a.tenantA.ID, store.ConversationFilter{})
	byText := map[string]*parley.Conversation{}
	for _, c := range list {
		byText[c.LastMessage] = c
	}
	assign := func(c *parley.Conversation, u *parley.User) {
		a.m.DB.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Assign(ctx, a.tenantA.ID, c.ID, u.ID, "", u.Actor())
			return err
		})
	}
	assign(byText["one"], alice)
	assign(byText["two"], bob)

	alicesView := a.browser()
	alicesView.signIn("alice@acme.test")
	_, _, page := alicesView.req("GET", "/console", nil, nil)
	for text, want := range map[string]bool{"one": true, "two": false, "three": true} {
		if got := strings.Contains(page, "conv-"+byText[text].ID); got != want {
			t.Errorf("Alice's inbox shows %q: %v, want %v", text, got, want)
		}
	}
	if code, _, _ := alicesView.req("GET", "/console/c/"+byText["two"].ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("Alice opens Bob's conversation: %d, want 404", code)
	}
	if code, _, _ := alicesView.req("POST", "/console/c/"+byText["two"].ID+"/note", url.Values{"text": {"hi"}}, nil); code != http.StatusNotFound {
		t.Errorf("Alice writes in Bob's conversation: %d, want 404", code)
	}
	_, _, mine := alicesView.req("GET", "/console/inbox?scope=mine", nil, nil)
	if !strings.Contains(mine, byText["one"].ID) || strings.Contains(mine, byText["three"].ID) {
		t.Errorf("Alice's 'mine' filter is wrong")
	}
	_, _, unassigned := alicesView.req("GET", "/console/inbox?scope=unassigned", nil, nil)
	if strings.Contains(unassigned, byText["one"].ID) || !strings.Contains(unassigned, byText["three"].ID) {
		t.Errorf("Alice's 'unassigned' filter is wrong")
	}
	_, _, search := alicesView.req("GET", "/console/inbox?q=thr", nil, nil)
	if !strings.Contains(search, byText["three"].ID) || strings.Contains(search, byText["one"].ID) {
		t.Errorf("searching message text is wrong")
	}
	if code, _, _ := alicesView.req("GET", "/console/supervisor", nil, nil); code != http.StatusForbidden {
		t.Errorf("an agent opens the supervisor view: %d", code)
	}
	sam := a.browser()
	sam.signIn("sam@acme.test")
	_, _, all := sam.req("GET", "/console", nil, nil)
	for _, c := range byText {
		if !strings.Contains(all, "conv-"+c.ID) {
			t.Errorf("the supervisor does not see %q", c.LastMessage)
		}
	}
	code, _, sup := sam.req("GET", "/console/supervisor", nil, nil)
	if code != 200 || !strings.Contains(sup, "Bob") || !strings.Contains(sup, "Alice") {
		t.Errorf("the supervisor view: %d", code)
	}
}

// TestConsoleLanguage: the browser's language by default, the user's
// choice over it.
func TestConsoleLanguage(t *testing.T) {
	a := startApp(t)
	a.addUser("ana@acme.test", "Ana", parley.RoleAgent, "", "")
	a.addUser("luis@acme.test", "Luis", parley.RoleAgent, "es", "")
	b := a.browser()
	b.lang = "pt-BR,pt;q=0.9"
	if _, _, body := b.req("GET", "/login", nil, nil); !strings.Contains(body, "Senha") || !strings.Contains(body, `lang="pt"`) {
		t.Errorf("the login page in pt-BR is not Portuguese")
	}
	b.signIn("ana@acme.test")
	if _, _, body := b.req("GET", "/console", nil, nil); !strings.Contains(body, "Caixa de entrada") {
		t.Errorf("the console for a pt-BR browser is not Portuguese")
	}
	c := a.browser()
	c.lang = "pt-BR"
	c.signIn("luis@acme.test")
	if _, _, body := c.req("GET", "/console", nil, nil); !strings.Contains(body, "Bandeja de entrada") {
		t.Errorf("Luis chose Spanish but sees another language")
	}
}

// TestConsoleTimeZone: times are the agent's.
func TestConsoleTimeZone(t *testing.T) {
	a := startApp(t)
	a.addUser("tz@acme.test", "Tz", parley.RoleAgent, "en", "America/Sao_Paulo")
	ts := time.Date(2026, 3, 1, 15, 4, 0, 0, time.UTC)
	a.inbound("5511922223333", "hello", ts)
	b := a.browser()
	b.signIn("tz@acme.test")
	list, _, _ := a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	_, _, body := b.req("GET", "/console/c/"+list[0].ID, nil, nil)
	if !strings.Contains(body, ">12:04<") { // 15:04 UTC is 12:04 in São Paulo
		t.Errorf("the message time is not shown in the agent's zone")
	}
}

// TestConsoleHeaders: a strict content security policy with no inline
// script, no framing of the console, and the panel framed only by the
// configured CRMs.
func TestConsoleHeaders(t *testing.T) {
	a := startApp(t, func(m *Main) { m.Config.FrameAncestors = "https://*.dynamics.com" })
	a.addUser("h@acme.test", "H", parley.RoleAgent, "", "")
	b := a.browser()
	b.signIn("h@acme.test")
	_, h, body := b.req("GET", "/console", nil, nil)
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("the console's CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("the console's CSP allows unsafe sources: %s", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Errorf("the console has inline script or style")
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	a.inbound("5511944445555", "oi", time.Now())
	var tok struct {
		URL string `json:"url"`
	}
	a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"phone": "+5511944445555"}), 201, &tok)
	resp, err := http.Get(tok.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the panel answered %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' https://*.dynamics.com") {
		t.Errorf("the panel's frame-ancestors: %s", csp)
	}
	if resp.Header.Get("X-Frame-Options") != "" {
		t.Errorf("the panel forbids framing with X-Frame-Options")
	}
	// A token of tenant A opens nothing of tenant B, and a forged one nothing at all.
	forged := strings.Replace(tok.URL, "panel_token=", "panel_token=x", 1)
	if resp, _ := http.Get(forged); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged panel token answered %d", resp.StatusCode)
	}
}

// TestPanelStartsWithTemplate: a phone with no conversation opens one,
// whose composer offers a template.
func TestPanelStartsWithTemplate(t *testing.T) {
	a := startApp(t)
	var tok struct {
		URL string `json:"url"`
	}
	a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"phone": "+5511977776666"}), 201, &tok)
	resp, err := http.Get(tok.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, "has not written yet") || !strings.Contains(page, `id="composer-text"`) {
		t.Fatalf("the panel for a new contact: %d", resp.StatusCode)
	}
	if !strings.Contains(page, "disabled") || !strings.Contains(page, "/templates") {
		t.Errorf("the panel does not offer a template to start")
	}
	// A token for tenant B's user is refused by tenant A's key.
	if r := a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"user_id": "usr_nobody"}); r.status != http.StatusNotFound {
		t.Errorf("a token for an unknown user: %d", r.status)
	}
}

// TestThreadPaging: a thread of 10,000 messages opens on its latest 50,
// and earlier pages follow without overlap.
func TestThreadPaging(t *testing.T) {
	a := startApp(t)
	a.addUser("p@acme.test", "P", parley.RoleAgent, "", "")
	conv := a.longThread(10_000)
	b := a.browser()
	b.signIn("p@acme.test")
	_, _, page := b.req("GET", "/console/c/"+conv, nil, nil)
	if n := strings.Count(page, `class="msg msg-`); n != 50 {
		t.Fatalf("the thread shows %d messages, want the latest 50", n)
	}
	if !strings.Contains(page, "message 9999<") || strings.Contains(page, "message 9949<") {
		t.Fatalf("the first page is not the latest 50")
	}
	before := between(page, "/messages?before=", `"`)
	_, _, older := b.req("GET", "/console/c/"+conv+"/messages?before="+before, nil, nil)
	if n := strings.Count(older, `class="msg msg-`); n != 50 || !strings.Contains(older, "message 9949<") || strings.Contains(older, "message 9950<") {
		t.Fatalf("the second page is wrong (%d messages)", n)
	}
}

// longThread makes a conversation of n inbound texts, "message 0" first.
func (a *app) longThread(n int) string {
	a.t.Helper()
	ctx := context.Background()
	var convID string
	err := a.m.DB.InTx(ctx, func(tx *store.Tx) error {
		c, _, err := tx.FindOrCreateContact(ctx, a.tenantA.ID, store.Identity{WAID: "5511988887777"})
		if err != nil {
			return err
		}
		conv, _, err := tx.ConversationFor(ctx, a.tenantA.ID, a.channelID, c.ID)
		if err != nil {
			return err
		}
		convID = conv.ID
		start := time.Now().Add(-time.Duration(n) * time.Minute)
		msgs := make([]*parley.Message, n)
		for i := range msgs {
			msgs[i] = &parley.Message{TenantID: a.tenantA.ID, ChannelID: a.channelID, ConversationID: conv.ID, ContactID: c.ID,
				Direction: parley.Inbound, Type: parley.TypeText, Status: parley.StatusReceived, Text: fmt.Sprintf("message %d", i),
				ProviderMessageID: fmt.Sprintf("wamid.long.%d", i), Timestamp: start.Add(time.Duration(i) * time.Minute),
				SentBy: parley.Actor{Kind: parley.ActorContact}}
		}
		_, err = tx.InsertMessages(ctx, msgs)
		return err
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return convID
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}

// BenchmarkConversationPage measures opening a conversation of 10,000
// messages in the console (go test -bench ConversationPage ./cmd/parley).
func BenchmarkConversationPage(b *testing.B) {
	a := startApp(b)
	a.addUser("bench@acme.test", "B", parley.RoleAgent, "", "")
	conv := a.longThread(10_000)
	br := a.browser()
	br.signIn("bench@acme.test")
	b.ResetTimer()
	for range b.N {
		if code, _, _ := br.req("GET", "/console/c/"+conv, nil, nil); code != 200 {
			b.Fatalf("status %d", code)
		}
	}
}
