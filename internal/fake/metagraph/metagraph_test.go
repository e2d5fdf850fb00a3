package metagraph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/internal/specs"
)

// recorder captures the test failures the fake reports, so tests can
// check that an invalid request is reported.
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

func (r *recorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %s", a.status, a.body)
	}
	return m
}

// graphCode is error.code of an error answer.
func (a answer) graphCode(t *testing.T) int {
	t.Helper()
	e, ok := a.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error envelope in %d %s", a.status, a.body)
	}
	return int(e["code"].(float64))
}

func do(t *testing.T, method, u, token, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func messagesURL(s *metagraph.Server) string {
	return s.URL + "/" + s.Version + "/" + metagraph.DefaultPhoneNumberID + "/messages"
}

func send(t *testing.T, s *metagraph.Server, body string) answer {
	t.Helper()
	return do(t, "POST", messagesURL(s), metagraph.DefaultToken, "application/json", []byte(body))
}

const textBody = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"text","text":{"body":"hi"},"biz_opaque_callback_data":"msg_01"}`

type examples struct {
	Request  map[string]struct{ Value json.RawMessage } `json:"request_examples"`
	Response map[string]map[string]struct {
		Value json.RawMessage
	} `json:"response_examples"`
}

// TestFakeAcceptsOfficialExamples sends every official example that
// matches the (patched) schema through the fake, and checks the answers
// against the documented response schema.
func TestFakeAcceptsOfficialExamples(t *testing.T) {
	s := metagraph.New(t)
	doc, err := metagraph.Document()
	if err != nil {
		t.Fatal(err)
	}
	send200, err := doc.ResponseValidator("POST", "/{Version}/{Phone-Number-ID}/messages", "200", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	sendV, _ := doc.RequestValidator("POST", "/{Version}/{Phone-Number-ID}/messages", "application/json")
	var ex examples
	json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "send-message.json"), &ex)
	accepted := 0
	for name, e := range ex.Request {
		if sendV.Validate(e.Value) != nil {
			continue // see internal/oas invalidSendExamples
		}
		a := send(t, s, string(e.Value))
		if a.status != 200 {
			t.Errorf("%s: %d %s", name, a.status, a.body)
			continue
		}
		if err := send200.Validate(a.body); err != nil {
			t.Errorf("%s: answer does not match the response schema: %v", name, err)
		}
		accepted++
	}
	if accepted < 30 {
		t.Errorf("only %d official examples accepted", accepted)
	}
	if got := len(s.Sent()); got != accepted {
		t.Errorf("Sent() has %d messages, want %d", got, accepted)
	}
	// The documented success answer, field for field.
	a := send(t, s, textBody)
	m := a.json(t)
	if m["messaging_product"] != "whatsapp" {
		t.Errorf("answer %s", a.body)
	}
	c := m["contacts"].([]any)[0].(map[string]any)
	if c["input"] != "+16505551234" || c["wa_id"] != "16505551234" {
		t.Errorf("contacts %v", c)
	}
	id := m["messages"].([]any)[0].(map[string]any)["id"].(string)
	last := s.Sent()[len(s.Sent())-1]
	if !strings.HasPrefix(id, "wamid.") || last.ID != id || last.CallbackData() != "msg_01" || last.Type() != "text" || last.To() != "+16505551234" {
		t.Errorf("sent %+v, answer id %s", last, id)
	}
}

func TestFakeRejectsInvalidBodies(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body, want string
	}{
		{"unknown property", "application/json", strings.Replace(textBody, `"text":{`, `"colour":"red","text":{`, 1), "additional properties 'colour' not allowed"},
		{"missing to", "application/json", strings.Replace(textBody, `"to":"+16505551234",`, "", 1), "missing property 'to'"},
		{"wrong product", "application/json", strings.Replace(textBody, `"messaging_product":"whatsapp"`, `"messaging_product":"sms"`, 1), "messaging_product"},
		{"form encoded", "application/x-www-form-urlencoded", "to=1", "Content-Type"},
		{"not JSON", "application/json", "{", "not a JSON object"},
		{"read receipt without id", "application/json", `{"messaging_product":"whatsapp","status":"read"}`, "missing property 'message_id'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := metagraph.New(rec)
			a := do(t, "POST", messagesURL(s), metagraph.DefaultToken, tc.contentType, []byte(tc.body))
			if a.status != 400 || a.graphCode(t) != 100 {
				t.Fatalf("answer %d %s, want 400 with code 100", a.status, a.body)
			}
			if !strings.Contains(string(a.body), "error_data") {
				t.Errorf("no error_data details in %s", a.body)
			}
			f := rec.failures()
			if len(f) != 1 || !strings.Contains(f[0], tc.want) {
				t.Fatalf("reported failures %q, want one containing %q", f, tc.want)
			}
			if len(s.Sent()) != 0 {
				t.Error("an invalid message was recorded as sent")
			}
		})
	}
}

func TestFakeAuth(t *testing.T) {
	other := metagraph.Phone{ID: "200000000000001", WABAID: "300000000000001", DisplayPhone: "15550000001", Token: "other-token"}
	s := metagraph.New(t, metagraph.WithPhone(other))
	for _, tc := range []struct {
		name, token  string
		status, code int
	}{
		{"no token", "", 401, 104},
		{"unknown token", "nope", 401, 190},
		{"another number's token", "other-token", 400, 100},
	} {
		a := do(t, "POST", messagesURL(s), tc.token, "application/json", []byte(textBody))
		if a.status != tc.status || a.graphCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %d code %d", tc.name, a.status, a.body, tc.status, tc.code)
		}
	}
	s.RevokeToken(metagraph.DefaultToken)
	if a := send(t, s, textBody); a.status != 401 || a.graphCode(t) != 190 {
		t.Errorf("revoked token: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", s.URL+"/v23.0/"+other.ID+"?fields=id", "other-token", "", nil); a.status != 200 {
		t.Errorf("other phone still works: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", s.URL+"/v99.0/"+other.ID, "other-token", "", nil); a.status != 400 || a.graphCode(t) != 2500 {
		t.Errorf("wrong version: %d %s", a.status, a.body)
	}
	if len(s.Requests()) != 6 {
		t.Errorf("%d requests recorded, want 6", len(s.Requests()))
	}
}

func TestFakeMarkRead(t *testing.T) {
	s := metagraph.New(t)
	a := send(t, s, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN1"}`)
	if a.status != 200 || string(a.body) != `{"success":true}` {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if r := s.ReadReceipts(); len(r) != 1 || r[0] != "wamid.IN1" {
		t.Errorf("read receipts %v", r)
	}
	if len(s.Sent()) != 0 {
		t.Error("a read receipt counted as a sent message")
	}
}

func upload(t *testing.T, s *metagraph.Server, fields map[string]string, data []byte) answer {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if data != nil {
		fw, _ := w.CreateFormFile("file", "photo.jpg")
		fw.Write(data)
	}
	w.Close()
	return do(t, "POST", s.URL+"/v23.0/"+metagraph.DefaultPhoneNumberID+"/media", metagraph.DefaultToken, w.FormDataContentType(), buf.Bytes())
}

func TestFakeMedia(t *testing.T) {
	s := metagraph.New(t)
	jpeg := []byte("\xff\xd8\xff\xe0 fake jpeg")
	a := upload(t, s, map[string]string{"messaging_product": "whatsapp", "type": "image/jpeg"}, jpeg)
	if a.status != 200 {
		t.Fatalf("upload: %d %s", a.status, a.body)
	}
	id := a.json(t)["id"].(string)
	if u := s.Uploads(); len(u) != 1 || u[0].ID != id || u[0].MIMEType != "image/jpeg" || !bytes.Equal(u[0].Data, jpeg) || u[0].Filename != "photo.jpg" {
		t.Fatalf("uploads %+v", u)
	}

	s.AddMedia("1234567890", "audio/ogg", []byte("OggS"))
	for _, tc := range []struct {
		id, mime string
		data     []byte
	}{{id, "image/jpeg", jpeg}, {"1234567890", "audio/ogg", []byte("OggS")}} {
		a := do(t, "GET", s.URL+"/v23.0/"+tc.id, metagraph.DefaultToken, "", nil)
		if a.status != 200 {
			t.Fatalf("retrieve %s: %d %s", tc.id, a.status, a.body)
		}
		m := a.json(t)
		if m["mime_type"] != tc.mime || m["file_size"] != fmt.Sprint(len(tc.data)) || m["id"] != tc.id || m["messaging_product"] != "whatsapp" {
			t.Errorf("retrieve %s: %s", tc.id, a.body)
		}
		u := m["url"].(string)
		if !strings.HasPrefix(u, s.URL) {
			t.Fatalf("url %s does not point at the fake", u)
		}
		dl := do(t, "GET", u, metagraph.DefaultToken, "", nil)
		if dl.status != 200 || !bytes.Equal(dl.body, tc.data) || dl.header.Get("Content-Type") != tc.mime {
			t.Errorf("download %s: %d %q %s", tc.id, dl.status, dl.body, dl.header.Get("Content-Type"))
		}
		if dl := do(t, "GET", u, "", "", nil); dl.status != 401 {
			t.Errorf("download without token: %d", dl.status)
		}
		if dl := do(t, "GET", u, "wrong", "", nil); dl.status != 401 {
			t.Errorf("download with a bad token: %d", dl.status)
		}
	}
	old := s.MediaURL(id)
	s.ExpireMediaURLs()
	if dl := do(t, "GET", old, metagraph.DefaultToken, "", nil); dl.status != 404 {
		t.Errorf("expired url: %d", dl.status)
	}
	if dl := do(t, "GET", s.MediaURL(id), metagraph.DefaultToken, "", nil); dl.status != 200 {
		t.Errorf("fresh url: %d", dl.status)
	}
	if a := do(t, "GET", s.URL+"/v23.0/999", metagraph.DefaultToken, "", nil); a.status != 400 || a.graphCode(t) != 100 {
		t.Errorf("unknown media: %d %s", a.status, a.body)
	}
}

func TestFakeMediaUploadChecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[string]string
		data   []byte
		want   string
	}{
		{"no type", map[string]string{"messaging_product": "whatsapp"}, []byte("x"), "type"},
		{"no product", map[string]string{"type": "image/png"}, []byte("x"), "messaging_product"},
		{"no file", map[string]string{"messaging_product": "whatsapp", "type": "image/png"}, nil, "file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			s := metagraph.New(rec)
			if a := upload(t, s, tc.fields, tc.data); a.status != 400 {
				t.Errorf("%d %s", a.status, a.body)
			}
			if f := rec.failures(); len(f) != 1 || !strings.Contains(f[0], tc.want) {
				t.Errorf("failures %q, want one about %s", f, tc.want)
			}
		})
	}
}

func template(i int) map[string]any {
	return map[string]any{
		"id": fmt.Sprint(1000 + i), "name": fmt.Sprintf("t%d", i), "language": "en_US", "status": "APPROVED",
		"category": "UTILITY", "parameter_format": "POSITIONAL",
		"components": []any{map[string]any{"type": "BODY", "text": "Hello {{1}}"}},
	}
}

func TestFakeTemplatesPaging(t *testing.T) {
	s := metagraph.New(t)
	var ts []map[string]any
	for i := range 5 {
		ts = append(ts, template(i))
	}
	s.SetTemplates(metagraph.DefaultWABAID, ts)
	doc, _ := metagraph.Document()
	v, err := doc.ResponseValidator("GET", "/{Version}/{WABA-ID}/message_templates", "200", "application/json")
	if err != nil {
		t.Fatal(err)
	}
	next := s.URL + "/v23.0/" + metagraph.DefaultWABAID + "/message_templates?limit=2&fields=name,language,status"
	var names []string
	pages := 0
	for next != "" {
		a := do(t, "GET", next, metagraph.DefaultToken, "", nil)
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if err := v.Validate(a.body); err != nil {
			t.Errorf("page does not match the response schema: %v", err)
		}
		var page struct {
			Data   []map[string]any
			Paging struct {
				Cursors struct{ Before, After string }
				Next    string
			}
		}
		json.Unmarshal(a.body, &page)
		for _, d := range page.Data {
			names = append(names, d["name"].(string))
			if _, ok := d["components"]; ok {
				t.Errorf("components returned although not in fields: %v", d)
			}
			if d["id"] == nil {
				t.Errorf("id missing: %v", d)
			}
		}
		if page.Paging.Cursors.After == "" || page.Paging.Cursors.Before == "" {
			t.Errorf("no cursors: %s", a.body)
		}
		next = page.Paging.Next
		pages++
	}
	if pages != 3 || strings.Join(names, ",") != "t0,t1,t2,t3,t4" {
		t.Errorf("%d pages, names %v", pages, names)
	}
	for _, r := range s.Requests() {
		if r.Query.Get("access_token") != "" {
			t.Error("paging.next carries a token")
		}
	}
	// Unknown or foreign WABA.
	if a := do(t, "GET", s.URL+"/v23.0/42/message_templates", metagraph.DefaultToken, "", nil); a.status != 400 || a.graphCode(t) != 100 {
		t.Errorf("foreign WABA: %d %s", a.status, a.body)
	}
}

func TestFakePhoneNode(t *testing.T) {
	s := metagraph.New(t)
	a := do(t, "GET", s.URL+"/v23.0/"+metagraph.DefaultPhoneNumberID+"?fields=id", metagraph.DefaultToken, "", nil)
	if a.status != 200 || string(a.body) != `{"id":"`+metagraph.DefaultPhoneNumberID+`"}` {
		t.Errorf("%d %s", a.status, a.body)
	}
	a = do(t, "GET", s.URL+"/v23.0/"+metagraph.DefaultPhoneNumberID, metagraph.DefaultToken, "", nil)
	m := a.json(t)
	if m["display_phone_number"] != "+"+metagraph.DefaultDisplayPhone || m["quality_rating"] != "GREEN" || m["verified_name"] == nil {
		t.Errorf("default fields: %s", a.body)
	}
	ch := s.Channel()
	if ch.Meta.GraphURL != s.URL || ch.Meta.APIVersion != "v23.0" || ch.Meta.AccessToken != metagraph.DefaultToken || ch.Meta.WABAID != metagraph.DefaultWABAID {
		t.Errorf("channel %+v", ch.Meta)
	}
}

func TestFakeFaults(t *testing.T) {
	s := metagraph.New(t)
	status, e := metagraph.KnownError(131047)
	s.FailNext(1, status, e)
	a := send(t, s, textBody)
	if a.status != 400 || a.graphCode(t) != 131047 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	env := a.json(t)["error"].(map[string]any)
	if env["type"] != "OAuthException" || env["fbtrace_id"] == "" || env["error_data"].(map[string]any)["details"] == "" {
		t.Errorf("envelope %s", a.body)
	}
	if a := send(t, s, textBody); a.status != 200 {
		t.Errorf("fault outlived n: %d", a.status)
	}

	// Path-limited fault with a header, and n > 1.
	s.Inject(2, metagraph.Fault{Status: 429, Error: metagraph.GraphError{Message: "slow down", Code: 4}, Header: http.Header{"Retry-After": {"7"}}, Path: "/messages"})
	if a := do(t, "GET", s.URL+"/v23.0/"+metagraph.DefaultPhoneNumberID, metagraph.DefaultToken, "", nil); a.status != 200 {
		t.Errorf("path filter ignored: %d", a.status)
	}
	for range 2 {
		if a := send(t, s, textBody); a.status != 429 || a.header.Get("Retry-After") != "7" || a.graphCode(t) != 4 {
			t.Errorf("%d %v %s", a.status, a.header, a.body)
		}
	}
	s.Inject(1, metagraph.Fault{Status: 502, Body: []byte("<html>Bad Gateway</html>")})
	if a := send(t, s, textBody); a.status != 502 || !strings.Contains(string(a.body), "Bad Gateway") {
		t.Errorf("raw fault: %d %s", a.status, a.body)
	}

	// A hook sees valid bodies only.
	var seen []string
	s.OnMessage(func(body []byte) (int, []byte, bool) {
		seen = append(seen, string(body))
		return 500, []byte(`{"error":{"message":"x","type":"OAuthException","code":1,"fbtrace_id":"y"}}`), true
	})
	if a := send(t, s, textBody); a.status != 500 {
		t.Errorf("hook ignored: %d", a.status)
	}
	s.OnMessage(nil)
	if len(seen) != 1 || seen[0] != textBody {
		t.Errorf("hook saw %q", seen)
	}
}

// TestFakeStall: a stalled request holds until the client gives up, with
// no sleep in the test.
func TestFakeStall(t *testing.T) {
	s := metagraph.New(t)
	release := s.Stall()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", messagesURL(s), strings.NewReader(textBody))
	req.Header.Set("Authorization", "Bearer "+metagraph.DefaultToken)
	req.Header.Set("Content-Type", "application/json")
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a deadline", err)
	}
	if len(s.Requests()) != 1 {
		t.Errorf("the stalled request was not recorded")
	}
	release()
	if a := send(t, s, textBody); a.status != 200 {
		t.Errorf("after release: %d", a.status)
	}
}

func TestFakeConcurrentSends(t *testing.T) {
	s := metagraph.New(t)
	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", messagesURL(s), strings.NewReader(textBody))
			req.Header.Set("Authorization", "Bearer "+metagraph.DefaultToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var out struct{ Messages []struct{ ID string } }
			json.NewDecoder(resp.Body).Decode(&out)
			if len(out.Messages) == 1 {
				ids[i] = out.Messages[0].ID
			}
		}()
	}
	wg.Wait()
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == "" || ids[i] == ids[i-1] {
			t.Fatalf("ids not unique: %v", ids)
		}
	}
	if len(s.Sent()) != 20 {
		t.Errorf("%d sent", len(s.Sent()))
	}
}

func TestFakeStatusWebhook(t *testing.T) {
	s := metagraph.New(t)
	id := send(t, s, textBody).json(t)["messages"].([]any)[0].(map[string]any)["id"].(string)
	at := time.Unix(1750030073, 0)
	for _, st := range []string{"sent", "delivered", "read"} {
		body, sig := s.StatusWebhook(metagraph.Status{MessageID: id, Status: st, Timestamp: at, PricingCategory: "service"})
		if sig != s.Sign(body) || !strings.HasPrefix(sig, "sha256=") || len(sig) != 71 {
			t.Errorf("signature %s", sig)
		}
		var w struct {
			Object string
			Entry  []struct {
				ID      string
				Changes []struct {
					Field string
					Value struct {
						MessagingProduct string `json:"messaging_product"`
						Metadata         struct {
							DisplayPhoneNumber string `json:"display_phone_number"`
							PhoneNumberID      string `json:"phone_number_id"`
						}
						Statuses []map[string]any
					}
				}
			}
		}
		if err := json.Unmarshal(body, &w); err != nil {
			t.Fatal(err)
		}
		ch := w.Entry[0].Changes[0]
		got := ch.Value.Statuses[0]
		if w.Object != "whatsapp_business_account" || w.Entry[0].ID != metagraph.DefaultWABAID || ch.Field != "messages" ||
			ch.Value.Metadata.PhoneNumberID != metagraph.DefaultPhoneNumberID || ch.Value.Metadata.DisplayPhoneNumber != metagraph.DefaultDisplayPhone {
			t.Errorf("envelope %s", body)
		}
		if got["id"] != id || got["status"] != st || got["timestamp"] != "1750030073" || got["recipient_id"] != "16505551234" || got["biz_opaque_callback_data"] != "msg_01" {
			t.Errorf("status %v", got)
		}
	}
	_, e := metagraph.KnownError(131049)
	e.Details = "Zustellung fehlgeschlagen: café"
	body, _ := s.StatusWebhook(metagraph.Status{MessageID: id, Status: "failed", Error: &e})
	if !bytes.Contains(body, []byte(`caf\u00e9`)) || !bytes.Contains(body, []byte(`"code":131049`)) {
		t.Errorf("failed status %s", body)
	}
}

// TestFakeSignatureVectors checks Sign and the \u escaping against the
// computed vectors in testdata (whose app secret is the fake's default).
func TestFakeSignatureVectors(t *testing.T) {
	var v struct {
		AppSecret string `json:"app_secret"`
		Vectors   []struct {
			RawBody        string `json:"raw_body"`
			ExpectedHeader string `json:"expected_header"`
		}
	}
	if err := json.Unmarshal(specs.Read(t, "meta", "x-hub-signature-256-computed-vectors.json"), &v); err != nil {
		t.Fatal(err)
	}
	s := metagraph.New(t, metagraph.WithAppSecret(v.AppSecret))
	for _, vec := range v.Vectors[:2] {
		if got := s.Sign([]byte(vec.RawBody)); got != vec.ExpectedHeader {
			t.Errorf("Sign = %s, want %s", got, vec.ExpectedHeader)
		}
	}
	// The NEGATIVE vector is vector 2 with literal UTF-8; the fake's
	// escaping turns it back into what Meta sends.
	if got := metagraph.EscapeNonASCII([]byte(v.Vectors[2].RawBody)); string(got) != v.Vectors[1].RawBody {
		t.Errorf("escaped:\n%s\nwant:\n%s", got, v.Vectors[1].RawBody)
	}
}

func TestFakeUnknownRoute(t *testing.T) {
	s := metagraph.New(t)
	if a := do(t, "DELETE", messagesURL(s), metagraph.DefaultToken, "", nil); a.status != 400 || a.graphCode(t) != 2500 {
		t.Errorf("%d %s", a.status, a.body)
	}
}
