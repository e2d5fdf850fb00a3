package metagraph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
)

// downloadPath mimics the lookaside address media URLs point at.
const downloadPath = "/whatsapp_business/attachments/"

type storedMedia struct {
	id, mime, filename string
	data               []byte
}

// Upload is a file the fake accepted on POST /{phone-number-id}/media.
type Upload struct {
	PhoneNumberID string
	ID            string
	MIMEType      string // the "type" field
	Filename      string
	Data          []byte
}

// Uploads returns the accepted uploads, in order.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Upload(nil), s.uploads...)
}

// AddMedia stores a file as if a customer had sent it, so that
// GET /{media-id} and the download work for it.
func (s *Server) AddMedia(id, mimeType string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.media[id] = &storedMedia{id: id, mime: mimeType, data: data}
}

// ExpireMediaURLs makes every media URL handed out so far stop working
// (Meta's expire after five minutes); GET /{media-id} gives new ones.
func (s *Server) ExpireMediaURLs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.urlEpoch++
}

// MediaURL is the current download address of a media ID, as
// GET /{media-id} would return it.
func (s *Server) MediaURL(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mediaURL(id)
}

func (s *Server) mediaURL(id string) string {
	q := url.Values{"mid": {id}, "ext": {strconv.Itoa(s.urlEpoch)}, "hash": {"fake"}}
	return s.URL + downloadPath + "?" + q.Encode()
}

// upload serves POST /{phone-number-id}/media. The form is checked
// against the multipart schema of Meta's document, which only declares
// file and messaging_product; the API also needs type (the MIME type),
// so the fake requires all three.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, phoneID string) {
	p, ok := s.phoneFor(w, r, phoneID)
	if !ok {
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		s.reject(w, fmt.Sprintf("media upload Content-Type is %q, not multipart/form-data", r.Header.Get("Content-Type")), nil)
		return
	}
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		s.reject(w, "bad multipart body: "+err.Error(), nil)
		return
	}
	form := r.MultipartForm
	if err := s.schemas.upload.ValidateMultipart(form); err != nil {
		s.reject(w, err.Error(), nil)
		return
	}
	switch {
	case r.FormValue("messaging_product") != "whatsapp":
		s.reject(w, `upload: messaging_product must be "whatsapp"`, nil)
		return
	case r.FormValue("type") == "":
		s.reject(w, "upload: the type field (MIME type) is required", nil)
		return
	case len(form.File["file"]) != 1:
		s.reject(w, "upload: exactly one file part named file is required", nil)
		return
	}
	if s.injected(w, r) {
		return
	}
	fh := form.File["file"][0]
	f, err := fh.Open()
	if err != nil {
		writeError(w, http.StatusInternalServerError, GraphError{Message: err.Error(), Code: 1})
		return
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, GraphError{Message: err.Error(), Code: 1})
		return
	}
	id := strconv.Itoa(900000000000000 + s.nextSeq())
	s.mu.Lock()
	s.media[id] = &storedMedia{id: id, mime: r.FormValue("type"), filename: fh.Filename, data: data}
	s.uploads = append(s.uploads, Upload{PhoneNumberID: p.ID, ID: id, MIMEType: r.FormValue("type"), Filename: fh.Filename, Data: data})
	s.mu.Unlock()
	out, _ := json.Marshal(map[string]string{"id": id})
	writeJSON(w, http.StatusOK, out)
}

// getNode serves GET /{id}: a phone number node or a media node.
func (s *Server) getNode(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	_, isPhone := s.phones[id]
	s.mu.Unlock()
	if isPhone {
		s.getPhone(w, r, id)
		return
	}
	if _, ok := s.token(w, r); !ok {
		return
	}
	if s.injected(w, r) {
		return
	}
	s.mu.Lock()
	m, ok := s.media[id]
	var out []byte
	if ok {
		sum := sha256.Sum256(m.data)
		out, _ = json.Marshal(map[string]string{
			"messaging_product": "whatsapp",
			"url":               s.mediaURL(id),
			"mime_type":         m.mime,
			"sha256":            hex.EncodeToString(sum[:]),
			"file_size":         strconv.Itoa(len(m.data)),
			"id":                id,
		})
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusBadRequest, errNoObject(id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// download serves a media URL. Like Meta's, it needs the bearer token and
// fails once the URL has expired.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.token(w, r); !ok {
		return
	}
	if s.injected(w, r) {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	m, ok := s.media[q.Get("mid")]
	fresh := q.Get("ext") == strconv.Itoa(s.urlEpoch)
	s.mu.Unlock()
	if !ok || !fresh {
		http.Error(w, "URL signature expired", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", m.mime)
	w.Header().Set("Content-Length", strconv.Itoa(len(m.data)))
	w.Write(m.data)
}
