package acs

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// sign signs req as ACS specifies (the adapter has its own copy, tested
// on the published vectors; this one only drives the fake).
func sign(req *http.Request, body []byte, key string) {
	sum := sha256.Sum256(body)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	date := time.Now().UTC().Format(http.TimeFormat)
	k, _ := base64.StdEncoding.DecodeString(key)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(req.Method + "\n" + req.URL.RequestURI() + "\n" + date + ";" + req.URL.Host + ";" + hash))
	req.Header.Set("x-ms-date", date)
	req.Header.Set("x-ms-content-sha256", hash)
	req.Header.Set("Authorization", "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

func do(t *testing.T, s *Server, method, path string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	sign(req, body, s.AccessKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// recorder collects t.Errorf calls the fake makes, so that tests of what
// the fake refuses can check it complained.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, format)
}

func (r *recorder) complaints() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

const sendPath = "/messages/notifications:send?api-version=2024-11-15"

// The Swagger's own examples: every 2024-11-15 kind passes, and the two
// that are not 2024-11-15 bodies are refused with the reason.
func TestSpecExamples(t *testing.T) {
	sp, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(specDir(), "messages-examples", "NotificationMessages_*.json"))
	if len(files) < 7 {
		t.Fatalf("%d examples", len(files))
	}
	refused := map[string]string{
		// kind "button " with a trailing space, a typo in the example.
		"NotificationMessages_SendButtonInteractiveMessage.2024-11-15.json": `kind is "button ", ButtonContent requires "button"`,
		// reactions are not a 2024-11-15 kind.
		"NotificationMessages_SendReaction.2024-11-15-folder.json": `unknown kind "reaction"`,
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		var ex struct {
			Parameters struct {
				Body json.RawMessage `json:"body"`
			} `json:"parameters"`
		}
		json.Unmarshal(b, &ex)
		dec := json.NewDecoder(bytes.NewReader(ex.Parameters.Body))
		dec.UseNumber()
		var doc any
		dec.Decode(&doc)
		probs := sp.validate("NotificationContent", doc)
		name := filepath.Base(f)
		if want, ok := refused[name]; ok {
			if !strings.Contains(strings.Join(probs, ";"), want) {
				t.Errorf("%s: problems %q, want one containing %q", name, probs, want)
			}
		} else if len(probs) > 0 {
			t.Errorf("%s: %q", name, probs)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"channelRegistrationId":"0f0eb78e-a576-1dfc-b414-0f0756de3338","to":["1"],"kind":"text"}`, `missing required property "content"`},
		{`{"channelRegistrationId":"0f0eb78e-a576-1dfc-b414-0f0756de3338","to":["1"],"kind":"text","content":"x","extra":1}`, `unknown property "extra"`},
		{`{"channelRegistrationId":"not-a-uuid","to":["1"],"kind":"text","content":"x"}`, `is not a UUID`},
		{`{"channelRegistrationId":"0f0eb78e-a576-1dfc-b414-0f0756de3338","to":["1"],"kind":"image","mediaUri":"relative/x.jpg"}`, `not an absolute URI`},
		{`{"channelRegistrationId":"0f0eb78e-a576-1dfc-b414-0f0756de3338","to":["1"],"kind":"template","template":{"name":"a","language":"en","values":[{"name":"1","kind":"txt","text":"x"}]}}`, `unknown kind "txt"`},
		{`{"channelRegistrationId":"0f0eb78e-a576-1dfc-b414-0f0756de3338","to":["1"],"kind":"interactive","interactiveMessage":{"body":{"kind":"text","text":"b"},"actionBindings":{"actionBindingKind":"whatsAppButton","actions":[{"kind":"button","id":"a"}]}}}`, `missing required property "title"`},
	} {
		dec := json.NewDecoder(strings.NewReader(tc.body))
		dec.UseNumber()
		var doc any
		dec.Decode(&doc)
		if probs := sp.validate("NotificationContent", doc); !strings.Contains(strings.Join(probs, ";"), tc.want) {
			t.Errorf("%s: problems %q, want %q", tc.body, probs, tc.want)
		}
	}
}

func TestSendRepeatabilityWindowAndEvents(t *testing.T) {
	s := New(t)
	var mu sync.Mutex
	var got [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
	}))
	defer hook.Close()
	s.SetWebhookURL(hook.URL + "/?key=k")
	if st := s.Inbound("+14255550100", "Ada", "hi"); st != 200 {
		t.Fatalf("inbound: %d", st)
	}
	body := []byte(`{"channelRegistrationId":"` + s.ChannelRegistrationID + `","to":["+14255550100"],"kind":"text","content":"hello"}`)
	hdr := map[string]string{"Repeatability-Request-ID": "5b1f1ba2-0f3c-4d28-9e3b-7c2a5d1e0f11", "Repeatability-First-Sent": time.Now().UTC().Format(http.TimeFormat), "Content-Type": "application/json"}
	resp, b1 := do(t, s, "POST", sendPath, body, hdr)
	if resp.StatusCode != 202 || resp.Header.Get("Repeatability-Result") != "accepted" {
		t.Fatalf("send: %d %s", resp.StatusCode, b1)
	}
	resp, b2 := do(t, s, "POST", sendPath, body, hdr)
	if resp.StatusCode != 202 || !bytes.Equal(b1, b2) || resp.Header.Get("Repeatability-Result") != "accepted" {
		t.Fatalf("repeat: %d %s, want the original %s", resp.StatusCode, b2, b1)
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].Text != "hello" || sent[0].To != "+14255550100" || sent[0].FailedCode != "" {
		t.Fatalf("sent %+v", sent)
	}
	// Outside the window: accepted, then Failed with 131047.
	body2 := []byte(`{"channelRegistrationId":"` + s.ChannelRegistrationID + `","to":["+14255550199"],"kind":"text","content":"cold"}`)
	if resp, b := do(t, s, "POST", sendPath, body2, nil); resp.StatusCode != 202 {
		t.Fatalf("cold send: %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		last := []byte(nil)
		if n > 0 {
			last = got[n-1]
		}
		mu.Unlock()
		if n == 2 {
			if !bytes.Contains(last, []byte(`"channelCode":"131047"`)) || !bytes.Contains(last, []byte(EventStatus)) {
				t.Fatalf("failed status: %s", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d posts, want the inbound and the Failed status", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A fault, then a revoked key.
	s.FailNext(1, RateLimit)
	if resp, _ := do(t, s, "POST", sendPath, body2, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("rate limit: %d", resp.StatusCode)
	}
	s.RevokeKey()
	if resp, b := do(t, s, "POST", sendPath, body2, nil); resp.StatusCode != 401 || !bytes.Contains(b, []byte(`"code":"Denied"`)) {
		t.Fatalf("revoked: %d %s", resp.StatusCode, b)
	}
}

func TestRefusals(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	// A body with a tampered hash.
	req, _ := http.NewRequest("POST", s.URL+sendPath, strings.NewReader(`{}`))
	sign(req, []byte(`{"x":1}`), s.AccessKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || rec.complaints() != 1 {
		t.Errorf("bad hash: %d, %d complaints", resp.StatusCode, rec.complaints())
	}
	// An invalid body gets the Azure.Core envelope and a complaint.
	resp2, b := do(t, s, "POST", sendPath, []byte(`{"channelRegistrationId":"`+s.ChannelRegistrationID+`","to":["1"],"kind":"sms","content":"x"}`), nil)
	var env struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(b, &env)
	if resp2.StatusCode != 400 || env.Error.Code == "" || !strings.Contains(env.Error.Message, `unknown kind "sms"`) || rec.complaints() != 2 {
		t.Errorf("bad kind: %d %s, %d complaints", resp2.StatusCode, b, rec.complaints())
	}
}

func TestTemplatesPagingAndEntra(t *testing.T) {
	s := New(t)
	s.AddTemplate("a", "en_US", "Hi {{1}}")
	s.AddTemplate("b", "en_US", "Bye")
	s.AddTemplate("c", "fr", "Salut {{1}} {{2}}")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {s.ClientID}, "client_secret": {s.ClientSecret}, "scope": {Scope}}
	resp, err := http.PostForm(s.URL+"/"+s.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	var names []string
	next := s.URL + "/messages/channels/" + s.ChannelRegistrationID + "/templates?api-version=2024-11-15"
	for next != "" {
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Value []struct {
				Name string `json:"name"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("templates: %d", resp.StatusCode)
		}
		for _, v := range page.Value {
			names = append(names, v.Name)
		}
		next = page.NextLink
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("templates %v", names)
	}
}
