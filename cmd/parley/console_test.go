package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
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
	// The clock stands still: under the race detector twelve bcrypt checks
	// take long enough for the bucket to refill a token.
	frozen := time.Now()
	a.m.Web.Limiter.Now = func() time.Time { return frozen }
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
	for _, q := range []string{"+55 11 91111-0003", "Customer 5511911110003"} { // the phone as people write it, the name
		_, _, found := alicesView.req("GET", "/console/inbox?q="+url.QueryEscape(q), nil, nil)
		if !strings.Contains(found, byText["three"].ID) || strings.Contains(found, byText["one"].ID) {
			t.Errorf("searching %q is wrong", q)
		}
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

// TestConsoleThreadKinds: every kind of message a customer sends reads in
// the thread as what it is, from real Meta webhooks.
func TestConsoleThreadKinds(t *testing.T) {
	a := startApp(t)
	a.addUser("k@acme.test", "K", parley.RoleSupervisor, "en", "")
	const waid = "5511987659001"
	reply := a.reply(waid) // "Oi" from the customer, an answer from us
	a.graph.AddMedia("2001", "image/jpeg", jpeg(2048))
	a.graph.AddMedia("2002", "audio/ogg", []byte("OggS voice"))
	a.graph.AddMedia("2003", "video/mp4", []byte("....ftypmp42"))
	a.graph.AddMedia("2004", "application/pdf", []byte("%PDF-1.7 "+strings.Repeat("x", 12<<10)))
	ts := fmt.Sprint(time.Now().Unix())
	msg := func(typ string, body map[string]any) map[string]any {
		m := map[string]any{"from": waid, "id": newWAMID(), "timestamp": ts, "type": typ}
		if body != nil {
			m[typ] = body
		}
		return m
	}
	quoting := msg("text", map[string]any{"body": "Sobre isso aqui"})
	quoting["context"] = map[string]any{"from": metagraph.DefaultDisplayPhone, "id": reply.ProviderMessageID}
	a.deliverMessages("messages", []any{customer(waid, "Rita")},
		msg("image", map[string]any{"id": "2001", "mime_type": "image/jpeg", "caption": "A caixa chegou assim"}),
		msg("audio", map[string]any{"id": "2002", "mime_type": "audio/ogg; codecs=opus", "voice": true}),
		msg("video", map[string]any{"id": "2003", "mime_type": "video/mp4"}),
		msg("document", map[string]any{"id": "2004", "mime_type": "application/pdf", "filename": "Nota fiscal 4521.pdf"}),
		msg("location", map[string]any{"latitude": -23.561414, "longitude": -46.655881, "name": "Loja Paulista", "address": "Av. Paulista, 1000"}),
		msg("interactive", map[string]any{"type": "button_reply", "button_reply": map[string]any{"id": "confirm", "title": "Sim, confirmo"}}),
		quoting,
		msg("reaction", map[string]any{"message_id": reply.ProviderMessageID, "emoji": "🙏"}))
	// contacts is a list, not an object.
	cards := msg("contacts", nil)
	cards["contacts"] = []any{map[string]any{"name": map[string]any{"formatted_name": "Maria Souza", "first_name": "Maria"},
		"phones": []any{map[string]any{"phone": "+55 11 98888-7777", "type": "CELL", "wa_id": "5511988887777"}}}}
	a.deliverMessages("messages", []any{customer(waid, "Rita")}, cards)
	a.deliverMessages("smb_message_echoes", nil, map[string]any{"from": metagraph.DefaultDisplayPhone, "to": waid, "id": newWAMID(),
		"timestamp": ts, "type": "text", "text": map[string]any{"body": "Respondi pelo celular"}})
	a.eventually("the files are downloaded", func() bool {
		return a.queryInt(`SELECT COUNT(*) FROM media WHERE status = 'ready'`) == 4
	})

	b := a.browser()
	b.signIn("k@acme.test")
	_, _, page := b.req("GET", "/console/c/"+reply.ConversationID, nil, nil)
	for what, want := range map[string]string{
		"an image thumbnail with its caption": `<img class="thumb" src="/console/media/`,
		"the caption as the image's text":     `alt="A caixa chegou assim"`,
		"a voice note player":                 `<audio controls preload="none" src="/console/media/`,
		"the voice note label":                `Voice message</span>`,
		"a video player":                      `<video controls`,
		"the document's name":                 `Nota fiscal 4521.pdf`,
		"the document's size":                 `12 KB`,
		"the place":                           `<strong>Loja Paulista</strong> Av. Paulista, 1000`,
		"a map link":                          `https://www.openstreetmap.org/?mlat=-23.561414&amp;mlon=-46.655881`,
		"the shared contact":                  `<strong>Maria Souza</strong><br>&#43;55 11 98888-7777`,
		"the button tapped":                   `<span class="chip">Sim, confirmo</span>`,
		"the quoted message":                  `<blockquote class="quote">Olá! Como posso ajudar?</blockquote>`,
		"the customer's reaction":             `🙏</span></p>`,
		"the phone app label":                 `Sent from the WhatsApp Business app`,
		"the phone app message":               `Respondi pelo celular`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the thread lacks %s (%s)", what, want)
		}
	}
	if strings.Contains(page, `class="reaction-msg"`) {
		t.Errorf("a reaction to a message in the thread is also a bubble of its own")
	}
	if t.Failed() {
		t.Logf("thread:\n%s", between(page, `<ol id="thread"`, `</ol>`))
	}
}

// TestConsoleSupervisorView: every open conversation with its assignee
// and how long the customer has waited, longest first; answered ones say
// so, and go last.
func TestConsoleSupervisorView(t *testing.T) {
	a := startApp(t)
	a.addUser("sam@acme.test", "Sam", parley.RoleSupervisor, "en", "")
	now := time.Now()
	a.inbound("5511922220001", "ten minutes", now.Add(-10*time.Minute))
	a.inbound("5511922220002", "three hours", now.Add(-3*time.Hour))
	a.inbound("5511922220003", "one hour", now.Add(-time.Hour))
	a.inbound("5511922220004", "answered", now.Add(-5*time.Hour))
	a.must(a.sendText("+5511922220004", "Resolvido!"), http.StatusAccepted, nil)
	b := a.browser()
	b.signIn("sam@acme.test")
	order := func(page string, names ...string) []int {
		var at []int
		for _, n := range names {
			at = append(at, strings.Index(page, "Customer "+n))
		}
		return at
	}
	sorted := func(at []int) bool {
		for i := range at {
			if at[i] < 0 || (i > 0 && at[i] < at[i-1]) {
				return false
			}
		}
		return true
	}
	_, _, page := b.req("GET", "/console/supervisor", nil, nil)
	if at := order(page, "5511922220002", "5511922220003", "5511922220001", "5511922220004"); !sorted(at) {
		t.Errorf("by waiting time the rows are at %v; want 3 h, 1 h, 10 min, then the answered one", at)
	}
	for _, want := range []string{`aria-sort="descending"><a href="/console/supervisor?sort=waiting"`, `>3 h 0 min<`, `>answered<`, `>Unassigned<`} {
		if !strings.Contains(page, want) {
			t.Errorf("the supervisor view lacks %s", want)
		}
	}
	_, _, page = b.req("GET", "/console/supervisor?sort=recent", nil, nil)
	if at := order(page, "5511922220004", "5511922220001", "5511922220003", "5511922220002"); !sorted(at) {
		t.Errorf("by last message the rows are at %v; want the answer first, then 10 min, 1 h, 3 h", at)
	}
}

// TestConsoleConsent: an agent records an opt-out from the sidebar; the
// contact says who did it, and so does the audit record.
func TestConsoleConsent(t *testing.T) {
	a := startApp(t)
	a.addUser("alice@acme.test", "Alice", parley.RoleAgent, "en", "")
	a.inbound("5511933330001", "não quero mais promoções", time.Now())
	list, _, _ := a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	c := list[0]
	b := a.browser()
	b.signIn("alice@acme.test")
	code, _, page := b.req("POST", "/console/contacts/"+c.ContactID+"/consent", url.Values{"conversation": {c.ID}, "state": {"opted_out"}}, nil)
	if code != 200 || !strings.Contains(page, `consent-opted_out`) || !strings.Contains(page, "Alice") {
		t.Fatalf("recording the opt-out: %d", code)
	}
	contact := a.contact(c.ContactID)
	if contact.Consent.State != parley.ConsentOptedOut || !strings.Contains(contact.Consent.Source, "Alice") {
		t.Errorf("consent %+v, want opted out by Alice", contact.Consent)
	}
	au := a.audit(c.ContactID)
	if len(au) == 0 || au[0].Action != "consent.opt_out" || au[0].Actor.Name != "Alice" {
		t.Errorf("audit %+v, want consent.opt_out by Alice", au)
	}
	// Through another conversation's ID, the contact cannot be changed.
	a.inbound("5511933330002", "oi", time.Now())
	list, _, _ = a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	other := list[0]
	if other.ContactID == c.ContactID {
		other = list[1]
	}
	if code, _, _ := b.req("POST", "/console/contacts/"+c.ContactID+"/consent", url.Values{"conversation": {other.ID}, "state": {"opted_in"}}, nil); code != http.StatusNotFound {
		t.Errorf("consent through another conversation: %d, want 404", code)
	}
}

// TestPanelByRecord: a CRM asks for a token naming the record and its
// phone; from then on the record alone opens the contact's conversation,
// and the console shows the link.
func TestPanelByRecord(t *testing.T) {
	a := startApp(t)
	a.addUser("sam@acme.test", "Sam", parley.RoleSupervisor, "en", "")
	const lead = "3f2c9a4e-1b7d-4c8e-9f00-2a6b5c4d3e21"
	var tok struct {
		Token string `json:"token"`
		URL   string `json:"url"`
	}
	// Dynamics forms hand out {GUID} in capitals; it is the same record.
	a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"record": "lead:{" + strings.ToUpper(lead) + "}", "phone": "+5511977771111"}), 201, &tok)
	if !strings.Contains(tok.URL, "record=lead") {
		t.Fatalf("the panel's address %s does not name the record", tok.URL)
	}
	open := func(record string) (int, string) {
		resp, err := http.Get(a.url + "/panel?record=" + url.QueryEscape(record) + "&panel_token=" + url.QueryEscape(tok.Token))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, page := open("lead:" + lead)
	if code != 200 || !strings.Contains(page, "5511977771111") || !strings.Contains(page, `id="composer"`) {
		t.Fatalf("the panel by record: %d", code)
	}
	if code, page := open("lead:00000000-0000-0000-0000-000000000000"); code != http.StatusNotFound || !strings.Contains(page, "No WhatsApp contact is linked") {
		t.Errorf("the panel for a record nobody linked: %d", code)
	}
	if code, page := open("lead"); code != http.StatusUnprocessableEntity || !strings.Contains(page, "table:id") {
		t.Errorf("the panel for a malformed record: %d", code)
	}
	if r := a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"record": "lead:a b", "phone": "+5511977771111"}); r.status != http.StatusBadRequest {
		t.Errorf("a token for a malformed record: %d", r.status)
	}
	// The console's sidebar shows the link.
	list, _, _ := a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	b := a.browser()
	b.signIn("sam@acme.test")
	if _, _, page := b.req("GET", "/console/c/"+list[0].ID, nil, nil); !strings.Contains(page, "<code>lead</code> "+lead) {
		t.Errorf("the sidebar does not show the CRM record")
	}
}

// TestPanelForAnAgent: a token scoped to an agent opens only what that
// agent may see in the console.
func TestPanelForAnAgent(t *testing.T) {
	a := startApp(t)
	alice := a.addUser("alice@acme.test", "Alice", parley.RoleAgent, "en", "")
	bob := a.addUser("bob@acme.test", "Bob", parley.RoleAgent, "en", "")
	a.inbound("5511966665555", "oi", time.Now())
	ctx := context.Background()
	list, _, _ := a.m.DB.ListConversations(ctx, a.tenantA.ID, store.ConversationFilter{})
	if err := a.m.DB.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Assign(ctx, a.tenantA.ID, list[0].ID, bob.ID, "", bob.Actor())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	panelFor := func(u *parley.User) int {
		var tok struct {
			URL string `json:"url"`
		}
		a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"phone": "+5511966665555", "user_id": u.ID}), 201, &tok)
		resp, err := http.Get(tok.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := panelFor(bob); code != 200 {
		t.Errorf("Bob's panel for his conversation: %d", code)
	}
	if code := panelFor(alice); code != http.StatusNotFound {
		t.Errorf("Alice's panel for Bob's conversation: %d, want 404", code)
	}
}

// TestConsolePasswordChange: a user with a one-time password can do
// nothing but choose their own, which signs out every other session.
func TestConsolePasswordChange(t *testing.T) {
	a := startApp(t)
	ctx := context.Background()
	const oneTime, chosen = "one-time password", "a password of my own"
	hash, err := web.HashPassword(oneTime)
	if err != nil {
		t.Fatal(err)
	}
	u := &parley.User{TenantID: a.tenantA.ID, Email: "nina@acme.test", Name: "Nina", Role: parley.RoleAgent, Language: "en", MustChangePassword: true}
	if err := a.m.DB.CreateUser(ctx, u, hash); err != nil {
		t.Fatal(err)
	}
	a.inbound("5511944440001", "oi", time.Now())
	list, _, _ := a.m.DB.ListConversations(ctx, a.tenantA.ID, store.ConversationFilter{})
	conv := list[0]
	notes := func() int {
		n := 0
		for _, m := range a.thread(conv.ID) {
			if m.Direction == parley.Note {
				n++
			}
		}
		return n
	}
	signIn := func(b *browser, password string) (int, string) {
		t.Helper()
		code, h, _ := b.req("POST", "/login", url.Values{"email": {u.Email}, "password": {password}}, nil)
		return code, h.Get("Location")
	}
	change := func(b *browser, current, next, confirm string) (int, http.Header, string) {
		t.Helper()
		return b.req("POST", "/account/password", url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {confirm}}, nil)
	}

	// A browser signed in before the change, which the change signs out.
	elsewhere := a.browser()
	if code, loc := signIn(elsewhere, oneTime); code != http.StatusSeeOther || loc != "/account/password" {
		t.Fatalf("signing in with a one-time password: %d to %q, want 303 to /account/password", code, loc)
	}
	b := a.browser()
	signIn(b, oneTime)
	code, _, page := b.req("GET", "/account/password", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("the password page: %d", code)
	}
	for _, want := range []string{"Choose your own password to replace the one you were given.", `<label for="current_password">`,
		`<label for="new_password">`, `<label for="confirm_password">`, `autocomplete="current-password"`, `autocomplete="new-password"`,
		`action="/logout"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the forced password page lacks %s", want)
		}
	}
	if strings.Contains(page, `href="/console/settings"`) || strings.Contains(page, `href="/console/quick-replies"`) {
		t.Error("the forced password page shows the console's navigation")
	}

	// Nothing else opens until the password is changed.
	if code, h, _ := b.req("GET", "/console", nil, nil); code != http.StatusSeeOther || h.Get("Location") != "/account/password" {
		t.Errorf("the console before the change: %d to %q, want 303 to /account/password", code, h.Get("Location"))
	}
	if code, h, _ := b.req("GET", "/console/inbox", nil, map[string]string{"HX-Request": "true"}); code != http.StatusNoContent ||
		h.Get("HX-Redirect") != "/account/password" {
		t.Errorf("an htmx request before the change: %d, HX-Redirect %q; want 204 to /account/password", code, h.Get("HX-Redirect"))
	}
	if code, _, body := b.req("POST", "/console/c/"+conv.ID+"/note", url.Values{"text": {"a note"}}, nil); code != http.StatusForbidden ||
		!strings.Contains(body, "Choose your own password first") {
		t.Errorf("a note before the change: %d %q, want 403 and why", code, body)
	}
	if code, _, _ := b.req("POST", "/console/settings", url.Values{"language": {"es"}}, nil); code != http.StatusForbidden {
		t.Errorf("saving settings before the change: %d, want 403", code)
	}
	if n := notes(); n != 0 {
		t.Fatalf("%d notes were added before the change", n)
	}

	// Mistakes re-render the form with the reason, tied to the field, and
	// change nothing.
	for _, tt := range []struct {
		name, current, next, confirm, field, want string
	}{
		{"a wrong current password", "not my password", chosen, chosen, "current_password", "The current password is not right."},
		{"different new passwords", oneTime, chosen, chosen + "!", "confirm_password", "The two new passwords are not the same."},
		{"a short new password", oneTime, "short", "short", "new_password", "at least 10 characters"},
		{"the same password", oneTime, oneTime, oneTime, "new_password", "must differ from the current one"},
	} {
		code, _, body := change(b, tt.current, tt.next, tt.confirm)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d, want 422 and %q", tt.name, code, tt.want)
		}
		if !regexp.MustCompile(`id="` + tt.field + `"[^>]*aria-describedby="password-error`).MatchString(body) {
			t.Errorf("%s: the message is not tied to %s", tt.name, tt.field)
		}
	}
	if _, hash, _ := a.m.DB.UserByEmail(ctx, u.Email); bcrypt.CompareHashAndPassword([]byte(hash), []byte(oneTime)) != nil {
		t.Fatal("a refused change changed the password")
	}
	if code, _, _ := elsewhere.req("GET", "/account/password", nil, nil); code != http.StatusOK {
		t.Fatalf("a refused change ended the other session: %d", code)
	}

	// Signing out works while the change is pending.
	leaving := a.browser()
	signIn(leaving, oneTime)
	if code, h, _ := leaving.req("POST", "/logout", url.Values{}, nil); code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Errorf("signing out before the change: %d to %q", code, h.Get("Location"))
	}
	if code, h, _ := leaving.req("GET", "/account/password", nil, nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("the password page after signing out: %d to %q, want the sign-in page", code, h.Get("Location"))
	}

	code, h, _ := change(b, oneTime, chosen, chosen)
	if code != http.StatusSeeOther || h.Get("Location") != "/console/settings?password=changed" {
		t.Fatalf("a valid change: %d to %q", code, h.Get("Location"))
	}
	if code, _, page := b.req("GET", "/console/settings?password=changed", nil, nil); code != http.StatusOK || !strings.Contains(page, "Your password is changed.") {
		t.Errorf("the settings after the change: %d, without the notice", code)
	}
	if code, _, _ := b.req("GET", "/console", nil, nil); code != http.StatusOK {
		t.Errorf("the console after the change: %d", code)
	}
	if code, _, _ := b.req("POST", "/console/c/"+conv.ID+"/note", url.Values{"text": {"a note"}}, nil); code != http.StatusOK || notes() != 1 {
		t.Errorf("a note after the change: %d, %d notes", code, notes())
	}
	if code, h, _ := elsewhere.req("GET", "/console", nil, nil); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("the other browser after the change: %d to %q, want the sign-in page", code, h.Get("Location"))
	}
	if code, _ := signIn(a.browser(), oneTime); code != http.StatusUnauthorized {
		t.Errorf("the one-time password after the change: %d, want 401", code)
	}
	if code, loc := signIn(a.browser(), chosen); code != http.StatusSeeOther || loc != "/console" {
		t.Errorf("the new password: %d to %q, want 303 to /console", code, loc)
	}
	if got, _, err := a.m.DB.UserByEmail(ctx, u.Email); err != nil || got.MustChangePassword {
		t.Errorf("after the change MustChangePassword = %v (%v), want false", got.MustChangePassword, err)
	}
}

// TestConsolePasswordChangeFromSettings: any user changes their password
// from the settings, in their language; the CRM's panel cannot.
func TestConsolePasswordChangeFromSettings(t *testing.T) {
	a := startApp(t)
	u := a.addUser("rui@acme.test", "Rui", parley.RoleAgent, "", "")
	b := a.browser()
	b.lang = "pt-BR"
	b.signIn(u.Email)
	_, _, settings := b.req("GET", "/console/settings", nil, nil)
	if !strings.Contains(settings, `<a href="/account/password">Alterar senha</a>`) {
		t.Fatal("the settings do not link to changing the password")
	}
	code, _, page := b.req("GET", "/account/password", nil, nil)
	if code != http.StatusOK || !strings.Contains(page, `href="/console/settings"`) || strings.Contains(page, "Escolha a sua própria senha") {
		t.Errorf("the password page of a user who need not change it: %d, want the navigation and no explanation", code)
	}
	if code, _, body := b.req("POST", "/account/password", url.Values{"current_password": {"wrong password"}, "new_password": {"uma senha nova e boa"},
		"confirm_password": {"uma senha nova e boa"}}, nil); code != http.StatusUnprocessableEntity || !strings.Contains(body, "A senha atual não está correta.") {
		t.Errorf("a wrong current password in Portuguese: %d", code)
	}
	code, h, _ := b.req("POST", "/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"uma senha nova e boa"},
		"confirm_password": {"uma senha nova e boa"}}, nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/console/settings?password=changed" {
		t.Fatalf("changing the password: %d to %q", code, h.Get("Location"))
	}
	if _, _, page := b.req("GET", h.Get("Location"), nil, nil); !strings.Contains(page, "Sua senha foi alterada.") {
		t.Error("no notice that the password changed")
	}
	if code, _, _ := a.browser().req("POST", "/login", url.Values{"email": {u.Email}, "password": {"uma senha nova e boa"}}, nil); code != http.StatusSeeOther {
		t.Errorf("signing in with the new password: %d", code)
	}

	// A panel token names the user, but the panel is not where passwords
	// change.
	a.inbound("5511955550001", "oi", time.Now())
	var tok struct {
		Token string `json:"token"`
	}
	a.must(a.do("POST", "/v1/panel-tokens", a.keyA, map[string]any{"phone": "+5511955550001", "user_id": u.ID}), 201, &tok)
	panel := a.browser()
	for _, method := range []string{"GET", "POST"} {
		var form url.Values
		if method == "POST" {
			form = url.Values{"current_password": {"uma senha nova e boa"}, "new_password": {"another new password"}, "confirm_password": {"another new password"}}
		}
		if code, _, _ := panel.req(method, "/account/password", form, map[string]string{"X-Parley-Panel": tok.Token}); code != http.StatusForbidden {
			t.Errorf("%s /account/password from the panel: %d, want 403", method, code)
		}
	}
}

// TestConsolePasswordChangeThrottled: guesses at the current password are
// limited as sign-in attempts are.
func TestConsolePasswordChangeThrottled(t *testing.T) {
	a := startApp(t)
	a.addUser("gus@acme.test", "Gus", parley.RoleAgent, "en", "")
	frozen := time.Now()
	a.m.Web.Limiter.Now = func() time.Time { return frozen }
	b := a.browser()
	b.signIn("gus@acme.test")
	codes := map[int]int{}
	for range 11 {
		code, _, _ := b.req("POST", "/account/password", url.Values{"current_password": {"a guess"}, "new_password": {"a new password"},
			"confirm_password": {"a new password"}}, nil)
		codes[code]++
	}
	if codes[http.StatusUnprocessableEntity] != 10 || codes[http.StatusTooManyRequests] != 1 {
		t.Fatalf("11 wrong current passwords answered %v; want 10 refusals, then a wait", codes)
	}
	if code, _, body := b.req("POST", "/account/password", url.Values{"current_password": {"correct horse battery"}, "new_password": {"a new password"},
		"confirm_password": {"a new password"}}, nil); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many attempts") {
		t.Fatalf("the right password while throttled: %d", code)
	}
}

// stream opens the console's live stream.
func (b *browser) stream() *sseStream {
	b.a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.a.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.a.url+"/console/events", nil)
	resp, err := b.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.a.t.Fatalf("open the stream: %v %v", err, resp)
	}
	return readStream(resp.Body)
}

// until reads events until one satisfies match, and returns those before it.
func (s *sseStream) until(t testing.TB, what string, match func(e sseEvent) bool) []sseEvent {
	t.Helper()
	var before []sseEvent
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-s.events:
			if match(e) {
				return before
			}
			before = append(before, e)
		case <-timeout:
			t.Fatalf("the stream never brought %s (it brought %d other events)", what, len(before))
		}
	}
}

// TestConsoleStreamVisibility: the live stream, shared between agents
// for speed, still gives each agent only what they may see, in their own
// language.
func TestConsoleStreamVisibility(t *testing.T) {
	a := startApp(t)
	a.addUser("alice@acme.test", "Alice", parley.RoleAgent, "pt", "")
	bob := a.addUser("bob@acme.test", "Bob", parley.RoleAgent, "en", "")
	a.addUser("sam@acme.test", "Sam", parley.RoleSupervisor, "es", "")
	ctx := context.Background()
	a.inbound("5511955550001", "primeira", time.Now())
	list, _, _ := a.m.DB.ListConversations(ctx, a.tenantA.ID, store.ConversationFilter{})
	bobs := list[0]
	if err := a.m.DB.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Assign(ctx, a.tenantA.ID, bobs.ID, bob.ID, "", bob.Actor())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	streams := map[string]*sseStream{}
	for _, who := range []string{"alice", "bob", "sam"} {
		b := a.browser()
		b.signIn(who + "@acme.test")
		streams[who] = b.stream()
	}
	a.eventually("the three streams are open", func() bool { return a.m.Broker.Subscribers() == 3 })
	a.inbound("5511955550001", "segunda para o Bob", time.Now())
	a.inbound("5511955550002", "marcador", time.Now()) // unassigned: everyone sees it
	message := func(text string) func(sseEvent) bool {
		return func(e sseEvent) bool { return e.typ == "message" && strings.Contains(string(e.data), text) }
	}
	// Bob and Sam get the message and the row, each row in its reader's
	// language.
	for who, assigned := range map[string]string{"bob": "Assigned to Bob", "sam": "Asignada a Bob"} {
		var gotMessage, gotRow bool
		streams[who].until(t, "Bob's message and row for "+who, func(e sseEvent) bool {
			name, data := e.typ, string(e.data)
			switch {
			case name == "message" && strings.Contains(data, "segunda para o Bob"):
				gotMessage = true
			case name == "row" && strings.Contains(data, bobs.ID) && strings.Contains(data, "segunda para o Bob"):
				if !strings.Contains(data, assigned) {
					t.Errorf("%s's row does not say %q: %s", who, assigned, data)
				}
				gotRow = true
			}
			return gotMessage && gotRow
		})
	}
	// Alice is told to drop the row, and gets nothing of the message.
	before := streams["alice"].until(t, "the marker for Alice", message("marcador"))
	removed := false
	for _, e := range before {
		if strings.Contains(string(e.data), "segunda para o Bob") {
			t.Errorf("Alice's stream brought Bob's conversation: %s %.80s", e.typ, e.data)
		}
		removed = removed || (e.typ == "remove" && string(e.data) == bobs.ID)
	}
	if !removed {
		t.Errorf("Alice's stream did not remove Bob's conversation (%d events before the marker)", len(before))
	}
}

// TestConsoleTemplateVariableMissing: a template is not sent with a
// variable left empty, whatever the browser let through.
func TestConsoleTemplateVariableMissing(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	a.addUser("ana@acme.test", "Ana", parley.RoleAgent, "en", "")
	a.inbound("5511944440001", "oi", time.Now().Add(-30*time.Hour)) // a closed window
	list, _, _ := a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	tpls, err := a.m.DB.ListTemplates(context.Background(), a.tenantA.ID, store.TemplateFilter{Name: "appointment"})
	if err != nil || len(tpls) != 1 {
		t.Fatalf("the appointment template: %v %v", tpls, err)
	}
	b := a.browser()
	b.signIn("ana@acme.test")
	code, _, body := b.req("POST", "/console/c/"+list[0].ID+"/template", url.Values{"template_id": {tpls[0].ID},
		"body_0": {"Ana"}, "body_1": {"  "}}, nil)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "date") {
		t.Fatalf("a template with {{date}} empty: %d %s", code, body)
	}
	if n := a.count("messages"); n != 1 {
		t.Errorf("%d messages stored, want only the customer's", n)
	}
	code, _, _ = b.req("POST", "/console/c/"+list[0].ID+"/template", url.Values{"template_id": {tpls[0].ID},
		"body_0": {"Ana"}, "body_1": {"amanhã às 10h"}}, nil)
	if code != http.StatusOK || a.count("messages") != 2 {
		t.Errorf("the complete template: %d, %d messages", code, a.count("messages"))
	}
}

// TestConsoleErrorsInTheAgentsLanguage: the core's refusals, written in
// English for API clients, reach agents in their language and the
// console's words.
func TestConsoleErrorsInTheAgentsLanguage(t *testing.T) {
	a := startApp(t)
	a.addUser("rita@acme.test", "Rita", parley.RoleAgent, "pt", "")
	a.inbound("5511933330009", "oi", time.Now().Add(-25*time.Hour))
	list, _, _ := a.m.DB.ListConversations(context.Background(), a.tenantA.ID, store.ConversationFilter{})
	b := a.browser()
	b.signIn("rita@acme.test")
	code, _, body := b.req("POST", "/console/c/"+list[0].ID+"/send", url.Values{"text": {"oi"}}, map[string]string{"HX-Request": "true"})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "A janela de 24 horas está fechada") || strings.Contains(body, `type \"template\"`) {
		t.Errorf("a free text into a closed window, for a Portuguese agent: %d %s", code, body)
	}
	if _, _, body := b.req("GET", "/console/c/cv_nonexistent", nil, map[string]string{"HX-Request": "true"}); !strings.Contains(body, "Não encontrado") {
		t.Errorf("a missing conversation, for a Portuguese agent: %s", body)
	}
	// A CRM user's browser in Spanish, with an expired or forged panel link.
	es := a.browser()
	es.lang = "es-MX,es;q=0.9"
	code, _, body = es.req("GET", "/panel?phone=%2B5511933330009&panel_token=forged", nil, nil)
	if code != http.StatusUnauthorized || !strings.Contains(body, "Este enlace del panel caducó") {
		t.Errorf("a forged panel link in Spanish: %d %s", code, body)
	}
}
