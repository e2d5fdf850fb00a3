package twilio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// maxBody is Twilio's limit on Body.
const maxBody = 1600

// Send delivers one message through POST /Accounts/{sid}/Messages.json.
// Twilio answers 201 with the message queued; what WhatsApp makes of it
// (including 63016 outside the window) comes later through the status
// callback.
func (p *Provider) Send(ctx context.Context, ch *parley.Channel, out *whatsapp.Outbound) (whatsapp.SendResult, error) {
	c, err := p.conn(ch)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("twilio: send: %w", err)
	}
	form, err := p.form(ch, c, out)
	if err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("twilio: send: %w", err)
	}
	var resp struct {
		SID    string `json:"sid"`
		Status string `json:"status"`
	}
	cl := call{method: http.MethodPost, url: c.account() + "/Messages.json", body: strings.NewReader(form.Encode()),
		contentType: "application/x-www-form-urlencoded", unsafe: true}
	if err := p.doJSON(ctx, c, cl, &resp); err != nil {
		return whatsapp.SendResult{}, fmt.Errorf("twilio: send: %w", err)
	}
	if resp.SID == "" {
		return whatsapp.SendResult{}, fmt.Errorf("twilio: send: %w", whatsapp.AnswerLost("Twilio", fmt.Errorf("no message SID in the answer"), http.StatusCreated, true))
	}
	return whatsapp.SendResult{ProviderMessageID: resp.SID}, nil
}

// MarkRead does nothing. Programmable Messaging (the 2010-04-01 API this
// adapter uses) has no read receipt for WhatsApp messages: Twilio marks
// nothing as read on the customer's phone, so there is nothing to send.
func (p *Provider) MarkRead(context.Context, *parley.Channel, string) error { return nil }

// form builds the send's parameters.
func (p *Provider) form(ch *parley.Channel, c *conn, out *whatsapp.Outbound) (url.Values, error) {
	if out == nil || out.Message == nil {
		return nil, refuse("nothing to send")
	}
	m := out.Message
	to, err := recipient(out)
	if err != nil {
		return nil, err
	}
	cb, err := p.statusCallback(ch.ID, m.ID)
	if err != nil {
		return nil, err
	}
	f := url.Values{"To": {"whatsapp:" + to}, "StatusCallback": {cb}}
	if c.cfg.MessagingServiceSID != "" {
		f.Set("MessagingServiceSid", c.cfg.MessagingServiceSID)
	} else {
		if ch.PhoneNumber == "" {
			return nil, &whatsapp.Error{Kind: whatsapp.Unauthorized, Message: "the channel has no phone number to send from"}
		}
		f.Set("From", "whatsapp:"+ch.PhoneNumber)
	}
	switch m.Type {
	case parley.TypeText:
		err = setBody(f, m.Text, true)
	case parley.TypeImage, parley.TypeVideo, parley.TypeAudio, parley.TypeDocument, parley.TypeSticker:
		err = setMedia(f, out)
	case parley.TypeLocation:
		err = setLocation(f, m.Location)
	case parley.TypeTemplate:
		err = setTemplate(f, out)
	default:
		// Buttons, lists, reactions and contacts exist on Twilio only as
		// content templates (twilio/quick-reply, twilio/list-picker, …),
		// not as free-form sends.
		err = refuse("Twilio cannot send a free-form %s message; create a content template for it in Twilio's Content Template Builder", m.Type)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// statusCallback is where Twilio posts the message's statuses: the
// channel's webhook, with our message ID as the "m" parameter.
func (p *Provider) statusCallback(channelID, messageID string) (string, error) {
	base := ""
	if p.BaseURL != nil {
		base = strings.TrimRight(p.BaseURL(), "/")
	}
	if base == "" || channelID == "" || messageID == "" {
		// Without it the message's statuses would never arrive, and an
		// interrupted send could not be reconciled.
		return "", &whatsapp.Error{Kind: whatsapp.Temporary, Message: "Parley's public URL, the channel ID or the message ID is unknown, so Twilio's status callback cannot be addressed"}
	}
	return base + "/webhooks/twilio/" + url.PathEscape(channelID) + "?" + url.Values{"m": {messageID}}.Encode(), nil
}

// recipient is the customer's E.164 number.
func recipient(out *whatsapp.Outbound) (string, error) {
	if d := digits(out.ToPhone); d != "" {
		return "+" + d, nil
	}
	if d := digits(out.To.WAID); d != "" {
		return "+" + d, nil
	}
	return "", refuse("the recipient has no phone number; Twilio addresses WhatsApp users by number only")
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func setBody(f url.Values, body string, required bool) error {
	if required && strings.TrimSpace(body) == "" {
		return refuse("a text message needs text")
	}
	if n := utf8.RuneCountInString(body); n > maxBody {
		return refuse("the text has %d characters; Twilio sends at most %d", n, maxBody)
	}
	if body != "" {
		f.Set("Body", body)
	}
	return nil
}

// setMedia sets MediaUrl: Parley's signed, expiring address of an
// uploaded file, or the message's own link. Twilio fetches it. Captions go
// in Body, which WhatsApp shows under images, videos and documents.
func setMedia(f url.Values, out *whatsapp.Outbound) error {
	m := out.Message
	var link string
	switch {
	case out.Media != nil && out.Media.URL() != "":
		link = out.Media.URL()
	case m.Media != nil && m.Media.Link != "":
		link = m.Media.Link
	default:
		return refuse("a %s message needs a file or a link Twilio can fetch", m.Type)
	}
	f.Set("MediaUrl", link)
	switch m.Type {
	case parley.TypeImage, parley.TypeVideo, parley.TypeDocument:
		return setBody(f, m.Text, false)
	}
	return nil
}

// setLocation sends a place as Twilio documents for WhatsApp: a
// PersistentAction "geo:{lat},{long}|{label}" with a Body.
func setLocation(f url.Values, l *parley.Location) error {
	if l == nil {
		return refuse("a location message needs a location")
	}
	label := l.Name
	if label == "" {
		label = l.Address
	}
	action := "geo:" + strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64)
	if label != "" {
		action += "|" + label
	}
	f.Set("PersistentAction", action)
	body := strings.TrimSpace(strings.Join([]string{l.Name, l.Address}, "\n"))
	if body == "" {
		body = action[len("geo:"):]
	}
	return setBody(f, body, true)
}

// setTemplate sends a content template: ContentSid is the template's
// provider ID (HX…), and ContentVariables maps "1", "2", … (or the names
// of a named template) to the send's parameters, as a JSON string.
func setTemplate(f url.Values, out *whatsapp.Outbound) error {
	tm := out.Message.Template
	if tm == nil {
		return refuse("a template message needs its template")
	}
	if out.Template == nil || out.Template.ProviderTemplateID == "" {
		return refuse("template %q has no Twilio content SID; sync the channel's templates", tm.Name)
	}
	if tm.Header != nil || len(tm.Buttons) > 0 {
		return refuse("template %q: Twilio content templates take every variable as ContentVariables; header and button parameters are not supported", tm.Name)
	}
	f.Set("ContentSid", out.Template.ProviderTemplateID)
	vars := map[string]string{}
	for i, v := range tm.Parameters {
		vars[strconv.Itoa(i+1)] = v
	}
	for k, v := range tm.NamedParameters {
		vars[k] = v
	}
	if len(vars) == 0 {
		return nil
	}
	b, err := json.Marshal(vars)
	if err != nil {
		return refuse("template variables: %v", err)
	}
	f.Set("ContentVariables", string(b))
	return nil
}
