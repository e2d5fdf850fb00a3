package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
)

// TestTenantIsolation proves that tenant B's key cannot read or change
// any of tenant A's resources: every one answers 404 (or an empty list),
// and nothing changes.
func TestTenantIsolation(t *testing.T) {
	a := startApp(t)
	a.inbound("5511987654321", "Olá", time.Now())
	var sent parley.Message
	a.must(a.sendText("+5511987654321", "Oi!"), http.StatusAccepted, &sent)
	var convs struct {
		Data []parley.Conversation `json:"data"`
	}
	a.must(a.do("GET", "/v1/conversations", a.keyA, nil), http.StatusOK, &convs)
	if len(convs.Data) != 1 {
		t.Fatalf("tenant A has %d conversations, want 1", len(convs.Data))
	}
	conv := convs.Data[0]
	media := a.upload(a.keyA, "photo.jpg", "image/jpeg", jpeg(1000), "image")
	var inbound struct {
		Data []parley.Message `json:"data"`
	}
	a.must(a.do("GET", "/v1/conversations/"+conv.ID+"/messages", a.keyA, nil), http.StatusOK, &inbound)

	notFound := []struct{ method, path string }{
		{"GET", "/v1/channels/" + a.channelID},
		{"GET", "/v1/messages/" + sent.ID},
		{"GET", "/v1/conversations/" + conv.ID},
		{"GET", "/v1/conversations/" + conv.ID + "/messages"},
		{"GET", "/v1/contacts/" + conv.ContactID},
		{"GET", "/v1/media/" + media},
		{"POST", "/v1/messages/" + inbound.Data[0].ID + "/read"},
		{"POST", "/v1/channels/" + a.channelID + "/templates/sync"},
	}
	for _, tt := range notFound {
		r := a.do(tt.method, tt.path, a.keyB, nil)
		if code, _ := r.apiError(); r.status != http.StatusNotFound || code != parley.ENOTFOUND {
			t.Errorf("tenant B %s %s = %d %s, want 404 not_found", tt.method, tt.path, r.status, r.body)
		}
	}
	writes := []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/v1/channels/" + a.channelID, map[string]any{"name": "stolen", "meta": map[string]any{"access_token": "x"}}},
		{"POST", "/v1/contacts/" + conv.ContactID + "/consent", map[string]any{"state": "opted_out", "source": "B"}},
		{"POST", "/v1/messages", map[string]any{"channel_id": a.channelID, "to": "+5511987654321", "type": "text", "text": map[string]any{"body": "hi"}}},
		{"POST", "/v1/messages", map[string]any{"channel_id": a.channelID, "to": conv.ContactID, "type": "text", "text": map[string]any{"body": "hi"}}},
	}
	for _, tt := range writes {
		r := a.do(tt.method, tt.path, a.keyB, tt.body)
		if r.status != http.StatusNotFound {
			t.Errorf("tenant B %s %s = %d %s, want 404", tt.method, tt.path, r.status, r.body)
		}
	}
	for _, path := range []string{"/v1/channels", "/v1/conversations", "/v1/contacts", "/v1/templates", "/v1/audit"} {
		var list struct {
			Data []json.RawMessage `json:"data"`
		}
		a.must(a.do("GET", path, a.keyB, nil), http.StatusOK, &list)
		if len(list.Data) != 0 {
			t.Errorf("tenant B lists %d items at %s", len(list.Data), path)
		}
	}
	// Nothing changed for tenant A.
	var ch struct {
		Name string `json:"name"`
	}
	a.must(a.do("GET", "/v1/channels/"+a.channelID, a.keyA, nil), http.StatusOK, &ch)
	var c parley.Contact
	a.must(a.do("GET", "/v1/contacts/"+conv.ContactID, a.keyA, nil), http.StatusOK, &c)
	if ch.Name == "stolen" || c.Consent.State == parley.ConsentOptedOut {
		t.Fatalf("tenant B changed tenant A's records: channel %q, consent %q", ch.Name, c.Consent.State)
	}
}

// TestAuthentication: every /v1 endpoint needs a valid key.
func TestAuthentication(t *testing.T) {
	a := startApp(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/channels"}, {"POST", "/v1/channels"}, {"GET", "/v1/channels/x"}, {"PATCH", "/v1/channels/x"},
		{"POST", "/v1/channels/x/templates/sync"}, {"POST", "/v1/messages"}, {"GET", "/v1/messages/x"}, {"POST", "/v1/messages/x/read"},
		{"GET", "/v1/conversations"}, {"GET", "/v1/conversations/x"}, {"GET", "/v1/conversations/x/messages"},
		{"GET", "/v1/contacts"}, {"GET", "/v1/contacts/x"}, {"POST", "/v1/contacts/x/consent"}, {"GET", "/v1/templates"},
		{"POST", "/v1/media"}, {"GET", "/v1/media/x"}, {"GET", "/v1/events"}, {"GET", "/v1/tenant"}, {"GET", "/v1/audit"},
	} {
		for _, key := range []string{"", "pk_not-a-key", a.keyA + "x"} {
			r := a.do(tt.method, tt.path, key, nil)
			if code, _ := r.apiError(); r.status != http.StatusUnauthorized || code != parley.EUNAUTHORIZED {
				t.Errorf("%s %s with key %q = %d %s, want 401 unauthorized", tt.method, tt.path, key, r.status, r.body)
			}
		}
	}
}

// TestErrorShape: framework errors (bad JSON, failed validation, unknown
// routes) take the same {"error":{"code","message"}} shape as Parley's.
func TestErrorShape(t *testing.T) {
	a := startApp(t)
	for _, tt := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/v1/messages", "{not json", 400, parley.EINVALID},
		{"POST", "/v1/messages", map[string]any{"channel_id": a.channelID, "to": "+5511987654321", "type": "fax"}, 400, parley.EINVALID},
		{"POST", "/v1/channels", map[string]any{"provider": "meta", "phone_number": "+5511987654321"}, 400, parley.EINVALID},
		{"GET", "/v1/nothing-here", nil, 404, parley.ENOTFOUND},
		{"GET", "/v1/messages/msg_missing", nil, 404, parley.ENOTFOUND},
	} {
		r := a.do(tt.method, tt.path, a.keyA, tt.body)
		code, msg := r.apiError()
		if r.status != tt.status || code != tt.code || msg == "" {
			t.Errorf("%s %s = %d %s, want %d %s with a message", tt.method, tt.path, r.status, r.body, tt.status, tt.code)
		}
	}
}

// TestOpenAPI: the document is served, and lists the public contract.
func TestOpenAPI(t *testing.T) {
	a := startApp(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	a.must(a.do("GET", "/v1/openapi.json", "", nil), http.StatusOK, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	for path, method := range map[string]string{"/v1/channels": "post", "/v1/messages": "post", "/v1/messages/{id}": "get",
		"/v1/conversations": "get", "/v1/conversations/{id}/messages": "get", "/v1/contacts": "get", "/v1/templates": "get",
		"/v1/channels/{id}/templates/sync": "post", "/v1/media": "post"} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("the OpenAPI document has no %s %s", method, path)
		}
	}
}

// TestEventsResume: the SSE stream delivers a tenant's events live, and a
// client that reconnects with Last-Event-ID gets exactly what it missed.
func TestEventsResume(t *testing.T) {
	a := startApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	stream := a.events(ctx, a.keyA, "")
	other := a.events(ctx, a.keyB, "")
	first := a.inbound("5511911112222", "primeira", time.Now())
	ev := stream.next(t, "message.created")
	if !strings.Contains(string(ev.data), first) {
		t.Fatalf("first message.created is %s", ev.data)
	}
	cancel()

	// While the client is away, two more messages arrive.
	second := a.inbound("5511911112222", "segunda", time.Now())
	third := a.inbound("5511911112222", "terceira", time.Now())

	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	resumed := a.events(ctx2, a.keyA, strconv.FormatInt(ev.id, 10))
	var got []string
	for len(got) < 2 {
		e := resumed.next(t, "message.created")
		if e.id <= ev.id {
			t.Fatalf("resumed stream replayed event %d, already seen", e.id)
		}
		var m parley.Message
		json.Unmarshal(e.data, &struct {
			Data *parley.Message `json:"data"`
		}{&m})
		got = append(got, m.ProviderMessageID)
	}
	if got[0] != second || got[1] != third {
		t.Fatalf("resumed with %v, want [%s %s] in order", got, second, third)
	}
	// Tenant B heard nothing of tenant A.
	if e, ok := other.poll(); ok {
		t.Fatalf("tenant B received %s %s", e.typ, e.data)
	}
}

type sseEvent struct {
	id   int64
	typ  string
	data []byte
}

type sseStream struct {
	events chan sseEvent
}

// events opens the event stream and reads it in the background.
func (a *app) events(ctx context.Context, key, lastID string) *sseStream {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.url+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		a.t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return readStream(resp.Body)
}

// readStream reads a Server-Sent Events stream in the background, until
// the body ends.
func readStream(body io.ReadCloser) *sseStream {
	s := &sseStream{events: make(chan sseEvent, 100)}
	go func() {
		defer body.Close()
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.typ != "" {
					s.events <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id, _ = strconv.ParseInt(line[4:], 10, 64)
			case strings.HasPrefix(line, "event: "):
				e.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				if e.data != nil {
					e.data = append(e.data, '\n')
				}
				e.data = append(e.data, line[6:]...)
			}
		}
	}()
	return s
}

// next returns the next event of the given type, failing after a deadline.
func (s *sseStream) next(t *testing.T, typ string) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-s.events:
			if e.typ == typ {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event within 10s", typ)
		}
	}
}

// poll returns an event already received, if any.
func (s *sseStream) poll() (sseEvent, bool) {
	select {
	case e := <-s.events:
		return e, true
	default:
		return sseEvent{}, false
	}
}

// upload stores a file through the API and returns its media ID.
func (a *app) upload(key, filename, contentType string, data []byte, typ string) string {
	a.t.Helper()
	r := a.uploadRaw(key, filename, contentType, data, typ)
	var out struct {
		ID string `json:"id"`
	}
	a.must(r, http.StatusCreated, &out)
	return out.ID
}

func (a *app) uploadRaw(key, filename, contentType string, data []byte, typ string) response {
	a.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="file"; filename=%q`, filename)}
	h["Content-Type"] = []string{contentType}
	part, _ := w.CreatePart(h)
	part.Write(data)
	if typ != "" {
		w.WriteField("type", typ)
	}
	w.Close()
	req, _ := http.NewRequest("POST", a.url+"/v1/media", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	return a.send(req)
}

// jpeg returns n bytes that start like a JPEG file.
func jpeg(n int) []byte {
	b := make([]byte, n)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0})
	return b
}
