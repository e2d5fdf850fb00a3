package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
)

// Tests of the outbound side: the rules checked before a message is
// queued, what each message type looks like when it reaches the (fake)
// Graph API, ordering, pacing and the 202 contract. Provider errors and
// interrupted sends are in errors_test.go.

// customerWrote returns the WhatsApp ID of test customer n, who has just
// written to the test channel (so the 24-hour window is open). Each test
// that sends to several people uses a different n per person: Meta's pair
// rate (one message every 6 seconds to one person, after a burst of 5)
// would otherwise pace the test.
func (a *app) customerWrote(n int) string {
	a.t.Helper()
	waid := fmt.Sprintf("55119876%05d", n)
	a.inbound(waid, fmt.Sprintf("Oi, sou o cliente %d", n), time.Now())
	return waid
}

// postMessage sends a message request from the test channel as tenant A.
func (a *app) postMessage(body map[string]any) response {
	a.t.Helper()
	b := map[string]any{"channel_id": a.channelID}
	for k, v := range body {
		b[k] = v
	}
	return a.do("POST", "/v1/messages", a.keyA, b)
}

// mustAccept posts a message, requires 202 with status queued, and returns
// the message's ID.
func (a *app) mustAccept(body map[string]any) string {
	a.t.Helper()
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	a.must(a.postMessage(body), http.StatusAccepted, &out)
	if out.ID == "" || out.Status != "queued" {
		a.t.Fatalf("202 with id %q status %q; want an ID and queued", out.ID, out.Status)
	}
	return out.ID
}

// apiErrorBody is an error body with its hint.
type apiErrorBody struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Hint    string   `json:"hint"`
	Details []string `json:"details"`
}

// mustRefuse sends body (a map is posted from the test channel; a string or
// []byte goes as is), requires the status and error code, and checks
// that nothing was queued: no message row and no send job.
func (a *app) mustRefuse(body any, status int, code string) apiErrorBody {
	a.t.Helper()
	msgs, sends := a.outboundCounts()
	var r response
	if m, ok := body.(map[string]any); ok {
		r = a.postMessage(m)
	} else {
		r = a.do("POST", "/v1/messages", a.keyA, body)
	}
	var e struct {
		Error apiErrorBody `json:"error"`
	}
	if r.status != status || json.Unmarshal(r.body, &e) != nil || e.Error.Code != code {
		a.t.Fatalf("got %d %s; want %d with code %s", r.status, r.body, status, code)
	}
	if e.Error.Message == "" {
		a.t.Errorf("error %s has no message", code)
	}
	if m, s := a.outboundCounts(); m != msgs || s != sends {
		a.t.Fatalf("a refused send left %d outbound messages and %d send jobs behind (before: %d, %d)", m-msgs, s-sends, msgs, sends)
	}
	return e.Error
}

// outboundCounts counts outbound messages and send jobs.
func (a *app) outboundCounts() (messages, sendJobs int) {
	a.t.Helper()
	db := a.m.DB.Reader()
	if err := db.QueryRow(`SELECT COUNT(*) FROM messages WHERE direction = 'out'`).Scan(&messages); err != nil {
		a.t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = 'message.send'`).Scan(&sendJobs); err != nil {
		a.t.Fatal(err)
	}
	return messages, sendJobs
}

// waitMessageStatus waits for a message to reach a status and returns it.
func (a *app) waitMessageStatus(id string, status parley.Status) parley.Message {
	a.t.Helper()
	var m parley.Message
	a.eventually(fmt.Sprintf("message %s is %s", id, status), func() bool {
		m = a.message(id)
		return m.Status == status
	})
	return m
}

// sentFor returns what the fake accepted for a message (by its callback
// data), failing unless there is exactly one.
func (a *app) sentFor(id string) metagraph.Sent {
	a.t.Helper()
	var got []metagraph.Sent
	for _, s := range a.graph.Sent() {
		if s.CallbackData() == id {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		a.t.Fatalf("the fake accepted %d sends for %s, want 1", len(got), id)
	}
	return got[0]
}

// sendRequestsFor counts the send requests that reached the fake for a
// message, accepted or not.
func (a *app) sendRequestsFor(id string) int {
	a.t.Helper()
	n := 0
	for _, r := range a.graph.Requests() {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/messages") {
			continue
		}
		var b struct {
			Callback string `json:"biz_opaque_callback_data"`
		}
		if json.Unmarshal(r.Body, &b) == nil && b.Callback == id {
			n++
		}
	}
	return n
}

// uploadFile posts a file to /v1/media with the part's content type and the
// optional type field.
func (a *app) uploadFile(filename, contentType, typ string, data []byte) response {
	a.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		a.t.Fatal(err)
	}
	part.Write(data)
	if typ != "" {
		mw.WriteField("type", typ)
	}
	mw.Close()
	req, err := http.NewRequest("POST", a.url+"/v1/media", &buf)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+a.keyA)
	return a.send(req)
}

// uploadedMedia is the answer to an upload.
type uploadedMedia struct {
	ID       string `json:"id"`
	MIMEType string `json:"mime_type"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Status   string `json:"status"`
}

// Templates as Graph lists them, for SetTemplates.
var outTemplates = []map[string]any{
	{"id": "1001", "name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
		"components": []any{
			map[string]any{"type": "HEADER", "format": "IMAGE"},
			map[string]any{"type": "BODY", "text": "Hi {{1}}, your order {{2}} has shipped."},
			map[string]any{"type": "BUTTONS", "buttons": []any{
				map[string]any{"type": "QUICK_REPLY", "text": "Thanks"},
				map[string]any{"type": "URL", "text": "Track", "url": "https://shop.example/track/{{1}}"},
			}},
		}},
	{"id": "1002", "name": "appointment", "language": "pt_BR", "status": "APPROVED", "category": "UTILITY", "parameter_format": "NAMED",
		"components": []any{map[string]any{"type": "BODY", "text": "Olá {{first_name}}, sua consulta é {{date}}."}}},
	{"id": "1003", "name": "promo", "language": "en_US", "status": "APPROVED", "category": "MARKETING", "parameter_format": "POSITIONAL",
		"components": []any{map[string]any{"type": "BODY", "text": "Hi {{1}}, 20% off today only."}}},
	{"id": "1004", "name": "reminder", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "parameter_format": "POSITIONAL",
		"components": []any{map[string]any{"type": "BODY", "text": "Your bill {{1}} is due."}}},
	{"id": "1005", "name": "paused_promo", "language": "en_US", "status": "PAUSED", "category": "MARKETING",
		"components": []any{map[string]any{"type": "BODY", "text": "Sale!"}}},
	{"id": "1006", "name": "disabled_promo", "language": "en_US", "status": "DISABLED", "category": "MARKETING",
		"components": []any{map[string]any{"type": "BODY", "text": "Sale!"}}},
	{"id": "1007", "name": "new_promo", "language": "en_US", "status": "PENDING", "category": "MARKETING",
		"components": []any{map[string]any{"type": "BODY", "text": "Sale!"}}},
}

// syncTestTemplates gives the fake the test templates and syncs the channel.
func (a *app) syncTestTemplates() {
	a.t.Helper()
	a.graph.SetTemplates(metagraph.DefaultWABAID, outTemplates)
	a.must(a.do("POST", "/v1/channels/"+a.channelID+"/templates/sync", a.keyA, nil), http.StatusOK, nil)
}

// templateReq is a template message request.
func templateReq(name, language string, params ...string) map[string]any {
	tm := map[string]any{"name": name, "language": language}
	if params != nil {
		tm["parameters"] = params
	}
	return map[string]any{"type": "template", "template": tm}
}

// textReq is a text message request.
func textReq(to, body string) map[string]any {
	return map[string]any{"to": to, "type": "text", "text": map[string]any{"body": body}}
}

// withField returns a copy of m with k set to v.
func withField(m map[string]any, k string, v any) map[string]any {
	c := map[string]any{}
	for key, val := range m {
		c[key] = val
	}
	c[k] = v
	return c
}

// TestSendOutsideWindow: free-form messages need the customer to have
// written in the last 24 hours; a template may always go.
func TestSendOutsideWindow(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	const never, stale = "5511987600001", "5511987600002"
	a.inbound(stale, "Oi", time.Now().Add(-25*time.Hour))

	for _, c := range []struct {
		name, waid, says string
	}{
		{"never wrote", never, "never written"},
		{"wrote 25 hours ago", stale, "24-hour"},
	} {
		t.Run(c.name, func(t *testing.T) {
			to := "+" + c.waid
			for _, body := range []map[string]any{
				textReq(to, "Olá!"),
				{"to": to, "type": "image", "image": map[string]any{"link": "https://cdn.example/a.jpg"}},
				{"to": to, "type": "interactive", "interactive": map[string]any{"kind": "button", "body": "Pick one",
					"buttons": []any{map[string]any{"id": "a", "title": "A"}}}},
			} {
				e := a.mustRefuse(body, http.StatusUnprocessableEntity, parley.EOUTSIDEWINDOW)
				if !strings.Contains(e.Message, c.says) || !strings.Contains(e.Hint, "template") {
					t.Errorf("%s: message %q, hint %q; want a reason (%q) and a hint about templates", body["type"], e.Message, e.Hint, c.says)
				}
			}
			id := a.mustAccept(withField(templateReq("reminder", "en_US", "#42"), "to", to))
			if m := a.waitMessageStatus(id, parley.StatusSent); m.Text != "Your bill #42 is due." {
				t.Errorf("template rendered as %q", m.Text)
			}
		})
	}
}

// TestSendTemplateChecks: templates are synced with their status,
// category, language and parameter count, and a send that Meta would
// refuse (unknown, not approved, wrong parameters) is refused at once.
func TestSendTemplateChecks(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	var list struct {
		Data []parley.Template `json:"data"`
	}
	a.must(a.do("GET", "/v1/templates", a.keyA, nil), http.StatusOK, &list)
	got := map[string]parley.Template{}
	for _, tp := range list.Data {
		got[tp.Name] = tp
	}
	for _, want := range []struct {
		name, status, category, language string
		params                           int
	}{
		{"order_update", "approved", "utility", "en_US", 4}, // image header, 2 body, URL button
		{"appointment", "approved", "utility", "pt_BR", 2},
		{"promo", "approved", "marketing", "en_US", 1},
		{"paused_promo", "paused", "marketing", "en_US", 0},
		{"disabled_promo", "disabled", "marketing", "en_US", 0},
		{"new_promo", "pending", "marketing", "en_US", 0},
	} {
		tp, ok := got[want.name]
		if !ok || tp.Status != want.status || tp.Category != want.category || tp.Language != want.language || tp.ParameterCount != want.params {
			t.Errorf("template %s: %+v; want %s, %s, %s, %d parameters", want.name, tp, want.status, want.category, want.language, want.params)
		}
	}
	if len(list.Data) != len(outTemplates) {
		t.Errorf("%d templates listed, want %d", len(list.Data), len(outTemplates))
	}

	to := "+" + a.customerWrote(1)
	header := map[string]any{"type": "image", "link": "https://cdn.example/box.jpg"}
	buttons := []any{map[string]any{"index": 1, "sub_type": "url", "text": "A-1"}}
	orderUpdate := func(params ...string) map[string]any {
		tm := map[string]any{"name": "order_update", "language": "en_US", "parameters": params, "header": header, "buttons": buttons}
		return map[string]any{"to": to, "type": "template", "template": tm}
	}
	for _, c := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"unknown name", withField(templateReq("no_such_template", "en_US"), "to", to), http.StatusNotFound, parley.ENOTFOUND},
		{"unknown language", withField(templateReq("promo", "es", "Ana"), "to", to), http.StatusNotFound, parley.ENOTFOUND},
		{"paused", withField(templateReq("paused_promo", "en_US"), "to", to), http.StatusUnprocessableEntity, parley.ETEMPLATENOTAPPROVED},
		{"disabled", withField(templateReq("disabled_promo", "en_US"), "to", to), http.StatusUnprocessableEntity, parley.ETEMPLATENOTAPPROVED},
		{"pending", withField(templateReq("new_promo", "en_US"), "to", to), http.StatusUnprocessableEntity, parley.ETEMPLATENOTAPPROVED},
		{"too few parameters", orderUpdate("Ana"), http.StatusBadRequest, parley.EINVALID},
		{"too many parameters", orderUpdate("Ana", "A-1", "extra"), http.StatusBadRequest, parley.EINVALID},
		{"no parameters", withField(templateReq("promo", "en_US"), "to", to), http.StatusBadRequest, parley.EINVALID},
		{"empty parameter", orderUpdate("Ana", " "), http.StatusBadRequest, parley.EINVALID},
		{"named parameters for a positional template", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "promo",
			"language": "en_US", "named_parameters": map[string]any{"1": "Ana"}}}, http.StatusBadRequest, parley.EINVALID},
		{"positional parameters for a named template", withField(templateReq("appointment", "pt_BR", "Ana", "amanhã"), "to", to),
			http.StatusBadRequest, parley.EINVALID},
		{"a named parameter missing", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "appointment",
			"language": "pt_BR", "named_parameters": map[string]any{"first_name": "Ana"}}}, http.StatusBadRequest, parley.EINVALID},
		{"an unknown named parameter", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "appointment",
			"language": "pt_BR", "named_parameters": map[string]any{"first_name": "Ana", "date": "amanhã", "time": "10h"}}},
			http.StatusBadRequest, parley.EINVALID},
		{"header media missing", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "order_update", "language": "en_US",
			"parameters": []string{"Ana", "A-1"}, "buttons": buttons}}, http.StatusBadRequest, parley.EINVALID},
		{"header without link or file", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "order_update", "language": "en_US",
			"parameters": []string{"Ana", "A-1"}, "header": map[string]any{"type": "image"}, "buttons": buttons}}, http.StatusBadRequest, parley.EINVALID},
		{"URL button parameter missing", map[string]any{"to": to, "type": "template", "template": map[string]any{"name": "order_update", "language": "en_US",
			"parameters": []string{"Ana", "A-1"}, "header": header}}, http.StatusBadRequest, parley.EINVALID},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := a.mustRefuse(c.body, c.status, c.code)
			if c.code == parley.ETEMPLATENOTAPPROVED && !strings.Contains(e.Message, "approved") {
				t.Errorf("message %q does not say the template is not approved", e.Message)
			}
		})
	}
	// The same template with the right parameters goes.
	a.waitMessageStatus(a.mustAccept(orderUpdate("Ana", "A-1")), parley.StatusSent)
}

// TestSendConsent: a contact who wrote STOP gets no marketing template,
// still gets utility ones, and an opt-in with its source lifts the block.
func TestSendConsent(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	waid := a.customerWrote(1)
	to := "+" + waid
	a.inbound(waid, "STOP", time.Now())

	var contacts struct {
		Data []parley.Contact `json:"data"`
	}
	a.must(a.do("GET", "/v1/contacts?q="+waid, a.keyA, nil), http.StatusOK, &contacts)
	if len(contacts.Data) != 1 || !contacts.Data[0].Consent.OptedOut() {
		t.Fatalf("contacts %+v; want one, opted out", contacts.Data)
	}
	contact := contacts.Data[0]

	e := a.mustRefuse(withField(templateReq("promo", "en_US", "Ana"), "to", to), http.StatusUnprocessableEntity, parley.EOPTEDOUT)
	if !strings.Contains(e.Message, "opted out") {
		t.Errorf("message %q", e.Message)
	}
	// Sending by contact ID is refused the same way.
	a.mustRefuse(withField(templateReq("promo", "en_US", "Ana"), "to", contact.ID), http.StatusUnprocessableEntity, parley.EOPTEDOUT)
	a.waitMessageStatus(a.mustAccept(withField(templateReq("reminder", "en_US", "#7"), "to", to)), parley.StatusSent)

	// An opt-in needs its source.
	r := a.do("POST", "/v1/contacts/"+contact.ID+"/consent", a.keyA, map[string]any{"state": "opted_in"})
	if code, _ := r.apiError(); r.status != http.StatusBadRequest || code != parley.EINVALID {
		t.Errorf("opt-in without a source: %d %s", r.status, r.body)
	}
	var c parley.Contact
	a.must(a.do("POST", "/v1/contacts/"+contact.ID+"/consent", a.keyA, map[string]any{"state": "opted_in", "source": "web form 2026-05"}),
		http.StatusOK, &c)
	if c.Consent.State != parley.ConsentOptedIn {
		t.Fatalf("consent %+v after opting in", c.Consent)
	}
	a.waitMessageStatus(a.mustAccept(withField(templateReq("promo", "en_US", "Ana"), "to", to)), parley.StatusSent)
}

// TestSendMediaChecks: uploads are checked against WhatsApp's limits for
// the type they will be sent as, before they are stored; an uploaded file
// is uploaded to Meta and sent by its new ID.
func TestSendMediaChecks(t *testing.T) {
	a := startApp(t)
	to := "+" + a.customerWrote(1)
	mediaDir := filepath.Join(a.m.Config.DataDir, "media")
	stored := func() int {
		n := 0
		filepath.WalkDir(mediaDir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return nil
		})
		return n
	}

	for _, c := range []struct {
		name, file, mime, typ string
		data                  []byte
	}{
		{"6 MB image", "big.jpg", "image/jpeg", "image", jpeg(6 << 20)},
		{"GIF as image", "anim.gif", "image/gif", "image", []byte("GIF89a\x01\x00\x01\x00")},
		{"PDF as sticker", "doc.pdf", "application/pdf", "sticker", []byte("%PDF-1.4")},
		{"empty image", "empty.jpg", "image/jpeg", "image", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := a.uploadFile(c.file, c.mime, c.typ, c.data)
			if code, msg := r.apiError(); r.status != http.StatusBadRequest || code != parley.EINVALID || msg == "" {
				t.Errorf("upload: %d %s; want 400 invalid", r.status, r.body)
			}
		})
	}
	if n := a.count("media"); n != 0 || stored() != 0 {
		t.Fatalf("refused uploads left %d media rows and %d files", n, stored())
	}

	data := jpeg(64 << 10)
	var img uploadedMedia
	a.must(a.uploadFile("photo.jpg", "image/jpeg", "image", data), http.StatusCreated, &img)
	if sum := sha256.Sum256(data); img.ID == "" || img.Size != int64(len(data)) || img.SHA256 != hex.EncodeToString(sum[:]) ||
		img.MIMEType != "image/jpeg" || img.Status != "ready" {
		t.Fatalf("upload answered %+v", img)
	}
	if n := a.count("media"); n != 1 || stored() != 1 {
		t.Errorf("%d media rows and %d files after one upload", n, stored())
	}
	id := a.mustAccept(map[string]any{"to": to, "type": "image", "image": map[string]any{"media_id": img.ID, "caption": "Your box"}})
	a.waitMessageStatus(id, parley.StatusSent)
	ups := a.graph.Uploads()
	if len(ups) != 1 || !bytes.Equal(ups[0].Data, data) || ups[0].MIMEType != "image/jpeg" || ups[0].PhoneNumberID != metagraph.DefaultPhoneNumberID {
		t.Fatalf("the fake got uploads %+v; want the JPEG once", ups)
	}
	var body struct {
		Image struct {
			ID      string `json:"id"`
			Link    string `json:"link"`
			Caption string `json:"caption"`
		} `json:"image"`
	}
	a.sentFor(id).Decode(&body)
	if body.Image.ID != ups[0].ID || body.Image.Link != "" || body.Image.Caption != "Your box" {
		t.Errorf("image sent as %+v; want the uploaded media ID %s", body.Image, ups[0].ID)
	}
	reqs := a.graph.Requests()
	upAt := slices.IndexFunc(reqs, func(r metagraph.Request) bool {
		return strings.HasSuffix(r.Path, "/"+metagraph.DefaultPhoneNumberID+"/media")
	})
	sendAt := slices.IndexFunc(reqs, func(r metagraph.Request) bool { return strings.HasSuffix(r.Path, "/messages") })
	if upAt < 0 || sendAt < upAt {
		t.Errorf("the upload (request %d) did not come before the send (request %d)", upAt, sendAt)
	}

	// A file stored without a type is checked when it is sent.
	var pdf uploadedMedia
	a.must(a.uploadFile("invoice.pdf", "application/pdf", "", []byte("%PDF-1.4 invoice")), http.StatusCreated, &pdf)
	a.mustRefuse(map[string]any{"to": to, "type": "sticker", "sticker": map[string]any{"media_id": pdf.ID}}, http.StatusBadRequest, parley.EINVALID)
	a.mustRefuse(map[string]any{"to": to, "type": "image", "image": map[string]any{"media_id": pdf.ID}}, http.StatusBadRequest, parley.EINVALID)
	a.mustRefuse(map[string]any{"to": to, "type": "image", "image": map[string]any{"media_id": "med_unknown"}}, http.StatusNotFound, parley.ENOTFOUND)
	for _, link := range []string{"ftp://cdn.example/a.jpg", "javascript:alert(1)", "/a.jpg", "https://"} {
		a.mustRefuse(map[string]any{"to": to, "type": "image", "image": map[string]any{"link": link}}, http.StatusBadRequest, parley.EINVALID)
	}
	a.mustRefuse(map[string]any{"to": to, "type": "image", "image": map[string]any{"link": "https://cdn.example/a.jpg", "media_id": img.ID}},
		http.StatusBadRequest, parley.EINVALID)
	a.mustRefuse(map[string]any{"to": to, "type": "image"}, http.StatusBadRequest, parley.EINVALID)
	a.mustRefuse(map[string]any{"to": to, "type": "sticker", "sticker": map[string]any{"link": "https://cdn.example/s.webp", "caption": "hi"}},
		http.StatusBadRequest, parley.EINVALID)
}

// TestSendInteractiveChecks: malformed requests and interactive messages
// beyond WhatsApp's limits are refused before anything is queued.
func TestSendInteractiveChecks(t *testing.T) {
	a := startApp(t)
	to := "+" + a.customerWrote(1)
	buttons := func(ids ...string) map[string]any {
		var bs []any
		for _, id := range ids {
			bs = append(bs, map[string]any{"id": id, "title": "Option " + id})
		}
		return map[string]any{"to": to, "type": "interactive", "interactive": map[string]any{"kind": "button", "body": "Pick one", "buttons": bs}}
	}
	list := func(ids ...string) map[string]any {
		var rows []any
		for _, id := range ids {
			rows = append(rows, map[string]any{"id": id, "title": "Row " + id})
		}
		return map[string]any{"to": to, "type": "interactive", "interactive": map[string]any{"kind": "list", "body": "Pick one", "button": "Menu",
			"sections": []any{map[string]any{"title": "All", "rows": rows}}}}
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprint(i)
	}
	for _, c := range []struct {
		name string
		body any
	}{
		{"4 reply buttons", buttons("a", "b", "c", "d")},
		{"no buttons", buttons()},
		{"duplicate button ids", buttons("a", "a")},
		{"list with 11 rows", list(eleven...)},
		{"duplicate row ids", list("x", "y", "x")},
		{"unknown interactive kind", map[string]any{"to": to, "type": "interactive", "interactive": map[string]any{"kind": "carousel", "body": "Hi"}}},
		{"interactive without body", withField(buttons("a"), "interactive", map[string]any{"kind": "button", "buttons": []any{map[string]any{"id": "a", "title": "A"}}})},
		{"text longer than 4096", textReq(to, strings.Repeat("a", 4097))},
		{"empty text", textReq(to, "  ")},
		{"type text without a text object", map[string]any{"to": to, "type": "text"}},
		{"unknown type", map[string]any{"to": to, "type": "carousel", "text": map[string]any{"body": "hi"}}},
		{"no type", map[string]any{"to": to, "text": map[string]any{"body": "hi"}}},
		{"malformed JSON", `{"channel_id": "` + a.channelID + `", "to": "` + to + `", "type": "text", "text": {"body": "hi"`},
		{"not a phone number", textReq("call me maybe", "hi")},
		{"location out of range", map[string]any{"to": to, "type": "location", "location": map[string]any{"latitude": 91, "longitude": 0}}},
		{"reaction without target", map[string]any{"to": to, "type": "reaction", "reaction": map[string]any{"emoji": "👍"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a.mustRefuse(c.body, http.StatusBadRequest, parley.EINVALID)
		})
	}
	// The limits themselves are allowed.
	a.mustAccept(buttons("a", "b", "c"))
	a.mustAccept(list(eleven[:10]...))
	a.mustAccept(textReq(to, strings.Repeat("é", 4096)))
}

// graphSend is the part of a Graph send body the tests look at.
type graphSend struct {
	To           string `json:"to"`
	Type         string `json:"type"`
	CallbackData string `json:"biz_opaque_callback_data"`
	Context      *struct {
		MessageID string `json:"message_id"`
	} `json:"context"`
	Text *struct {
		Body       string `json:"body"`
		PreviewURL bool   `json:"preview_url"`
	} `json:"text"`
	Image    *graphSendMedia `json:"image"`
	Document *graphSendMedia `json:"document"`
	Audio    *graphSendMedia `json:"audio"`
	Video    *graphSendMedia `json:"video"`
	Sticker  *graphSendMedia `json:"sticker"`
	Location *struct {
		Latitude, Longitude, Name, Address string
	} `json:"location"`
	Reaction *struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	} `json:"reaction"`
	Interactive *struct {
		Type   string
		Header *struct{ Type, Text string }
		Body   struct{ Text string }
		Footer *struct{ Text string }
		Action struct {
			Button  string
			Buttons []struct {
				Type  string
				Reply struct{ ID, Title string }
			}
			Sections []struct {
				Title string
				Rows  []struct{ ID, Title, Description string }
			}
		}
	} `json:"interactive"`
	Template *struct {
		Name     string
		Language struct{ Code, Policy string }
		// Components are header, body and buttons.
		Components []struct {
			Type       string
			SubType    string `json:"sub_type"`
			Index      string
			Parameters []struct {
				Type          string
				ParameterName string `json:"parameter_name"`
				Text          string
				Payload       string
				Image         *graphSendMedia
			}
		}
	} `json:"template"`
}

// graphSendMedia is a media object of a Graph send.
type graphSendMedia struct {
	ID, Link, Caption, Filename string
}

// TestSendEveryType sends one message of every kind Parley sends, and
// checks what reached the fake: it validates each body against Meta's
// OpenAPI (failing the test otherwise), and here the content is compared
// with what was asked.
func TestSendEveryType(t *testing.T) {
	a := startApp(t)
	a.syncTestTemplates()
	var pdf uploadedMedia
	a.must(a.uploadFile("Invoice May.pdf", "application/pdf", "document", []byte("%PDF-1.4 invoice")), http.StatusCreated, &pdf)

	var n int
	// next is the next customer, who has just written.
	next := func() string { n++; return "+" + a.customerWrote(100+n) }
	type sendCase struct {
		name  string
		body  map[string]any
		check func(t *testing.T, g graphSend)
	}
	cases := []sendCase{
		{"text with preview", map[string]any{"to": next(), "type": "text", "text": map[string]any{"body": "Track it at https://shop.example/t/1", "preview_url": true}}, func(t *testing.T, g graphSend) {
			if g.Text == nil || g.Text.Body != "Track it at https://shop.example/t/1" || !g.Text.PreviewURL {
				t.Errorf("text %+v", g.Text)
			}
		}},
		{"template: image header, positional body, quick reply, URL", map[string]any{"to": next(), "type": "template", "template": map[string]any{
			"name": "order_update", "language": "en_US", "parameters": []string{"Ana", "A-1001"},
			"header": map[string]any{"type": "image", "link": "https://cdn.example/box.jpg"},
			"buttons": []any{map[string]any{"index": 0, "sub_type": "quick_reply", "payload": "THANKS_A1001"},
				map[string]any{"index": 1, "sub_type": "url", "text": "A-1001"}},
		}}, func(t *testing.T, g graphSend) {
			tp := g.Template
			if tp == nil || tp.Name != "order_update" || tp.Language.Code != "en_US" || len(tp.Components) != 4 {
				t.Fatalf("template %+v", tp)
			}
			h, b, qr, url := tp.Components[0], tp.Components[1], tp.Components[2], tp.Components[3]
			if h.Type != "header" || len(h.Parameters) != 1 || h.Parameters[0].Type != "image" || h.Parameters[0].Image == nil ||
				h.Parameters[0].Image.Link != "https://cdn.example/box.jpg" {
				t.Errorf("header %+v", h)
			}
			if b.Type != "body" || len(b.Parameters) != 2 || b.Parameters[0].Text != "Ana" || b.Parameters[1].Text != "A-1001" {
				t.Errorf("body %+v", b)
			}
			if qr.Type != "button" || qr.SubType != "quick_reply" || qr.Index != "0" || len(qr.Parameters) != 1 || qr.Parameters[0].Payload != "THANKS_A1001" {
				t.Errorf("quick reply %+v", qr)
			}
			if url.Type != "button" || url.SubType != "url" || url.Index != "1" || len(url.Parameters) != 1 || url.Parameters[0].Text != "A-1001" {
				t.Errorf("URL button %+v", url)
			}
		}},
		{"template: named parameters", map[string]any{"to": next(), "type": "template", "template": map[string]any{
			"name": "appointment", "language": "pt_BR", "named_parameters": map[string]string{"date": "amanhã às 10h", "first_name": "Ana"},
		}}, func(t *testing.T, g graphSend) {
			if g.Template == nil || len(g.Template.Components) != 1 {
				t.Fatalf("template %+v", g.Template)
			}
			p := g.Template.Components[0].Parameters
			if len(p) != 2 || p[0].ParameterName != "first_name" || p[0].Text != "Ana" || p[1].ParameterName != "date" || p[1].Text != "amanhã às 10h" {
				t.Errorf("named body parameters %+v; want first_name then date, in the template's order", p)
			}
		}},
	}
	for _, typ := range []string{"image", "document", "audio", "video", "sticker"} {
		link := "https://cdn.example/file." + typ
		media := map[string]any{"link": link}
		if typ == "image" || typ == "video" || typ == "document" {
			media["caption"] = "A " + typ
		}
		if typ == "document" {
			media["filename"] = "report.pdf"
		}
		cases = append(cases, sendCase{typ + " by link", map[string]any{"to": next(), "type": typ, typ: media}, func(t *testing.T, g graphSend) {
			got := map[string]*graphSendMedia{"image": g.Image, "document": g.Document, "audio": g.Audio, "video": g.Video, "sticker": g.Sticker}[typ]
			want := graphSendMedia{Link: link}
			if c, ok := media["caption"]; ok {
				want.Caption = c.(string)
			}
			if typ == "document" {
				want.Filename = "report.pdf"
			}
			if got == nil || *got != want {
				t.Errorf("%s %+v, want %+v", typ, got, want)
			}
		}})
	}
	cases = append(cases,
		sendCase{"document by upload", map[string]any{"to": next(), "type": "document", "document": map[string]any{"media_id": pdf.ID, "caption": "May"}},
			func(t *testing.T, g graphSend) {
				var up *metagraph.Upload
				for _, u := range a.graph.Uploads() {
					if string(u.Data) == "%PDF-1.4 invoice" {
						up = &u
					}
				}
				if up == nil || up.MIMEType != "application/pdf" {
					t.Fatalf("the PDF was not uploaded to the fake: %+v", a.graph.Uploads())
				}
				if g.Document == nil || g.Document.ID != up.ID || g.Document.Link != "" || g.Document.Filename != "Invoice May.pdf" || g.Document.Caption != "May" {
					t.Errorf("document %+v; want media ID %s with the file's name", g.Document, up.ID)
				}
			}},
		sendCase{"reply buttons", map[string]any{"to": next(), "type": "interactive", "interactive": map[string]any{"kind": "button",
			"header": "Delivery", "body": "When should we come?", "footer": "Reply below",
			"buttons": []any{map[string]any{"id": "am", "title": "Morning"}, map[string]any{"id": "pm", "title": "Afternoon"},
				map[string]any{"id": "later", "title": "Another day"}}}}, func(t *testing.T, g graphSend) {
			in := g.Interactive
			if in == nil || in.Type != "button" || in.Body.Text != "When should we come?" || in.Header == nil || in.Header.Text != "Delivery" ||
				in.Footer == nil || in.Footer.Text != "Reply below" || len(in.Action.Buttons) != 3 {
				t.Fatalf("interactive %+v", in)
			}
			for i, id := range []string{"am", "pm", "later"} {
				if b := in.Action.Buttons[i]; b.Type != "reply" || b.Reply.ID != id {
					t.Errorf("button %d %+v, want reply %s", i, b, id)
				}
			}
		}},
	)
	var sections []any
	for s := range 2 {
		var rows []any
		for r := range 5 {
			rows = append(rows, map[string]any{"id": fmt.Sprintf("s%dr%d", s, r), "title": fmt.Sprintf("Slot %d.%d", s, r), "description": "Available"})
		}
		sections = append(sections, map[string]any{"title": fmt.Sprintf("Day %d", s+1), "rows": rows})
	}
	cases = append(cases, sendCase{"list of 10 rows", map[string]any{"to": next(), "type": "interactive", "interactive": map[string]any{"kind": "list",
		"body": "Pick a slot", "button": "See slots", "sections": sections}}, func(t *testing.T, g graphSend) {
		in := g.Interactive
		if in == nil || in.Type != "list" || in.Action.Button != "See slots" || len(in.Action.Sections) != 2 {
			t.Fatalf("interactive %+v", in)
		}
		rows := 0
		for _, s := range in.Action.Sections {
			rows += len(s.Rows)
		}
		if rows != 10 || in.Action.Sections[1].Title != "Day 2" || in.Action.Sections[1].Rows[4].ID != "s1r4" {
			t.Errorf("sections %+v", in.Action.Sections)
		}
	}})
	cases = append(cases, sendCase{"location", map[string]any{"to": next(), "type": "location", "location": map[string]any{
		"latitude": -23.5614, "longitude": -46.6559, "name": "Loja Paulista", "address": "Av. Paulista, 1000"}}, func(t *testing.T, g graphSend) {
		if l := g.Location; l == nil || l.Latitude != "-23.5614" || l.Longitude != "-46.6559" || l.Name != "Loja Paulista" || l.Address != "Av. Paulista, 1000" {
			t.Errorf("location %+v", g.Location)
		}
	}})

	// A reaction and a reply refer to the customer's own message.
	reactTo := next()
	reactWamid := a.inbound(strings.TrimPrefix(reactTo, "+"), "Chegou quebrado", time.Now())
	replyTo := next()
	replyWamid := a.inbound(strings.TrimPrefix(replyTo, "+"), "Qual o prazo?", time.Now())
	cases = append(cases,
		sendCase{"reaction", map[string]any{"to": reactTo, "type": "reaction", "reaction": map[string]any{"message_id": a.messageID(reactWamid), "emoji": "😢"}},
			func(t *testing.T, g graphSend) {
				if g.Reaction == nil || g.Reaction.MessageID != reactWamid || g.Reaction.Emoji != "😢" || g.Context != nil {
					t.Errorf("reaction %+v context %+v; want the inbound wamid %s", g.Reaction, g.Context, reactWamid)
				}
			}},
		sendCase{"reply with context", withField(textReq(replyTo, "Três dias úteis."), "reply_to", a.messageID(replyWamid)), func(t *testing.T, g graphSend) {
			if g.Context == nil || g.Context.MessageID != replyWamid || g.Text == nil || g.Text.Body != "Três dias úteis." {
				t.Errorf("context %+v text %+v; want the quoted wamid %s", g.Context, g.Text, replyWamid)
			}
		}},
	)

	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = a.mustAccept(c.body)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := a.waitMessageStatus(ids[i], parley.StatusSent)
			s := a.sentFor(ids[i])
			if m.ProviderMessageID != s.ID {
				t.Errorf("provider ID %q, the fake returned %q", m.ProviderMessageID, s.ID)
			}
			var g graphSend
			if err := s.Decode(&g); err != nil {
				t.Fatal(err)
			}
			if g.CallbackData != ids[i] || g.To != strings.TrimPrefix(c.body["to"].(string), "+") || g.Type != c.body["type"] {
				t.Errorf("sent to %q as %q with callback data %q; want %s, %s, %s", g.To, g.Type, g.CallbackData, c.body["to"], c.body["type"], ids[i])
			}
			c.check(t, g)
		})
	}
	if got := len(a.graph.Sent()); got != len(cases) {
		t.Errorf("the fake accepted %d sends for %d messages", got, len(cases))
	}
}

// TestMarkRead: marking an inbound message read clears the conversation's
// unread count and sends Meta a read receipt for its wamid.
func TestMarkRead(t *testing.T) {
	a := startApp(t)
	waid := a.customerWrote(1)
	wamid := a.inbound(waid, "Alguém aí?", time.Now())
	in := a.message(a.messageID(wamid))
	var conv parley.Conversation
	a.must(a.do("GET", "/v1/conversations/"+in.ConversationID, a.keyA, nil), http.StatusOK, &conv)
	if conv.UnreadCount != 2 {
		t.Fatalf("unread count %d before reading, want 2", conv.UnreadCount)
	}
	a.must(a.do("POST", "/v1/messages/"+in.ID+"/read", a.keyA, nil), http.StatusOK, nil)
	a.must(a.do("GET", "/v1/conversations/"+in.ConversationID, a.keyA, nil), http.StatusOK, &conv)
	if conv.UnreadCount != 0 {
		t.Errorf("unread count %d after reading, want 0", conv.UnreadCount)
	}
	a.eventually("the fake gets the read receipt", func() bool { return len(a.graph.ReadReceipts()) > 0 })
	if got := a.graph.ReadReceipts(); len(got) != 1 || got[0] != wamid {
		t.Errorf("read receipts %v, want [%s]", got, wamid)
	}
	if m := a.message(in.ID); m.Status != parley.StatusRead {
		t.Errorf("the inbound message is %s, want read", m.Status)
	}

	// Only the customer's messages can be marked read.
	out := a.mustAccept(textReq("+"+waid, "Sim!"))
	r := a.do("POST", "/v1/messages/"+out+"/read", a.keyA, nil)
	if code, _ := r.apiError(); r.status != http.StatusBadRequest || code != parley.EINVALID {
		t.Errorf("marking an outbound message read: %d %s", r.status, r.body)
	}
}

// TestSendOrder: messages written quickly to one conversation reach
// WhatsApp in the order they were written.
func TestSendOrder(t *testing.T) {
	a := startApp(t)
	to := "+" + a.customerWrote(1)
	var ids []string
	for _, s := range []string{"first", "second", "third"} {
		ids = append(ids, a.mustAccept(textReq(to, s)))
	}
	for _, id := range ids {
		a.waitMessageStatus(id, parley.StatusSent)
	}
	var got []string
	for _, s := range a.graph.Sent() {
		got = append(got, s.Body["text"].(map[string]any)["body"].(string))
	}
	if !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Errorf("the fake received %v", got)
	}
}

// TestSendPacing: a number's sends are paced to its rate_per_second, with
// a small burst, across conversations.
func TestSendPacing(t *testing.T) {
	a := startApp(t)
	const rate = 2
	burst := max(1, rate/10) // as messaging.rateOf
	var ch struct {
		RatePerSecond float64 `json:"rate_per_second"`
	}
	a.must(a.do("PATCH", "/v1/channels/"+a.channelID, a.keyA, map[string]any{"rate_per_second": rate}), http.StatusOK, &ch)
	if ch.RatePerSecond != rate {
		t.Fatalf("rate_per_second %v after PATCH", ch.RatePerSecond)
	}
	var tos []string
	for i := range 6 {
		tos = append(tos, "+"+a.customerWrote(i+1))
	}
	var mu sync.Mutex
	var arrivals []time.Time
	a.graph.OnMessage(func([]byte) (int, []byte, bool) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return 0, nil, false // the fake answers as usual
	})
	var ids []string
	for _, to := range tos {
		ids = append(ids, a.mustAccept(textReq(to, "Promoção relâmpago")))
	}
	for _, id := range ids {
		a.waitMessageStatus(id, parley.StatusSent)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 6 {
		t.Fatalf("%d sends reached the fake, want 6", len(arrivals))
	}
	// 6 sends at 2 a second with a burst of 1 take 2.5 s from first to
	// last; allow for scheduling.
	if d := arrivals[5].Sub(arrivals[0]); d < 2*time.Second {
		t.Errorf("6 sends took %v at %d a second", d, rate)
	}
	for i := range arrivals {
		in := 0
		for j := i; j < len(arrivals) && arrivals[j].Sub(arrivals[i]) < time.Second; j++ {
			in++
		}
		if in > rate+burst {
			t.Errorf("%d sends within one second from send %d (%v); at most %d allowed", in, i, arrivals, rate+burst)
		}
	}
}

// TestSendAccepted: the API answers 202 once the message and its send
// job are stored, without waiting for the provider.
func TestSendAccepted(t *testing.T) {
	a := startApp(t)
	to := "+" + a.customerWrote(1)
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	a.graph.OnMessage(func([]byte) (int, []byte, bool) {
		<-release // hold the provider's answer until the test has looked
		return 0, nil, false
	})
	r := a.sendText(to, "Recebido!")
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.ID == "" || out.Status != "queued" {
		t.Fatalf("body %s; want an id and status queued", r.body)
	}
	var status string
	if err := a.m.DB.Reader().QueryRow(`SELECT status FROM messages WHERE id = $1`, out.ID).Scan(&status); err != nil {
		t.Fatalf("no message row for %s: %v", out.ID, err)
	}
	if status != "queued" && status != "sending" {
		t.Errorf("the message is %s before the provider answered", status)
	}
	var jobs int
	if err := a.m.DB.Reader().QueryRow(`SELECT COUNT(*) FROM jobs WHERE kind = 'message.send' AND unique_key = $1`, "send:"+out.ID).Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("%d send jobs for the message (%v), want 1", jobs, err)
	}
	once.Do(func() { close(release) })
	a.waitMessageStatus(out.ID, parley.StatusSent)
}
