// Package e2e drives the real parley binary: built once, started as a
// process on a random port, talked to over HTTP, and killed with SIGKILL
// to prove that nothing it acknowledged is lost.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/whatsapp/meta"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-o", binary, "../cmd/parley")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build parley: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is the configuration every process of one test shares.
type env struct {
	dataDir string
	dbURL   string
	key     string
}

func newEnv(t *testing.T, postgres bool) env {
	e := env{dataDir: t.TempDir(), key: hex.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))}
	if postgres {
		e.dbURL = dbtest.PostgresURL(t)
	}
	return e
}

func (e env) vars() []string {
	return append(os.Environ(), "PARLEY_DATA_DIR="+e.dataDir, "PARLEY_DATABASE_URL="+e.dbURL, "PARLEY_MASTER_KEY="+e.key,
		"PARLEY_ADDR=127.0.0.1:0", "PARLEY_BASE_URL=", "PARLEY_LOG_LEVEL=info", "PARLEY_RECONCILE_WAIT=3s")
}

// cli runs a one-shot command and returns its standard output.
func (e env) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.vars()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parley %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// server is a running `parley serve`.
type server struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

var listening = regexp.MustCompile(`msg="parley is listening" addr=(\S+)`)

// serve starts the binary and waits until it listens.
func (e env) serve(t *testing.T) *server {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = e.vars()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.kill() })
	select {
	case a := <-addr:
		s.url = "http://" + a
	case <-s.done:
		t.Fatalf("parley serve exited:\n%s", s.logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("parley serve did not listen within 30s:\n%s", s.logs())
	}
	return s
}

func (s *server) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// kill stops the process with SIGKILL: no shutdown, no flushing.
func (s *server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// stop asks the process to shut down gracefully and waits.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("parley did not stop within 30s:\n%s", s.logs())
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("parley exited with %d:\n%s", code, s.logs())
	}
}

// call makes an API request and decodes the JSON answer.
func call(t *testing.T, method, url, key string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s → %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// setUp creates a tenant with the CLI and connects the fake's number.
func setUp(t *testing.T, e env, s *server, graph *metagraph.Server) (key, channelID string) {
	t.Helper()
	var tenant struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(e.cli(t, "tenant", "create", "E2E")), &tenant); err != nil {
		t.Fatal(err)
	}
	ch := graph.Channel()
	var out struct {
		ID string `json:"id"`
	}
	if code := call(t, "POST", s.url+"/v1/channels", tenant.APIKey, map[string]any{"provider": "meta", "phone_number": ch.PhoneNumber,
		"meta": map[string]any{"phone_number_id": ch.Meta.PhoneNumberID, "waba_id": ch.Meta.WABAID, "access_token": ch.Meta.AccessToken,
			"app_secret": ch.Meta.AppSecret, "verify_token": "e2e-verify-token", "graph_url": ch.Meta.GraphURL}}, &out); code != 201 {
		t.Fatalf("connect channel: %d", code)
	}
	return tenant.APIKey, out.ID
}

// inbound is a signed webhook with one text message.
func inbound(waid, wamid, text string) (body []byte, sig string) {
	body = fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"field":"messages","value":{
		"messaging_product":"whatsapp","metadata":{"display_phone_number":%q,"phone_number_id":%q},
		"contacts":[{"profile":{"name":"Cliente"},"wa_id":%q}],
		"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":%q}}]}}]}]}`,
		metagraph.DefaultWABAID, metagraph.DefaultDisplayPhone, metagraph.DefaultPhoneNumberID, waid, waid, wamid, time.Now().Unix(), text)
	return body, meta.Sign(body, metagraph.DefaultAppSecret)
}

// post delivers a webhook body and returns the status, or 0 if the server
// could not be reached.
func post(url string, body []byte, sig string) int {
	req, _ := http.NewRequest("POST", url+"/webhooks/meta", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBinary runs the binary through a customer's message and an agent's
// answer, on each database.
func TestBinary(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testBinary(t, newEnv(t, false)) })
	t.Run("postgres", func(t *testing.T) { testBinary(t, newEnv(t, true)) })
}

func testBinary(t *testing.T, e env) {
	graph := metagraph.New(t)
	s := e.serve(t)
	key, channelID := setUp(t, e, s, graph)

	body, sig := inbound("5511987654321", "wamid.e2e.1", "Bom dia!")
	if code := post(s.url, body, sig); code != 200 {
		t.Fatalf("webhook: %d\n%s", code, s.logs())
	}
	if code := post(s.url, body, "sha256=00"); code != 401 {
		t.Fatalf("forged webhook: %d, want 401", code)
	}
	var sent struct {
		ID string `json:"id"`
	}
	if code := call(t, "POST", s.url+"/v1/messages", key, map[string]any{"channel_id": channelID, "to": "+5511987654321", "type": "text",
		"text": map[string]any{"body": "Bom dia! Em que posso ajudar?"}}, &sent); code != 202 {
		t.Fatalf("send: %d", code)
	}
	eventually(t, "the send reaches Meta", 15*time.Second, func() bool { return len(graph.Sent()) == 1 })
	var m struct {
		Status string `json:"status"`
	}
	eventually(t, "the message is sent", 15*time.Second, func() bool {
		call(t, "GET", s.url+"/v1/messages/"+sent.ID, key, nil, &m)
		return m.Status == "sent"
	})
	sbody, ssig := graph.StatusWebhook(metagraph.Status{MessageID: graph.Sent()[0].ID, Status: "read"})
	if code := post(s.url, sbody, ssig); code != 200 {
		t.Fatalf("status webhook: %d", code)
	}
	call(t, "GET", s.url+"/v1/messages/"+sent.ID, key, nil, &m)
	if m.Status != "read" {
		t.Fatalf("status %s, want read", m.Status)
	}
	s.stop(t)
	if !strings.Contains(s.logs(), "shutting down") {
		t.Fatalf("no graceful shutdown in the log:\n%s", s.logs())
	}
}

// TestKillUnderLoad kills the server with SIGKILL while webhooks pour in
// and sends are going out, starts it again on the same data, and checks
// that every webhook it acknowledged is stored, every send it accepted
// goes out, and none goes out twice.
func TestKillUnderLoad(t *testing.T) {
	e := newEnv(t, false)
	graph := metagraph.New(t)
	s := e.serve(t)
	key, channelID := setUp(t, e, s, graph)

	// The customers write first, so the window is open for the answers.
	const customers = 20
	for i := range customers {
		body, sig := inbound(fmt.Sprintf("55119%08d", i), fmt.Sprintf("wamid.e2e.open.%d", i), "Olá")
		if code := post(s.url, body, sig); code != 200 {
			t.Fatalf("opening webhook: %d", code)
		}
	}

	// Meta's side: the fake reports "sent" for every message it accepted,
	// through whichever server is up, as Meta retries webhooks.
	var cur struct {
		sync.Mutex
		url string
	}
	cur.url = s.url
	stopPump := make(chan struct{})
	pumped := make(chan struct{})
	go func() {
		defer close(pumped)
		done := map[string]bool{}
		for {
			select {
			case <-stopPump:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, m := range graph.Sent() {
				if done[m.ID] {
					continue
				}
				body, sig := graph.StatusWebhook(metagraph.Status{MessageID: m.ID, Status: "sent"})
				cur.Lock()
				u := cur.url
				cur.Unlock()
				if post(u, body, sig) == 200 {
					done[m.ID] = true
				}
			}
		}
	}()

	// Load: webhooks from several goroutines, and sends through the API.
	var mu sync.Mutex
	var acked []string
	var accepted []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				wamid := fmt.Sprintf("wamid.e2e.load.%d.%d", w, n)
				body, sig := inbound(fmt.Sprintf("55119%08d", n%customers), wamid, "carga")
				if post(s.url, body, sig) == 200 {
					mu.Lock()
					acked = append(acked, wamid)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			var sent struct {
				ID string `json:"id"`
			}
			b, _ := json.Marshal(map[string]any{"channel_id": channelID, "to": fmt.Sprintf("+55119%08d", n%customers), "type": "text",
				"text": map[string]any{"body": fmt.Sprintf("resposta %d", n)}})
			req, _ := http.NewRequest("POST", s.url+"/v1/messages", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			if resp.StatusCode == 202 && json.NewDecoder(resp.Body).Decode(&sent) == nil {
				mu.Lock()
				accepted = append(accepted, sent.ID)
				mu.Unlock()
			}
			resp.Body.Close()
		}
	}()

	eventually(t, "load builds up", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > 300 && len(accepted) > 30
	})
	s.kill()
	close(stop)
	wg.Wait()

	s2 := e.serve(t)
	cur.Lock()
	cur.url = s2.url
	cur.Unlock()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged %d webhooks and accepted %d sends before SIGKILL", len(acked), len(accepted))
	// Every acknowledged webhook is stored.
	var convs struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	call(t, "GET", s2.url+"/v1/conversations?limit=500", key, nil, &convs)
	stored := map[string]bool{}
	for _, c := range convs.Data {
		before := ""
		for {
			var page struct {
				Data []struct {
					ID                string `json:"id"`
					ProviderMessageID string `json:"provider_message_id"`
				} `json:"data"`
				Before string `json:"before"`
			}
			call(t, "GET", s2.url+"/v1/conversations/"+c.ID+"/messages?limit=500&before="+before, key, nil, &page)
			for _, m := range page.Data {
				stored[m.ProviderMessageID] = true
			}
			if page.Before == "" {
				break
			}
			before = page.Before
		}
	}
	for _, wamid := range acked {
		if !stored[wamid] {
			t.Errorf("webhook %s was acknowledged but is not stored", wamid)
		}
	}
	// Every accepted send goes out, exactly once.
	eventually(t, "every accepted send goes out after the restart", 60*time.Second, func() bool {
		out := map[string]int{}
		for _, m := range graph.Sent() {
			out[m.CallbackData()]++
		}
		for _, id := range accepted {
			if out[id] == 0 {
				return false
			}
		}
		return true
	})
	close(stopPump)
	<-pumped
	counts := map[string]int{}
	for _, m := range graph.Sent() {
		counts[m.CallbackData()]++
	}
	for id, n := range counts {
		if n > 1 {
			t.Errorf("message %s went out %d times", id, n)
		}
	}
}
