package meta_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/internal/specs"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

const customer = "+16505551234"

func textOut(text string) *whatsapp.Outbound {
	return &whatsapp.Outbound{
		Message: &parley.Message{ID: "msg_01", Type: parley.TypeText, Text: text},
		ToPhone: customer,
	}
}

func out(m parley.Message) *whatsapp.Outbound {
	if m.ID == "" {
		m.ID = "msg_01"
	}
	return &whatsapp.Outbound{Message: &m, ToPhone: customer}
}

// head is the part every send body shares.
const head = `"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","biz_opaque_callback_data":"msg_01"`

// sendOne sends through a fresh fake and returns what the fake accepted.
func sendOne(t *testing.T, o *whatsapp.Outbound) (metagraph.Sent, *metagraph.Server) {
	t.Helper()
	s, p, ch := setup(t)
	res, err := p.Send(context.Background(), ch, o)
	if err != nil {
		t.Fatal(err)
	}
	sent := s.Sent()
	if len(sent) != 1 {
		t.Fatalf("the fake accepted %d messages", len(sent))
	}
	if res.ProviderMessageID != sent[0].ID || !strings.HasPrefix(res.ProviderMessageID, "wamid.") {
		t.Errorf("result %q, fake returned %q", res.ProviderMessageID, sent[0].ID)
	}
	return sent[0], s
}

func TestSendMessageTypes(t *testing.T) {
	contacts := func() json.RawMessage {
		var ex struct {
			Request map[string]struct {
				Value struct{ Contacts json.RawMessage }
			} `json:"request_examples"`
		}
		json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "send-message.json"), &ex)
		return ex.Request["Send Contact Message"].Value.Contacts
	}()
	for _, tc := range []struct {
		name string
		out  *whatsapp.Outbound
		want string
	}{
		{"text", textOut("Hello"), `{` + head + `,"type":"text","text":{"body":"Hello"}}`},
		{"text with preview, replying", func() *whatsapp.Outbound {
			o := out(parley.Message{Type: parley.TypeText, Text: "See https://parley.example", PreviewURL: true})
			o.ReplyTo = "wamid.IN.9"
			return o
		}(), `{` + head + `,"type":"text","context":{"message_id":"wamid.IN.9"},"text":{"body":"See https://parley.example","preview_url":true}}`},
		{"image by link with caption", out(parley.Message{Type: parley.TypeImage, Text: "A cat", Media: &parley.Media{Link: "https://cdn.example/cat.jpg", MIMEType: "image/jpeg"}}),
			`{` + head + `,"type":"image","image":{"link":"https://cdn.example/cat.jpg","caption":"A cat"}}`},
		{"document by link", out(parley.Message{Type: parley.TypeDocument, Text: "Your invoice", Media: &parley.Media{Link: "https://cdn.example/i.pdf", Filename: "invoice.pdf"}}),
			`{` + head + `,"type":"document","document":{"link":"https://cdn.example/i.pdf","caption":"Your invoice","filename":"invoice.pdf"}}`},
		{"audio by link, no caption", out(parley.Message{Type: parley.TypeAudio, Text: "ignored", Media: &parley.Media{Link: "https://cdn.example/a.ogg", Voice: true}}),
			`{` + head + `,"type":"audio","audio":{"link":"https://cdn.example/a.ogg"}}`},
		{"video by Meta media ID", out(parley.Message{Type: parley.TypeVideo, Text: "Watch", Media: &parley.Media{ProviderMediaID: "1234"}}),
			`{` + head + `,"type":"video","video":{"id":"1234","caption":"Watch"}}`},
		{"sticker", out(parley.Message{Type: parley.TypeSticker, Text: "no caption", Media: &parley.Media{Link: "https://cdn.example/s.webp"}}),
			`{` + head + `,"type":"sticker","sticker":{"link":"https://cdn.example/s.webp"}}`},
		{"location", out(parley.Message{Type: parley.TypeLocation, Location: &parley.Location{Latitude: 37.4847, Longitude: -122.1486, Name: "Meta HQ", Address: "1 Hacker Way", URL: "https://not.sent"}}),
			`{` + head + `,"type":"location","location":{"latitude":"37.4847","longitude":"-122.1486","name":"Meta HQ","address":"1 Hacker Way"}}`},
		{"reaction", func() *whatsapp.Outbound {
			o := out(parley.Message{Type: parley.TypeReaction, Reaction: &parley.Reaction{Emoji: "👍"}})
			o.ReactTo, o.ReplyTo = "wamid.IN.3", "wamid.ignored"
			return o
		}(), `{` + head + `,"type":"reaction","reaction":{"message_id":"wamid.IN.3","emoji":"👍"}}`},
		{"reaction removed", func() *whatsapp.Outbound {
			o := out(parley.Message{Type: parley.TypeReaction, Reaction: &parley.Reaction{ProviderMessageID: "wamid.IN.3"}})
			return o
		}(), `{` + head + `,"type":"reaction","reaction":{"message_id":"wamid.IN.3","emoji":""}}`},
		{"reply buttons", out(parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{
			Kind: "button", Header: "Delivery", Body: "When should we come?", Footer: "Parley",
			Buttons: []parley.InteractiveButton{{ID: "am", Title: "Morning"}, {ID: "pm", Title: "Afternoon"}, {ID: "no", Title: "Not today"}},
		}}), `{` + head + `,"type":"interactive","interactive":{"type":"button","header":{"type":"text","text":"Delivery"},"body":{"text":"When should we come?"},"footer":{"text":"Parley"},
			"action":{"buttons":[{"type":"reply","reply":{"id":"am","title":"Morning"}},{"type":"reply","reply":{"id":"pm","title":"Afternoon"}},{"type":"reply","reply":{"id":"no","title":"Not today"}}]}}}`},
		{"list", out(parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{
			Kind: "list", Body: "Pick a slot", Button: "Slots",
			Section: []parley.InteractiveSection{
				{Title: "Monday", Rows: []parley.InteractiveRow{{ID: "mon-am", Title: "9:00", Description: "Morning"}, {ID: "mon-pm", Title: "14:00"}}},
				{Title: "Tuesday", Rows: []parley.InteractiveRow{{ID: "tue-am", Title: "9:00"}}},
			},
		}}), `{` + head + `,"type":"interactive","interactive":{"type":"list","body":{"text":"Pick a slot"},"action":{"button":"Slots","sections":[
			{"title":"Monday","rows":[{"id":"mon-am","title":"9:00","description":"Morning"},{"id":"mon-pm","title":"14:00"}]},
			{"title":"Tuesday","rows":[{"id":"tue-am","title":"9:00"}]}]}}}`},
		{"contacts", out(parley.Message{Type: parley.TypeContacts, Contacts: contacts}),
			`{` + head + `,"type":"contacts","contacts":` + string(contacts) + `}`},
		{"to a WhatsApp ID", &whatsapp.Outbound{Message: &parley.Message{ID: "msg_01", Type: parley.TypeText, Text: "Hi"}, To: whatsapp.Contact{WAID: "16505551234"}},
			`{` + head + `,"type":"text","text":{"body":"Hi"}}`},
		{"to a BSUID only", &whatsapp.Outbound{Message: &parley.Message{ID: "msg_01", Type: parley.TypeText, Text: "Hi"}, To: whatsapp.Contact{BSUID: "US.13491208655302741918"}},
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"US.13491208655302741918","biz_opaque_callback_data":"msg_01","type":"text","text":{"body":"Hi"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent, _ := sendOne(t, tc.out)
			sameJSON(t, sent.Raw, tc.want)
		})
	}
}

func TestSendRefusesWhatMetaWouldReject(t *testing.T) {
	buttons := make([]parley.InteractiveButton, 4)
	for i := range buttons {
		buttons[i] = parley.InteractiveButton{ID: itoa(i), Title: "B"}
	}
	rows := make([]parley.InteractiveRow, 11)
	for i := range rows {
		rows[i] = parley.InteractiveRow{ID: itoa(i), Title: "R"}
	}
	for name, o := range map[string]*whatsapp.Outbound{
		"four buttons":     out(parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{Kind: "button", Body: "x", Buttons: buttons}}),
		"eleven rows":      out(parley.Message{Type: parley.TypeInteractive, Interactive: &parley.Interactive{Kind: "list", Body: "x", Button: "b", Section: []parley.InteractiveSection{{Rows: rows[:6]}, {Rows: rows[6:]}}}}),
		"no recipient":     {Message: &parley.Message{ID: "m", Type: parley.TypeText, Text: "x"}},
		"empty text":       textOut(" "),
		"media w/o source": out(parley.Message{Type: parley.TypeImage, Media: &parley.Media{}}),
		"reaction w/o msg": out(parley.Message{Type: parley.TypeReaction, Reaction: &parley.Reaction{Emoji: "x"}}),
		"system message":   out(parley.Message{Type: parley.TypeSystem}),
		"copy code button": out(parley.Message{Type: parley.TypeTemplate, Template: &parley.TemplateMessage{Name: "t", Language: "en", Buttons: []parley.TemplateButtonParam{{Index: 0, SubType: "copy_code", Text: "X"}}}}),
	} {
		t.Run(name, func(t *testing.T) {
			s, p, ch := setup(t)
			_, err := p.Send(context.Background(), ch, o)
			wantKind(t, err, whatsapp.Rejected)
			if n := len(s.Requests()); n != 0 {
				t.Errorf("%d requests made", n)
			}
		})
	}
}

func TestSendTemplateMediaHeaderPositionalButtons(t *testing.T) {
	def := &parley.Template{
		Name: "order_ready", Language: "en_US", Status: parley.TemplateApproved, ParameterFormat: "positional",
		Header:     &parley.TemplateHeader{Format: "image"},
		Body:       "Hi {{1}}, order {{2}} is ready.",
		BodyParams: []string{"1", "2"},
		Buttons: []parley.TemplateButton{
			{Type: "quick_reply", Text: "Thanks"},
			{Type: "url", Text: "Track", URL: "https://shop.example/track/{{1}}", HasParam: true},
		},
	}
	tm := &parley.TemplateMessage{
		Name: "order_ready", Language: "en_US", Parameters: []string{"Ana", "A-17"},
		Header: &parley.TemplateHeaderParam{Type: "image", Link: "https://cdn.example/order.jpg"},
		Buttons: []parley.TemplateButtonParam{
			{Index: 0, SubType: "quick_reply", Payload: "THANKS_A17"},
			{Index: 1, SubType: "url", Text: "A-17"},
		},
	}
	if err := def.Check(tm); err != nil {
		t.Fatal(err)
	}
	o := out(parley.Message{Type: parley.TypeTemplate, Template: tm})
	o.Template = def
	sent, _ := sendOne(t, o)
	sameJSON(t, sent.Raw, `{`+head+`,"type":"template","template":{"name":"order_ready","language":{"policy":"deterministic","code":"en_US"},"components":[
		{"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example/order.jpg"}}]},
		{"type":"body","parameters":[{"type":"text","text":"Ana"},{"type":"text","text":"A-17"}]},
		{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"THANKS_A17"}]},
		{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"A-17"}]}]}}`)
}

func TestSendTemplateNamed(t *testing.T) {
	def := &parley.Template{
		Name: "welcome", Language: "de", Status: parley.TemplateApproved, ParameterFormat: "named",
		Header:     &parley.TemplateHeader{Format: "text", Text: "Hallo {{first_name}}", Params: []string{"first_name"}},
		Body:       "Dein Termin ist am {{date}} um {{time}}.",
		BodyParams: []string{"date", "time"},
	}
	tm := &parley.TemplateMessage{
		Name: "welcome", Language: "de",
		NamedParameters: map[string]string{"time": "10:00", "date": "3. Mai"},
		Header:          &parley.TemplateHeaderParam{Type: "text", Text: "Jürgen"},
	}
	if err := def.Check(tm); err != nil {
		t.Fatal(err)
	}
	o := out(parley.Message{Type: parley.TypeTemplate, Template: tm})
	o.Template = def
	sent, _ := sendOne(t, o)
	sameJSON(t, sent.Raw, `{`+head+`,"type":"template","template":{"name":"welcome","language":{"policy":"deterministic","code":"de"},"components":[
		{"type":"header","parameters":[{"type":"text","parameter_name":"first_name","text":"Jürgen"}]},
		{"type":"body","parameters":[{"type":"text","parameter_name":"date","text":"3. Mai"},{"type":"text","parameter_name":"time","text":"10:00"}]}]}}`)
}

func TestSendTemplateWithoutParameters(t *testing.T) {
	sent, _ := sendOne(t, out(parley.Message{Type: parley.TypeTemplate, Template: &parley.TemplateMessage{
		Name: "hello_world", Language: "en_US",
		Buttons: []parley.TemplateButtonParam{{Index: 0, SubType: "quick_reply"}}, // no payload: no component
	}}))
	sameJSON(t, sent.Raw, `{`+head+`,"type":"template","template":{"name":"hello_world","language":{"policy":"deterministic","code":"en_US"}}}`)
}

// TestSendUploadsMedia: a file uploaded to Parley is uploaded to Meta
// (multipart: messaging_product, type, file) and sent by the new ID.
func TestSendUploadsMedia(t *testing.T) {
	file := &memFile{data: []byte("%PDF-1.7 fake"), info: parley.Media{ID: "med_1", MIMEType: "application/pdf", Filename: "Angebot \"2026\".pdf"}}
	o := out(parley.Message{Type: parley.TypeDocument, Text: "Das Angebot", Media: &parley.Media{ID: "med_1", MIMEType: "application/pdf"}})
	o.Media = file
	sent, s := sendOne(t, o)
	ups := s.Uploads()
	if len(ups) != 1 || ups[0].MIMEType != "application/pdf" || string(ups[0].Data) != "%PDF-1.7 fake" || ups[0].Filename != `Angebot "2026".pdf` {
		t.Fatalf("uploads %+v", ups)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || !strings.HasSuffix(reqs[0].Path, "/media") || !strings.HasSuffix(reqs[1].Path, "/messages") {
		t.Fatalf("requests %v then %v", reqs[0].Path, reqs[len(reqs)-1].Path)
	}
	sameJSON(t, sent.Raw, `{`+head+`,"type":"document","document":{"id":"`+ups[0].ID+`","caption":"Das Angebot","filename":"Angebot \"2026\".pdf"}}`)

	// A failed upload fails the send, classified, before any message.
	s2, p, ch := setup(t)
	s2.Inject(1, metagraph.Fault{Status: 500, Error: metagraph.GraphError{Message: "boom", Code: 1}, Path: "/media"})
	_, err := p.Send(context.Background(), ch, o)
	wantKind(t, err, whatsapp.Temporary)
	if len(s2.Sent()) != 0 {
		t.Error("sent without media")
	}
}

func TestSendTemplateHeaderUpload(t *testing.T) {
	def := &parley.Template{Name: "doc", Language: "en", Status: parley.TemplateApproved, ParameterFormat: "positional", Header: &parley.TemplateHeader{Format: "document"}}
	tm := &parley.TemplateMessage{Name: "doc", Language: "en", Header: &parley.TemplateHeaderParam{Type: "document", MediaID: "med_9", Filename: "report.pdf"}}
	if err := def.Check(tm); err != nil {
		t.Fatal(err)
	}
	o := out(parley.Message{Type: parley.TypeTemplate, Template: tm})
	o.Template = def
	o.Media = &memFile{data: []byte("%PDF"), info: parley.Media{ID: "med_9", MIMEType: "application/pdf", Filename: "report.pdf"}}
	sent, s := sendOne(t, o)
	id := s.Uploads()[0].ID
	sameJSON(t, sent.Raw, `{`+head+`,"type":"template","template":{"name":"doc","language":{"policy":"deterministic","code":"en"},"components":[
		{"type":"header","parameters":[{"type":"document","document":{"id":"`+id+`","filename":"report.pdf"}}]}]}}`)
}

// TestSendCallbackDataRoundTrip: the status webhook of a send carries the
// Parley message ID back, which is what reconciles an ambiguous send.
func TestSendCallbackDataRoundTrip(t *testing.T) {
	s, p, ch := setup(t)
	o := textOut("hello")
	o.Message.ID = "msg_7f3a"
	res, err := p.Send(context.Background(), ch, o)
	if err != nil {
		t.Fatal(err)
	}
	body, sig := s.StatusWebhook(metagraph.Status{MessageID: res.ProviderMessageID, Status: "delivered"})
	if !meta.VerifySignature(body, sig, ch.Meta.AppSecret) {
		t.Fatal("signature rejected")
	}
	b, err := meta.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Statuses) != 1 {
		t.Fatalf("batch %+v", b)
	}
	st := b.Statuses[0]
	if st.CallbackData != "msg_7f3a" || st.ProviderMessageID != res.ProviderMessageID || st.Status != parley.StatusDelivered || st.Account != ch.Meta.PhoneNumberID {
		t.Errorf("status %+v", st)
	}
}
