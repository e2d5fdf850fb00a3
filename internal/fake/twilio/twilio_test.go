package twilio

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/specs"
)

// recorder is a testing.TB that keeps the fake's complaints instead of
// failing the test, so a test can check the fake complains.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) complaints() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

func send(t *testing.T, s *Server, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestSendAcceptedAndRecorded(t *testing.T) {
	s := New(t)
	s.OpenWindow("+15551234567")
	status, body := send(t, s, url.Values{
		"From": {"whatsapp:" + s.PhoneNumber}, "To": {"whatsapp:+15551234567"}, "Body": {"hello"},
		"StatusCallback": {"https://parley.example/webhooks/twilio/ch_1?m=msg_1"},
	})
	if status != http.StatusCreated || body["status"] != "queued" {
		t.Fatalf("status %d, body %v", status, body)
	}
	sid, _ := body["sid"].(string)
	if len(sid) != 34 || !strings.HasPrefix(sid, "SM") {
		t.Errorf("sid = %q, want SM + 32 hex", sid)
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].OurID != "msg_1" || sent[0].To != "+15551234567" || sent[0].Body != "hello" || sent[0].SID != sid {
		t.Errorf("sent = %+v", sent)
	}
}

func TestInvalidSendsFailTheTest(t *testing.T) {
	base := func() url.Values {
		return url.Values{"To": {"whatsapp:+15551234567"}, "Body": {"hi"}}
	}
	cases := []struct {
		name string
		edit func(url.Values, *Server)
		want string
	}{
		{"no sender", func(url.Values, *Server) {}, "neither From nor MessagingServiceSid"},
		{"unknown param", func(f url.Values, s *Server) { f.Set("From", "whatsapp:"+s.PhoneNumber); f.Set("Contentsid", "x") }, "unknown parameters"},
		{"sms address", func(f url.Values, s *Server) { f.Set("From", s.PhoneNumber) }, "not a WhatsApp address"},
		{"bad variables", func(f url.Values, s *Server) {
			f.Set("From", "whatsapp:"+s.PhoneNumber)
			f.Del("Body")
			f.Set("ContentSid", "HX"+strings.Repeat("a", 32))
			f.Set("ContentVariables", "{1:x}")
		}, "ContentVariables is not a JSON object"},
		{"bad content sid", func(f url.Values, s *Server) {
			f.Set("From", "whatsapp:"+s.PhoneNumber)
			f.Del("Body")
			f.Set("ContentSid", "HX12")
		}, "ContentSid"},
		{"no To", func(f url.Values, s *Server) { f.Set("From", "whatsapp:"+s.PhoneNumber); f.Del("To") }, "To is missing"},
		{"body and content", func(f url.Values, s *Server) {
			f.Set("From", "whatsapp:"+s.PhoneNumber)
			f.Set("ContentSid", "HX"+strings.Repeat("a", 32))
		}, "ContentSid is sent together with Body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := New(rec)
			f := base()
			c.edit(f, s)
			status, body := send(t, s, f)
			if status != http.StatusBadRequest || body["code"] == nil || body["more_info"] == nil {
				t.Errorf("status %d body %v, want a Twilio 400 error", status, body)
			}
			got := strings.Join(rec.complaints(), "\n")
			if !strings.Contains(got, c.want) {
				t.Errorf("complaints %q do not mention %q", got, c.want)
			}
			if len(s.Sent()) != 0 {
				t.Errorf("an invalid send was recorded")
			}
		})
	}
}

func TestAuthAndFaults(t *testing.T) {
	s := New(t)
	s.OpenWindow("+15551234567")
	form := url.Values{"From": {"whatsapp:" + s.PhoneNumber}, "To": {"whatsapp:+15551234567"}, "Body": {"hi"}}
	s.FailNext(1, RateLimit)
	s.FailNext(1, Outage)
	if status, body := send(t, s, form); status != 429 || body["code"] != float64(20429) {
		t.Errorf("rate limit: %d %v", status, body)
	}
	if status, _ := send(t, s, form); status != 503 {
		t.Errorf("outage: %d", status)
	}
	if status, _ := send(t, s, form); status != 201 {
		t.Errorf("after faults: %d", status)
	}
	s.FailNext(1, Interrupt)
	req, _ := http.NewRequest("POST", s.URL+"/2010-04-01/Accounts/"+s.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("interrupt: got an answer %d", resp.StatusCode)
	}
	if n := len(s.Sent()); n != 2 {
		t.Errorf("%d sends recorded, want 2 (the accepted and the interrupted one)", n)
	}
	s.RevokeToken()
	if status, body := send(t, s, form); status != 401 || body["code"] != float64(20003) {
		t.Errorf("revoked: %d %v", status, body)
	}
}

// hook is a webhook receiver that checks signatures with Sign.
type hook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	forms []url.Values
}

func newHook(t *testing.T, token *string) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if Sign(*token, "http://"+r.Host+r.URL.RequestURI(), r.PostForm) != r.Header.Get("X-Twilio-Signature") {
			w.WriteHeader(401)
			return
		}
		h.mu.Lock()
		h.forms = append(h.forms, r.PostForm)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) wait(t *testing.T, n int) []url.Values {
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.mu.Lock()
		got := append([]url.Values(nil), h.forms...)
		h.mu.Unlock()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWindowAndCallbacks(t *testing.T) {
	s := New(t)
	h := newHook(t, &s.AuthToken)
	s.SetWebhookURL(h.srv.URL + "/webhooks/twilio/ch_1")
	cb := h.srv.URL + "/webhooks/twilio/ch_1?m=msg_9"
	// No inbound yet: the window is closed, the send is accepted and fails.
	status, body := send(t, s, url.Values{"From": {"whatsapp:" + s.PhoneNumber}, "To": {"whatsapp:+15551234567"}, "Body": {"hi"}, "StatusCallback": {cb}})
	if status != 201 {
		t.Fatalf("send: %d", status)
	}
	forms := h.wait(t, 1)
	if len(forms) != 1 || forms[0].Get("MessageStatus") != "failed" || forms[0].Get("ErrorCode") != "63016" || forms[0].Get("MessageSid") != body["sid"] {
		t.Fatalf("callbacks %v", forms)
	}
	if got := s.Inbound("+15551234567", "Ana", "hello"); got != 200 {
		t.Fatalf("inbound: %d", got)
	}
	status, body = send(t, s, url.Values{"From": {"whatsapp:" + s.PhoneNumber}, "To": {"whatsapp:+15551234567"}, "Body": {"hi"}, "StatusCallback": {cb}})
	if status != 201 {
		t.Fatalf("send: %d", status)
	}
	if got := s.Status(body["sid"].(string), "delivered", ""); got != 200 {
		t.Fatalf("status: %d", got)
	}
	forms = h.wait(t, 3)
	if len(forms) != 3 || forms[1].Get("Body") != "hello" || forms[1].Get("ProfileName") != "Ana" || forms[1].Get("WaId") != "15551234567" {
		t.Fatalf("inbound form %v", forms)
	}
	if forms[2].Get("MessageStatus") != "delivered" || forms[2].Get("ErrorCode") != "" {
		t.Errorf("delivered callback %v", forms[2])
	}
}

func TestMediaRequiresAuthAndRedirects(t *testing.T) {
	s := New(t)
	h := newHook(t, &s.AuthToken)
	s.SetWebhookURL(h.srv.URL + "/hook")
	s.InboundMedia("+15551234567", "image/jpeg", []byte("JPEG"), "look")
	forms := h.wait(t, 1)
	if len(forms) != 1 {
		t.Fatal("no inbound media webhook")
	}
	mu := forms[0].Get("MediaUrl0")
	if resp, err := http.Get(mu); err != nil || resp.StatusCode != 401 {
		t.Errorf("media without credentials: %v %v", resp.StatusCode, err)
	}
	req, _ := http.NewRequest("GET", mu, nil)
	req.SetBasicAuth(s.AccountSID, s.AuthToken)
	var redirected bool
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { redirected = true; return nil }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !redirected || string(b) != "JPEG" || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("redirected=%v body=%q type=%q", redirected, b, resp.Header.Get("Content-Type"))
	}
}

func TestContentPaging(t *testing.T) {
	s := New(t)
	s.PageSize = 2
	for i := range 5 {
		s.AddTemplate(fmt.Sprintf("t%d", i), "en", "Hi {{1}}, order {{2}}")
	}
	next := s.URL + "/v1/ContentAndApprovals"
	var names []string
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		req, _ := http.NewRequest("GET", next, nil)
		req.SetBasicAuth(s.AccountSID, s.AuthToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Contents []struct {
				FriendlyName     string `json:"friendly_name"`
				ApprovalRequests struct {
					Status string `json:"status"`
				} `json:"approval_requests"`
			} `json:"contents"`
			Meta struct {
				NextPageURL *string `json:"next_page_url"`
			} `json:"meta"`
		}
		json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		for _, c := range page.Contents {
			if c.ApprovalRequests.Status != "approved" {
				t.Errorf("%s: status %q", c.FriendlyName, c.ApprovalRequests.Status)
			}
			names = append(names, c.FriendlyName)
		}
		next = ""
		if page.Meta.NextPageURL != nil {
			next = *page.Meta.NextPageURL
		}
	}
	if strings.Join(names, ",") != "t0,t1,t2,t3,t4" {
		t.Errorf("names %v", names)
	}
}

// TestSignMatchesVectors checks the fake's signer against the published
// vectors that carry the whole string to sign.
func TestSignMatchesVectors(t *testing.T) {
	var file struct {
		AuthToken string `json:"auth_token"`
		Vectors   []struct {
			Name     string          `json:"name"`
			URL      string          `json:"url"`
			Params   json.RawMessage `json:"params"`
			Ordered  [][2]string     `json:"params_ordered"`
			Expected string          `json:"expected"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(specs.Read(t, "twilio", "signature-test-vectors.json"), &file); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, v := range file.Vectors {
		if v.URL == "" {
			continue
		}
		form := url.Values{}
		var params map[string]string
		if json.Unmarshal(v.Params, &params) == nil {
			for k, val := range params {
				form.Add(k, val)
			}
		}
		for _, kv := range v.Ordered {
			form.Add(kv[0], kv[1])
		}
		if got := Sign(file.AuthToken, v.URL, form); got != v.Expected {
			t.Errorf("%s: %s, want %s", v.Name, got, v.Expected)
		}
		checked++
	}
	if checked < 4 {
		t.Errorf("only %d vectors checked", checked)
	}
}
