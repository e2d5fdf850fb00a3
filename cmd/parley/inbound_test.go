package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
)

// Tests of what inbound webhooks do once applied: statuses, phone-app
// echoes, identities, consent, reactions, media and template reviews, read
// back through the API.

// reply has a customer write and an agent answer through the API, and
// returns the answer once the fake Graph API accepted it.
func (a *app) reply(waid string) parley.Message {
	a.t.Helper()
	a.inbound(waid, "Oi", time.Now())
	var sent struct{ ID string }
	a.must(a.sendText("+"+waid, "Olá! Como posso ajudar?"), http.StatusAccepted, &sent)
	a.eventually("the answer reaches the provider", func() bool { return a.message(sent.ID).Status == "sent" })
	return a.message(sent.ID)
}

// statusHook delivers a status webhook the fake builds for a sent message.
func (a *app) statusHook(st metagraph.Status) {
	a.t.Helper()
	body, sig := a.graph.StatusWebhook(st)
	a.must(a.webhookSigned(body, sig), http.StatusOK, nil)
}

// deliverMessages delivers inbound messages (or, for field
// smb_message_echoes, echoes) to the test channel.
func (a *app) deliverMessages(field string, contacts []any, msgs ...map[string]any) {
	a.t.Helper()
	key := "messages"
	if field == "smb_message_echoes" {
		key = "message_echoes"
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = m
	}
	kv := map[string]any{key: list}
	if contacts != nil {
		kv["contacts"] = contacts
	}
	a.deliver(testWebhook(a.t, field, kv))
}

// contact reads a contact through the API.
func (a *app) contact(id string) parley.Contact {
	a.t.Helper()
	var c parley.Contact
	a.must(a.do("GET", "/v1/contacts/"+id, a.keyA, nil), http.StatusOK, &c)
	return c
}

// audit reads the audit record of a subject.
func (a *app) audit(subject string) []parley.AuditEntry {
	a.t.Helper()
	var out struct{ Data []parley.AuditEntry }
	a.must(a.do("GET", "/v1/audit?subject="+url.QueryEscape(subject), a.keyA, nil), http.StatusOK, &out)
	return out.Data
}

// thread lists a conversation's messages through the API.
func (a *app) thread(conversationID string) []parley.Message {
	a.t.Helper()
	var out struct{ Data []parley.Message }
	a.must(a.do("GET", "/v1/conversations/"+conversationID+"/messages", a.keyA, nil), http.StatusOK, &out)
	return out.Data
}

func timelineStep(m parley.Message, s parley.Status) *parley.StatusChange {
	for i := range m.Timeline {
		if m.Timeline[i].Status == s {
			return &m.Timeline[i]
		}
	}
	return nil
}

func TestInboundStatuses(t *testing.T) {
	a := startApp(t)

	t.Run("failed with errors", func(t *testing.T) {
		m := a.reply("5511987651001")
		_, e := metagraph.KnownError(131049)
		a.statusHook(metagraph.Status{MessageID: m.ProviderMessageID, Status: "failed", Error: &e})
		m = a.message(m.ID)
		if m.Status != parley.StatusFailed {
			t.Fatalf("status %s, want failed", m.Status)
		}
		if m.Error == nil || m.Error.Code != "131049" || m.Error.Title != e.Message || m.Error.Message != e.Message || m.Error.Details != e.Details {
			t.Fatalf("error %+v, want code 131049 with Meta's title, message and details", m.Error)
		}
		if step := timelineStep(m, parley.StatusFailed); step == nil || step.Error == nil || step.Error.Code != "131049" {
			t.Errorf("timeline %+v, want a failed step with the error", m.Timeline)
		}
	})

	t.Run("failed after delivered", func(t *testing.T) {
		// A late failure (Meta may report one after delivery) must not undo
		// the delivery.
		m := a.reply("5511987651002")
		_, e := metagraph.KnownError(131026)
		a.statusHook(metagraph.Status{MessageID: m.ProviderMessageID, Status: "delivered"})
		a.statusHook(metagraph.Status{MessageID: m.ProviderMessageID, Status: "failed", Error: &e})
		if m = a.message(m.ID); m.Status != parley.StatusDelivered || m.Error != nil {
			t.Errorf("status %s, error %+v; want delivered without an error", m.Status, m.Error)
		}
	})

	t.Run("pricing", func(t *testing.T) {
		m := a.reply("5511987651003")
		a.statusHook(metagraph.Status{MessageID: m.ProviderMessageID, Status: "delivered", PricingCategory: "service"})
		m = a.message(m.ID)
		step := timelineStep(m, parley.StatusDelivered)
		if step == nil || step.PricingCategory != "service" || step.Billable == nil || !*step.Billable {
			t.Fatalf("timeline %+v, want delivered with pricing category service, billable", m.Timeline)
		}
		if sent := timelineStep(m, parley.StatusSent); sent == nil || sent.PricingCategory != "" || sent.Billable != nil {
			t.Errorf("the sent step %+v got pricing it was not given", sent)
		}
	})

	t.Run("status before its echo", func(t *testing.T) {
		// A message typed on the phone app: Meta may send its status before
		// the echo itself.
		const waid = "5511987651004"
		a.inbound(waid, "Oi", time.Now())
		wamid := newWAMID()
		a.deliver(testWebhook(t, "messages", map[string]any{"statuses": []any{statusOf(wamid, "delivered", waid)}}))
		if n := a.queryInt(`SELECT COUNT(*) FROM orphan_statuses WHERE channel_id = $1 AND provider_message_id = $2`, a.channelID, wamid); n != 1 {
			t.Fatalf("the early status was kept %d times, want once", n)
		}
		a.deliverMessages("smb_message_echoes", nil, map[string]any{"from": metagraph.DefaultDisplayPhone, "to": waid, "id": wamid,
			"timestamp": fmt.Sprint(time.Now().Unix()), "type": "text", "text": map[string]any{"body": "Já enviei pelo celular"}})
		m := a.message(a.messageID(wamid))
		if m.Status != parley.StatusDelivered || timelineStep(m, parley.StatusDelivered) == nil {
			t.Errorf("echo: status %s, timeline %+v; want the early delivered applied", m.Status, m.Timeline)
		}
		if n := a.queryInt(`SELECT COUNT(*) FROM orphan_statuses WHERE provider_message_id = $1`, wamid); n != 0 {
			t.Errorf("%d applied statuses are still waiting", n)
		}
	})
}

func TestInboundPhoneAppEcho(t *testing.T) {
	a := startApp(t)
	const waid = "5511987652001"
	wamid := newWAMID()
	a.deliverMessages("smb_message_echoes", nil, map[string]any{"from": metagraph.DefaultDisplayPhone, "to": waid, "id": wamid,
		"timestamp": fmt.Sprint(time.Now().Unix()), "type": "text", "text": map[string]any{"body": "Oi, aqui é da loja!"}})
	m := a.message(a.messageID(wamid))
	if m.Direction != parley.Outbound || m.SentBy.Kind != parley.ActorPhoneApp || m.Status != parley.StatusSent {
		t.Fatalf("echo stored as %s by %s, status %s; want outbound by phone_app, sent", m.Direction, m.SentBy.Kind, m.Status)
	}
	if th := a.thread(m.ConversationID); !slices.ContainsFunc(th, func(x parley.Message) bool {
		return x.ID == m.ID && x.Direction == parley.Outbound && x.SentBy.Kind == parley.ActorPhoneApp && x.Text == "Oi, aqui é da loja!"
	}) {
		t.Errorf("the echo is not in its thread as outbound by phone_app: %+v", th)
	}
	au := a.audit(m.ID)
	if !slices.ContainsFunc(au, func(e parley.AuditEntry) bool {
		return e.Action == "message.send" && e.Actor.Kind == parley.ActorPhoneApp && e.Subject == m.ID
	}) {
		t.Errorf("audit %+v, want message.send by phone_app", au)
	}
	// The business writing does not open the window: only the customer can.
	r := a.sendText("+"+waid, "Mais alguma coisa?")
	if code, _ := r.apiError(); r.status != http.StatusUnprocessableEntity || code != "outside_window" {
		t.Errorf("send after an echo: %d %s, want 422 outside_window", r.status, r.body)
	}
}

func TestInboundBSUIDOnly(t *testing.T) {
	a := startApp(t)
	const bsuid = "BR.1234567890123456789"
	first := newWAMID()
	a.deliverMessages("messages", []any{map[string]any{"profile": map[string]any{"name": "Lia", "username": "lia"}, "user_id": bsuid}},
		map[string]any{"from_user_id": bsuid, "id": first, "timestamp": fmt.Sprint(time.Now().Unix()), "type": "text",
			"text": map[string]any{"body": "oi, sem telefone"}})
	m1 := a.message(a.messageID(first))
	c := a.contact(m1.ContactID)
	if c.BSUID != bsuid || c.Phone != "" || c.WAID != "" {
		t.Fatalf("contact %+v, want BSUID %s and no phone", c, bsuid)
	}
	second := newWAMID()
	a.deliverMessages("messages", []any{map[string]any{"profile": map[string]any{"name": "Lia"}, "wa_id": "5511987653001", "user_id": bsuid}},
		map[string]any{"from": "5511987653001", "from_user_id": bsuid, "id": second, "timestamp": fmt.Sprint(time.Now().Unix()),
			"type": "text", "text": map[string]any{"body": "agora com telefone"}})
	m2 := a.message(a.messageID(second))
	if m2.ContactID != m1.ContactID || m2.ConversationID != m1.ConversationID {
		t.Fatalf("the second message went to contact %s / conversation %s, want %s / %s", m2.ContactID, m2.ConversationID, m1.ContactID, m1.ConversationID)
	}
	if c = a.contact(m1.ContactID); c.BSUID != bsuid || c.Phone != "+5511987653001" || c.WAID != "5511987653001" {
		t.Errorf("contact %+v, want the BSUID kept and the phone learnt", c)
	}
	if n := a.count("contacts"); n != 1 {
		t.Errorf("%d contacts, want 1", n)
	}
}

func TestInboundBrazilNinthDigit(t *testing.T) {
	a := startApp(t)
	// WhatsApp still reports many Brazilian mobiles without the ninth digit.
	in := a.inbound("551187654321", "Oi, tudo bem?", time.Now())
	inbound := a.message(a.messageID(in))
	var sent parley.Message
	a.must(a.sendText("+55 11 98765-4321", "Tudo! E você?"), http.StatusAccepted, &sent)
	if sent.ContactID != inbound.ContactID || sent.ConversationID != inbound.ConversationID {
		t.Errorf("the send went to contact %s / conversation %s, the customer wrote from %s / %s",
			sent.ContactID, sent.ConversationID, inbound.ContactID, inbound.ConversationID)
	}
	if c, v := a.count("contacts"), a.count("conversations"); c != 1 || v != 1 {
		t.Errorf("%d contacts and %d conversations, want one of each", c, v)
	}
	if c := a.contact(inbound.ContactID); c.Phone != "+5511987654321" {
		t.Errorf("contact phone %q, want +5511987654321", c.Phone)
	}
}

func TestInboundOptOut(t *testing.T) {
	a := startApp(t)
	seq := 0
	// check has a new customer send a message and reports whether it
	// opted them out, checking the consent's source and its audit.
	check := func(t *testing.T, msg map[string]any, keyword string, want bool) {
		t.Helper()
		seq++
		waid := fmt.Sprintf("55119876540%02d", seq)
		msg["from"], msg["id"], msg["timestamp"] = waid, newWAMID(), fmt.Sprint(time.Now().Unix())
		a.deliverMessages("messages", []any{customer(waid, "Cliente")}, msg)
		m := a.message(a.messageID(msg["id"].(string)))
		c := a.contact(m.ContactID)
		if got := c.Consent.State == parley.ConsentOptedOut; got != want {
			t.Fatalf("consent %+v, want opted out: %v", c.Consent, want)
		}
		au := a.audit(c.ID)
		optOut := slices.ContainsFunc(au, func(e parley.AuditEntry) bool {
			return e.Action == "consent.opt_out" && e.Actor.Kind == parley.ActorContact && e.Actor.ID == c.ID
		})
		if optOut != want {
			t.Errorf("audit %+v, want consent.opt_out by the contact: %v", au, want)
		}
		if want && !strings.Contains(c.Consent.Source, keyword) {
			t.Errorf("consent source %q does not name %q", c.Consent.Source, keyword)
		}
	}
	text := func(s string) map[string]any {
		return map[string]any{"type": "text", "text": map[string]any{"body": s}}
	}
	button := func(s string) map[string]any {
		return map[string]any{"type": "button", "button": map[string]any{"payload": s, "text": s}}
	}

	for _, tc := range []struct {
		text, keyword string
		out           bool
	}{
		{"PARAR", "PARAR", true},
		{"  Stop! ", "Stop!", true},
		{"cancelár", "cancelár", true},
		{"please stop calling me", "", false},
		{"basta", "", false},
	} {
		t.Run("default "+tc.text, func(t *testing.T) { check(t, text(tc.text), tc.keyword, tc.out) })
	}

	var tenant struct {
		OptOutKeywords []string `json:"opt_out_keywords"`
	}
	a.must(a.do("PUT", "/v1/tenant/opt-out-keywords", a.keyA, map[string]any{"keywords": []string{"BASTA"}}), http.StatusOK, &tenant)
	if !slices.Equal(tenant.OptOutKeywords, []string{"BASTA"}) {
		t.Fatalf("keywords %q, want [BASTA]", tenant.OptOutKeywords)
	}
	for _, tc := range []struct {
		name    string
		msg     map[string]any
		keyword string
		out     bool
	}{
		{"basta", text("basta"), "basta", true},
		{"stop", text("stop"), "", false},
		{"parar", text("PARAR"), "", false},
		{"stop promotions button", button("Stop promotions"), "Stop promotions", true},
	} {
		t.Run("tenant "+tc.name, func(t *testing.T) { check(t, tc.msg, tc.keyword, tc.out) })
	}
}

func TestInboundReactions(t *testing.T) {
	a := startApp(t)
	const waid = "5511987655001"
	m := a.reply(waid)
	react := func(emoji string) {
		a.deliverMessages("messages", []any{customer(waid, "Rita")}, map[string]any{"from": waid, "id": newWAMID(),
			"timestamp": fmt.Sprint(time.Now().Unix()), "type": "reaction", "reaction": map[string]any{"message_id": m.ProviderMessageID, "emoji": emoji}})
	}
	reactions := func() []parley.Reaction {
		for _, x := range a.thread(m.ConversationID) {
			if x.ID == m.ID {
				return x.Reactions
			}
		}
		t.Fatalf("message %s is not in its thread", m.ID)
		return nil
	}
	react("❤️")
	if r := reactions(); len(r) != 1 || r[0].Emoji != "❤️" || r[0].From != "contact" {
		t.Fatalf("reactions %+v, want the customer's ❤️", r)
	}
	react("👍")
	if r := reactions(); len(r) != 1 || r[0].Emoji != "👍" {
		t.Fatalf("reactions %+v, want the customer's ❤️ replaced by 👍", r)
	}
	react("")
	if r := reactions(); len(r) != 0 {
		t.Fatalf("reactions %+v after the customer removed theirs, want none", r)
	}
}

func TestInboundMedia(t *testing.T) {
	a := startApp(t)
	image := func(waid, mediaID string) parley.Message {
		wamid := newWAMID()
		a.deliverMessages("messages", []any{customer(waid, "Téo")}, map[string]any{"from": waid, "id": wamid,
			"timestamp": fmt.Sprint(time.Now().Unix()), "type": "image",
			"image": map[string]any{"id": mediaID, "mime_type": "image/jpeg", "sha256": "bWV0YSdzIG93biBoYXNo"}})
		return a.message(a.messageID(wamid))
	}

	t.Run("downloaded", func(t *testing.T) {
		data := jpeg(4096)
		data[100] = 42
		a.graph.AddMedia("1075230890000001", "image/jpeg", data)
		m := image("5511987656001", "1075230890000001")
		// The download is queued with the message, in its transaction.
		if n := a.queryInt(`SELECT COUNT(*) FROM jobs WHERE kind = 'media.download' AND args LIKE $1`, "%"+m.Media.ID+"%"); n != 1 {
			t.Fatalf("%d download jobs once the webhook was answered, want 1", n)
		}
		a.eventually("the image is downloaded", func() bool { return a.message(m.ID).Media.Status == parley.MediaReady })
		md := a.message(m.ID).Media
		sum := sha256.Sum256(data)
		if md.SHA256 != hex.EncodeToString(sum[:]) || md.Size != int64(len(data)) || md.Error != "" {
			t.Fatalf("media %+v, want sha256 %x and size %d", md, sum, len(data))
		}
		// Media ID → URL → file, each with the channel's token.
		var node, file bool
		for _, r := range a.graph.Requests() {
			authed := r.Header.Get("Authorization") == "Bearer "+metagraph.DefaultToken
			node = node || (authed && r.Path == "/"+a.graph.Version+"/1075230890000001")
			file = file || (authed && strings.Contains(r.Path, "/whatsapp_business/attachments/") && r.Query.Get("mid") == "1075230890000001")
		}
		if !node || !file {
			t.Errorf("the fake saw an authorized media node request: %v, download: %v; want both", node, file)
		}

		get := func(key string) response {
			req, _ := http.NewRequest("GET", a.url+"/v1/media/"+md.ID, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			return a.send(req)
		}
		r := get(a.keyA)
		if r.status != http.StatusOK || !bytes.Equal(r.body, data) || r.header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("download: %d, %d bytes, %s; want 200, the file, image/jpeg", r.status, len(r.body), r.header.Get("Content-Type"))
		}
		if r := get(a.keyB); r.status != http.StatusNotFound {
			t.Errorf("tenant B downloading A's file: %d, want 404", r.status)
		}
		if r := get(""); r.status != http.StatusUnauthorized {
			t.Errorf("downloading without a key: %d, want 401", r.status)
		}
	})

	t.Run("missing at the provider", func(t *testing.T) {
		m := image("5511987656002", "1075230890000404")
		attempts := func() int { return a.queryInt(`SELECT attempts FROM media WHERE id = $1`, m.Media.ID) }
		a.eventually("a failed attempt shows on the message while retrying", func() bool {
			md := a.message(m.ID).Media
			return md.Status == parley.MediaPending && md.Error != "" && attempts() >= 2
		})
		a.eventually("the download gives up", func() bool { return a.message(m.ID).Media.Status == parley.MediaFailed })
		md := a.message(m.ID).Media
		if n := attempts(); n != 10 {
			t.Errorf("%d attempts, want the maximum, 10", n)
		}
		if !strings.Contains(md.Error, "10 attempts") {
			t.Errorf("media error %q, want it to say it gave up after 10 attempts", md.Error)
		}
		if r := a.do("GET", "/v1/media/"+md.ID, a.keyA, nil); r.status == http.StatusOK {
			t.Errorf("a failed download is served: %d", r.status)
		}
	})
}

func TestInboundTemplateStatus(t *testing.T) {
	a := startApp(t)
	tpl := func(id, name, category string) map[string]any {
		return map[string]any{"id": id, "name": name, "language": "pt_BR", "status": "APPROVED", "category": category,
			"parameter_format": "POSITIONAL", "components": []any{map[string]any{"type": "BODY", "text": "Olá {{1}}, seu pedido saiu."}}}
	}
	// The channel's first sync, queued when it was connected, must not
	// run between the reviews below and undo them with the fake's list.
	a.waitJobsIdle()
	a.graph.SetTemplates(metagraph.DefaultWABAID, []any{tpl("1689556908129001", "pedido_enviado", "UTILITY"),
		tpl("1689556908129002", "promo_maio", "MARKETING")})
	a.must(a.do("POST", "/v1/channels/"+a.channelID+"/templates/sync", a.keyA, nil), http.StatusOK, nil)
	template := func(name string) *parley.Template {
		var out struct{ Data []*parley.Template }
		a.must(a.do("GET", "/v1/templates?name="+name, a.keyA, nil), http.StatusOK, &out)
		if len(out.Data) != 1 {
			return nil
		}
		return out.Data[0]
	}
	if tp := template("pedido_enviado"); tp == nil || tp.Status != "approved" {
		t.Fatalf("synced template %+v, want approved", tp)
	}
	review := func(value map[string]any) {
		a.deliver(metaWebhookBody(t, hookEntry{waba: metagraph.DefaultWABAID,
			changes: []hookChange{{"message_template_status_update", value}}}))
	}

	review(map[string]any{"event": "PAUSED", "message_template_id": 1689556908129001, "message_template_name": "pedido_enviado",
		"message_template_language": "pt_BR", "reason": nil,
		"other_info": map[string]any{"title": "FIRST_PAUSE", "description": "Your template has been paused for 3 hours due to low quality."}})
	if tp := template("pedido_enviado"); tp == nil || tp.Status != "paused" || !strings.Contains(tp.StatusReason, "low quality") {
		t.Errorf("after the pause: %+v, want paused with Meta's reason", tp)
	}
	review(map[string]any{"event": "REJECTED", "message_template_id": 1689556908129002, "message_template_name": "promo_maio",
		"message_template_language": "pt_BR", "reason": "INVALID_FORMAT", "message_template_category": "MARKETING"})
	if tp := template("promo_maio"); tp == nil || tp.Status != "rejected" || !strings.Contains(tp.StatusReason, "INVALID_FORMAT") {
		t.Errorf("after the rejection: %+v, want rejected with reason INVALID_FORMAT", tp)
	}
	if tp := template("pedido_enviado"); tp == nil || tp.Status != "paused" {
		t.Errorf("another template's review changed this one: %+v", tp)
	}

	// A review of a template Parley has not synced yet sets off a sync,
	// which brings it in.
	a.waitJobsIdle()
	syncs := func() int { return a.queryInt(`SELECT COUNT(*) FROM jobs WHERE kind = 'templates.sync'`) }
	before := syncs()
	a.graph.SetTemplates(metagraph.DefaultWABAID, []any{tpl("1689556908129001", "pedido_enviado", "UTILITY"),
		tpl("1689556908129002", "promo_maio", "MARKETING"), tpl("1689556908129003", "boas_vindas", "UTILITY")})
	review(map[string]any{"event": "APPROVED", "message_template_id": 1689556908129003, "message_template_name": "boas_vindas",
		"message_template_language": "pt_BR", "reason": "NONE", "message_template_category": "UTILITY"})
	if after := syncs(); after != before+1 {
		t.Fatalf("%d template sync jobs after reviewing an unknown template, want %d", after, before+1)
	}
	a.eventually("the sync brings the new template in", func() bool {
		tp := template("boas_vindas")
		return tp != nil && tp.Status == "approved"
	})
}
