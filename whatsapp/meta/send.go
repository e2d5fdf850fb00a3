package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// The body of POST /{phone-number-id}/messages, shaped by the Message
// schema of Meta's OpenAPI document (business-messaging-api_v23.0.yaml):
// each message type is allOf [BaseMessageProperties, {its object,
// additionalProperties: false}], so only the fields below may appear.
type graphMessage struct {
	MessagingProduct string `json:"messaging_product"`
	// RecipientType is required by BaseMessageProperties.
	RecipientType string `json:"recipient_type"`
	// To is a phone number, or for customers known only by their
	// business-scoped user ID (BSUID), that ID: the document has no
	// separate recipient field for it.
	To      string               `json:"to"`
	Type    string               `json:"type"`
	Context *graphMessageContext `json:"context,omitempty"`
	// CallbackData is Parley's message ID. Meta echoes it on every status
	// webhook of the message, which is how a send whose answer was lost
	// (whatsapp.Ambiguous) is matched to the message it created.
	CallbackData string `json:"biz_opaque_callback_data,omitempty"`

	Text        *graphText        `json:"text,omitempty"`
	Image       *graphMedia       `json:"image,omitempty"`
	Video       *graphMedia       `json:"video,omitempty"`
	Audio       *graphMedia       `json:"audio,omitempty"`
	Document    *graphMedia       `json:"document,omitempty"`
	Sticker     *graphMedia       `json:"sticker,omitempty"`
	Location    *graphLocation    `json:"location,omitempty"`
	Reaction    *graphReaction    `json:"reaction,omitempty"`
	Interactive *graphInteractive `json:"interactive,omitempty"`
	Template    *graphTemplate    `json:"template,omitempty"`
	Contacts    json.RawMessage   `json:"contacts,omitempty"`
}

type graphMessageContext struct {
	MessageID string `json:"message_id"`
}

type graphText struct {
	Body       string `json:"body"`
	PreviewURL bool   `json:"preview_url,omitempty"`
}

// graphMedia is MediaObject: exactly one of id and link. Caption and
// filename are only set where WhatsApp shows them (see graphMediaFor).
type graphMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// graphLocation follows LocationMessage, which types latitude and
// longitude as strings.
type graphLocation struct {
	Latitude  string `json:"latitude"`
	Longitude string `json:"longitude"`
	Name      string `json:"name,omitempty"`
	Address   string `json:"address,omitempty"`
}

type graphReaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"` // empty removes the reaction
}

type graphInteractive struct {
	Type   string               `json:"type"`
	Header *graphInteractiveHdr `json:"header,omitempty"`
	Body   *graphTextObject     `json:"body,omitempty"`
	Footer *graphTextObject     `json:"footer,omitempty"`
	Action graphAction          `json:"action"`
}

type graphInteractiveHdr struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type graphTextObject struct {
	Text string `json:"text"`
}

type graphAction struct {
	Button   string         `json:"button,omitempty"`
	Buttons  []graphButton  `json:"buttons,omitempty"`
	Sections []graphSection `json:"sections,omitempty"`
}

type graphButton struct {
	Type  string           `json:"type"`
	Reply graphButtonReply `json:"reply"`
}

type graphButtonReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type graphSection struct {
	Title string     `json:"title,omitempty"`
	Rows  []graphRow `json:"rows"`
}

type graphRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// Limits WhatsApp puts on interactive messages. The schema caps reply
// buttons at 3 and rows per section at 10; WhatsApp's 10 rows are for the
// whole list.
const (
	graphMaxButtons = 3
	graphMaxRows    = 10
)

// Send delivers one message. Media uploaded to Parley (out.Media) is
// uploaded to Meta first and sent by its new media ID; nothing is cached,
// since Meta's media IDs expire.
func (p *Provider) Send(ctx context.Context, ch *parley.Channel, out *whatsapp.Outbound) (whatsapp.SendResult, error) {
	c, err := p.conn(ch)
	if err == nil {
		err = requireID("phone number ID", c.cfg.PhoneNumberID)
	}
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("meta: send: %w", err)
	}
	body, err := p.message(ctx, c, out)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("meta: send: %w", err)
	}
	reader, err := graphJSONBody(body)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("meta: send: %w", err)
	}
	var resp struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	call := graphCall{method: http.MethodPost, url: c.node(c.cfg.PhoneNumberID, "messages", nil), body: reader, contentType: "application/json", unsafe: true}
	if err := p.doJSON(ctx, c, call, &resp); err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("meta: send: %w", err)
	}
	if len(resp.Messages) == 0 || resp.Messages[0].ID == "" {
		return whatsapp.SendResult{}, fmt.Errorf("meta: send: %w", whatsapp.AnswerLost("Graph", fmt.Errorf("no message ID in the answer"), http.StatusOK, true))
	}
	return whatsapp.SendResult{ProviderMessageID: resp.Messages[0].ID}, nil
}

// MarkRead sends a read receipt. Meta's document describes its body as
// MarkMessageRequestPayload.
func (p *Provider) MarkRead(ctx context.Context, ch *parley.Channel, providerMessageID string) error {
	c, err := p.conn(ch)
	if err == nil {
		err = requireID("phone number ID", c.cfg.PhoneNumberID)
	}
	if err != nil {
		return fmt.Errorf("meta: mark read: %w", err)
	}
	reader, err := graphJSONBody(map[string]string{"messaging_product": "whatsapp", "status": "read", "message_id": providerMessageID})
	if err != nil {
		return fmt.Errorf("meta: mark read: %w", err)
	}
	var resp struct {
		Success bool `json:"success"`
	}
	call := graphCall{method: http.MethodPost, url: c.node(c.cfg.PhoneNumberID, "messages", nil), body: reader, contentType: "application/json"}
	if err := p.doJSON(ctx, c, call, &resp); err != nil {
		return fmt.Errorf("meta: mark read: %w", err)
	}
	if !resp.Success {
		return fmt.Errorf("meta: mark read: %w", &whatsapp.Error{Kind: whatsapp.Temporary, HTTPStatus: http.StatusOK, Message: "Graph did not confirm the read receipt"})
	}
	return nil
}

// graphRefuse is an Outbound that cannot be expressed as a Graph send.
func graphRefuse(format string, args ...any) error {
	return &whatsapp.Error{Kind: whatsapp.Rejected, Message: fmt.Sprintf(format, args...)}
}

// message builds the Graph body for out.
func (p *Provider) message(ctx context.Context, c *graphConn, out *whatsapp.Outbound) (*graphMessage, error) {
	if out == nil || out.Message == nil {
		return nil, graphRefuse("nothing to send")
	}
	m := out.Message
	to, err := graphRecipient(out)
	if err != nil {
		return nil, err
	}
	g := &graphMessage{
		MessagingProduct: "whatsapp", RecipientType: "individual",
		To: to, Type: string(m.Type), CallbackData: m.ID,
	}
	if out.ReplyTo != "" && m.Type != parley.TypeReaction {
		g.Context = &graphMessageContext{MessageID: out.ReplyTo}
	}
	switch m.Type {
	case parley.TypeText:
		if strings.TrimSpace(m.Text) == "" {
			return nil, graphRefuse("a text message needs text")
		}
		g.Text = &graphText{Body: m.Text, PreviewURL: m.PreviewURL}
	case parley.TypeImage, parley.TypeVideo, parley.TypeAudio, parley.TypeDocument, parley.TypeSticker:
		err = p.attachMedia(ctx, c, out, g)
	case parley.TypeLocation:
		g.Location, err = graphLocationFor(m.Location)
	case parley.TypeReaction:
		g.Reaction, err = graphReactionFor(out)
	case parley.TypeInteractive:
		g.Interactive, err = graphInteractiveFor(m.Interactive)
	case parley.TypeTemplate:
		g.Template, err = p.template(ctx, c, out)
	case parley.TypeContacts:
		g.Contacts, err = graphContactsFor(m.Contacts)
	default:
		err = graphRefuse("Meta cannot send a %s message", m.Type)
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// graphRecipient picks the "to" of a send: the phone number's digits,
// else the WhatsApp ID, else the business-scoped user ID.
func graphRecipient(out *whatsapp.Outbound) (string, error) {
	if d := graphDigits(out.ToPhone); d != "" {
		return d, nil
	}
	if d := graphDigits(out.To.WAID); d != "" {
		return d, nil
	}
	if out.To.BSUID != "" {
		return out.To.BSUID, nil
	}
	return "", graphRefuse("the recipient has no phone number, WhatsApp ID or user ID")
}

func graphDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// attachMedia sets the media object of a media message: an upload made
// now, the message's public link, or a Meta media ID it already has.
func (p *Provider) attachMedia(ctx context.Context, c *graphConn, out *whatsapp.Outbound, g *graphMessage) error {
	m := out.Message
	var obj graphMedia
	switch {
	case out.Media != nil:
		id, err := p.upload(ctx, c, out.Media, m.Media)
		if err != nil {
			return err
		}
		obj.ID = id
	case m.Media != nil && m.Media.Link != "":
		obj.Link = m.Media.Link
	case m.Media != nil && m.Media.ProviderMediaID != "":
		obj.ID = m.Media.ProviderMediaID
	default:
		return graphRefuse("a %s message needs a file or a link", m.Type)
	}
	// WhatsApp shows captions on images, videos and documents only, and
	// file names on documents; the sticker schema allows nothing but id
	// or link.
	switch m.Type {
	case parley.TypeImage, parley.TypeVideo:
		obj.Caption = m.Text
	case parley.TypeDocument:
		obj.Caption = m.Text
		if m.Media != nil {
			obj.Filename = m.Media.Filename
		}
		if obj.Filename == "" && out.Media != nil && out.Media.Info() != nil {
			obj.Filename = out.Media.Info().Filename
		}
	}
	switch m.Type {
	case parley.TypeImage:
		g.Image = &obj
	case parley.TypeVideo:
		g.Video = &obj
	case parley.TypeAudio:
		g.Audio = &obj
	case parley.TypeDocument:
		g.Document = &obj
	case parley.TypeSticker:
		g.Sticker = &obj
	}
	return nil
}

func graphLocationFor(l *parley.Location) (*graphLocation, error) {
	if l == nil {
		return nil, graphRefuse("a location message needs a location")
	}
	return &graphLocation{
		Latitude:  strconv.FormatFloat(l.Latitude, 'f', -1, 64),
		Longitude: strconv.FormatFloat(l.Longitude, 'f', -1, 64),
		Name:      l.Name,
		Address:   l.Address,
	}, nil
}

func graphReactionFor(out *whatsapp.Outbound) (*graphReaction, error) {
	r := out.Message.Reaction
	target := out.ReactTo
	if target == "" && r != nil {
		target = r.ProviderMessageID
	}
	if target == "" {
		return nil, graphRefuse("a reaction needs the message it reacts to")
	}
	g := &graphReaction{MessageID: target}
	if r != nil {
		g.Emoji = r.Emoji
	}
	return g, nil
}

// graphInteractiveFor builds reply buttons (at most 3) or a list (at most
// 10 rows in all).
func graphInteractiveFor(in *parley.Interactive) (*graphInteractive, error) {
	if in == nil || strings.TrimSpace(in.Body) == "" {
		return nil, graphRefuse("an interactive message needs a body")
	}
	g := &graphInteractive{Type: in.Kind, Body: &graphTextObject{Text: in.Body}}
	if in.Header != "" {
		g.Header = &graphInteractiveHdr{Type: "text", Text: in.Header}
	}
	if in.Footer != "" {
		g.Footer = &graphTextObject{Text: in.Footer}
	}
	switch in.Kind {
	case "button":
		if n := len(in.Buttons); n == 0 || n > graphMaxButtons {
			return nil, graphRefuse("reply buttons: %d given, 1 to %d allowed", n, graphMaxButtons)
		}
		for _, b := range in.Buttons {
			g.Action.Buttons = append(g.Action.Buttons, graphButton{Type: "reply", Reply: graphButtonReply{ID: b.ID, Title: b.Title}})
		}
	case "list":
		rows := 0
		for _, s := range in.Section {
			sec := graphSection{Title: s.Title}
			for _, r := range s.Rows {
				sec.Rows = append(sec.Rows, graphRow{ID: r.ID, Title: r.Title, Description: r.Description})
			}
			rows += len(s.Rows)
			g.Action.Sections = append(g.Action.Sections, sec)
		}
		if rows == 0 || rows > graphMaxRows {
			return nil, graphRefuse("list: %d rows given, 1 to %d allowed", rows, graphMaxRows)
		}
		if in.Button == "" {
			return nil, graphRefuse("list: the menu button needs a text")
		}
		g.Action.Button = in.Button
	default:
		return nil, graphRefuse("unknown interactive kind %q", in.Kind)
	}
	return g, nil
}

// graphContactsFor passes shared contacts through: they are stored as
// the provider's contact objects, which is what Graph takes.
func graphContactsFor(raw json.RawMessage) (json.RawMessage, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
		return nil, graphRefuse("a contacts message needs a list of contacts")
	}
	return raw, nil
}

// graphTemplate is TemplateObject.
type graphTemplate struct {
	Name       string               `json:"name"`
	Language   graphLanguage        `json:"language"`
	Components []graphTemplateBlock `json:"components,omitempty"`
}

// graphLanguage is LanguageObject, which requires policy; "deterministic"
// is its only value.
type graphLanguage struct {
	Policy string `json:"policy"`
	Code   string `json:"code"`
}

// graphTemplateBlock is a TemplateComponent: header, body or button.
type graphTemplateBlock struct {
	Type    string `json:"type"`
	SubType string `json:"sub_type,omitempty"`
	// Index is a string in the schema ("0", "1", …).
	Index      *string      `json:"index,omitempty"`
	Parameters []graphParam `json:"parameters,omitempty"`
}

// graphParam is a ParameterObject or ButtonParameterObject.
type graphParam struct {
	Type string `json:"type"`
	// ParameterName names the parameter of a template with named
	// parameters ({{first_name}}).
	ParameterName string      `json:"parameter_name,omitempty"`
	Text          *string     `json:"text,omitempty"`
	Payload       string      `json:"payload,omitempty"`
	Image         *graphMedia `json:"image,omitempty"`
	Video         *graphMedia `json:"video,omitempty"`
	Document      *graphMedia `json:"document,omitempty"`
}

func graphTextParam(name, text string) graphParam {
	return graphParam{Type: "text", ParameterName: name, Text: &text}
}

// template builds the template object from the send's parameters and the
// template's definition (out.Template), which says whether parameters are
// named and what the header is.
func (p *Provider) template(ctx context.Context, c *graphConn, out *whatsapp.Outbound) (*graphTemplate, error) {
	tm := out.Message.Template
	if tm == nil || tm.Name == "" || tm.Language == "" {
		return nil, graphRefuse("a template message needs the template's name and language")
	}
	named := len(tm.NamedParameters) > 0 || (out.Template != nil && out.Template.ParameterFormat == "named")
	g := &graphTemplate{Name: tm.Name, Language: graphLanguage{Policy: "deterministic", Code: tm.Language}}
	if tm.Header != nil {
		h, err := p.templateHeader(ctx, c, out, named)
		if err != nil {
			return nil, err
		}
		g.Components = append(g.Components, h)
	}
	if body := graphBodyParams(tm, out.Template, named); len(body) > 0 {
		g.Components = append(g.Components, graphTemplateBlock{Type: "body", Parameters: body})
	}
	for _, b := range tm.Buttons {
		block, ok, err := graphButtonBlock(b)
		if err != nil {
			return nil, err
		}
		if ok {
			g.Components = append(g.Components, block)
		}
	}
	return g, nil
}

// templateHeader fills the header: its text parameter, or the media by
// link or, for a file uploaded to Parley (TemplateHeaderParam.MediaID, a
// Parley ID Meta cannot read), by uploading out.Media.
func (p *Provider) templateHeader(ctx context.Context, c *graphConn, out *whatsapp.Outbound, named bool) (graphTemplateBlock, error) {
	h := out.Message.Template.Header
	block := graphTemplateBlock{Type: "header"}
	if h.Type == "text" {
		name := ""
		if named && out.Template != nil && out.Template.Header != nil && len(out.Template.Header.Params) > 0 {
			name = out.Template.Header.Params[0]
		}
		block.Parameters = []graphParam{graphTextParam(name, h.Text)}
		return block, nil
	}
	var media graphMedia
	switch {
	case h.Link != "":
		media.Link = h.Link
	case out.Media != nil:
		id, err := p.upload(ctx, c, out.Media, nil)
		if err != nil {
			return block, err
		}
		media.ID = id
	default:
		return block, graphRefuse("the template's %s header needs a link or an uploaded file", h.Type)
	}
	param := graphParam{Type: h.Type}
	switch h.Type {
	case "image":
		param.Image = &media
	case "video":
		param.Video = &media
	case "document":
		media.Filename = h.Filename
		param.Document = &media
	default:
		return block, graphRefuse("unknown template header type %q", h.Type)
	}
	block.Parameters = []graphParam{param}
	return block, nil
}

// graphBodyParams lists body parameters: in order for positional
// templates; for named ones with parameter_name, in the order the
// template's body names them (or by name when the definition is unknown).
func graphBodyParams(tm *parley.TemplateMessage, def *parley.Template, named bool) []graphParam {
	var out []graphParam
	if !named {
		for _, v := range tm.Parameters {
			out = append(out, graphTextParam("", v))
		}
		return out
	}
	var order []string
	if def != nil {
		order = def.BodyParams
	}
	for name := range tm.NamedParameters {
		if !graphContains(order, name) {
			order = append(order, name)
		}
	}
	if def == nil {
		sort.Strings(order)
	}
	for _, name := range order {
		if v, ok := tm.NamedParameters[name]; ok {
			out = append(out, graphTextParam(name, v))
		}
	}
	return out
}

func graphContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// graphButtonBlock fills one button: a quick reply's payload or the
// variable end of a URL. A quick reply without payload needs no
// component (WhatsApp then returns the button text). Other button types
// take no parameters in Meta's schema.
func graphButtonBlock(b parley.TemplateButtonParam) (graphTemplateBlock, bool, error) {
	index := strconv.Itoa(b.Index)
	block := graphTemplateBlock{Type: "button", SubType: b.SubType, Index: &index}
	switch b.SubType {
	case "quick_reply":
		if b.Payload == "" {
			return block, false, nil
		}
		block.Parameters = []graphParam{{Type: "payload", Payload: b.Payload}}
	case "url":
		block.Parameters = []graphParam{graphTextParam("", b.Text)}
	default:
		return block, false, graphRefuse("template button %d: Meta takes no %q parameter", b.Index, b.SubType)
	}
	return block, true, nil
}
