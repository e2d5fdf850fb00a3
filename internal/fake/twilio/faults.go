package twilio

import (
	"net/http"
	"strconv"
)

// Fault is a way a send can go wrong. Faults apply to sends
// (POST …/Messages.json) only, in the order they were queued.
type Fault int

const (
	// RateLimit answers 429 with code 20429 and Retry-After: 1.
	RateLimit Fault = iota + 1
	// Unauthorized answers 401 with code 20003, as for a rotated token.
	Unauthorized
	// Outage answers 503 with code 20503: Twilio is down, nothing was sent.
	Outage
	// OutsideWindow accepts the send (201 queued) and then fails it
	// through its status callback with code 63016, as Twilio reports a
	// free-form WhatsApp message outside the 24-hour window.
	OutsideWindow
	// Interrupt records the message as sent, then closes the connection
	// without answering: the client cannot know whether it went out.
	Interrupt
)

// FailNext makes the next n sends meet f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// nextFault takes the next queued fault, or returns 0.
func (s *Server) nextFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return 0
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f
}

// refuses reports whether the fault answers with an error instead of
// accepting the send.
func (f Fault) refuses() bool {
	return f == RateLimit || f == Unauthorized || f == Outage
}

func (f Fault) write(w http.ResponseWriter) {
	switch f {
	case RateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(1))
		writeError(w, apiError{Status: http.StatusTooManyRequests, Code: 20429, Message: "Too Many Requests"})
	case Unauthorized:
		writeError(w, errAuthenticate())
	case Outage:
		writeError(w, apiError{Status: http.StatusServiceUnavailable, Code: 20503, Message: "Service Unavailable"})
	}
}

// interrupt drops the connection without an answer.
func (s *Server) interrupt(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.t.Errorf("fake twilio: cannot hijack the connection")
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		s.t.Errorf("fake twilio: hijack: %v", err)
		return
	}
	conn.Close()
}
