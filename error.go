package parley

import (
	"errors"
	"fmt"
)

// Application error codes. They are the machine-readable "code" of the REST
// API's error body, so they are part of the public contract: add codes, never
// rename them.
const (
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EUNAUTHORIZED = "unauthorized"
	ETOOLARGE     = "too_large"
	EINTERNAL     = "internal"
	EUNAVAILABLE  = "unavailable"

	// WhatsApp platform rules.
	EOUTSIDEWINDOW       = "outside_window"
	EOPTEDOUT            = "opted_out"
	ETEMPLATENOTAPPROVED = "template_not_approved"
	ECHANNELUNHEALTHY    = "channel_unhealthy"

	// Template bindings: a send whose variables could not all be filled
	// from the record, the contact and the bindings; bindings naming
	// variables the template does not have.
	ETEMPLATEUNFILLED = "template_unfilled"
	EUNKNOWNVARIABLE  = "unknown_variable"
)

// Error is an error a user can act on. Its Message is shown to API callers
// and agents as is, so it must never carry secrets or internal detail; the
// optional Hint tells them what to do instead.
type Error struct {
	Code    string
	Message string
	Hint    string
	// Details lists each problem when there are several (each variable
	// a template send left unfilled), for callers to show one by one.
	Details []string
}

func (e *Error) Error() string {
	if e.Hint != "" {
		return fmt.Sprintf("parley error: code=%s message=%s hint=%s", e.Code, e.Message, e.Hint)
	}
	return fmt.Sprintf("parley error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an application error with the given code.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns a copy of e with a hint for the caller.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// ErrorCode returns the code of an application error anywhere in err's
// chain, EINTERNAL for any other error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of an application error.
// Other errors yield a generic text, because their detail may carry
// internals (SQL, addresses, tokens) that must stay in the logs.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorHint returns the hint of an application error, if any.
func ErrorHint(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Hint
	}
	return ""
}

// ErrorDetails returns the details of an application error, if any.
func ErrorDetails(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return e.Details
	}
	return nil
}
