package httpapi

import (
	"context"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/store"
)

// MediaView is a stored file.
type MediaView struct {
	ID       string `json:"id" doc:"Use as media_id when sending, or GET /v1/media/{id} to download."`
	MIMEType string `json:"mime_type"`
	Filename string `json:"filename,omitempty"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Status   string `json:"status"`
}

type mediaOutput struct {
	Body MediaView
}

// UploadForm is a file upload.
type UploadForm struct {
	File huma.FormFile `form:"file" required:"true" doc:"The file."`
	// Type, when given, checks the file against WhatsApp's limits for that
	// kind of message before it is stored. It is optional: huma makes
	// every form field required unless told otherwise.
	Type string `form:"type" required:"false" enum:"image,document,audio,video,sticker," doc:"The message type the file will be sent as; checks WhatsApp's limits now."`
}

func (s *Server) registerMedia() {
	register(s, huma.Operation{OperationID: "UploadMedia", Method: http.MethodPost, Path: "/v1/media", Tags: []string{"Media"},
		Summary: "Upload a file", Description: "Stores a file to send later as media_id. With type, the file is checked against WhatsApp's limits " +
			"(images 5 MB, audio and video 16 MB, documents 100 MB, stickers 500 KB) before it is stored.",
		DefaultStatus: http.StatusCreated, MaxBodyBytes: parley.MaxMediaSize + 1<<20},
		func(ctx context.Context, a *Auth, in *struct {
			RawBody huma.MultipartFormFiles[UploadForm]
		}) (*mediaOutput, error) {
			form := in.RawBody.Data()
			f := form.File
			if !f.IsSet {
				return nil, parley.Errorf(parley.EINVALID, "Send the file in a multipart field named \"file\".")
			}
			defer f.Close()
			mt := strings.TrimSpace(f.ContentType)
			if mt == "" || mt == "application/octet-stream" {
				if byExt := mime.TypeByExtension(strings.ToLower(filepath.Ext(f.Filename))); byExt != "" {
					mt = byExt
				}
			}
			if form.Type != "" {
				if err := parley.CheckMedia(parley.MessageType(form.Type), mt, f.Size); err != nil {
					return nil, err
				}
			}
			sum, size, err := s.Messaging.Blobs.Put(ctx, f, parley.MaxMediaSize)
			if err == blob.ErrTooLarge {
				return nil, parley.Errorf(parley.ETOOLARGE, "The file is larger than WhatsApp's largest (100 MB).")
			} else if err != nil {
				return nil, err
			}
			r := &store.MediaRecord{TenantID: a.Tenant.ID, MIMEType: mt, Filename: filepath.Base(f.Filename), Size: size, SHA256: sum,
				Status: parley.MediaReady}
			if err := s.DB.CreateMedia(ctx, r); err != nil {
				return nil, err
			}
			return &mediaOutput{Body: MediaView{ID: r.ID, MIMEType: r.MIMEType, Filename: r.Filename, Size: r.Size, SHA256: r.SHA256, Status: r.Status}}, nil
		})
}

// downloadMedia serves a stored file to callers of the tenant that owns it.
func (s *Server) downloadMedia(w http.ResponseWriter, r *http.Request) {
	a := authFrom(r.Context())
	rec, err := s.DB.FindMedia(r.Context(), a.Tenant.ID, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.Log, err)
		return
	}
	if rec.Status != parley.MediaReady {
		msg := "The file has not been downloaded from WhatsApp yet."
		if rec.Error != "" {
			msg += " Last error: " + rec.Error
		}
		writeError(w, r, s.Log, parley.Errorf(parley.ECONFLICT, "%s", msg))
		return
	}
	s.Messaging.Blobs.Serve(w, r, rec.SHA256, rec.MIMEType, rec.Filename, false)
}
