package twilio

import (
	"net/http"
	"strconv"
)

// cdnPath is where media URLs redirect to, like Twilio's pre-signed media
// CDN addresses: no credentials needed there.
const cdnPath = "/cdn/media/"

type storedMedia struct {
	mime  string
	data  []byte
	token string
}

// storeMedia keeps an inbound file and returns its MediaUrl.
func (s *Server) storeMedia(messageSID, mimeType string, data []byte) string {
	path := s.accountPath() + "/Messages/" + messageSID + "/Media/" + newSID("ME")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[path] = &storedMedia{mime: mimeType, data: data, token: randHex(16)}
	return s.URL + path
}

// serveMedia answers a MediaUrl (credentials already checked) with a
// temporary redirect to the file, as Twilio does.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	m, ok := s.media[r.URL.Path]
	s.mu.Unlock()
	if !ok {
		writeError(w, apiError{Status: http.StatusNotFound, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
		return
	}
	http.Redirect(w, r, s.URL+cdnPath+m.token, http.StatusTemporaryRedirect)
}

// serveCDN serves a file by its token.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Path[len(cdnPath):]
	s.mu.Lock()
	var found *storedMedia
	for _, m := range s.media {
		if m.token == token {
			found = m
		}
	}
	s.mu.Unlock()
	if found == nil || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", found.mime)
	w.Header().Set("Content-Length", strconv.Itoa(len(found.data)))
	w.Write(found.data)
}
