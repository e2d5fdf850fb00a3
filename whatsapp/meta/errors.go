package meta

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
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
	e := &whatsapp.Error{HTTPStatus: resp.StatusCode, RetryAfter: whatsapp.RetryAfter(resp.Header, time.Now())}
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

// graphStatusKind is whatsapp.StatusKind except for 403, which stays a
// refusal of this request rather than a credentials problem, as Meta's
// adapter always classified it: the token errors Graph sends are 401 or
// are picked out by code in graphCodeKinds (190, 102, 104).
func graphStatusKind(status int) whatsapp.ErrorKind {
	if status == http.StatusForbidden {
		return whatsapp.Rejected
	}
	return whatsapp.StatusKind(status)
}
