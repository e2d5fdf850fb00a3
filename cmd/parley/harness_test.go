package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/whatsapp/meta"
	"github.com/parleyhq/parley/whatsapp/sandbox"
)

// app is a running Parley for a test: the real Main on a random port, a
// fake Graph API, and two tenants with an API key each. Tenant A has the
// fake's number connected as a Meta channel.
type app struct {
	t     testing.TB
	m     *Main
	url   string
	graph *metagraph.Server

	tenantA, tenantB *parley.Tenant
	keyA, keyB       string
	channelID        string
}

// appOption adjusts a Main before it starts.
type appOption func(*Main)

// onPostgres runs the app on a fresh PostgreSQL schema (skipping the test
// when PARLEY_TEST_POSTGRES_URL is not set).
func onPostgres(t *testing.T) appOption {
	u := dbtest.PostgresURL(t)
	return func(m *Main) { m.Config.DatabaseURL = u }
}

// testVerifyToken is the verify token of the test channel.
const testVerifyToken = "verify-token-1234"

func startApp(t testing.TB, opts ...appOption) *app {
	t.Helper()
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	m := NewMain()
	m.Config = Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), LogLevel: "error", MasterKey: hex.EncodeToString(key)}
	m.Log = testLogger()
	m.Pace = sandbox.Pace{}
	m.JobBackoff = func(int) time.Duration { return 20 * time.Millisecond }
	m.PollInterval = 100 * time.Millisecond
	for _, o := range opts {
		o(m)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	m.Messaging.ReconcileWait = 2 * time.Second
	m.Messaging.SendTimeout = 2 * time.Second
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	a := &app{t: t, m: m, url: m.URL(), graph: metagraph.New(t)}
	var err error
	if a.tenantA, err = m.DB.CreateTenant(ctx, "Tenant A"); err != nil {
		t.Fatal(err)
	}
	if a.tenantB, err = m.DB.CreateTenant(ctx, "Tenant B"); err != nil {
		t.Fatal(err)
	}
	if a.keyA, _, err = m.DB.CreateAPIKey(ctx, a.tenantA.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if a.keyB, _, err = m.DB.CreateAPIKey(ctx, a.tenantB.ID, "test"); err != nil {
		t.Fatal(err)
	}
	ch := a.graph.Channel()
	var out struct {
		ID string `json:"id"`
	}
	a.must(a.do("POST", "/v1/channels", a.keyA, map[string]any{"provider": "meta", "phone_number": ch.PhoneNumber, "meta": map[string]any{
		"phone_number_id": ch.Meta.PhoneNumberID, "waba_id": ch.Meta.WABAID, "access_token": ch.Meta.AccessToken,
		"app_secret": ch.Meta.AppSecret, "verify_token": testVerifyToken, "graph_url": ch.Meta.GraphURL, "api_version": ch.Meta.APIVersion,
	}}), http.StatusCreated, &out)
	a.channelID = out.ID
	return a
}

// testLogger discards logs unless PARLEY_TEST_LOG is set: background
// goroutines may log after a test ends, when t.Log would panic.
func testLogger() *slog.Logger {
	if os.Getenv("PARLEY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// response is an HTTP answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a JSON request with an API key ("" for none).
func (a *app) do(method, path, key string, body any) response {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.url+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	return a.send(req)
}

func (a *app) send(req *http.Request) response {
	a.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must checks the status and decodes the body into out (if not nil).
func (a *app) must(r response, status int, out any) {
	a.t.Helper()
	if r.status != status {
		a.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			a.t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// apiError decodes an error body.
func (r response) apiError() (code, message string) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code, e.Error.Message
}

// webhook posts a body to /webhooks/meta signed with secret ("" for no
// signature header).
func (a *app) webhook(body []byte, secret string) response {
	a.t.Helper()
	req, err := http.NewRequest("POST", a.url+"/webhooks/meta", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", meta.Sign(body, secret))
	}
	return a.send(req)
}

// inbound delivers a text message from a customer to the test channel,
// sent at ts, and returns its provider ID.
func (a *app) inbound(waid, text string, ts time.Time) string {
	a.t.Helper()
	id := fmt.Sprintf("wamid.test.%d", time.Now().UnixNano())
	body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":%q,"phone_number_id":%q},
		"contacts":[{"profile":{"name":"Customer %s"},"wa_id":%q}],
		"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":%q}}]}}]}]}`,
		metagraph.DefaultWABAID, metagraph.DefaultDisplayPhone, metagraph.DefaultPhoneNumberID, waid, waid, waid, id, ts.Unix(), text)
	a.must(a.webhook(body, metagraph.DefaultAppSecret), http.StatusOK, nil)
	return id
}

// eventually polls cond until it holds or 15 seconds pass.
func (a *app) eventually(what string, cond func() bool) {
	a.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			a.t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// message reads a message through the API.
func (a *app) message(id string) parley.Message {
	a.t.Helper()
	var m parley.Message
	a.must(a.do("GET", "/v1/messages/"+id, a.keyA, nil), http.StatusOK, &m)
	return m
}

// sendText sends text to a number through the API and returns the
// response.
func (a *app) sendText(to, text string) response {
	return a.do("POST", "/v1/messages", a.keyA, map[string]any{"channel_id": a.channelID, "to": to, "type": "text", "text": map[string]any{"body": text}})
}

// count counts a table's rows.
func (a *app) count(table string) int {
	a.t.Helper()
	var n int
	if err := a.m.DB.Reader().QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// webhookSigned posts a body with a given signature header.
func (a *app) webhookSigned(body []byte, sig string) response {
	a.t.Helper()
	req, err := http.NewRequest("POST", a.url+"/webhooks/meta", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sig)
	return a.send(req)
}

func metagraphStatus(wamid, status string) metagraph.Status {
	return metagraph.Status{MessageID: wamid, Status: status}
}
