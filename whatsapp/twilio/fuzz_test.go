package twilio

import (
	"net/url"
	"testing"

	"github.com/parleyhq/parley"
)

// FuzzParseWebhook feeds arbitrary form bodies and queries. Parsing must
// never panic, and whatever it returns must be usable by the core: every
// message has a provider ID and a type, every status a known status.
func FuzzParseWebhook(f *testing.F) {
	f.Add("m=msg_1", "MessageSid=SM1&MessageStatus=delivered")
	f.Add("", "MessageSid=SM1&From=whatsapp%3A%2B1555&Body=hi&NumMedia=0")
	f.Add("", "MessageSid=MM1&NumMedia=3&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2FME0&MediaContentType0=image%2Fjpeg&MediaUrl2=x")
	f.Add("", "MessageSid=SM1&Latitude=1e400&Longitude=NaN")
	f.Add("", "SmsSid=SM1&ButtonPayload=%00&NumMedia=-5")
	f.Add("m=", "MessageSid=SM1&MessageStatus=failed&ErrorCode=abc")
	f.Fuzz(func(t *testing.T, query, body string) {
		q, _ := url.ParseQuery(query)
		form, _ := url.ParseQuery(body)
		b, err := ParseWebhook(q, form)
		if err != nil {
			if b != nil {
				t.Fatal("a batch with an error")
			}
			return
		}
		if b.Len() == 0 {
			t.Fatal("an empty batch without an error")
		}
		for _, m := range b.Messages {
			if m.Content.ProviderMessageID == "" || m.Content.Type == "" {
				t.Fatalf("message without ID or type: %+v", m.Content)
			}
			if m.Content.Type.IsMedia() && (m.Content.Media == nil || m.Content.Media.Link == "") {
				t.Fatalf("media message without a link: %+v", m.Content)
			}
		}
		for _, st := range b.Statuses {
			if st.Status.Rank() < 0 || st.ProviderMessageID == "" {
				t.Fatalf("bad status %+v", st)
			}
			if st.Status == parley.StatusFailed && st.Error == nil {
				t.Fatalf("failed without an error: %+v", st)
			}
		}
	})
}
