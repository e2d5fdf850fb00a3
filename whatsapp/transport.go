package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// This file holds the transport-error handling the HTTP adapters (meta,
// twilio, acs) share. Whether a failed request may have reached the vendor
// decides between Temporary (retry freely) and Ambiguous (a send that may
// already be out), so that judgement is made in one place; the wording
// names the vendor so that messages stay what each adapter always said.

// RedactURL drops the query, user info and fragment from the URL of a
// *url.Error, keeping the operation, scheme, host and path. Errors end up
// in logs and on messages, and a query may carry a secret: Graph's paging
// links an access_token, a media URL a signature. The cause stays in the
// chain for errors.Is and errors.As. Any other error is returned as is.
func RedactURL(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	where := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		u.RawQuery, u.User, u.Fragment = "", nil, ""
		where = u.String()
	}
	return fmt.Errorf("%s %s: %w", ue.Op, where, ue.Err)
}

// RetryAfter reads the standard Retry-After header, in seconds or as an
// HTTP date relative to now. It is 0 when the header is absent, not
// positive, unreadable, or a date already past. Vendors with headers of
// their own (Azure's retry-after-ms) read those first and fall back to it.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// StatusKind classifies an HTTP status when the vendor's answer says
// nothing more specific: 401 and 403 are the credentials (only an admin
// can fix them), 429 throttling, 5xx the vendor's trouble, and any other
// status a refusal of this request. Adapters whose vendor means something
// else by a status (Graph's 403, Azure's 408) say so around this call.
func StatusKind(status int) ErrorKind {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return Unauthorized
	case status == http.StatusTooManyRequests:
		return RateLimited
	case status >= 500:
		return Temporary
	}
	return Rejected
}

// Progress records, from httptrace events, how far one request got, to
// tell a request that never left (safe to retry) from one that may have
// reached the vendor. The zero value is ready; use one per request.
type Progress struct {
	started atomic.Bool // the transport began to get a connection
	wrote   atomic.Bool // the whole request was written
}

// Attach returns ctx with a client trace that feeds p. Build the request
// with the returned context.
func (p *Progress) Attach(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) { p.started.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				p.wrote.Store(true)
			}
		},
	})
}

// MayHaveArrived reports whether the request that failed with err could
// have reached the vendor. A request written out whole may have; one that
// got a connection but was not written whole may not, since the vendor
// cannot act on a request it did not fully receive. When the transport
// reported no progress at all (a custom RoundTripper without httptrace
// support), err decides: a failed dial or DNS lookup never sent anything;
// anything else might have.
func (p *Progress) MayHaveArrived(err error) bool {
	switch {
	case p.wrote.Load():
		return true
	case p.started.Load():
		return false
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial") {
		return false
	}
	return true
}

// TransportError classifies a request to vendor (its name as messages
// show it, e.g. "Graph") that got no HTTP answer. If it cannot have
// arrived (DNS, refused connection) it is Temporary: retrying cannot
// duplicate anything. If it may have arrived, an unsafe request (a send)
// is Ambiguous, since the message may be out; a safe one stays Temporary.
// A timeout adds " (timeout)" to the message. err is kept, its URL
// redacted (RedactURL).
func TransportError(vendor string, err error, mayHaveArrived, unsafe bool) *Error {
	err = RedactURL(err)
	e := &Error{Kind: Temporary, Err: err, Message: vendor + " could not be reached"}
	if mayHaveArrived {
		e.Message = "no answer from " + vendor
		if unsafe {
			e.Kind = Ambiguous
			e.Message = "no answer from " + vendor + "; the message may have been sent"
		}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		e.Message += " (timeout)"
	}
	return e
}

// AnswerLost is a 2xx answer from vendor that could not be read. The
// vendor did the work, so for an unsafe request (a send) the message is
// out but what identifies it was lost: Ambiguous. For a safe request it
// is Temporary. err is kept as given; redact it first if it may hold a URL.
func AnswerLost(vendor string, err error, status int, unsafe bool) *Error {
	e := &Error{Kind: Temporary, HTTPStatus: status, Err: err, Message: "unreadable answer from " + vendor}
	if unsafe {
		e.Kind = Ambiguous
		e.Message = vendor + " accepted the message but its answer was unreadable"
	}
	return e
}
