package metagraph

import (
	"net/http"
	"strings"
)

// Fault is an answer the fake gives instead of the real one.
type Fault struct {
	Status int
	// Error is the Graph error sent, unless Body is set.
	Error GraphError
	// Body is sent as is (for instance a load balancer's HTML page).
	Body []byte
	// Header is added to the answer, e.g. Retry-After.
	Header http.Header
	// Path limits the fault to requests whose path contains it (such as
	// "/messages"); empty matches every request.
	Path string
}

type fault struct {
	Fault
	left int
}

// Inject makes the next n matching requests get f. Faults apply after
// the token is checked and, for sends, after the body is validated, so
// an invalid request is still reported. Faults queue in order.
func (s *Server) Inject(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{Fault: f, left: n})
}

// FailNext makes the next n requests fail with a Graph error, such as
// FailNext(1, KnownError(131047)).
func (s *Server) FailNext(n int, status int, e GraphError) {
	s.Inject(n, Fault{Status: status, Error: e})
}

// OnMessage sets a hook that sees every valid send or read receipt body
// first. When it reports handled, its status and response are sent
// instead of the fake's.
func (s *Server) OnMessage(hook func(body []byte) (status int, resp []byte, handled bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMessage = hook
}

// Stall holds every request from now on (after recording it) until
// release is called or the client gives up, so a test can make a client
// time out without sleeping: the request has reached the fake, and no
// answer comes. Release is idempotent; Close releases too.
func (s *Server) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = make(chan struct{})
	}
	ch := s.stall
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.stall == ch {
			close(ch)
			s.stall = nil
		}
	}
}

// injected writes the next fault matching r, if any.
func (s *Server) injected(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	var f *fault
	for i, c := range s.faults {
		if c.Path == "" || strings.Contains(r.URL.Path, c.Path) {
			f = c
			if c.left--; c.left <= 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if f == nil {
		return false
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if f.Body != nil {
		w.WriteHeader(f.Status)
		w.Write(f.Body)
		return true
	}
	writeError(w, f.Status, f.Error)
	return true
}
