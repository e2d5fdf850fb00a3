package twilio

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/specs"
)

// hookParams are the lists of testdata/specs/twilio/webhook-parameters.json.
// Its keys carry notes ("documented_common (names per …)"), so lists are
// found by the key's first word.
type hookParams struct {
	Inbound struct{ Confirmed, Common, WhatsApp []string }
	Status  struct{ Values, Observed []string }
}

func loadHookParams(t *testing.T) hookParams {
	var sections struct {
		Inbound map[string]json.RawMessage `json:"inbound_message_webhook"`
		Status  map[string]json.RawMessage `json:"status_callback"`
	}
	if err := json.Unmarshal(specs.Read(t, "twilio", "webhook-parameters.json"), &sections); err != nil {
		t.Fatal(err)
	}
	file := map[string]map[string]json.RawMessage{"inbound_message_webhook": sections.Inbound, "status_callback": sections.Status}
	list := func(section, prefix string) []string {
		for k, raw := range file[section] {
			if strings.HasPrefix(k, prefix) {
				var out []string
				if json.Unmarshal(raw, &out) == nil {
					return out
				}
			}
		}
		return nil
	}
	var p hookParams
	p.Inbound.Confirmed = list("inbound_message_webhook", "confirmed_in_doc_excerpts")
	p.Inbound.Common = list("inbound_message_webhook", "documented_common")
	p.Inbound.WhatsApp = list("inbound_message_webhook", "whatsapp_specific")
	p.Status.Values = list("status_callback", "MessageStatus_values")
	p.Status.Observed = list("status_callback", "observed_whatsapp_fields")
	if len(p.Inbound.Confirmed) == 0 || len(p.Inbound.Common) == 0 || len(p.Inbound.WhatsApp) == 0 || len(p.Status.Values) == 0 || len(p.Status.Observed) == 0 {
		t.Fatal("webhook-parameters.json lost its lists; the keys changed")
	}
	return p
}

// paramName turns "MediaUrl{N}" or "ChannelPrefix (=whatsapp)" into the
// parameter's name for item 0.
func paramName(s string) string {
	s, _, _ = strings.Cut(s, " ")
	return strings.ReplaceAll(s, "{N}", "0")
}

// sampleValue is a plausible value for each documented parameter.
func sampleValue(name string) string {
	switch name {
	case "MessageSid", "SmsMessageSid", "SmsSid":
		return "SM" + strings.Repeat("a", 32)
	case "AccountSid":
		return "AC" + strings.Repeat("b", 32)
	case "MessagingServiceSid":
		return "MG" + strings.Repeat("c", 32)
	case "From":
		return "whatsapp:+14155550111"
	case "To":
		return "whatsapp:+14155550100"
	case "WaId":
		return "14155550111"
	case "NumMedia", "ReferralNumMedia":
		return "0"
	case "NumSegments":
		return "1"
	case "Latitude", "Longitude":
		return "" // set by the location case
	case "Forwarded", "FrequentlyForwarded":
		return "true"
	case "OriginalRepliedMessageSid":
		return "SM" + strings.Repeat("d", 32)
	case "MediaUrl0", "MediaContentType0":
		return "" // set by the media case
	case "ReferralMediaContentType":
		return "image/jpeg"
	case "ButtonText", "ButtonPayload":
		return "" // set by the button case
	}
	return "value of " + name
}

// TestParseInboundDocumentedParams builds an inbound webhook carrying
// every parameter webhook-parameters.json names, and checks each one
// Parley uses lands in the message.
func TestParseInboundDocumentedParams(t *testing.T) {
	p := loadHookParams(t)
	form := url.Values{}
	for _, list := range [][]string{p.Inbound.Confirmed, p.Inbound.Common, p.Inbound.WhatsApp} {
		for _, n := range list {
			if v := sampleValue(paramName(n)); v != "" {
				form.Set(paramName(n), v)
			}
		}
	}
	form.Set("Body", "Hello")
	b, err := ParseWebhook(nil, form)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Messages) != 1 || len(b.Statuses) != 0 {
		t.Fatalf("batch %+v", b)
	}
	m := b.Messages[0]
	c := m.Content
	checks := []struct {
		what      string
		got, want any
	}{
		{"type", c.Type, parley.TypeText},
		{"text", c.Text, "Hello"},
		{"id", c.ProviderMessageID, "SM" + strings.Repeat("a", 32)},
		{"waid", m.Contact.WAID, "14155550111"},
		{"profile", m.Contact.ProfileName, "value of ProfileName"},
		{"account", m.Account, "AC" + strings.Repeat("b", 32) + "/+14155550100"},
		{"reply to", c.Context != nil && c.Context.ReplyToProviderID == "SM"+strings.Repeat("d", 32), true},
		{"forwarded", c.Context != nil && c.Context.Forwarded && c.Context.FrequentlyForwarded, true},
		{"referral", c.Referral != nil && c.Referral.SourceURL == "value of ReferralSourceUrl" && c.Referral.CTWAClickID == "value of ReferralCtwaClid" && c.Referral.ImageURL == "value of ReferralMediaUrl", true},
		{"direction", c.Direction, parley.Inbound},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.what, ck.got, ck.want)
		}
	}
}

func TestParseInboundKinds(t *testing.T) {
	base := func(extra map[string]string) url.Values {
		f := url.Values{"MessageSid": {"SM1"}, "AccountSid": {"AC1"}, "From": {"whatsapp:+15550001"}, "To": {"whatsapp:+15550002"}, "NumMedia": {"0"}, "SmsStatus": {"received"}}
		for k, v := range extra {
			f.Set(k, v)
		}
		return f
	}
	cases := []struct {
		name  string
		form  url.Values
		check func(t *testing.T, c parley.Message)
	}{
		{"media with caption", base(map[string]string{"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME123", "MediaContentType0": "image/jpeg", "Body": "look"}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeImage || c.Text != "look" || c.Media == nil || c.Media.ProviderMediaID != "ME123" || c.Media.MIMEType != "image/jpeg" || !strings.HasSuffix(c.Media.Link, "/ME123") {
					t.Errorf("%+v %+v", c, c.Media)
				}
			}},
		{"voice note", base(map[string]string{"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x/ME1", "MediaContentType0": "audio/ogg"}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeAudio || !c.Media.Voice {
					t.Errorf("%+v", c)
				}
			}},
		{"pdf", base(map[string]string{"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/x/ME2", "MediaContentType0": "application/pdf"}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeDocument {
					t.Errorf("%+v", c)
				}
			}},
		{"location", base(map[string]string{"Latitude": "52.52", "Longitude": "13.405", "Address": "Pariser Platz", "Label": "Brandenburger Tor", "Body": ""}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeLocation || c.Location == nil || c.Location.Latitude != 52.52 || c.Location.Longitude != 13.405 || c.Location.Name != "Brandenburger Tor" || c.Location.Address != "Pariser Platz" {
					t.Errorf("%+v %+v", c, c.Location)
				}
			}},
		{"bad location", base(map[string]string{"Latitude": "north", "Longitude": "13"}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeUnsupported || c.Unsupported == nil {
					t.Errorf("%+v", c)
				}
			}},
		{"button", base(map[string]string{"ButtonPayload": "yes_please", "ButtonText": "Yes", "Body": "Yes"}),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeButton || c.Reply == nil || c.Reply.Payload != "yes_please" || c.Reply.Title != "Yes" || c.Reply.Kind != "button" {
					t.Errorf("%+v %+v", c, c.Reply)
				}
			}},
		{"empty", base(nil),
			func(t *testing.T, c parley.Message) {
				if c.Type != parley.TypeUnsupported || len(c.Unsupported.Raw) == 0 {
					t.Errorf("%+v", c)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseWebhook(nil, tc.form)
			if err != nil || len(b.Messages) != 1 {
				t.Fatalf("%v %+v", err, b)
			}
			tc.check(t, b.Messages[0].Content)
		})
	}
}

func TestParseSeveralMedia(t *testing.T) {
	f := url.Values{"MessageSid": {"MM1"}, "From": {"whatsapp:+15550001"}, "NumMedia": {"2"},
		"MediaUrl0": {"https://api.twilio.com/a/ME0"}, "MediaContentType0": {"image/png"},
		"MediaUrl1": {"https://api.twilio.com/a/ME1"}, "MediaContentType1": {"video/mp4"}}
	b, err := ParseWebhook(nil, f)
	if err != nil || len(b.Messages) != 2 {
		t.Fatalf("%v %+v", err, b)
	}
	if b.Messages[1].Content.ProviderMessageID != "MM1/1" || b.Messages[1].Content.Type != parley.TypeVideo {
		t.Errorf("second file: %+v", b.Messages[1].Content)
	}
}

// TestParseStatusValues checks every MessageStatus Twilio's document
// lists: the outbound ones become status updates, the inbound ones
// (receiving, received) are read as messages, none is an error.
func TestParseStatusValues(t *testing.T) {
	p := loadHookParams(t)
	want := map[string]parley.Status{
		"queued": parley.StatusSent, "sending": parley.StatusSent, "sent": parley.StatusSent, "accepted": parley.StatusSent, "scheduled": parley.StatusSent,
		"delivered": parley.StatusDelivered, "partially_delivered": parley.StatusDelivered, "read": parley.StatusRead,
		"failed": parley.StatusFailed, "undelivered": parley.StatusFailed, "canceled": parley.StatusFailed,
	}
	for _, v := range p.Status.Values {
		form := url.Values{}
		for _, n := range p.Status.Observed {
			form.Set(paramName(n), sampleValue(paramName(n)))
		}
		form.Set("MessageStatus", v)
		form.Set("SmsStatus", v)
		form.Set("ErrorCode", "")
		b, err := ParseWebhook(url.Values{"m": {"msg_123"}}, form)
		if err != nil {
			t.Errorf("%s: %v", v, err)
			continue
		}
		if v == "receiving" || v == "received" {
			if len(b.Messages) != 1 {
				t.Errorf("%s: %+v, want an inbound message", v, b)
			}
			continue
		}
		if len(b.Statuses) != 1 {
			t.Errorf("%s: %+v, want a status", v, b)
			continue
		}
		st := b.Statuses[0]
		if st.Status != want[v] || st.CallbackData != "msg_123" || st.ProviderMessageID != sampleValue("MessageSid") || st.Recipient.WAID != "14155550100" {
			t.Errorf("%s: %+v", v, st)
		}
		if (st.Status == parley.StatusFailed) != (st.Error != nil) {
			t.Errorf("%s: error %+v", v, st.Error)
		}
	}
}

func TestParseStatusErrors(t *testing.T) {
	cases := map[string]string{"63016": "outside_window", "63018": "rate_limited", "63003": "rejected", "30008": "rejected", "20003": "unauthorized"}
	for code, reason := range cases {
		f := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "ErrorCode": {code}, "ErrorMessage": {"text " + code}}
		b, err := ParseWebhook(url.Values{"m": {"msg_1"}}, f)
		if err != nil || len(b.Statuses) != 1 {
			t.Fatalf("%s: %v %+v", code, err, b)
		}
		e := b.Statuses[0].Error
		if e == nil || e.Code != code || e.Reason != reason || e.Message != "text "+code {
			t.Errorf("%s: %+v, want reason %s", code, e, reason)
		}
	}
}

func TestParseUnknownStatusAndJunk(t *testing.T) {
	b, err := ParseWebhook(nil, url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"teleported"}})
	if err != nil || len(b.Unhandled) != 1 || len(b.Statuses) != 0 {
		t.Errorf("unknown status: %v %+v", err, b)
	}
	if _, err := ParseWebhook(nil, url.Values{"Body": {"hi"}}); err != ErrNotTwilio {
		t.Errorf("no MessageSid: %v", err)
	}
}
