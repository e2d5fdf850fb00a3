package dataverse

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is an answer the fake gives instead of serving a request: a
// service protection 429 (see Throttle) or an outage (see Outage).
type Fault struct {
	Status     int
	Code       string        // the Dataverse error code of the body
	Message    string        // its message
	RetryAfter time.Duration // sent as Retry-After in whole seconds when set
	// Body, when set, is sent as is instead of the JSON error, such as a
	// gateway's HTML page during an outage.
	Body []byte
	// Path limits the fault to requests whose path contains it (such as
	// "$batch" or "/leads"); empty matches every Web API request.
	Path string
}

// Throttle is the documented 429 of a service protection limit, with its
// error code and message (service-protection-limits.json) and a
// Retry-After.
func Throttle(l Limit, retryAfter time.Duration) Fault {
	return Fault{Status: http.StatusTooManyRequests, Code: limits[l].code, Message: limits[l].message, RetryAfter: retryAfter}
}

// Outage is a server failure: 503 Service Unavailable, which
// compose-http-requests-handle-errors lists for "the web API service isn't
// available", or 500. The error code is a guess (0x80040216, "An unexpected
// error occurred.", as community captures show for transient failures).
func Outage(status int) Fault {
	return Fault{Status: status, Code: "0x80040216", Message: "An unexpected error occurred."}
}

type fault struct {
	Fault
	left     int       // requests left; -1 when the fault is a time window
	from, to time.Time // the window, on the fake's clock
}

// FailNext makes the next n Web API requests (matching f.Path) get f.
// Faults apply after authentication and before anything else, so a
// throttled request does nothing. A $batch counts as one request here.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: n})
}

// FailFor makes every Web API request get f for d from now, on the fake's
// clock (see WithClock).
func (s *Server) FailFor(d time.Duration, f Fault) {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	s.FailWindow(now, now.Add(d), f)
}

// FailWindow makes every Web API request between from (inclusive) and to
// (exclusive) get f.
func (s *Server) FailWindow(from, to time.Time, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: -1, from: from, to: to})
}

// takeFault returns the answer of the first fault that matches.
func (s *Server) takeFault(path string) *apiError {
	now := s.now()
	for i := 0; i < len(s.faults); i++ {
		f := s.faults[i]
		if f.Path != "" && !strings.Contains(path, f.Path) {
			continue
		}
		if f.left < 0 {
			if now.Before(f.from) || !now.Before(f.to) {
				continue
			}
		} else {
			if f.left--; f.left <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
		}
		e := &apiError{status: f.Status, code: f.Code, message: f.Message, raw: f.Body, header: http.Header{}}
		if f.RetryAfter > 0 {
			e.header.Set("Retry-After", strconv.Itoa(retrySeconds(f.RetryAfter)))
		}
		if f.Body != nil {
			e.header.Set("Content-Type", "text/html")
		}
		return e
	}
	return nil
}

// charge counts n requests against the sliding window of
// service-protection-limits.json ("Number of requests … 6000 within the 5
// minute sliding window"), each request inside a $batch counting once.
// Over the limit it answers 429 with the time until enough of the window
// has passed.
func (s *Server) charge(n int) *apiError {
	now := s.now()
	cut := 0
	for cut < len(s.charged) && !s.charged[cut].After(now.Add(-s.window)) {
		cut++
	}
	s.charged = s.charged[cut:]
	if len(s.charged)+n > s.windowLimit {
		wait := s.window
		if over := len(s.charged) + n - s.windowLimit; over <= len(s.charged) {
			wait = s.charged[over-1].Add(s.window).Sub(now)
		}
		return errThrottled(LimitRequests, wait)
	}
	for i := 0; i < n; i++ {
		s.charged = append(s.charged, now)
	}
	return nil
}

// Hold holds every Web API request admitted from now on, once it counts
// against the concurrency limit, until release is called or the client
// gives up. With it a test can have 60 requests in flight at once and see
// the ones over the limit of 52 refused, without sleeping. Release is
// idempotent; Close releases too.
func (s *Server) Hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
	ch := s.hold
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.hold == ch {
			close(ch)
			s.hold = nil
		}
	}
}
