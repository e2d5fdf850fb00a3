package dataverse

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Where each rule comes from. Files are in testdata/specs/dataverse; page
// names are under learn.microsoft.com/power-apps/developer/data-platform/
// unless a full address is given.
const (
	docCompose     = "webapi/compose-http-requests-handle-errors, error-bodies.examples.http"
	docClientErr   = "learn.microsoft.com/troubleshoot/power-platform/dataverse/dataverse-web-api-and-sdk/web-api-client-errors"
	docBatch       = "webapi/execute-batch-operations-using-web-api, batch-*.request.http"
	docPaging      = "webapi/query/page-results, paging-maxpagesize.exchange.http"
	docSelect      = "webapi/query/select-columns"
	docTracking    = "use-change-tracking-synchronize-data-external-systems, change-tracking-deltalink.exchange.http"
	docUpsert      = "use-upsert-insert-update-record, upsert-alternate-key.exchange.http"
	docConditional = "webapi/perform-conditional-operations-using-web-api, conditional-etag.exchange.http"
	docCreate      = "webapi/create-entity-web-api, create-odata-bind.exchange.http"
	docParties     = "activityparty-entity, activity-party-facts.json"
	docToken       = "learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow, token-client-credentials.exchange.http"
	docLimits      = "api-limits, service-protection-limits.json"
	docTables      = "webapi/create-update-entity-definitions-using-web-api"
	docActivities  = "custom-activities"
	docKeys        = "define-alternate-keys-entity"
)

// apiError is a Dataverse error answer: {"error":{"code","message"}}, as
// documented in error-bodies.examples.http.
type apiError struct {
	status  int
	code    string
	message string
	header  http.Header
	raw     []byte // sent instead of the JSON envelope when set
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s %s", e.status, e.code, e.message) }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func (e *apiError) reply() reply {
	h := http.Header{}
	for k, v := range e.header {
		h[k] = append([]string(nil), v...)
	}
	body := e.raw
	if body == nil {
		body, _ = json.Marshal(map[string]any{"error": map[string]string{"code": e.code, "message": e.message}})
		h.Set("Content-Type", "application/json; odata.metadata=minimal")
	}
	h.Set("OData-Version", "4.0")
	return reply{status: e.status, header: h, body: body}
}

// The errors Dataverse answers, with their documented code and message
// where a page or spec file shows them. The ones marked "guess" were not
// found documented; their shape follows the documented envelope.

// errNotFound is the documented 404 for a row that does not exist
// (error-bodies.examples.http: "account With Id = … Does Not Exist", with
// an empty code).
func errNotFound(t *table, id string) *apiError {
	return errorf(http.StatusNotFound, "", "%s With Id = %s Does Not Exist", t.logical, id)
}

// errSegment is web-api-client-errors' "Resource not found for the segment".
func errSegment(seg string) *apiError {
	return errorf(http.StatusNotFound, "0x8006088a", "Resource not found for the segment '%s'.", seg)
}

// errNoProperty is web-api-client-errors' answer to an unknown property in
// a query.
func errNoProperty(typeName, prop string) *apiError {
	return errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", prop, typeName)
}

// errInvalidProperty is web-api-client-errors' answer to an unknown
// property in a body.
func errInvalidProperty(typeName, prop string) *apiError {
	return errorf(http.StatusBadRequest, "0x0", "An error occurred while validating input parameters: Microsoft.Crm.CrmException: Invalid property '%s' was found in entity 'Microsoft.Dynamics.CRM.%s'. ---> Microsoft.OData.ODataException: Does not support untyped value in non-open type.", prop, typeName)
}

// errPayload is web-api-client-errors' 0x80048d19 "Error identified in
// Payload provided by the user", with the inner exception's text.
func errPayload(set, inner string) *apiError {
	return errorf(http.StatusBadRequest, "0x80048d19", "Error identified in Payload provided by the user for Entity :'%s', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : %s", set, inner)
}

func errUndeclaredNav(set, nav string) *apiError {
	return errPayload(set, fmt.Sprintf("Microsoft.OData.ODataException: An undeclared property '%s' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.", nav))
}

// errTooLong is the validation error of batch-error-stop.response.http.
func errTooLong(t *table, c *column) *apiError {
	return errorf(http.StatusBadRequest, "0x80044331", "A validation error occurred.  The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.", c.name, t.logical, c.maxLength)
}

// errValue is a value of the wrong JSON type for its column (guess: the
// OData reader's conversion error, wrapped as payload errors are).
func errValue(t *table, c *column, v any) *apiError {
	return errPayload(t.set, fmt.Sprintf("Microsoft.OData.ODataException: Cannot convert the literal '%v' to the expected type '%s'.", v, edmType(c.typ)))
}

// errVersionMismatch and errExists are the documented 412 bodies
// (conditional-etag.exchange.http, error-bodies.examples.http).
func errVersionMismatch() *apiError {
	return errorf(http.StatusPreconditionFailed, "", "The version of the existing record doesn't match the RowVersion property provided.")
}

func errExists() *apiError {
	return errorf(http.StatusPreconditionFailed, "", "A record with matching key values already exists.")
}

// errDuplicate is DuplicateRecord (0x80040237), which compose-http-requests
// lists under 412, for a create that breaks an alternate key.
func errDuplicate() *apiError {
	return errorf(http.StatusPreconditionFailed, "0x80040237", "A record with matching key values already exists.")
}

// errQuery is a query the OData parser refuses. The code is a guess: it is
// the one community captures show for query errors.
func errQuery(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "0x80060888", format, args...)
}

// errTrackingDisabled is ChangeTrackingNotEnabledForEntity (0x80072491,
// "Entity {0} isn't enabled for change tracking.") from the web service
// error codes reference, as a community capture shows it on the wire.
func errTrackingDisabled(t *table) *apiError {
	return errorf(http.StatusBadRequest, "0x80072491", "Entity %s isn't enabled for change tracking.", t.logical)
}

// errExpiredToken is ExpiredVersionStamp (0x80044352), which Dataverse
// raises for a change-tracking token older than the retention (7 days by
// default). The status is a guess.
func errExpiredToken() *apiError {
	return errorf(http.StatusBadRequest, "0x80044352", "Version stamp associated with the client has expired. Please perform a full sync.")
}

// errUnauthorized answers a missing, unknown or expired access token.
// AccessTokenExpired (0x8005F101) is from the web service error codes
// reference; the WWW-Authenticate value is a guess.
func (s *Server) errUnauthorized() *apiError {
	e := errorf(http.StatusUnauthorized, "0x8005F101", "The requested resource requires authentication.")
	e.header = http.Header{"Www-Authenticate": {fmt.Sprintf("Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/", s.URL(), s.tenant, s.URL())}}
	return e
}

// Limit is one of the service protection limits of
// service-protection-limits.json.
type Limit int

const (
	// LimitRequests is "Number of requests exceeded the limit of 6000 over
	// time window of 300 seconds." (0x80072322).
	LimitRequests Limit = iota
	// LimitExecutionTime is the combined execution time limit (0x80072321).
	LimitExecutionTime
	// LimitConcurrency is "Number of concurrent requests exceeded the limit
	// of 52." (0x80072326).
	LimitConcurrency
)

var limits = map[Limit]struct{ code, message string }{
	LimitRequests:      {"0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."},
	LimitExecutionTime: {"0x80072321", "Combined execution time of incoming requests exceeded limit of 1,200,000  milliseconds over time window of 300 seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."},
	LimitConcurrency:   {"0x80072326", "Number of concurrent requests exceeded the limit of 52."},
}

// errThrottled is a 429 with Retry-After in whole seconds, rounded up.
func errThrottled(l Limit, retryAfter time.Duration) *apiError {
	e := errorf(http.StatusTooManyRequests, limits[l].code, "%s", limits[l].message)
	e.header = http.Header{"Retry-After": {strconv.Itoa(retrySeconds(retryAfter))}}
	return e
}

func retrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// edmType names a column's OData type, as parser errors do.
func edmType(t colType) string {
	switch t {
	case typeString, typeMemo:
		return "Edm.String"
	case typeInteger, typePicklist, typeState, typeStatus:
		return "Edm.Int32"
	case typeBoolean:
		return "Edm.Boolean"
	case typeDateTime:
		return "Edm.DateTimeOffset"
	case typeDecimal, typeMoney:
		return "Edm.Decimal"
	case typeDouble:
		return "Edm.Double"
	}
	return "Edm.Guid"
}
