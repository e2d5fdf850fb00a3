package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/whatsapp"
)

// graphEnvelope is Graph's error answer:
// {"error":{"message","type","code","error_subcode","error_user_title",
// "error_user_msg","error_data":{"details"},"is_transient","fbtrace_id"}}.
type graphEnvelope struct {
	Error *struct {
		Message     string          `json:"message"`
		Type        string          `json:"type"`
		Code        int             `json:"code"`
		Subcode     int             `json:"error_subcode"`
		UserTitle   string          `json:"error_user_title"`
		UserMsg     string          `json:"error_user_msg"`
		Data        json.RawMessage `json:"error_data"`
		IsTransient bool            `json:"is_transient"`
		FBTraceID   string          `json:"fbtrace_id"`
	} `json:"error"`
}

// details reads error_data.details. Older Graph errors carry error_data
// as a JSON string instead of an object; that string is the detail.
func (e *graphEnvelope) details() string {
	var obj struct {
		Details string `json:"details"`
	}
	if json.Unmarshal(e.Error.Data, &obj) == nil && obj.Details != "" {
		return obj.Details
	}
	var s string
	if json.Unmarshal(e.Error.Data, &s) == nil {
		return s
	}
	return ""
}

// WhatsApp error codes that decide what the core does. Everything not
// listed is decided by the HTTP status.
var graphCodeKinds = map[int]whatsapp.ErrorKind{
	131047: whatsapp.OutsideWindow, // re-engagement: more than 24 hours since the customer wrote
	130429: whatsapp.RateLimited,   // Cloud API throughput reached
	131056: whatsapp.RateLimited,   // pair rate limit: too many to one recipient
	80007:  whatsapp.RateLimited,   // WhatsApp Business Account rate limit
	4:      whatsapp.RateLimited,   // application request limit
	190:    whatsapp.Unauthorized,  // access token expired or invalid
	102:    whatsapp.Unauthorized,  // session key invalid
	104:    whatsapp.Unauthorized,  // no access token
	1:      whatsapp.Temporary,     // unknown error
	2:      whatsapp.Temporary,     // service temporarily unavailable
}

// graphHTTPError classifies a non-2xx answer. The Graph error code wins
// over the HTTP status (Graph sends most errors as 400), then 401 means
// the credentials, 429 throttling, 5xx Meta's trouble, and any other 4xx
// a refusal of this message.
func graphHTTPError(resp *http.Response, body []byte, unsafe bool) *whatsapp.Error {
	e := &whatsapp.Error{HTTPStatus: resp.StatusCode, RetryAfter: graphRetryAfter(resp.Header, time.Now())}
	var env graphEnvelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil {
		e.Kind = graphStatusKind(resp.StatusCode)
		e.Message = fmt.Sprintf("HTTP %d from Graph", resp.StatusCode)
		if unsafe && resp.StatusCode == http.StatusGatewayTimeout {
			// A gateway gave up waiting for Meta's backend, which may
			// still have sent the message.
			e.Kind = whatsapp.Ambiguous
		}
		return e
	}
	ge := env.Error
	if ge.Code != 0 {
		e.Code = strconv.Itoa(ge.Code)
	}
	e.Title = ge.UserTitle
	if e.Title == "" {
		e.Title = ge.Type
	}
	e.Message = ge.Message
	if e.Message == "" {
		e.Message = ge.UserMsg
	}
	e.Details = env.details()
	kind, ok := graphCodeKinds[ge.Code]
	switch {
	case ok:
		e.Kind = kind
	case ge.IsTransient && resp.StatusCode != http.StatusUnauthorized:
		e.Kind = whatsapp.Temporary
	default:
		e.Kind = graphStatusKind(resp.StatusCode)
	}
	return e
}

func graphStatusKind(status int) whatsapp.ErrorKind {
	switch {
	case status == http.StatusUnauthorized:
		return whatsapp.Unauthorized
	case status == http.StatusTooManyRequests:
		return whatsapp.RateLimited
	case status >= 500:
		return whatsapp.Temporary
	}
	return whatsapp.Rejected
}

// graphRetryAfter reads Retry-After, in seconds or as an HTTP date.
func graphRetryAfter(h http.Header, now time.Time) time.Duration {
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

// graphTransportError classifies a request that got no HTTP answer. If it
// never left (DNS, refused connection, a context cancelled before
// sending) it is Temporary: retrying cannot duplicate anything. If it may
// have reached Meta (a timeout or reset after writing), an unsafe request
// is Ambiguous.
func graphTransportError(err error, progress *graphProgress, unsafe bool) *whatsapp.Error {
	err = graphRedact(err)
	e := &whatsapp.Error{Kind: whatsapp.Temporary, Err: err, Message: "Graph could not be reached"}
	if progress.mayHaveArrived(err) {
		e.Message = "no answer from Graph"
		if unsafe {
			e.Kind = whatsapp.Ambiguous
			e.Message = "no answer from Graph; the message may have been sent"
		}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		e.Message += " (timeout)"
	}
	return e
}

// graphAnswerLost is a 2xx answer that could not be read.
func graphAnswerLost(err error, status int, unsafe bool) *whatsapp.Error {
	e := &whatsapp.Error{Kind: whatsapp.Temporary, HTTPStatus: status, Err: err, Message: "unreadable answer from Graph"}
	if unsafe {
		e.Kind = whatsapp.Ambiguous
		e.Message = "Graph accepted the message but its answer was unreadable"
	}
	return e
}

// graphRedact drops the URL from a *url.Error: Graph's paging links can
// carry an access_token, and errors end up in logs and on messages. The
// cause stays in the chain for errors.Is/As.
func graphRedact(err error) error {
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
