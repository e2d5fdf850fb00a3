package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/whatsapp"
)

func TestRedactURL(t *testing.T) {
	cause := errors.New("connection reset")
	err := fmt.Errorf("wrapped: %w", &url.Error{Op: "Get", URL: "https://user:pw@graph.example/v23.0/me?access_token=SECRET#frag", Err: cause})
	got := whatsapp.RedactURL(err)
	if s := got.Error(); s != "Get https://graph.example/v23.0/me: connection reset" {
		t.Errorf("redacted %q", s)
	}
	if !errors.Is(got, cause) {
		t.Error("the cause left the chain")
	}
	plain := errors.New("no URL here")
	if whatsapp.RedactURL(plain) != plain {
		t.Error("an error without a *url.Error changed")
	}
	if whatsapp.RedactURL(nil) != nil {
		t.Error("nil changed")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 3 ", 3 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Retry-After", tc.v)
		}
		if got := whatsapp.RetryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q: %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestStatusKind(t *testing.T) {
	for status, want := range map[int]whatsapp.ErrorKind{
		400: whatsapp.Rejected,
		401: whatsapp.Unauthorized,
		403: whatsapp.Unauthorized,
		404: whatsapp.Rejected,
		408: whatsapp.Rejected,
		429: whatsapp.RateLimited,
		500: whatsapp.Temporary,
		503: whatsapp.Temporary,
		504: whatsapp.Temporary,
	} {
		if got := whatsapp.StatusKind(status); got != want {
			t.Errorf("%d: %v, want %v", status, got, want)
		}
	}
}

// TestProgressWritten: a request the server received, then cut off
// without an answer, may have arrived.
func TestProgressWritten(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	var p whatsapp.Progress
	req, _ := http.NewRequestWithContext(p.Attach(context.Background()), http.MethodPost, srv.URL, strings.NewReader("{}"))
	resp, err := srv.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("the server answered")
	}
	if !p.MayHaveArrived(err) {
		t.Errorf("a written request %v is said not to have arrived", err)
	}
}

// TestProgressRefused: a refused connection never sent anything.
func TestProgressRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var p whatsapp.Progress
	req, _ := http.NewRequestWithContext(p.Attach(context.Background()), http.MethodPost, "http://"+addr+"/", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Skip("something listens on a port just closed")
	}
	if p.MayHaveArrived(err) {
		t.Errorf("a refused connection %v is said to have arrived", err)
	}
}

// TestProgressWithoutTrace: when no trace event came (a RoundTripper
// without httptrace), only a dial or DNS failure proves nothing left.
func TestProgressWithoutTrace(t *testing.T) {
	var p whatsapp.Progress
	dial := &url.Error{Op: "Post", URL: "http://x/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}}
	dns := &url.Error{Op: "Post", URL: "http://x/", Err: &net.DNSError{Err: "no such host", Name: "x"}}
	read := &url.Error{Op: "Post", URL: "http://x/", Err: &net.OpError{Op: "read", Net: "tcp", Err: errors.New("reset")}}
	if p.MayHaveArrived(dial) || p.MayHaveArrived(dns) {
		t.Error("a dial or DNS failure is said to have arrived")
	}
	if !p.MayHaveArrived(read) || !p.MayHaveArrived(errors.New("unknown")) {
		t.Error("a failure after dialing is said not to have arrived")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestTransportError(t *testing.T) {
	secret := &url.Error{Op: "Post", URL: "https://api.example/send?sig=SECRET", Err: errors.New("reset")}
	for _, tc := range []struct {
		err             error
		arrived, unsafe bool
		kind            whatsapp.ErrorKind
		msg             string
	}{
		{secret, false, true, whatsapp.Temporary, "Twilio could not be reached"},
		{secret, true, false, whatsapp.Temporary, "no answer from Twilio"},
		{secret, true, true, whatsapp.Ambiguous, "no answer from Twilio; the message may have been sent"},
		{&url.Error{Op: "Post", URL: "https://api.example/", Err: timeoutErr{}}, true, true, whatsapp.Ambiguous,
			"no answer from Twilio; the message may have been sent (timeout)"},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false, false, whatsapp.Temporary, "Twilio could not be reached (timeout)"},
	} {
		e := whatsapp.TransportError("Twilio", tc.err, tc.arrived, tc.unsafe)
		if e.Kind != tc.kind || e.Message != tc.msg {
			t.Errorf("%v arrived=%v unsafe=%v: %v %q, want %v %q", tc.err, tc.arrived, tc.unsafe, e.Kind, e.Message, tc.kind, tc.msg)
		}
		if strings.Contains(e.Err.Error(), "SECRET") {
			t.Errorf("the URL's query is in %q", e.Err)
		}
	}
}

func TestAnswerLost(t *testing.T) {
	cause := errors.New("unexpected EOF")
	e := whatsapp.AnswerLost("Graph", cause, 200, false)
	if e.Kind != whatsapp.Temporary || e.Message != "unreadable answer from Graph" || e.HTTPStatus != 200 || e.Err != cause {
		t.Errorf("safe: %+v", e)
	}
	e = whatsapp.AnswerLost("Graph", cause, 201, true)
	if e.Kind != whatsapp.Ambiguous || e.Message != "Graph accepted the message but its answer was unreadable" || e.HTTPStatus != 201 {
		t.Errorf("unsafe: %+v", e)
	}
}
