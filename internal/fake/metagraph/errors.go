package metagraph

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// GraphError is a Graph API error, as the envelope
// {"error":{"message","type","code","error_subcode","error_data","fbtrace_id"}}
// documented in Meta's OpenAPI (components GraphAPIError) carries it.
type GraphError struct {
	Message   string
	Type      string // "OAuthException" when empty
	Code      int
	Subcode   int    // error_subcode, omitted when zero
	UserTitle string // error_user_title
	UserMsg   string // error_user_msg
	Details   string // error_data.details, as WhatsApp errors carry it
	FBTraceID string // a fixed trace ID when empty
}

// JSON renders the error envelope.
func (e GraphError) JSON() []byte {
	type data struct {
		MessagingProduct string `json:"messaging_product"`
		Details          string `json:"details"`
	}
	type body struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		Subcode   int    `json:"error_subcode,omitempty"`
		UserTitle string `json:"error_user_title,omitempty"`
		UserMsg   string `json:"error_user_msg,omitempty"`
		Data      *data  `json:"error_data,omitempty"`
		FBTraceID string `json:"fbtrace_id"`
	}
	b := body{
		Message: e.Message, Type: e.Type, Code: e.Code, Subcode: e.Subcode,
		UserTitle: e.UserTitle, UserMsg: e.UserMsg, FBTraceID: e.FBTraceID,
	}
	if b.Type == "" {
		b.Type = "OAuthException"
	}
	if b.FBTraceID == "" {
		b.FBTraceID = "AbCdEfGhIjKlMnOpQrStUvW"
	}
	if e.Details != "" {
		b.Data = &data{MessagingProduct: "whatsapp", Details: e.Details}
	}
	out, _ := json.Marshal(map[string]any{"error": b})
	return out
}

// known are the errors tests inject most, with the HTTP status Graph
// answers them with. Where Meta's OpenAPI shows a code in a response
// (4 as 429, 190 as 401, 132000 as 404, 1 as 500) its status is used;
// WhatsApp's own codes come back as 400.
var known = map[int]struct {
	status int
	err    GraphError
}{
	1:      {500, GraphError{Message: "An unknown error occurred", Code: 1}},
	2:      {503, GraphError{Message: "Service temporarily unavailable", Code: 2}},
	4:      {429, GraphError{Message: "(#4) Application request limit reached", Code: 4}},
	100:    {400, GraphError{Message: "(#100) Invalid parameter", Code: 100}},
	190:    {401, GraphError{Message: "Error validating access token: Session has expired.", Code: 190, Subcode: 463}},
	80007:  {400, GraphError{Message: "(#80007) Rate limit issues", Code: 80007, Details: "The WhatsApp Business Account has reached its rate limit."}},
	130429: {400, GraphError{Message: "(#130429) Rate limit hit", Code: 130429, Details: "Cloud API message throughput has been reached."}},
	131000: {500, GraphError{Message: "(#131000) Something went wrong", Code: 131000, Details: "Message failed to send due to an unknown error."}},
	131026: {400, GraphError{Message: "(#131026) Message Undeliverable", Code: 131026, Details: "Message failed to send because the recipient cannot receive it."}},
	131047: {400, GraphError{Message: "(#131047) Re-engagement message", Code: 131047, Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}},
	131049: {400, GraphError{Message: "(#131049) This message was not delivered to maintain healthy ecosystem engagement.", Code: 131049, Details: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."}},
	131056: {400, GraphError{Message: "(#131056) (Business Account, Consumer Account) pair rate limit hit", Code: 131056, Details: "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."}},
	132000: {404, GraphError{Message: "(#132000) Number of parameters does not match the expected number of params", Code: 132000, Details: "body: number of localizable_params (1) does not match the expected number of params (2)"}},
	132001: {404, GraphError{Message: "(#132001) Template name does not exist in the translation", Code: 132001, Details: "template name (order_update) does not exist in en_US"}},
}

// KnownError returns a realistic Graph error for a code, with the HTTP
// status Graph sends it with. Unknown codes get status 400 and a generic
// message.
func KnownError(code int) (status int, e GraphError) {
	if k, ok := known[code]; ok {
		return k.status, k.err
	}
	return http.StatusBadRequest, GraphError{Message: fmt.Sprintf("(#%d) Error", code), Code: code}
}

// Errors the fake itself answers with.
func errNoToken() GraphError {
	return GraphError{Message: "An access token is required to request this resource.", Code: 104}
}

func errBadToken() GraphError {
	return GraphError{Message: "Invalid OAuth access token - Cannot parse access token", Code: 190}
}

func errNoObject(id string) GraphError {
	return GraphError{
		Message: fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id),
		Type:    "GraphMethodException", Code: 100, Subcode: 33,
	}
}

func errUnknownPath() GraphError {
	return GraphError{Message: "Unknown path components", Code: 2500}
}

func errInvalid(details ...string) GraphError {
	return GraphError{Message: "(#100) Invalid parameter", Code: 100, Details: strings.Join(details, "; ")}
}
