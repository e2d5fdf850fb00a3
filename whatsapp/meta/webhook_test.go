package meta

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/specs"
	"github.com/parleyhq/parley/whatsapp"
)

// The tests below compare every parsed event, projected onto the fields
// the adapter is responsible for, with an expectation written by reading
// each spec file. A field the adapter sets but the expectation does not
// name fails the test as surely as a missing one.

type wantBatch struct {
	Messages  []wantMsg
	Statuses  []wantStatus
	Templates []wantTemplate
	Unhandled []wantUnhandled
}

type wantMsg struct {
	Account, AccountPhone string
	Echo                  bool
	Contact               whatsapp.Contact
	Dir                   parley.Direction
	Status                parley.Status
	SentBy                parley.ActorKind
	Type                  parley.MessageType
	ID                    string // "synthetic" stands for the ID derived from the file's message bytes
	Unix                  int64
	Text                  string
	Media                 *parley.Media
	Location              *parley.Location
	Contacts              string // compact JSON
	Reply                 *wantReply
	Reaction              *parley.Reaction
	Order                 string // compact JSON
	System                *parley.System
	Referral              *parley.Referral
	Context               *parley.Context
	Revises               string
	Unsupported           string // the reason
	Errors                []parley.MessageError
}

type wantReply struct {
	Kind, ID, Title, Description, Payload string
	ResponseJSON                          string // compact JSON
}

type wantStatus struct {
	Account, ID  string
	Status       parley.Status
	Unix         int64
	Recipient    whatsapp.Contact
	Error        *parley.MessageError
	Pricing      string
	Billable     string // "", "true" or "false"
	CallbackData string
}

type wantTemplate struct {
	BusinessAccount, ID, Name, Language, Status, Category, Reason string
	Unix                                                          int64
}

type wantUnhandled struct {
	Account, Field, Reason string
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return b.String()
}

func unixOf(t *testing.T, ts time.Time) int64 {
	t.Helper()
	if ts.IsZero() {
		return 0
	}
	if ts.Location() != time.UTC {
		t.Errorf("timestamp %v is not UTC", ts)
	}
	return ts.Unix()
}

func project(t *testing.T, b *whatsapp.Batch) wantBatch {
	t.Helper()
	var w wantBatch
	for _, m := range b.Messages {
		c := m.Content
		pm := wantMsg{
			Account: m.Account, AccountPhone: m.AccountPhone, Echo: m.Echo, Contact: m.Contact,
			Dir: c.Direction, Status: c.Status, SentBy: c.SentBy.Kind, Type: c.Type,
			ID: c.ProviderMessageID, Unix: unixOf(t, c.Timestamp), Text: c.Text,
			Media: c.Media, Location: c.Location, Contacts: compactJSON(t, c.Contacts),
			Reaction: c.Reaction, Order: compactJSON(t, c.Order), System: c.System,
			Referral: c.Referral, Context: c.Context, Revises: c.Revises, Errors: m.Errors,
		}
		if r := c.Reply; r != nil {
			pm.Reply = &wantReply{r.Kind, r.ID, r.Title, r.Description, r.Payload, compactJSON(t, r.ResponseJSON)}
		}
		if u := c.Unsupported; u != nil {
			pm.Unsupported = u.Reason
			if !json.Valid(u.Raw) {
				t.Errorf("message %s: Unsupported.Raw is not JSON: %q", c.ProviderMessageID, u.Raw)
			}
		}
		if c.Type == parley.TypeUnsupported && c.Unsupported == nil {
			t.Errorf("message %s is unsupported without saying why", c.ProviderMessageID)
		}
		w.Messages = append(w.Messages, pm)
	}
	for _, s := range b.Statuses {
		ps := wantStatus{
			Account: s.Account, ID: s.ProviderMessageID, Status: s.Status, Unix: unixOf(t, s.Timestamp),
			Recipient: s.Recipient, Error: s.Error, Pricing: s.PricingCategory, CallbackData: s.CallbackData,
		}
		if s.Billable != nil {
			ps.Billable = map[bool]string{true: "true", false: "false"}[*s.Billable]
		}
		w.Statuses = append(w.Statuses, ps)
	}
	for _, u := range b.Templates {
		w.Templates = append(w.Templates, wantTemplate{
			u.BusinessAccount, u.ProviderTemplateID, u.Name, u.Language, u.Status, u.Category, u.Reason,
			unixOf(t, u.Timestamp),
		})
	}
	for _, u := range b.Unhandled {
		if len(u.Raw) > 0 && !json.Valid(u.Raw) {
			t.Errorf("unhandled %q: Raw is not JSON: %q", u.Reason, u.Raw)
		}
		w.Unhandled = append(w.Unhandled, wantUnhandled{u.Account, u.Field, u.Reason})
	}
	return w
}

func asJSON(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func compareBatch(t *testing.T, got, want wantBatch) {
	t.Helper()
	cmpList(t, "message", got.Messages, want.Messages)
	cmpList(t, "status", got.Statuses, want.Statuses)
	cmpList(t, "template", got.Templates, want.Templates)
	cmpList(t, "unhandled", got.Unhandled, want.Unhandled)
}

func cmpList[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d:\ngot  %s", len(got), what, len(want), asJSON(got))
		return
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s %d:\ngot  %s\nwant %s", what, i, asJSON(got[i]), asJSON(want[i]))
		}
	}
}

// Accounts and people the spec files use again and again.
var (
	pywaAccount = [2]string{"1122334455667", "972123456789"}
	metaAccount = [2]string{"106540352242922", "15550783881"}
	noAccount   = [2]string{"", ""}
	pywaContact = whatsapp.Contact{WAID: "972987654321", BSUID: "US.13491208655302741918", ParentBSUID: "US.ENT.11815799212886844830", ProfileName: "Test Name"}
	sheena      = whatsapp.Contact{WAID: "16505551234", ProfileName: "Sheena Nelson"}
	sojan       = whatsapp.Contact{WAID: "2423423243", ProfileName: "Sojan Jose"}
)

const (
	metaMediaURL = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133..."
	metaDocID    = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
	metaRevised  = "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
	rejectReason = "INVALID_FORMAT — Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation between them. — Recommendation: Separate parameters with descriptive text and ensure each parameter is clearly contextualized."
)

// in is an inbound message with the fields every one has; edit adds the rest.
func in(acct [2]string, who whatsapp.Contact, id string, unix int64, typ parley.MessageType, edit func(*wantMsg)) wantMsg {
	m := wantMsg{
		Account: acct[0], AccountPhone: acct[1], Contact: who,
		Dir: parley.Inbound, Status: parley.StatusReceived, SentBy: parley.ActorContact,
		Type: typ, ID: id, Unix: unix,
	}
	if edit != nil {
		edit(&m)
	}
	return m
}

// echo is a message the business sent from the WhatsApp Business app.
func echo(acct [2]string, to whatsapp.Contact, id string, unix int64, typ parley.MessageType, edit func(*wantMsg)) wantMsg {
	m := in(acct, to, id, unix, typ, edit)
	m.Echo, m.Dir, m.Status, m.SentBy = true, parley.Outbound, parley.StatusSent, parley.ActorPhoneApp
	return m
}

func msgs(m ...wantMsg) wantBatch { return wantBatch{Messages: m} }

func status(acct [2]string, id string, st parley.Status, unix int64, to whatsapp.Contact, edit func(*wantStatus)) wantBatch {
	s := wantStatus{Account: acct[0], ID: id, Status: st, Unix: unix, Recipient: to}
	if edit != nil {
		edit(&s)
	}
	return wantBatch{Statuses: []wantStatus{s}}
}

func pywaStatus(st parley.Status, unix int64, edit func(*wantStatus)) wantBatch {
	return status(pywaAccount, "wamid.xyzxyz", st, unix, pywaContact, func(s *wantStatus) {
		s.Pricing, s.Billable = "service", "true"
		if edit != nil {
			edit(s)
		}
	})
}

func text(s string) func(*wantMsg) { return func(m *wantMsg) { m.Text = s } }

func replyTo(id string) *parley.Context { return &parley.Context{ReplyToProviderID: id} }

var forwarded = &parley.Context{Forwarded: true}

var unknownTypeErrors = []parley.MessageError{{Code: "131051", Title: "Message type unknown", Message: "Message type unknown", Details: "Message type is currently not supported."}}

// webhookWants holds one expectation per spec body, keyed by its file
// under testdata/specs/meta (openapi request examples by their name).
var webhookWants = map[string]wantBatch{
	// --- community fixtures ---------------------------------------------
	"community-fixtures/chatwoot-360dialog-onprem-template-button-no-payload.json": msgs(
		in(noAccount, sojan, "SDFADSf23sfasdafasdfa", 1633034394, parley.TypeButton, func(m *wantMsg) {
			m.Text = "Yes this is a button"
			m.Reply = &wantReply{Kind: "button", Title: "Yes this is a button"}
		})),
	"community-fixtures/chatwoot-360dialog-onprem-text-no-envelope.json": msgs(
		in(noAccount, sojan, "SDFADSf23sfasdafasdfa", 1633034394, parley.TypeText, text("Test"))),
	"community-fixtures/chatwoot-cloud-document-accented-filename.json": msgs(
		in(noAccount, sojan, "synthetic", 1664799904, parley.TypeDocument, func(m *wantMsg) {
			m.Text = "My résumé"
			m.Media = &parley.Media{ProviderMediaID: "b1c68f38-8734-4ad3-b4a1-ef0c10d683", MIMEType: "application/pdf", Filename: "Currículum café.pdf"}
		})),
	"community-fixtures/chatwoot-cloud-echo-smb-text-bsuid.json": msgs(
		echo(noAccount, whatsapp.Contact{WAID: "919745786257", BSUID: "IN.2081978709342942"},
			"wamid.cloud-echo-first-event", 1778579585, parley.TypeText, text("first contact by echo"))),
	"community-fixtures/chatwoot-cloud-image-media-download-error.json": msgs(
		in(noAccount, sojan, "synthetic", 1664799904, parley.TypeImage, func(m *wantMsg) {
			m.Text = "Check out my product!"
			m.Media = &parley.Media{ProviderMediaID: "b1c68f38-8734-4ad3-b4a1-ef0c10d683", MIMEType: "image/jpeg"}
			m.Errors = []parley.MessageError{{
				Code:    "400",
				Title:   "Media download failed: Not retrying as download is not retriable at this time",
				Details: "Last error was: ServerThrottle. Http request error: HTTP response code said error. See logs for details",
			}}
		})),
	"community-fixtures/chatwoot-cloud-interactive-nfm-reply-flow.json": msgs(
		in(noAccount, whatsapp.Contact{WAID: "2423423243", ProfileName: "Flow Contact"}, "wamid.flow-response-message", 1664799904, parley.TypeInteractive, func(m *wantMsg) {
			m.Context = replyTo("wamid.original-flow-message")
			m.Reply = &wantReply{Kind: "nfm_reply", Title: "flow", Description: "Sent",
				ResponseJSON: `{"flow_token":"flow-correlation-token","rating":"excellent","comments":"Great support","appointment":{"day":"Monday","windows":["morning","afternoon"]}}`}
		})),
	"community-fixtures/chatwoot-cloud-text-bsuid-only-no-phone.json": msgs(
		in(noAccount, whatsapp.Contact{BSUID: "IN.2081978709342942", ParentBSUID: "IN.ENT.9081726354", ProfileName: "Muhsin", Username: "muhsin"},
			"wamid.cloud-bsuid-only-message", 1778579582, parley.TypeText, text("testing bsuid"))),
	"community-fixtures/chatwoot-cloud-text-ctwa-referral-video.json": msgs(
		in(noAccount, whatsapp.Contact{WAID: "255718573302", BSUID: "TZ.1040042605869930", ProfileName: "Mom"}, "wamid.CTWA_REFERRAL_MESSAGE", 1780649766, parley.TypeText, func(m *wantMsg) {
			m.Text = "Hello nielekeze"
			m.Referral = &parley.Referral{
				SourceURL: "https://fb.me/3TYpooaRT", SourceID: "52558118838064", SourceType: "ad",
				Body: "washa data tu", Headline: "Diana Digital", MediaType: "video",
				VideoURL: "https://www.facebook.com/reel/1438165771395493/", ThumbnailURL: "https://scontent.xx.fbcdn.net/sample.jpg",
				CTWAClickID: "AfhcQdP2E4A8wWpeb1FqUzUi", WelcomeMessage: "Hi! Please let us know how we can help you.",
			}
		})),
	// The placeholders are verbatim: the recipient does not match the
	// listed contact, so only what the echo itself says is used.
	"community-fixtures/echo-smb-message-echoes-text.json": msgs(
		echo(pywaAccount, whatsapp.Contact{WAID: "<WHATSAPP_USER_PHONE_NUMBER>", BSUID: "<BSUID>", ParentBSUID: "<PARENT_BSUID>"},
			"<WHATSAPP_MESSAGE_ID>", 1697043223, parley.TypeText, text("Test message"))),
	"community-fixtures/inbound-audio-voice-note.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043473, parley.TypeAudio, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "1234567890987654321", MIMEType: "audio/ogg; codecs=opus", Voice: true}
		})),
	"community-fixtures/inbound-contacts.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044621, parley.TypeContacts, func(m *wantMsg) {
			m.Contacts = `[{"name":{"first_name":"Chandler","last_name":"Bing","formatted_name":"Chandler Bing"},"phones":[{"phone":"+1 555-555-5555","wa_id":"972987654321","type":"CELL"}]},` +
				`{"name":{"first_name":"Monica","formatted_name":"Monica"},"phones":[{"phone":"+1 666-666-6666","wa_id":"972987654321","type":"HOME"}]},` +
				`{"name":{"first_name":"Rachel","last_name":"Green","formatted_name":"Rachel Green"},"phones":[{"phone":"+1 777-777-7777","wa_id":"972987654321","type":"WORK"}]}]`
		})),
	"community-fixtures/inbound-document.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043666, parley.TypeDocument, func(m *wantMsg) {
			m.Context = forwarded
			m.Text = "caption"
			m.Media = &parley.Media{ProviderMediaID: "1234567890987654321", MIMEType: "application/pdf", Filename: "filename.pdf"}
		})),
	"community-fixtures/inbound-image-no-caption.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043379, parley.TypeImage, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "65463453", MIMEType: "image/jpeg"}
		})),
	"community-fixtures/inbound-interactive-button-reply.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1698266730, parley.TypeInteractive, func(m *wantMsg) {
			m.Context = replyTo("wamid.xyzxyz")
			m.Reply = &wantReply{Kind: "button_reply", ID: "callback_data", Title: "title"}
		})),
	"community-fixtures/inbound-interactive-list-reply.json": msgs(
		in(pywaAccount, pywaContact, "wamid.zyzxyz", 1698266905, parley.TypeInteractive, func(m *wantMsg) {
			m.Context = replyTo("wamid.xyzxyz")
			m.Reply = &wantReply{Kind: "list_reply", ID: "callback_data", Title: "title", Description: "description"}
		})),
	"community-fixtures/inbound-interactive-missing-object.json": {
		Messages: []wantMsg{in(pywaAccount, pywaContact, "wamid.wegrchytvwcggt=", 1700505494, parley.TypeUnsupported, func(m *wantMsg) {
			m.Context = replyTo("wamid.gvwegfretge==")
			m.Unsupported = `interactive message without its "interactive" object`
		})},
		Unhandled: []wantUnhandled{{"1122334455667", "messages", "errors: 131000 Something went wrong (Unsupported webhook payload)"}},
	},
	"community-fixtures/inbound-location-named-forwarded.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044557, parley.TypeLocation, func(m *wantMsg) {
			m.Context = forwarded
			m.Location = &parley.Location{Latitude: 37.4611978, Longitude: -122.2164385, Name: "Facebook HQ",
				Address: "1 Hacker Way, Menlo Park, CA 94025", URL: "https://maps.google.com/?cid=2000000000000000000"}
		})),
	"community-fixtures/inbound-media-with-url.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043379, parley.TypeImage, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "65463453", MIMEType: "image/jpeg",
				Link: "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw"}
		})),
	"community-fixtures/inbound-order.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044668, parley.TypeOrder, func(m *wantMsg) {
			m.Order = `{"catalog_id":"354160437058781","text":"","product_items":[` +
				`{"product_retailer_id":"HAMBURGER","quantity":3,"item_price":30,"currency":"ILS"},` +
				`{"product_retailer_id":"FRENCH_FRIES","quantity":2,"item_price":35,"currency":"ILS"},` +
				`{"product_retailer_id":"SODA","quantity":2,"item_price":10,"currency":"ILS"}]}`
		})),
	"community-fixtures/inbound-reaction-removed-empty-emoji.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044456, parley.TypeReaction, func(m *wantMsg) {
			m.Reaction = &parley.Reaction{ProviderMessageID: "wamid.yzxyzx=", Emoji: "", From: "contact"}
		})),
	"community-fixtures/inbound-reaction.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044456, parley.TypeReaction, func(m *wantMsg) {
			m.Reaction = &parley.Reaction{ProviderMessageID: "wamid.yzxyzx=", Emoji: "😮", From: "contact"}
		})),
	"community-fixtures/inbound-sticker-animated.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043785, parley.TypeSticker, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "1234567890987654321", MIMEType: "image/webp", Animated: true}
		})),
	"community-fixtures/inbound-system-identity-changed.json": msgs(
		in(pywaAccount, whatsapp.Contact{WAID: "972987654321", ProfileName: "User A"}, "wamid.xyzxyz", 1697044706, parley.TypeSystem, func(m *wantMsg) {
			m.System = &parley.System{Kind: "customer_identity_changed", Body: "User identity changed"}
		})),
	"community-fixtures/inbound-system-user-changed-number.json": msgs(
		in(pywaAccount, whatsapp.Contact{WAID: "972987654321"}, "wamid.xyzxyz==", 1753851315, parley.TypeSystem, func(m *wantMsg) {
			m.System = &parley.System{Kind: "user_changed_number", Body: "User A changed from 972987654321 to 972912345678", NewWAID: "972912345678"}
		})),
	"community-fixtures/inbound-template-quick-reply-button.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xsidjw", 1698269027, parley.TypeButton, func(m *wantMsg) {
			m.Context = replyTo("wamid.xyzxyz==")
			m.Text = "title"
			m.Reply = &wantReply{Kind: "button", Payload: "callback_data", Title: "title"}
		})),
	"community-fixtures/inbound-template-quick-reply-no-context-bsuid.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xsidjx", 1698269027, parley.TypeButton, func(m *wantMsg) {
			m.Text = "title"
			m.Reply = &wantReply{Kind: "button", Payload: "callback_data", Title: "title"}
		})),
	"community-fixtures/inbound-text-ctwa-referral.json": msgs(
		in(pywaAccount, pywaContact, "wamid.ID", 1697045000, parley.TypeText, func(m *wantMsg) {
			m.Text = "BODY"
			m.Referral = &parley.Referral{
				SourceURL: "AD_OR_POST_FB_URL", SourceID: "ADID", SourceType: "ad or post",
				Headline: "AD_TITLE", Body: "AD_DESCRIPTION", MediaType: "image or video",
				ImageURL: "RAW_IMAGE_URL", VideoURL: "RAW_VIDEO_URL", ThumbnailURL: "RAW_THUMBNAIL_URL",
				CTWAClickID: "CTWA_CLID",
			}
		})),
	"community-fixtures/inbound-text-frequently-forwarded.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044968, parley.TypeText, func(m *wantMsg) {
			m.Context = &parley.Context{FrequentlyForwarded: true}
			m.Text = "text forwarded many times"
		})),
	"community-fixtures/inbound-text-reply-context.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044746, parley.TypeText, func(m *wantMsg) {
			m.Context = replyTo("wamid.xyzxyz==")
			m.Text = "replied text"
		})),
	"community-fixtures/inbound-text.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697043223, parley.TypeText, text("Body Text"))),
	"community-fixtures/inbound-unsupported-errors.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044706, parley.TypeUnsupported, func(m *wantMsg) {
			m.Unsupported = "Message type unknown"
			m.Errors = unknownTypeErrors
		})),
	"community-fixtures/inbound-unsupported-with-subtype.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044706, parley.TypeUnsupported, func(m *wantMsg) {
			m.Unsupported = `Message type unknown (type "pool")`
			m.Errors = unknownTypeErrors
		})),
	"community-fixtures/inbound-video.json": msgs(
		in(pywaAccount, pywaContact, "wamid.xyzxyz", 1697044362, parley.TypeVideo, func(m *wantMsg) {
			m.Context = forwarded
			m.Text = "caption"
			m.Media = &parley.Media{ProviderMediaID: "765756756", MIMEType: "video/mp4"}
		})),
	"community-fixtures/status-delivered.json": pywaStatus(parley.StatusDelivered, 1698266945, nil),
	"community-fixtures/status-failed-130472.json": pywaStatus(parley.StatusFailed, 1689380458, func(s *wantStatus) {
		s.Pricing, s.Billable = "", ""
		s.Error = &parley.MessageError{Code: "130472", Title: "User's number is part of an experiment", Message: "User's number is part of an experiment",
			Details: "Failed to send message because this user's phone number is part of an experiment"}
	}),
	"community-fixtures/status-played.json": pywaStatus(parley.StatusPlayed, 1689380458, nil),
	"community-fixtures/status-read.json":   pywaStatus(parley.StatusRead, 1689380458, nil),
	"community-fixtures/status-sent-biz-opaque-callback-data.json": pywaStatus(parley.StatusSent, 1698266945, func(s *wantStatus) {
		s.CallbackData = "some data"
	}),
	"community-fixtures/status-sent-cbp-pricing.json": pywaStatus(parley.StatusSent, 1698266945, nil),
	"community-fixtures/template-status-rejected-rejection-info.json": {Templates: []wantTemplate{
		{"102290129340398", "1689556908129835", "abandoned_cart", "en", "rejected", "marketing", rejectReason, 1751247548},
	}},

	// --- Meta's doc examples --------------------------------------------
	"doc-examples/webhook-message-audio-voice.json": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeAudio, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "1908647269898587", MIMEType: "audio/ogg; codecs=opus", Voice: true, Link: metaMediaURL}
		})),
	"doc-examples/webhook-message-document.json": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeDocument, func(m *wantMsg) {
			m.Text = "my receipt"
			m.Media = &parley.Media{ProviderMediaID: "622684793477189", MIMEType: "application/pdf", Filename: "receipt.pdf", Link: metaMediaURL}
		})),
	"doc-examples/webhook-message-image.json": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeImage, func(m *wantMsg) {
			m.Text = "Taj Mahal"
			m.Media = &parley.Media{ProviderMediaID: "1003383421387256", MIMEType: "image/jpeg", Link: metaMediaURL}
		})),
	"doc-examples/webhook-message-reaction.json": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", 1749419544, parley.TypeReaction, func(m *wantMsg) {
			m.Reaction = &parley.Reaction{ProviderMessageID: metaRevised, Emoji: "👍", From: "contact"}
		})),
	"doc-examples/webhook-message-sticker.json": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeSticker, func(m *wantMsg) {
			m.Media = &parley.Media{ProviderMediaID: "1908647269898587", MIMEType: "image/webp", Animated: true, Link: metaMediaURL}
		})),
	"doc-examples/webhook-message-text.json": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA0NjU1OUFFRTAzODEwMTQ0RgA=", 1749416383, parley.TypeText, text("Does it come in another color?"))),
	"doc-examples/webhook-smb-message-echo-edit.json": msgs(
		echo(metaAccount, whatsapp.Contact{WAID: "16505551234"}, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQkJERjg0NDEzNDdFODU3MUMxMAA=", 1749854620, parley.TypeEdit, func(m *wantMsg) {
			m.Revises = metaRevised
			m.Text = "Updated image caption"
			m.Media = &parley.Media{ProviderMediaID: "1234567890", MIMEType: "image/jpeg", Link: metaMediaURL}
		})),
	"doc-examples/webhook-smb-message-echo-revoke.json": msgs(
		echo(metaAccount, whatsapp.Contact{WAID: "16505551234"}, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", 1749854575, parley.TypeRevoke, func(m *wantMsg) {
			m.Revises = metaRevised
		})),
	"doc-examples/webhook-smb-message-echo-text.json": msgs(
		echo(metaAccount, whatsapp.Contact{WAID: "16505551234"}, "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA", 1739321024, parley.TypeText,
			text("Here's the info you requested! https://www.meta.com/quest/quest-3/"))),
	"doc-examples/webhook-status-failed-131049.json": status(metaAccount, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", parley.StatusFailed, 1751142888,
		whatsapp.Contact{WAID: "16505551234"}, func(s *wantStatus) {
			s.Error = &parley.MessageError{Code: "131049",
				Title:   "This message was not delivered to maintain healthy ecosystem engagement.",
				Message: "This message was not delivered to maintain healthy ecosystem engagement.",
				Details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."}
		}),
	"doc-examples/webhook-status-sent-marketing-pmp.json": status(metaAccount, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", parley.StatusSent, 1750030073,
		whatsapp.Contact{WAID: "16505551234"}, func(s *wantStatus) { s.Pricing, s.Billable = "marketing", "true" }),
	"doc-examples/webhook-status-v24-no-conversation-no-pricing.json": status(metaAccount, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", parley.StatusSent, 1750030073,
		whatsapp.Contact{WAID: "16505551234"}, nil),
	"doc-examples/webhook-template-status-approved.json": {Templates: []wantTemplate{
		{"102290129340398", "1689556908129832", "order_confirmation", "en-US", "approved", "utility", "", 1751247548},
	}},
	"doc-examples/webhook-template-status-rejected-invalid-format.json": {Templates: []wantTemplate{
		{"102290129340398", "1689556908129835", "abandoned_cart", "en", "rejected", "marketing", rejectReason, 1751247548},
	}},

	// --- request examples of the OpenAPI /whatsapp/webhooks --------------
	"openapi/Text Message": msgs(
		in(metaAccount, sheena, metaDocID, 1749416383, parley.TypeText, text("Does it come in another color?"))),
	"openapi/Text Message with Context (Product Inquiry)": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=", 1750016800, parley.TypeText, func(m *wantMsg) {
			m.Text = "Is this still available?"
			m.Context = &parley.Context{ReplyToProviderID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA",
				ReferredProduct: &parley.ReferredProduct{CatalogID: "194836987003835", ProductRetailerID: "di9ozbzfi4"}}
		})),
	"openapi/Text Message from Click to WhatsApp Ad": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA=", 1750275992, parley.TypeText, func(m *wantMsg) {
			m.Text = "Hello! Can I get more info on this?"
			m.Referral = &parley.Referral{
				SourceURL: "https://fb.me/3cr4Wqqkv", SourceID: "120226305854810726", SourceType: "ad",
				Body: "Summer Succulents are here!", Headline: "Chat with us", MediaType: "image",
				ImageURL:       "https://scontent.xx.fbcdn.net/v/t45.1...",
				CTWAClickID:    "Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwFjN80dp4_0NiNhEgpGo0AHemvuSoifXaytfTzcchptiErTKCqTrJ5nW1h7IHYeYymGb5K5J5iTROpBhWAGaIAeUzHL50",
				WelcomeMessage: "Hi there! Let us know how we can help!",
			}
		})),
	"openapi/Reaction Message": msgs(
		in(metaAccount, sheena, metaDocID, 1749419544, parley.TypeReaction, func(m *wantMsg) {
			m.Reaction = &parley.Reaction{ProviderMessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA", Emoji: "👍", From: "contact"}
		})),
	"openapi/Image Message": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeImage, func(m *wantMsg) {
			m.Text = "Taj Mahal"
			m.Media = &parley.Media{ProviderMediaID: "1003383421387256", MIMEType: "image/jpeg"}
		})),
	"openapi/Location Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=", 1744344496, parley.TypeLocation, func(m *wantMsg) {
			m.Location = &parley.Location{Latitude: 37.44221496582, Longitude: -122.16165924072, Name: "Philz Coffee",
				Address: "101 Forest Ave, Palo Alto, CA 94301", URL: "https://philzcoffee.com/"}
		})),
	"openapi/Contact Sharing Message": msgs(
		in(metaAccount, sheena, metaDocID, 1744344496, parley.TypeContacts, func(m *wantMsg) {
			m.Contacts = `[{"name":{"first_name":"Lucía","last_name":"Gómez","formatted_name":"Lucía Gómez"},"org":{"company":"Google"},"phones":[{"phone":"+1 (983) 555-2319","wa_id":"19835552319","type":"MOBILE"}]}]`
		})),
	"openapi/Unsupported Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA", 1750090702, parley.TypeUnsupported, func(m *wantMsg) {
			m.Unsupported = "Message type unknown"
			m.Errors = unknownTypeErrors
		})),
	"openapi/Button Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=", 1750091045, parley.TypeButton, func(m *wantMsg) {
			m.Context = replyTo("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA")
			m.Text = "Unsubscribe"
			m.Reply = &wantReply{Kind: "button", Payload: "Unsubscribe", Title: "Unsubscribe"}
		})),
	"openapi/Interactive List Reply Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA=", 1749854575, parley.TypeInteractive, func(m *wantMsg) {
			m.Context = replyTo("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA")
			m.Reply = &wantReply{Kind: "list_reply", ID: "priority_express", Title: "Priority Mail Express", Description: "Next Day to 2 Days"}
		})),
	"openapi/Interactive Button Reply Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=", 1750025136, parley.TypeInteractive, func(m *wantMsg) {
			m.Context = replyTo("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA")
			m.Reply = &wantReply{Kind: "button_reply", ID: "cancel-button", Title: "Cancel"}
		})),
	"openapi/Order Message": msgs(
		in(metaAccount, sheena, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=", 1750096325, parley.TypeOrder, func(m *wantMsg) {
			m.Order = `{"catalog_id":"194836987003835","text":"","product_items":[` +
				`{"product_retailer_id":"di9ozbzfi4","quantity":2,"item_price":30,"currency":"USD"},` +
				`{"product_retailer_id":"nqryix03ez","quantity":1,"item_price":25,"currency":"USD"}]}`
		})),
	"openapi/System Message": msgs(
		in(metaAccount, whatsapp.Contact{WAID: "16505551234"}, "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==", 1750269342, parley.TypeSystem, func(m *wantMsg) {
			m.System = &parley.System{Kind: "user_changed_number", Body: "User Sheena Nelson changed from 16505551234 to 12195555358", NewWAID: "12195555358"}
		})),
	"openapi/Group Create Message": {Unhandled: []wantUnhandled{
		{"106540352242922", "group_lifecycle_update", `unhandled field "group_lifecycle_update"`}}},
	"openapi/Group Settings Update": {Unhandled: []wantUnhandled{
		{"106540352242922", "group_settings_update", `unhandled field "group_settings_update"`}}},
	"openapi/Group Remove Participants": {Unhandled: []wantUnhandled{
		{"106540352242922", "group_participants_update", `unhandled field "group_participants_update"`}}},
}

// specBodies returns every webhook body in the Meta specs, keyed as
// webhookWants is: each community fixture, each doc example but the GET
// handshake, and each request example of the OpenAPI webhook.
func specBodies(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{"meta/community-fixtures/*.json", "meta/doc-examples/*.json"} {
		for _, path := range specs.Glob(t, pattern) {
			if filepath.Base(path) == "webhook-verification-request.json" {
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path)] = b
		}
	}
	var oas struct {
		Path            string `json:"path"`
		RequestExamples map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"request_examples"`
	}
	if err := json.Unmarshal(specs.Read(t, "meta", "openapi-examples", "webhook-incoming.json"), &oas); err != nil {
		t.Fatal(err)
	}
	if oas.Path != "/whatsapp/webhooks" || len(oas.RequestExamples) == 0 {
		t.Fatalf("webhook-incoming.json changed shape: path %q, %d examples", oas.Path, len(oas.RequestExamples))
	}
	for name, ex := range oas.RequestExamples {
		out["openapi/"+name] = ex.Value
	}
	return out
}

// syntheticID derives, independently of the parser, the ID a message
// without one must get: the hash of its bytes as they stand in the body.
func syntheticID(t *testing.T, body []byte) string {
	t.Helper()
	var env struct {
		Entry []struct {
			Changes []struct {
				Value struct {
					Messages []json.RawMessage `json:"messages"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Entry) != 1 || len(env.Entry[0].Changes) != 1 || len(env.Entry[0].Changes[0].Value.Messages) != 1 {
		t.Fatalf("synthetic ID expected for a body without exactly one message: %v", err)
	}
	sum := sha256.Sum256(env.Entry[0].Changes[0].Value.Messages[0])
	return "synthetic." + hex.EncodeToString(sum[:])
}

func TestParseWebhookSpecBodies(t *testing.T) {
	bodies := specBodies(t)
	for _, name := range slices.Sorted(maps.Keys(bodies)) {
		t.Run(name, func(t *testing.T) {
			want, ok := webhookWants[name]
			if !ok {
				t.Fatalf("no expectation for %s: read it and add one to webhookWants", name)
			}
			body := bodies[name]
			batch, err := ParseWebhook(body)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			for i := range want.Messages {
				if want.Messages[i].ID == "synthetic" {
					want.Messages[i].ID = syntheticID(t, body)
				}
			}
			compareBatch(t, project(t, batch), want)
			again, _ := ParseWebhook(body)
			if !reflect.DeepEqual(batch, again) {
				t.Error("a second parse of the same body differs")
			}
		})
	}
	var stale []string
	for name := range webhookWants {
		if _, ok := bodies[name]; !ok {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("expectations for spec bodies that no longer exist: %v", stale)
	}
	if len(bodies) < 40+14+16 {
		t.Errorf("only %d spec bodies found; the specs folder lost files", len(bodies))
	}
}

// hookEnvelopeFor wraps one change value in the Cloud API envelope.
func hookEnvelopeFor(field, value string) []byte {
	return []byte(`{"object":"whatsapp_business_account","entry":[{"id":"999","changes":[{"field":"` + field + `","value":` + value + `}]}]}`)
}

const testMetadata = `"metadata":{"display_phone_number":"+1 555-000-1111","phone_number_id":"4242"}`

func TestParseWebhookUnknownMessageType(t *testing.T) {
	obj := `{"from":"15551234567","id":"wamid.FOO","timestamp":"1700000000","type":"foo","foo":{"bar":[1,2,{"baz":"ü"}]}}`
	b, err := ParseWebhook(hookEnvelopeFor("messages", `{`+testMetadata+`,"messages":[`+obj+`]}`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 || len(b.Messages) != 1 {
		t.Fatalf("want one message, got %+v", b)
	}
	m := b.Messages[0]
	if m.Content.Type != parley.TypeUnsupported || m.Content.ProviderMessageID != "wamid.FOO" {
		t.Errorf("type %q id %q", m.Content.Type, m.Content.ProviderMessageID)
	}
	if m.Content.Unsupported == nil || m.Content.Unsupported.Reason != `unknown message type "foo"` {
		t.Fatalf("unsupported = %+v", m.Content.Unsupported)
	}
	if string(m.Content.Unsupported.Raw) != obj {
		t.Errorf("Raw = %s\nwant  %s", m.Content.Unsupported.Raw, obj)
	}
	if m.Account != "4242" || m.AccountPhone != "15550001111" || m.Contact.WAID != "15551234567" {
		t.Errorf("account %q phone %q contact %+v", m.Account, m.AccountPhone, m.Contact)
	}
	if !m.Content.Timestamp.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("timestamp %v", m.Content.Timestamp)
	}
}

func TestParseWebhookUnknownField(t *testing.T) {
	value := `{"messaging_product":"whatsapp",` + testMetadata + `,"calls":[{"id":"c1"}]}`
	b, err := ParseWebhook(hookEnvelopeFor("calls", value))
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != 1 || len(b.Unhandled) != 1 {
		t.Fatalf("want one unhandled, got %+v", b)
	}
	u := b.Unhandled[0]
	if u.Field != "calls" || u.Account != "4242" || u.Reason != `unhandled field "calls"` || string(u.Raw) != value {
		t.Errorf("unhandled = %+v (raw %s)", u, u.Raw)
	}
}

func TestParseWebhookRejectsNonObjects(t *testing.T) {
	for _, body := range []string{"", "   ", "{", "not json", `{"entry":[}`, `{"a":1}x`, "\xff"} {
		if b, err := ParseWebhook([]byte(body)); err == nil || b != nil {
			t.Errorf("%q: got (%v, %v), want an error", body, b, err)
		} else if !strings.HasPrefix(err.Error(), "meta: parse webhook: ") {
			t.Errorf("%q: error %q does not say what failed", body, err)
		}
	}
	// Valid JSON that is not an object is refused too (documented): it
	// cannot come from Meta, and an empty batch would hide that.
	for _, body := range []string{"[]", "null", `"x"`, "42", "true", `[{"entry":[]}]`} {
		b, err := ParseWebhook([]byte(body))
		if !errors.Is(err, errHookNotObject) || b != nil {
			t.Errorf("%q: got (%v, %v), want errHookNotObject", body, b, err)
		}
	}
}

// TestParseWebhookEntriesAndChanges also checks that the bytes kept for
// what is not interpreted are found at the right place in a body of many
// parts (they are looked up again by position).
func TestParseWebhookEntriesAndChanges(t *testing.T) {
	const poll = `{"to":"5002","id":"e2","type":"poll","poll":{"q":"?"}}`
	const calls = `{"metadata":{"phone_number_id":"P2"},"calls":[{"id":"c"}]}`
	body := `{"object":"whatsapp_business_account","entry":[
	 {"id":"W1","changes":[
	  {"field":"messages","value":{"metadata":{"display_phone_number":"111","phone_number_id":"P1"},
	   "contacts":[{"profile":{"name":"Ann"},"wa_id":"5001"}],
	   "messages":[{"from":"5001","id":"m1","timestamp":"1700000001","type":"text","text":{"body":"one"}}]}},
	  {"field":"messages","value":{"metadata":{"display_phone_number":"111","phone_number_id":"P1"},
	   "statuses":[{"id":"s1","status":"read","timestamp":"1700000002","recipient_id":"5001"}]}}]},
	 {"id":"W2","time":1700000003,"changes":[
	  {"field":"message_template_status_update","value":{"event":"PAUSED","message_template_id":123456789012345678901,
	   "message_template_name":"promo","message_template_language":"pt_BR","reason":null,"message_template_category":"MARKETING",
	   "other_info":{"title":"FIRST_PAUSE","description":"Paused for low quality."}}},
	  {"field":"smb_message_echoes","value":{"metadata":{"display_phone_number":"222","phone_number_id":"P2"},
	   "message_echoes":[{"from":"222","to":"5002","id":"e1","timestamp":"1700000004","type":"text","text":{"body":"two"}},` + poll + `]}},
	  {"field":"calls","value":` + calls + `}]}]}`
	b, err := ParseWebhook([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p2 := [2]string{"P2", "222"}
	compareBatch(t, project(t, b), wantBatch{
		Messages: []wantMsg{
			in([2]string{"P1", "111"}, whatsapp.Contact{WAID: "5001", ProfileName: "Ann"}, "m1", 1700000001, parley.TypeText, text("one")),
			echo(p2, whatsapp.Contact{WAID: "5002"}, "e1", 1700000004, parley.TypeText, text("two")),
			echo(p2, whatsapp.Contact{WAID: "5002"}, "e2", 0, parley.TypeUnsupported, func(m *wantMsg) { m.Unsupported = `unknown message type "poll"` }),
		},
		Unhandled: []wantUnhandled{{"P2", "calls", `unhandled field "calls"`}},
		Statuses:  []wantStatus{{Account: "P1", ID: "s1", Status: parley.StatusRead, Unix: 1700000002, Recipient: whatsapp.Contact{WAID: "5001", ProfileName: ""}}},
		Templates: []wantTemplate{{"W2", "123456789012345678901", "promo", "pt_BR", "paused", "marketing",
			"Paused for low quality.", 1700000003}},
	})
	if len(b.Messages) == 3 && string(b.Messages[2].Content.Unsupported.Raw) != poll {
		t.Errorf("unsupported Raw = %s, want %s", b.Messages[2].Content.Unsupported.Raw, poll)
	}
	if len(b.Unhandled) == 1 && string(b.Unhandled[0].Raw) != calls {
		t.Errorf("unhandled Raw = %s, want %s", b.Unhandled[0].Raw, calls)
	}
}

// TestParseWebhookOddBodies covers what no spec file shows: shapes Meta
// might send one day, or that a broken proxy might. Each must parse
// without losing anything.
func TestParseWebhookOddBodies(t *testing.T) {
	msg := func(m string) []byte { return hookEnvelopeFor("messages", `{`+testMetadata+`,"messages":[`+m+`]}`) }
	acct := [2]string{"4242", "15550001111"}
	cases := map[string]struct {
		body []byte
		want wantBatch
	}{
		"empty object": {[]byte(`{}`), wantBatch{Unhandled: []wantUnhandled{{"", "", "webhook without entry"}}}},
		"empty entry":  {[]byte(`{"object":"whatsapp_business_account","entry":[]}`), wantBatch{}},
		"other object": {[]byte(`{"object":"page","entry":[{"id":"1","messaging":[]}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"", "page", `unhandled webhook object "page"`}}}},
		"entry not an array": {[]byte(`{"object":"whatsapp_business_account","entry":"x"}`),
			wantBatch{Unhandled: []wantUnhandled{{"", "", "malformed webhook envelope: json: …"}}}},
		"change without value": {[]byte(`{"entry":[{"id":"1","changes":[{"field":"messages"}]}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"", "messages", "change without messages or statuses"}}}},
		"value with only contacts": {hookEnvelopeFor("messages", `{`+testMetadata+`,"contacts":[{"wa_id":"1"}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"4242", "messages", "change without messages or statuses"}}}},
		"errors without messages": {hookEnvelopeFor("messages", `{`+testMetadata+`,"errors":[{"code":131008,"title":"Required parameter is missing","details":"x"}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"4242", "messages", "errors: 131008 Required parameter is missing (x)"}}}},
		"unknown status": {hookEnvelopeFor("messages", `{`+testMetadata+`,"statuses":[{"id":"s","status":"deleted","timestamp":"1"}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"4242", "messages", `unknown status "deleted"`}}}},
		"status without id": {hookEnvelopeFor("messages", `{`+testMetadata+`,"statuses":[{"status":"read"}]}`),
			wantBatch{Unhandled: []wantUnhandled{{"4242", "messages", "status without an id"}}}},
		"status with a bad billable and errors": {hookEnvelopeFor("messages", `{`+testMetadata+`,"statuses":[{"id":"s","status":"read","timestamp":1700000000,"recipient_id":15551234567,"pricing":{"billable":"yes","category":"utility"},"errors":"oops"}]}`),
			wantBatch{
				Statuses:  []wantStatus{{Account: "4242", ID: "s", Status: parley.StatusRead, Unix: 1700000000, Recipient: whatsapp.Contact{WAID: "15551234567"}, Pricing: "utility"}},
				Unhandled: []wantUnhandled{{"4242", "messages", "malformed status: json: …"}},
			}},
		"contacts not an array": {hookEnvelopeFor("messages", `{`+testMetadata+`,"contacts":"x","messages":[{"from":"1","id":"c1","type":"text","text":{"body":"ok"}}]}`),
			wantBatch{
				Messages:  []wantMsg{in(acct, whatsapp.Contact{WAID: "1"}, "c1", 0, parley.TypeText, text("ok"))},
				Unhandled: []wantUnhandled{{"4242", "messages", "malformed change value: json: …"}},
			}},
		"messages not an array": {hookEnvelopeFor("messages", `{`+testMetadata+`,"messages":{"id":"x"}}`),
			wantBatch{Unhandled: []wantUnhandled{{"4242", "messages", "malformed change value: json: …"}}}},
		"numeric ids": {msg(`{"from":15551234567,"id":"n1","timestamp":1700000000,"type":"text","text":{"body":"hi"}}`),
			msgs(in(acct, whatsapp.Contact{WAID: "15551234567"}, "n1", 1700000000, parley.TypeText, text("hi")))},
		"text without its object": {msg(`{"from":"1","id":"t1","type":"text"}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t1", 0, parley.TypeUnsupported, func(m *wantMsg) { m.Unsupported = `text message without its "text" object` }))},
		"no type": {msg(`{"from":"1","id":"t2"}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t2", 0, parley.TypeUnsupported, func(m *wantMsg) { m.Unsupported = "message without a type" }))},
		"malformed message": {msg(`{"from":"1","id":"t3","type":"text","text":"hi"}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t3", 0, parley.TypeUnsupported, func(m *wantMsg) {
				m.Unsupported = "malformed message: json: …"
			}))},
		"unknown interactive": {msg(`{"from":"1","id":"t4","type":"interactive","interactive":{"type":"call_permission_reply"}}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t4", 0, parley.TypeUnsupported, func(m *wantMsg) {
				m.Unsupported = `unknown interactive type "call_permission_reply"`
			}))},
		"flow answer that is not JSON": {msg(`{"from":"1","id":"t5","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"body":"Sent","response_json":"not json"}}}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t5", 0, parley.TypeInteractive, func(m *wantMsg) {
				m.Reply = &wantReply{Kind: "nfm_reply", Title: "Sent", ResponseJSON: `"not json"`}
			}))},
		"revoke without original": {hookEnvelopeFor("smb_message_echoes", `{`+testMetadata+`,"message_echoes":[{"to":"1","id":"r1","type":"revoke","revoke":{}}]}`),
			msgs(echo(acct, whatsapp.Contact{WAID: "1"}, "r1", 0, parley.TypeUnsupported, func(m *wantMsg) { m.Unsupported = "revoke without original_message_id" }))},
		"edit with new content of an unknown type": {hookEnvelopeFor("smb_message_echoes", `{`+testMetadata+`,"message_echoes":[{"to":"1","id":"r2","type":"edit","edit":{"original_message_id":"o","message":{"type":"poll"}}}]}`),
			msgs(echo(acct, whatsapp.Contact{WAID: "1"}, "r2", 0, parley.TypeEdit, func(m *wantMsg) {
				m.Revises = "o"
				m.Unsupported = `edit: unknown message type "poll"`
			}))},
		"reaction echo": {hookEnvelopeFor("smb_message_echoes", `{`+testMetadata+`,"message_echoes":[{"to":"1","id":"r3","type":"reaction","reaction":{"message_id":"x","emoji":"❤️"}}]}`),
			msgs(echo(acct, whatsapp.Contact{WAID: "1"}, "r3", 0, parley.TypeReaction, func(m *wantMsg) {
				m.Reaction = &parley.Reaction{ProviderMessageID: "x", Emoji: "❤️", From: "business"}
			}))},
		"message that is not an object": {msg(`42`),
			msgs(in(acct, whatsapp.Contact{}, "synthetic.73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049", 0, parley.TypeUnsupported, func(m *wantMsg) {
				m.Unsupported = "malformed message: json: …"
			}))},
		"absurd timestamp": {msg(`{"from":"1","id":"t6","timestamp":"99999999999999","type":"text","text":{"body":""}}`),
			msgs(in(acct, whatsapp.Contact{WAID: "1"}, "t6", 0, parley.TypeText, nil))},
		"template update without event": {hookEnvelopeFor("message_template_status_update", `{"message_template_id":1}`),
			wantBatch{Unhandled: []wantUnhandled{{"999", "message_template_status_update", "template update without an event"}}}},
		"bare value with statuses": {[]byte(`{"statuses":[{"id":"s","status":"delivered","timestamp":"5","recipient_id":"7"}]}`),
			wantBatch{Statuses: []wantStatus{{ID: "s", Status: parley.StatusDelivered, Unix: 5, Recipient: whatsapp.Contact{WAID: "7"}}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := ParseWebhook(c.body)
			if err != nil {
				t.Fatal(err)
			}
			got := project(t, b)
			// encoding/json's wording is not ours to pin down.
			for i := range got.Messages {
				got.Messages[i].Unsupported = elideJSONError(got.Messages[i].Unsupported)
			}
			for i := range got.Unhandled {
				got.Unhandled[i].Reason = elideJSONError(got.Unhandled[i].Reason)
			}
			compareBatch(t, got, c.want)
		})
	}
}

func elideJSONError(reason string) string {
	if i := strings.Index(reason, ": json: "); i >= 0 {
		return reason[:i] + ": json: …"
	}
	return reason
}

func TestParseWebhookSyntheticIDIsStable(t *testing.T) {
	body := func(text string) []byte {
		return hookEnvelopeFor("messages", `{"messages":[{"from":"1","type":"text","text":{"body":"`+text+`"}}]}`)
	}
	a, _ := ParseWebhook(body("hello"))
	again, _ := ParseWebhook(body("hello"))
	other, _ := ParseWebhook(body("hellO"))
	id := a.Messages[0].Content.ProviderMessageID
	sum := sha256.Sum256([]byte(`{"from":"1","type":"text","text":{"body":"hello"}}`))
	if id != "synthetic."+hex.EncodeToString(sum[:]) {
		t.Errorf("id %q is not the hash of the message", id)
	}
	if again.Messages[0].Content.ProviderMessageID != id {
		t.Error("a redelivery gets another ID")
	}
	if other.Messages[0].Content.ProviderMessageID == id {
		t.Error("another message gets the same ID")
	}
}

func TestParseWebhookDoesNotAliasBody(t *testing.T) {
	body := hookEnvelopeFor("messages", `{"messages":[{"from":"1","id":"u","type":"foo"}]}`)
	b, err := ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(b.Messages[0].Content.Unsupported.Raw)
	for i := range body {
		body[i] = ' '
	}
	if string(b.Messages[0].Content.Unsupported.Raw) != raw {
		t.Error("Unsupported.Raw changed when the caller reused its buffer")
	}
}

func TestWebhookAccounts(t *testing.T) {
	read := func(name string) []byte { return specs.Read(t, "meta", "community-fixtures", name) }
	twoEntries := []byte(`{"object":"whatsapp_business_account","entry":[
	 {"id":"W1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"}}},{"field":"messages","value":{"metadata":{"phone_number_id":"P2"}}}]},
	 {"id":"W2","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"P1"},"messages":[{"text":{"body":"\"metadata\":{\"phone_number_id\":\"EVIL\"}"}}]}}]},
	 {"id":"W1","changes":"not an array"}]}`)
	cases := map[string]struct {
		body          []byte
		phones, wabas []string
	}{
		"inbound text":        {read("inbound-text.json"), []string{"1122334455667"}, []string{"1234567890987654321"}},
		"template update":     {read("template-status-rejected-rejection-info.json"), nil, []string{"102290129340398"}},
		"no envelope":         {read("chatwoot-360dialog-onprem-text-no-envelope.json"), nil, nil},
		"no ids at all":       {read("chatwoot-cloud-document-accented-filename.json"), nil, nil},
		"group event":         {[]byte(`{"entry":[{"id":"102290129340398","changes":[{"field":"group_lifecycle_update","value":{"metadata":{"phone_number_id":"106540352242922"},"groups":[]}}]}]}`), []string{"106540352242922"}, []string{"102290129340398"}},
		"bare with metadata":  {[]byte(`{"metadata":{"phone_number_id":"P9"},"messages":[]}`), []string{"P9"}, nil},
		"duplicates and junk": {twoEntries, []string{"P1", "P2"}, []string{"W1", "W2"}},
		"numeric ids":         {[]byte(`{"entry":[{"id":102290129340398123,"changes":[{"value":{"metadata":{"phone_number_id":106540352242922}}}]}]}`), []string{"106540352242922"}, []string{"102290129340398123"}},
		// Not JSON: read up to where it breaks.
		"truncated":      {[]byte(`{"object":"whatsapp_business_account","entry":[{"id":"W1","changes":[{"value":{"metadata":{"display_phone_number":"1","phone_number_id":"P1"},"messages":[{"text":{"body":"\"phone_number_id\":\"EVIL\""`), []string{"P1"}, []string{"W1"}},
		"trailing bytes": {append(read("inbound-text.json"), "garbage"...), []string{"1122334455667"}, []string{"1234567890987654321"}},
		"not JSON":       {[]byte("hello"), nil, nil},
		"array":          {[]byte(`[{"entry":[{"id":"W1"}]}]`), nil, nil},
	}
	for name, c := range cases {
		phones, wabas := WebhookAccounts(c.body)
		if !slices.Equal(phones, c.phones) || !slices.Equal(wabas, c.wabas) {
			t.Errorf("%s: got %q %q, want %q %q", name, phones, wabas, c.phones, c.wabas)
		}
	}
}

func BenchmarkParseWebhook(b *testing.B) {
	body := specs.Read(b, "meta", "doc-examples", "webhook-message-text.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		batch, err := ParseWebhook(body)
		if err != nil || len(batch.Messages) != 1 {
			b.Fatal(err)
		}
	}
}
