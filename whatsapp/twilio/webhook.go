package twilio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/whatsapp"
)

// statuses maps Twilio's MessageStatus to Parley's. Every state before
// delivery means Twilio holds the message, which is what "sent" means to
// Parley (Meta's "sent" is the same step: the provider has it). Twilio
// does not call back for the initial status (queued or accepted), but may
// for the others.
var statuses = map[string]parley.Status{
	"queued":              parley.StatusSent,
	"accepted":            parley.StatusSent,
	"scheduled":           parley.StatusSent,
	"sending":             parley.StatusSent,
	"sent":                parley.StatusSent,
	"delivered":           parley.StatusDelivered,
	"partially_delivered": parley.StatusDelivered,
	"read":                parley.StatusRead,
	"failed":              parley.StatusFailed,
	"undelivered":         parley.StatusFailed,
	"canceled":            parley.StatusFailed,
}

// ErrNotTwilio is returned for a form that is neither an inbound message
// nor a status callback.
var ErrNotTwilio = errors.New("twilio: the webhook is neither a message nor a status callback (no MessageSid)")

// ParseWebhook reads one Twilio webhook: an inbound message ("A message
// comes in") or a status callback. query is the webhook URL's query: the
// "m" parameter Parley put in the StatusCallback is our message ID, and
// comes back as StatusUpdate.CallbackData. Parameters Parley does not
// use are ignored; Twilio adds new ones without notice.
func ParseWebhook(query, form url.Values) (*whatsapp.Batch, error) {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	if sid == "" {
		return nil, ErrNotTwilio
	}
	b := &whatsapp.Batch{}
	status := strings.ToLower(form.Get("MessageStatus"))
	if status != "" && status != "received" && status != "receiving" {
		st, ok := statusUpdate(sid, status, query, form)
		if !ok {
			raw, _ := json.Marshal(form)
			b.Unhandled = append(b.Unhandled, whatsapp.Unhandled{Account: account(form, "From"), Field: "status", Reason: fmt.Sprintf("unknown MessageStatus %q", status), Raw: raw})
			return b, nil
		}
		b.Statuses = append(b.Statuses, st)
		return b, nil
	}
	b.Messages = inbound(sid, form)
	return b, nil
}

// account names the business number as the channel's AccountID does:
// the account SID, a slash and the E.164 number.
func account(form url.Values, field string) string {
	num := address(form.Get(field))
	if num == "" || form.Get("AccountSid") == "" {
		return ""
	}
	return form.Get("AccountSid") + "/" + num
}

// address strips the channel prefix ("whatsapp:+1…" → "+1…").
func address(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

func statusUpdate(sid, status string, query, form url.Values) (whatsapp.StatusUpdate, bool) {
	s, ok := statuses[status]
	if !ok {
		return whatsapp.StatusUpdate{}, false
	}
	st := whatsapp.StatusUpdate{
		Account:           account(form, "From"),
		ProviderMessageID: sid,
		Status:            s,
		Recipient:         whatsapp.Contact{WAID: digits(address(form.Get("To")))},
		CallbackData:      query.Get("m"),
	}
	if code := form.Get("ErrorCode"); code != "" && code != "0" {
		st.Error = statusError(code, form.Get("ErrorMessage"))
	} else if s == parley.StatusFailed {
		st.Error = &parley.MessageError{Code: status, Reason: whatsapp.Rejected.String(), Message: "Twilio reports the message " + status}
	}
	return st, true
}

// statusError is a callback's ErrorCode, read with the same table as API
// errors, so 63016 reads outside_window here too.
func statusError(code, message string) *parley.MessageError {
	kind := whatsapp.Rejected
	if n, err := strconv.Atoi(code); err == nil {
		if k, ok := kindOf(n); ok {
			kind = k
		}
	}
	return &parley.MessageError{Code: code, Reason: kind.String(), Message: message,
		Details: "https://www.twilio.com/docs/errors/" + url.PathEscape(code)}
}

// inbound maps an incoming message. WhatsApp carries one file per
// message; should Twilio list several, each further file becomes its own
// message ("{sid}/{n}") so nothing is dropped.
func inbound(sid string, form url.Values) []whatsapp.Message {
	from := address(form.Get("From"))
	wm := whatsapp.Message{
		Account:      account(form, "To"),
		AccountPhone: digits(address(form.Get("To"))),
		Contact: whatsapp.Contact{
			WAID:        firstNonEmpty(digits(form.Get("WaId")), digits(from)),
			ProfileName: form.Get("ProfileName"),
		},
	}
	c := parley.Message{
		Direction:         parley.Inbound,
		Status:            parley.StatusReceived,
		SentBy:            parley.Actor{Kind: parley.ActorContact},
		ProviderMessageID: sid,
		Context:           replyContext(form),
		Referral:          referral(form),
	}
	n, _ := strconv.Atoi(form.Get("NumMedia"))
	n = min(max(n, 0), 10)
	switch {
	case n > 0 && form.Get("MediaUrl0") != "":
		setMedia0(&c, form, 0)
		c.Text = form.Get("Body")
	case form.Get("Latitude") != "" && form.Get("Longitude") != "":
		setLocationIn(&c, form)
	case form.Get("ButtonPayload") != "" || form.Get("ButtonText") != "":
		c.Type, c.Text = parley.TypeButton, form.Get("ButtonText")
		c.Reply = &parley.Reply{Kind: "button", Payload: form.Get("ButtonPayload"), Title: form.Get("ButtonText")}
	case form.Get("ListId") != "":
		c.Type = parley.TypeInteractive
		c.Reply = &parley.Reply{Kind: "list_reply", ID: form.Get("ListId"), Title: form.Get("ListTitle")}
	case form.Get("Body") != "":
		c.Type, c.Text = parley.TypeText, form.Get("Body")
	default:
		raw, _ := json.Marshal(form)
		c.Type = parley.TypeUnsupported
		c.Unsupported = &parley.Unsupported{Reason: "a message with no body, media, location or button (MessageType " + strconv.Quote(form.Get("MessageType")) + ")", Raw: raw}
	}
	wm.Content = c
	out := []whatsapp.Message{wm}
	for i := 1; i < n; i++ {
		if form.Get("MediaUrl"+strconv.Itoa(i)) == "" {
			continue
		}
		extra := wm
		extra.Content = parley.Message{Direction: parley.Inbound, Status: parley.StatusReceived, SentBy: c.SentBy,
			ProviderMessageID: sid + "/" + strconv.Itoa(i)}
		setMedia0(&extra.Content, form, i)
		out = append(out, extra)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// setMedia0 sets the i-th file: its MediaUrl is the link FetchMedia
// downloads, and its last path segment (ME…) the provider's media ID.
func setMedia0(c *parley.Message, form url.Values, i int) {
	n := strconv.Itoa(i)
	link, mimeType := form.Get("MediaUrl"+n), form.Get("MediaContentType"+n)
	c.Media = &parley.Media{Link: link, MIMEType: mimeType}
	if u, err := url.Parse(link); err == nil {
		c.Media.ProviderMediaID = path.Base(u.Path)
	}
	c.Type = mediaType(mimeType)
	if c.Type == parley.TypeAudio && strings.Contains(mimeType, "ogg") {
		c.Media.Voice = true // WhatsApp voice notes are Ogg Opus
	}
}

func mediaType(mimeType string) parley.MessageType {
	mt := strings.ToLower(mimeType)
	switch {
	case mt == "image/webp":
		return parley.TypeSticker
	case strings.HasPrefix(mt, "image/"):
		return parley.TypeImage
	case strings.HasPrefix(mt, "video/"):
		return parley.TypeVideo
	case strings.HasPrefix(mt, "audio/"):
		return parley.TypeAudio
	}
	return parley.TypeDocument
}

func setLocationIn(c *parley.Message, form url.Values) {
	lat, err1 := strconv.ParseFloat(form.Get("Latitude"), 64)
	lon, err2 := strconv.ParseFloat(form.Get("Longitude"), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		raw, _ := json.Marshal(form)
		c.Type = parley.TypeUnsupported
		c.Unsupported = &parley.Unsupported{Reason: "a location with unreadable coordinates", Raw: raw}
		return
	}
	c.Type = parley.TypeLocation
	c.Location = &parley.Location{Latitude: lat, Longitude: lon, Name: form.Get("Label"), Address: form.Get("Address")}
	if c.Location.Name == "" && form.Get("Body") != "" && form.Get("Body") != c.Location.Address {
		c.Location.Name = form.Get("Body")
	}
}

func replyContext(form url.Values) *parley.Context {
	c := &parley.Context{
		ReplyToProviderID:   form.Get("OriginalRepliedMessageSid"),
		Forwarded:           strings.EqualFold(form.Get("Forwarded"), "true"),
		FrequentlyForwarded: strings.EqualFold(form.Get("FrequentlyForwarded"), "true"),
	}
	if *c == (parley.Context{}) {
		return nil
	}
	return c
}

func referral(form url.Values) *parley.Referral {
	r := &parley.Referral{
		SourceURL: form.Get("ReferralSourceUrl"), SourceID: form.Get("ReferralSourceId"),
		SourceType: form.Get("ReferralSourceType"), Headline: form.Get("ReferralHeadline"),
		Body: form.Get("ReferralBody"), CTWAClickID: form.Get("ReferralCtwaClid"),
	}
	if u := form.Get("ReferralMediaUrl"); u != "" {
		ct := form.Get("ReferralMediaContentType")
		r.MediaType = ct
		if strings.HasPrefix(ct, "video/") {
			r.VideoURL = u
		} else {
			r.ImageURL = u
		}
	}
	if *r == (parley.Referral{}) {
		return nil
	}
	return r
}
