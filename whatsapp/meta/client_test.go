package meta_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/fake/metagraph"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

// Tests run the Provider against metagraph, a fake Graph API that checks
// every request against Meta's OpenAPI document and fails the test on an
// invalid one, so each passing send is also a schema-valid send.

func newClient(timeout time.Duration) *meta.Provider {
	return meta.New(&http.Client{Timeout: timeout})
}

func setup(t *testing.T) (*metagraph.Server, *meta.Provider, *parley.Channel) {
	t.Helper()
	s := metagraph.New(t)
	return s, newClient(5 * time.Second), s.Channel()
}

// wantKind asserts err carries a *whatsapp.Error of kind k.
func wantKind(t *testing.T, err error, k whatsapp.ErrorKind) *whatsapp.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s", k)
	}
	we, ok := whatsapp.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) carries no *whatsapp.Error", err, err)
	}
	if we.Kind != k {
		t.Fatalf("kind %s, want %s: %v", we.Kind, k, err)
	}
	return we
}

// sameJSON compares JSON documents by value.
func sameJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s", got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Fatalf("body differs\n got: %s\nwant: %s", gi, wi)
	}
}

func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int // Graph code; KnownError gives the status
		status int // overrides the status when set
		kind   whatsapp.ErrorKind
	}{
		{"131047 outside window", 131047, 0, whatsapp.OutsideWindow},
		{"130429 throughput", 130429, 0, whatsapp.RateLimited},
		{"131056 pair rate", 131056, 0, whatsapp.RateLimited},
		{"80007 WABA rate", 80007, 0, whatsapp.RateLimited},
		{"4 app rate", 4, 0, whatsapp.RateLimited},
		{"190 token", 190, 0, whatsapp.Unauthorized},
		{"131026 undeliverable", 131026, 0, whatsapp.Rejected},
		{"131049 ecosystem", 131049, 0, whatsapp.Rejected},
		{"132000 params", 132000, 0, whatsapp.Rejected},
		{"132001 no template", 132001, 0, whatsapp.Rejected},
		{"100 invalid", 100, 0, whatsapp.Rejected},
		{"500", 1, 500, whatsapp.Temporary},
		{"503", 2, 503, whatsapp.Temporary},
		{"131000 as 500", 131000, 0, whatsapp.Temporary},
		{"unknown code as 429", 999, 429, whatsapp.RateLimited},
		{"unknown code as 401", 999, 401, whatsapp.Unauthorized},
		{"unknown code as 403", 999, 403, whatsapp.Rejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, p, ch := setup(t)
			status, ge := metagraph.KnownError(tc.code)
			if tc.status != 0 {
				status = tc.status
			}
			s.FailNext(1, status, ge)
			_, err := p.Send(context.Background(), ch, textOut("hello"))
			we := wantKind(t, err, tc.kind)
			if we.Code != itoa(tc.code) || we.HTTPStatus != status || we.Message != ge.Message || we.Details != ge.Details || we.Title != "OAuthException" {
				t.Errorf("error %+v, want code %d, status %d, message %q, details %q", we, tc.code, status, ge.Message, ge.Details)
			}
			if !strings.HasPrefix(err.Error(), "meta: send: ") {
				t.Errorf("error %q does not say what failed", err)
			}
			if me := we.MessageError(); me.Code != itoa(tc.code) || me.Message != ge.Message {
				t.Errorf("message error %+v", me)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestErrorDetails(t *testing.T) {
	s, p, ch := setup(t)
	s.Inject(1, metagraph.Fault{Status: 429, Error: metagraph.GraphError{Message: "(#4) Application request limit reached", Code: 4}, Header: http.Header{"Retry-After": {"7"}}})
	we := wantKind(t, send(t, p, ch), whatsapp.RateLimited)
	if we.RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter %v", we.RetryAfter)
	}
	s.FailNext(1, 400, metagraph.GraphError{Message: "(#131009) Parameter value is not valid", Code: 131009, UserTitle: "Invalid parameter", Details: "The button index is out of range."})
	we = wantKind(t, send(t, p, ch), whatsapp.Rejected)
	if we.Title != "Invalid parameter" || we.Details != "The button index is out of range." {
		t.Errorf("error %+v", we)
	}
	// Not a Graph envelope: a load balancer's page.
	s.Inject(1, metagraph.Fault{Status: 502, Body: []byte("<html>502 Bad Gateway</html>")})
	if we := wantKind(t, send(t, p, ch), whatsapp.Temporary); we.HTTPStatus != 502 {
		t.Errorf("error %+v", we)
	}
	// A gateway timeout may hide a send that went through.
	s.Inject(1, metagraph.Fault{Status: 504, Body: []byte("<html>504 Gateway Time-out</html>")})
	wantKind(t, send(t, p, ch), whatsapp.Ambiguous)
	// A 200 without a message ID: Meta took the message, its ID is lost.
	s.OnMessage(func([]byte) (int, []byte, bool) { return 200, []byte(`{"messaging_product":"whatsapp"}`), true })
	wantKind(t, send(t, p, ch), whatsapp.Ambiguous)
	s.OnMessage(func([]byte) (int, []byte, bool) { return 200, []byte(`{"messages":[{"id":`), true })
	wantKind(t, send(t, p, ch), whatsapp.Ambiguous)
}

func send(t *testing.T, p *meta.Provider, ch *parley.Channel) error {
	t.Helper()
	_, err := p.Send(context.Background(), ch, textOut("hello"))
	return err
}

// TestSendTimeoutIsAmbiguous: the fake holds the request until the client
// gives up. The request was written, so the message may be out.
func TestSendTimeoutIsAmbiguous(t *testing.T) {
	s := metagraph.New(t)
	release := s.Stall()
	defer release()
	ch := s.Channel()

	_, err := newClient(100*time.Millisecond).Send(context.Background(), ch, textOut("hello"))
	we := wantKind(t, err, whatsapp.Ambiguous)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("the cause %v is not a timeout", we.Err)
	}

	// The same with the caller's deadline instead of the client's.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = newClient(time.Minute).Send(ctx, ch, textOut("hello"))
	wantKind(t, err, whatsapp.Ambiguous)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap context.DeadlineExceeded", err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("%d requests reached the fake, want 2", n)
	}

	// A read receipt can be repeated safely: the same timeout is Temporary.
	err = newClient(100*time.Millisecond).MarkRead(context.Background(), ch, "wamid.X")
	wantKind(t, err, whatsapp.Temporary)
}

func TestSendCancelledBeforeSendingIsTemporary(t *testing.T) {
	_, p, ch := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.Send(ctx, ch, textOut("hello"))
	wantKind(t, err, whatsapp.Temporary)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", err)
	}
}

func TestClientConnectionRefusedIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ch := &parley.Channel{Provider: parley.ProviderMeta, Meta: &parley.MetaConfig{
		PhoneNumberID: "1", WABAID: "2", AccessToken: "secret-token", GraphURL: "http://" + addr,
	}}
	p := newClient(5 * time.Second)
	_, err = p.Send(context.Background(), ch, textOut("hello"))
	wantKind(t, err, whatsapp.Temporary)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("cause %v is not a dial error", err)
	}
	if strings.Contains(err.Error(), "secret-token") {
		t.Errorf("the error shows the token: %v", err)
	}
	wantKind(t, p.Check(context.Background(), ch), whatsapp.Temporary)
}

func TestClientWrongTokenIsUnauthorized(t *testing.T) {
	s, p, ch := setup(t)
	ch.Meta.AccessToken = "not-the-token"
	we := wantKind(t, send(t, p, ch), whatsapp.Unauthorized)
	if we.Code != "190" || we.HTTPStatus != 401 {
		t.Errorf("error %+v", we)
	}
	if strings.Contains(we.Error(), "not-the-token") {
		t.Errorf("the error shows the token: %v", we)
	}
	wantKind(t, p.Check(context.Background(), ch), whatsapp.Unauthorized)

	// An expired session.
	ch = s.Channel()
	s.RevokeToken(ch.Meta.AccessToken)
	wantKind(t, send(t, p, ch), whatsapp.Unauthorized)
	_, err := p.Templates(context.Background(), ch)
	wantKind(t, err, whatsapp.Unauthorized)
}

func TestClientMissingSettingsAreUnauthorized(t *testing.T) {
	p := newClient(time.Second)
	for name, ch := range map[string]*parley.Channel{
		"no meta":  {Provider: parley.ProviderMeta},
		"no token": {Meta: &parley.MetaConfig{PhoneNumberID: "1"}},
		"no phone": {Meta: &parley.MetaConfig{AccessToken: "t"}},
	} {
		_, err := p.Send(context.Background(), ch, textOut("x"))
		if we, ok := whatsapp.AsError(err); !ok || we.Kind != whatsapp.Unauthorized {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := p.Templates(context.Background(), &parley.Channel{Meta: &parley.MetaConfig{AccessToken: "t", PhoneNumberID: "1"}})
	wantKind(t, err, whatsapp.Unauthorized)
}

func TestCheck(t *testing.T) {
	s, p, ch := setup(t)
	if err := p.Check(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	r := s.Requests()[0]
	if r.Method != "GET" || r.Path != "/v23.0/"+metagraph.DefaultPhoneNumberID || r.Query.Get("fields") != "id" || r.Header.Get("Authorization") != "Bearer "+metagraph.DefaultToken {
		t.Errorf("request %+v", r)
	}
	s.FailNext(1, 503, metagraph.GraphError{Message: "Service temporarily unavailable", Code: 2})
	wantKind(t, p.Check(context.Background(), ch), whatsapp.Temporary)
}

func TestMarkRead(t *testing.T) {
	s, p, ch := setup(t)
	if err := p.MarkRead(context.Background(), ch, "wamid.IN.1"); err != nil {
		t.Fatal(err)
	}
	if r := s.ReadReceipts(); len(r) != 1 || r[0] != "wamid.IN.1" {
		t.Fatalf("read receipts %v", r)
	}
	sameJSON(t, s.Requests()[0].Body, `{"messaging_product":"whatsapp","status":"read","message_id":"wamid.IN.1"}`)
	s.OnMessage(func([]byte) (int, []byte, bool) { return 200, []byte(`{"success":false}`), true })
	if err := p.MarkRead(context.Background(), ch, "wamid.IN.2"); err == nil {
		t.Error("an unconfirmed read receipt passed")
	}
}

// TestClientDefaults: a channel without GraphURL/APIVersion uses the Provider's
// defaults.
func TestClientDefaults(t *testing.T) {
	s := metagraph.New(t, metagraph.WithVersion("v24.0"))
	ch := s.Channel()
	ch.Meta.GraphURL, ch.Meta.APIVersion = "", ""
	p := newClient(5 * time.Second)
	if p.DefaultGraphURL != "https://graph.facebook.com" || p.DefaultVersion != "v23.0" {
		t.Errorf("defaults %q %q", p.DefaultGraphURL, p.DefaultVersion)
	}
	p.DefaultGraphURL, p.DefaultVersion = s.URL+"/", "v24.0"
	if err := p.Check(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	if meta.New(nil).HTTP == nil {
		t.Error("New(nil) has no client")
	}
}

// memFile is an upload held in memory.
type memFile struct {
	data []byte
	info parley.Media
}

func (f *memFile) Open(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.data)), nil
}
func (f *memFile) URL() string         { return "https://parley.example/media/signed" }
func (f *memFile) Info() *parley.Media { return &f.info }
