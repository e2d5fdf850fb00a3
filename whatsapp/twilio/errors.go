package twilio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/whatsapp"
)

// apiError is Twilio's error answer: {"code","message","more_info","status"}.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

// codeKinds are the Twilio error codes that decide what the core does,
// whether they come as an API error or in a status callback's ErrorCode.
// Codes not listed are decided by the HTTP status (for a callback, they
// are Rejected: the message failed). Twilio's WhatsApp codes map WhatsApp's
// own (https://www.twilio.com/docs/whatsapp/api/error-code-mapping):
// 63016 is WhatsApp's 470 (outside the window), 63018 its 429/471.
var codeKinds = map[int]whatsapp.ErrorKind{
	63016: whatsapp.OutsideWindow, // free-form message outside the 24-hour window
	20429: whatsapp.RateLimited,   // too many requests to the REST API
	63018: whatsapp.RateLimited,   // WhatsApp rate limit for the sender
	14107: whatsapp.RateLimited,   // message rate limit exceeded
	20003: whatsapp.Unauthorized,  // authentication failed (wrong or rotated token)
	20005: whatsapp.Unauthorized,  // the account is not active
	20008: whatsapp.Unauthorized,  // test credentials cannot do this
	63007: whatsapp.Unauthorized,  // the From address is not a WhatsApp sender of this account
	20500: whatsapp.Temporary,     // Twilio internal error
	20503: whatsapp.Temporary,     // Twilio unavailable
	63012: whatsapp.Temporary,     // WhatsApp internal error
	21211: whatsapp.Rejected,      // invalid To number
	21602: whatsapp.Rejected,      // body required
	21617: whatsapp.Rejected,      // body longer than 1600 characters
	21654: whatsapp.Rejected,      // ContentVariables without ContentSid
	21655: whatsapp.Rejected,      // ContentSid invalid
	21656: whatsapp.Rejected,      // ContentVariables invalid
	63003: whatsapp.Rejected,      // the recipient is not on WhatsApp
	63013: whatsapp.Rejected,      // WhatsApp policy violation
	63021: whatsapp.Rejected,      // content WhatsApp does not accept
	63024: whatsapp.Rejected,      // invalid recipient
	63032: whatsapp.Rejected,      // the user is part of a WhatsApp experiment
}

// kindOf classifies a code; ok is false for codes not in the table.
func kindOf(code int) (whatsapp.ErrorKind, bool) {
	k, ok := codeKinds[code]
	return k, ok
}

// httpError classifies a non-2xx answer: the Twilio code first, then the
// HTTP status (401 credentials, 429 throttling, 5xx Twilio's trouble, any
// other 4xx a refusal of this message). A 404 for the account's own
// resources means the account SID is wrong, which only an admin can fix.
func httpError(resp *http.Response, body []byte, unsafe bool) *whatsapp.Error {
	e := &whatsapp.Error{HTTPStatus: resp.StatusCode, RetryAfter: whatsapp.RetryAfter(resp.Header, time.Now())}
	var ae apiError
	if json.Unmarshal(body, &ae) != nil || (ae.Code == 0 && ae.Message == "") {
		e.Kind = whatsapp.StatusKind(resp.StatusCode)
		e.Message = fmt.Sprintf("HTTP %d from Twilio", resp.StatusCode)
		if unsafe && resp.StatusCode == http.StatusGatewayTimeout {
			e.Kind = whatsapp.Ambiguous
		}
		return e
	}
	if ae.Code != 0 {
		e.Code = strconv.Itoa(ae.Code)
	}
	e.Message, e.Details = ae.Message, ae.MoreInfo
	if k, ok := kindOf(ae.Code); ok {
		e.Kind = k
	} else if ae.Code == 20404 && strings.Contains(resp.Request.URL.Path, "/Accounts/") && !strings.Contains(resp.Request.URL.Path, "/Media/") {
		e.Kind = whatsapp.Unauthorized
	} else {
		e.Kind = whatsapp.StatusKind(resp.StatusCode)
	}
	return e
}

func refuse(format string, args ...any) error {
	return &whatsapp.Error{Kind: whatsapp.Rejected, Message: fmt.Sprintf(format, args...)}
}
