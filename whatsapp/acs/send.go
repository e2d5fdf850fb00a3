package acs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// notification is the body of POST /messages/notifications:send: the
// NotificationContent of the Swagger, whose kind picks the other fields
// (TextNotificationContent, ImageNotificationContent, …). Only the fields
// of the kind sent are set; the fake refuses any other.
type notification struct {
	ChannelRegistrationID string   `json:"channelRegistrationId"`
	To                    []string `json:"to"`
	Kind                  string   `json:"kind"`

	Content  string `json:"content,omitempty"`  // text
	MediaURI string `json:"mediaUri,omitempty"` // image, document, video, audio
	Caption  string `json:"caption,omitempty"`  // image, document, video
	FileName string `json:"fileName,omitempty"` // document

	Template    *msgTemplate `json:"template,omitempty"`
	Interactive *interactive `json:"interactiveMessage,omitempty"`
}

// msgTemplate is MessageTemplate: values named freely, bound to the
// template's header, body and buttons in order by bindings.
type msgTemplate struct {
	Name     string          `json:"name"`
	Language string          `json:"language"`
	Values   []templateValue `json:"values,omitempty"`
	Bindings *bindings       `json:"bindings,omitempty"`
}

// templateValue is a MessageTemplateValue: text, image, document, video
// or quickAction.
type templateValue struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Text     string `json:"text,omitempty"`
	URL      string `json:"url,omitempty"`
	FileName string `json:"fileName,omitempty"`
	Payload  string `json:"payload,omitempty"`
}

// bindings is WhatsAppMessageTemplateBindings.
type bindings struct {
	Kind    string          `json:"kind"` // whatsApp
	Header  []refValue      `json:"header,omitempty"`
	Body    []refValue      `json:"body,omitempty"`
	Buttons []buttonBinding `json:"buttons,omitempty"`
}

type refValue struct {
	RefValue string `json:"refValue"`
}

type buttonBinding struct {
	SubType  string `json:"subType"` // quickReply or url
	RefValue string `json:"refValue"`
}

// interactive is InteractiveMessage.
type interactive struct {
	Header         *textContent   `json:"header,omitempty"`
	Body           textContent    `json:"body"`
	Footer         *textContent   `json:"footer,omitempty"`
	ActionBindings actionBindings `json:"actionBindings"`
}

type textContent struct {
	Kind string `json:"kind"` // text
	Text string `json:"text"`
}

// actionBindings is WhatsAppButtonActionBindings (actions are
// ButtonContent) or WhatsAppListActionBindings (one ListContent).
type actionBindings struct {
	Kind    string `json:"actionBindingKind"`
	Actions []any  `json:"actions"`
}

type buttonContent struct {
	Kind  string `json:"kind"` // button
	ID    string `json:"id"`
	Title string `json:"title"`
}

type listContent struct {
	Kind    string       `json:"kind"` // list
	Title   string       `json:"title"`
	Options []listOption `json:"options"`
}

type listOption struct {
	Title string    `json:"title"`
	Rows  []listRow `json:"rows"`
}

// listRow is ListOptionRow. The Swagger calls the row's description
// "rows"; its own example and WhatsApp call it description, which is what
// is sent.
type listRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Limits WhatsApp puts on interactive messages.
const (
	maxButtons = 3
	maxRows    = 10
)

func refuse(format string, args ...any) error {
	return &whatsapp.Error{Kind: whatsapp.Rejected, Message: fmt.Sprintf(format, args...)}
}

// Send delivers one message. It carries Repeatability-Request-ID (from
// the message ID) and Repeatability-First-Sent (the message's creation
// time), so that a retry after an unanswered attempt gets the first
// attempt's answer from ACS instead of a second message.
func (p *Provider) Send(ctx context.Context, ch *parley.Channel, out *whatsapp.Outbound) (whatsapp.SendResult, error) {
	cfg, err := config(ch)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("acs: send: %w", err)
	}
	n, err := build(cfg, out)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("acs: send: %w", err)
	}
	body, err := json.Marshal(n)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("acs: send: %w", err)
	}
	first := out.Message.CreatedAt
	if first.IsZero() {
		first = p.Now()
	}
	id, err := p.send(ctx, cfg, body, RepeatabilityID(out.Message.ID), first)
	if e, ok := whatsapp.AsError(err); ok && e.Code == "repeatability-rejected" {
		// ACS no longer holds the first attempt (its First-Sent is older
		// than ACS keeps request IDs): a message queued that long has had
		// every chance to be reconciled by a status event, so it is sent
		// again as of now.
		id, err = p.send(ctx, cfg, body, RepeatabilityID(out.Message.ID), p.Now())
	}
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("acs: send: %w", err)
	}
	return whatsapp.SendResult{ProviderMessageID: id}, nil
}

func (p *Provider) send(ctx context.Context, cfg *parley.ACSConfig, body []byte, rid string, first time.Time) (string, error) {
	h := http.Header{}
	h.Set("Repeatability-Request-ID", rid)
	h.Set("Repeatability-First-Sent", first.UTC().Format(http.TimeFormat))
	resp, err := p.do(ctx, cfg, call{method: http.MethodPost, path: "/messages/notifications:send", body: body, header: h, unsafe: true})
	if err != nil {
		if e, ok := whatsapp.AsError(err); ok && e.HTTPStatus == http.StatusBadRequest && strings.EqualFold(e.Code, "InvalidRepeatabilityHeaders") {
			e.Code = "repeatability-rejected"
		}
		return "", err
	}
	defer resp.Body.Close()
	var res struct {
		Receipts []struct {
			MessageID string `json:"messageId"`
			To        string `json:"to"`
		} `json:"receipts"`
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil || len(res.Receipts) == 0 || res.Receipts[0].MessageID == "" {
		if err == nil {
			err = fmt.Errorf("no receipt in the answer")
		}
		return "", whatsapp.AnswerLost("ACS", err, resp.StatusCode, true)
	}
	return res.Receipts[0].MessageID, nil
}

// build makes the send body for out.
func build(cfg *parley.ACSConfig, out *whatsapp.Outbound) (*notification, error) {
	m := out.Message
	if m == nil {
		return nil, refuse("nothing to send")
	}
	to := out.ToPhone
	if to == "" && out.To.WAID != "" {
		to = "+" + out.To.WAID
	}
	if to == "" {
		return nil, refuse("ACS sends to phone numbers, and this customer has none")
	}
	n := &notification{ChannelRegistrationID: cfg.ChannelRegistrationID, To: []string{to}, Kind: string(m.Type)}
	switch m.Type {
	case parley.TypeText:
		if strings.TrimSpace(m.Text) == "" {
			return nil, refuse("a text message needs a body")
		}
		n.Content = m.Text
	case parley.TypeImage, parley.TypeVideo, parley.TypeAudio, parley.TypeDocument:
		n.MediaURI = mediaURI(out)
		if n.MediaURI == "" {
			return nil, refuse("a %s message needs a link or an uploaded file", m.Type)
		}
		if m.Type != parley.TypeAudio {
			n.Caption = m.Text
		}
		if m.Type == parley.TypeDocument {
			n.FileName = fileName(out)
		}
	case parley.TypeTemplate:
		t, err := template(out)
		if err != nil {
			return nil, err
		}
		n.Template = t
	case parley.TypeInteractive:
		in, err := interactiveFor(m.Interactive)
		if err != nil {
			return nil, err
		}
		n.Interactive = in
	default:
		// Stickers, locations, reactions and contacts are not kinds of
		// the 2024-11-15 API.
		return nil, refuse("Azure Communication Services cannot send %s messages", m.Type)
	}
	return n, nil
}

// mediaURI is the address ACS fetches the file from: the message's
// link, or Parley's signed, expiring URL of an uploaded file.
func mediaURI(out *whatsapp.Outbound) string {
	if m := out.Message.Media; m != nil && m.Link != "" {
		return m.Link
	}
	if out.Media != nil {
		return out.Media.URL()
	}
	return ""
}

func fileName(out *whatsapp.Outbound) string {
	if m := out.Message.Media; m != nil && m.Filename != "" {
		return m.Filename
	}
	if out.Media != nil && out.Media.Info() != nil {
		return out.Media.Info().Filename
	}
	return ""
}

// template builds MessageTemplate. Every parameter becomes a named value
// and a binding: body values in the order of the template's placeholders
// (named "body1", … for positional templates, by their own names for
// named ones), the header's text or media as "header", buttons as
// "button{index}".
func template(out *whatsapp.Outbound) (*msgTemplate, error) {
	tm := out.Message.Template
	if tm == nil || tm.Name == "" || tm.Language == "" {
		return nil, refuse("a template message needs the template's name and language")
	}
	t := &msgTemplate{Name: tm.Name, Language: tm.Language}
	b := &bindings{Kind: "whatsApp"}
	if h := tm.Header; h != nil {
		v := templateValue{Name: "header", Kind: h.Type}
		switch h.Type {
		case "text":
			v.Text = h.Text
		case "image", "video", "document":
			v.URL = h.Link
			if v.URL == "" && out.Media != nil {
				v.URL = out.Media.URL()
			}
			if v.URL == "" {
				return nil, refuse("the template's %s header needs a link or an uploaded file", h.Type)
			}
			if h.Type == "document" {
				v.FileName = h.Filename
			}
		default:
			return nil, refuse("unknown template header type %q", h.Type)
		}
		t.Values = append(t.Values, v)
		b.Header = append(b.Header, refValue{"header"})
	}
	if len(tm.NamedParameters) > 0 {
		var order []string
		if out.Template != nil {
			order = out.Template.BodyParams
		}
		for name := range tm.NamedParameters {
			if !contains(order, name) {
				order = append(order, name)
			}
		}
		for _, name := range order {
			if v, ok := tm.NamedParameters[name]; ok {
				t.Values = append(t.Values, templateValue{Name: name, Kind: "text", Text: v})
				b.Body = append(b.Body, refValue{name})
			}
		}
	} else {
		for i, v := range tm.Parameters {
			name := "body" + strconv.Itoa(i+1)
			t.Values = append(t.Values, templateValue{Name: name, Kind: "text", Text: v})
			b.Body = append(b.Body, refValue{name})
		}
	}
	for _, btn := range tm.Buttons {
		name := "button" + strconv.Itoa(btn.Index)
		switch btn.SubType {
		case "quick_reply":
			if btn.Payload == "" {
				continue
			}
			t.Values = append(t.Values, templateValue{Name: name, Kind: "quickAction", Payload: btn.Payload})
			b.Buttons = append(b.Buttons, buttonBinding{SubType: "quickReply", RefValue: name})
		case "url":
			t.Values = append(t.Values, templateValue{Name: name, Kind: "text", Text: btn.Text})
			b.Buttons = append(b.Buttons, buttonBinding{SubType: "url", RefValue: name})
		default:
			return nil, refuse("template button %d: ACS takes no %q parameter", btn.Index, btn.SubType)
		}
	}
	if len(t.Values) > 0 {
		t.Bindings = b
	}
	return t, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// interactiveFor builds reply buttons (at most 3) or a list (at most 10
// rows in all).
func interactiveFor(in *parley.Interactive) (*interactive, error) {
	if in == nil || strings.TrimSpace(in.Body) == "" {
		return nil, refuse("an interactive message needs a body")
	}
	out := &interactive{Body: textContent{Kind: "text", Text: in.Body}}
	if in.Header != "" {
		out.Header = &textContent{Kind: "text", Text: in.Header}
	}
	if in.Footer != "" {
		out.Footer = &textContent{Kind: "text", Text: in.Footer}
	}
	switch in.Kind {
	case "button":
		if n := len(in.Buttons); n == 0 || n > maxButtons {
			return nil, refuse("reply buttons: %d given, 1 to %d allowed", n, maxButtons)
		}
		out.ActionBindings.Kind = "whatsAppButton"
		for _, b := range in.Buttons {
			out.ActionBindings.Actions = append(out.ActionBindings.Actions, buttonContent{Kind: "button", ID: b.ID, Title: b.Title})
		}
	case "list":
		if in.Button == "" {
			return nil, refuse("list: the menu button needs a text")
		}
		list := listContent{Kind: "list", Title: in.Button}
		rows := 0
		for _, s := range in.Section {
			// ListOption requires a title; a list of one untitled
			// section takes the menu's.
			opt := listOption{Title: s.Title}
			if opt.Title == "" {
				opt.Title = in.Button
			}
			for _, r := range s.Rows {
				opt.Rows = append(opt.Rows, listRow{ID: r.ID, Title: r.Title, Description: r.Description})
			}
			rows += len(s.Rows)
			list.Options = append(list.Options, opt)
		}
		if rows == 0 || rows > maxRows {
			return nil, refuse("list: %d rows given, 1 to %d allowed", rows, maxRows)
		}
		out.ActionBindings.Kind = "whatsAppList"
		out.ActionBindings.Actions = []any{list}
	default:
		return nil, refuse("unknown interactive kind %q", in.Kind)
	}
	return out, nil
}

// MarkRead does nothing: the 2024-11-15 API has no read receipts (no
// operation marks a received message read), so the customer sees
// delivered ticks only. It returns nil, since there is nothing to retry.
func (p *Provider) MarkRead(ctx context.Context, ch *parley.Channel, providerMessageID string) error {
	return nil
}

// FetchMedia downloads an inbound file by its stream ID
// (Media.ProviderMediaID) from GET /messages/streams/{id}.
func (p *Provider) FetchMedia(ctx context.Context, ch *parley.Channel, m *parley.Media) (io.ReadCloser, string, error) {
	cfg, err := config(ch)
	if err != nil {
		return nil, "", fmt.Errorf("acs: fetch media: %w", err)
	}
	if m == nil || m.ProviderMediaID == "" {
		return nil, "", fmt.Errorf("acs: fetch media: %w", refuse("the media has no ACS stream ID"))
	}
	resp, err := p.do(ctx, cfg, call{method: http.MethodGet, path: "/messages/streams/" + url.PathEscape(m.ProviderMediaID)})
	if err != nil {
		return nil, "", fmt.Errorf("acs: fetch media: %w", err)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" || strings.HasPrefix(ct, "application/octet-stream") {
		ct = m.MIMEType
	}
	return resp.Body, ct, nil
}
