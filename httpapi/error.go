package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
)

// codes maps application error codes to HTTP statuses, in one place.
var codes = map[string]int{
	parley.EINVALID:             http.StatusBadRequest,
	parley.EUNAUTHORIZED:        http.StatusUnauthorized,
	parley.EFORBIDDEN:           http.StatusForbidden,
	parley.ENOTFOUND:            http.StatusNotFound,
	parley.ECONFLICT:            http.StatusConflict,
	parley.ETOOLARGE:            http.StatusRequestEntityTooLarge,
	parley.EOUTSIDEWINDOW:       http.StatusUnprocessableEntity,
	parley.EOPTEDOUT:            http.StatusUnprocessableEntity,
	parley.ETEMPLATENOTAPPROVED: http.StatusUnprocessableEntity,
	parley.ECHANNELUNHEALTHY:    http.StatusConflict,
	parley.ETEMPLATEUNFILLED:    http.StatusUnprocessableEntity,
	parley.EUNKNOWNVARIABLE:     http.StatusUnprocessableEntity,
	parley.EUNAVAILABLE:         http.StatusBadGateway,
	parley.EINTERNAL:            http.StatusInternalServerError,
}

// statusCodes maps HTTP statuses back to codes, for errors raised by the
// framework itself (a malformed body, a missing field).
var statusCodes = map[int]string{
	http.StatusBadRequest:            parley.EINVALID,
	http.StatusUnprocessableEntity:   parley.EINVALID,
	http.StatusUnauthorized:          parley.EUNAUTHORIZED,
	http.StatusForbidden:             parley.EFORBIDDEN,
	http.StatusNotFound:              parley.ENOTFOUND,
	http.StatusMethodNotAllowed:      parley.EINVALID,
	http.StatusConflict:              parley.ECONFLICT,
	http.StatusRequestEntityTooLarge: parley.ETOOLARGE,
	http.StatusUnsupportedMediaType:  parley.EINVALID,
}

// APIError is the body of every error response:
// {"error":{"code":"…","message":"…"}}.
type APIError struct {
	status int
	Body   ErrorBody `json:"error"`
}

// ErrorBody is an error's code, message and, when there is something the
// caller can do instead, a hint.
type ErrorBody struct {
	Code    string   `json:"code" doc:"Machine-readable code, such as outside_window, opted_out, template_not_approved, template_unfilled, invalid, not_found, forbidden."`
	Message string   `json:"message" doc:"What went wrong, for people."`
	Hint    string   `json:"hint,omitempty" doc:"What to do instead."`
	Details []string `json:"details,omitempty" doc:"Each problem found in the request."`
}

func (e *APIError) Error() string  { return e.Body.Message }
func (e *APIError) GetStatus() int { return e.status }

func init() {
	// The framework's own errors (validation, malformed JSON, body too
	// large) take the same shape as Parley's.
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		if status == http.StatusUnprocessableEntity {
			status = http.StatusBadRequest
		}
		code, ok := statusCodes[status]
		if !ok {
			code = parley.EINTERNAL
		}
		e := &APIError{status: status, Body: ErrorBody{Code: code, Message: msg}}
		for _, err := range errs {
			if err == nil {
				continue
			}
			var d *huma.ErrorDetail
			if errors.As(err, &d) {
				e.Body.Details = append(e.Body.Details, strings.TrimPrefix(d.Location+": ", ": ")+d.Message)
			} else if code != parley.EINTERNAL {
				e.Body.Details = append(e.Body.Details, err.Error())
			}
		}
		if code == parley.EINTERNAL {
			e.Body.Message = "Internal error."
		}
		return e
	}
}

// apiError converts an error returned by the core into a response. Errors
// that are not application errors are logged and hidden: their text may
// carry SQL, addresses or tokens.
func apiError(ctx context.Context, log *slog.Logger, err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	code := parley.ErrorCode(err)
	if code == parley.EINTERNAL {
		log.ErrorContext(ctx, "internal error", "error", err)
	}
	status, ok := codes[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &APIError{status: status, Body: ErrorBody{Code: code, Message: parley.ErrorMessage(err), Hint: parley.ErrorHint(err),
		Details: parley.ErrorDetails(err)}}
}

// writeError writes an error response from a plain net/http handler.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := apiError(r.Context(), log, err)
	writeJSON(w, e.status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
