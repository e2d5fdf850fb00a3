package web

import (
	"context"
	"mime"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/store"
)

// sent renders a new message for the thread, so the agent sees it at once
// (the live stream updates its ticks later).
func (s *Server) sent(w http.ResponseWriter, ss *session, m *parley.Message) {
	s.render(w, http.StatusOK, "message", &msgView{view: ss.view, M: m})
}

// sendText sends the composer's text. The window rule is the core's, so a
// crafted request gets the same refusal as the disabled text box shows.
func (s *Server) sendText(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	m, err := s.Messaging.Send(r.Context(), ss.Tenant.ID, messaging.SendRequest{ChannelID: c.ChannelID, To: c.ContactID,
		Type: parley.TypeText, Text: r.PostFormValue("text"), ReplyTo: r.PostFormValue("reply_to"), By: ss.actor()})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.sent(w, ss, m)
}

// addNote writes an internal note.
func (s *Server) addNote(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	m, err := s.Messaging.AddNote(r.Context(), ss.Tenant.ID, c.ID, r.PostFormValue("text"), ss.actor())
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.sent(w, ss, m)
}

// mediaType is the message type WhatsApp uses for a file of this MIME type.
func mediaType(mimeType string) parley.MessageType {
	base, _, _ := mime.ParseMediaType(mimeType)
	switch {
	case base == "image/jpeg" || base == "image/png":
		return parley.TypeImage
	case base == "image/webp":
		return parley.TypeSticker
	case strings.HasPrefix(base, "audio/"):
		return parley.TypeAudio
	case strings.HasPrefix(base, "video/"):
		return parley.TypeVideo
	}
	return parley.TypeDocument
}

// sendMedia stores an attachment and sends it. The composer checks type
// and size before uploading; this checks again, before storing anything.
func (s *Server) sendMedia(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	r.Body = http.MaxBytesReader(w, r.Body, parley.MaxMediaSize+1<<20)
	f, hdr, err := r.FormFile("file")
	if err != nil {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.EINVALID, "composer.no_file"))
		return
	}
	defer f.Close()
	mt := hdr.Header.Get("Content-Type")
	if mt == "" || mt == "application/octet-stream" {
		if byExt := mime.TypeByExtension(strings.ToLower(filepath.Ext(hdr.Filename))); byExt != "" {
			mt = byExt
		}
	}
	typ := mediaType(mt)
	if err := parley.CheckMedia(typ, mt, hdr.Size); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	sum, size, err := s.Messaging.Blobs.Put(r.Context(), f, parley.MaxMediaSize)
	if err == blob.ErrTooLarge {
		s.fail(w, r, ss.view, ss.view.Errorf(parley.ETOOLARGE, "composer.too_large"))
		return
	} else if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	rec := &store.MediaRecord{TenantID: ss.Tenant.ID, MIMEType: mt, Filename: filepath.Base(hdr.Filename), Size: size, SHA256: sum,
		Status: parley.MediaReady}
	if err := s.DB.CreateMedia(r.Context(), rec); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	caption := r.PostFormValue("caption")
	if typ == parley.TypeAudio || typ == parley.TypeSticker {
		caption = ""
	}
	m, err := s.Messaging.Send(r.Context(), ss.Tenant.ID, messaging.SendRequest{ChannelID: c.ChannelID, To: c.ContactID, Type: typ,
		Media: &messaging.MediaInput{MediaID: rec.ID, Caption: caption, Filename: rec.Filename}, By: ss.actor()})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.sent(w, ss, m)
}

// resend sends a failed message again.
func (s *Server) resend(w http.ResponseWriter, r *http.Request, ss *session) {
	old, err := s.DB.FindMessage(r.Context(), ss.Tenant.ID, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	if _, err := s.conversation(r.Context(), ss, old.ConversationID); err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	m, err := s.Messaging.Resend(r.Context(), ss.Tenant.ID, old.ID, ss.actor())
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.sent(w, ss, m)
}

type pickerData struct {
	*view
	C         *parley.Conversation
	Templates []*parley.Template
	Language  string
}

// templatePicker lists the channel's approved templates, those in the
// contact's language first.
func (s *Server) templatePicker(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	contact, err := s.DB.FindContact(r.Context(), ss.Tenant.ID, c.ContactID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	list, err := s.DB.ListTemplates(r.Context(), ss.Tenant.ID, store.TemplateFilter{ChannelID: c.ChannelID, Status: parley.TemplateApproved})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	lang := contact.Language
	if lang == "" {
		lang = ss.view.Lang
	}
	sortByLanguage(list, lang)
	s.render(w, http.StatusOK, "template_picker", pickerData{view: ss.view, C: c, Templates: list, Language: lang})
}

// sortByLanguage puts templates in the wanted language first, then those
// of the same base language (pt for pt_BR), then the rest by name.
func sortByLanguage(list []*parley.Template, lang string) {
	base := func(l string) string {
		b, _, _ := strings.Cut(strings.ReplaceAll(l, "-", "_"), "_")
		return strings.ToLower(b)
	}
	rank := func(t *parley.Template) int {
		switch {
		case strings.EqualFold(t.Language, lang):
			return 0
		case base(t.Language) == base(lang):
			return 1
		}
		return 2
	}
	sort.SliceStable(list, func(i, j int) bool {
		if ri, rj := rank(list[i]), rank(list[j]); ri != rj {
			return ri < rj
		}
		return list[i].Name < list[j].Name
	})
}

// templateField is one variable of the template form.
type templateField struct {
	Name  string // the form field
	Label string
	Param string // the placeholder it fills, for the live preview
	Value string
}

type templateFormData struct {
	*view
	C       *parley.Conversation
	Tpl     *parley.Template
	Header  *templateField
	Media   bool // the header takes a file link
	Body    []templateField
	Buttons []templateField
}

// templateForm shows a template's variables, pre-filled from the
// contact, with a live preview.
func (s *Server) templateForm(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	t, err := s.template(r.Context(), ss, c, r.PathValue("tpl"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	contact, err := s.DB.FindContact(r.Context(), ss.Tenant.ID, c.ContactID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.render(w, http.StatusOK, "template_form", buildTemplateForm(ss.view, c, t, contact))
}

func buildTemplateForm(v *view, c *parley.Conversation, t *parley.Template, contact *parley.Contact) templateFormData {
	d := templateFormData{view: v, C: c, Tpl: t}
	if h := t.Header; h != nil {
		switch {
		case h.Format == "text" && len(h.Params) > 0:
			d.Header = &templateField{Name: "header_text", Label: v.T("template.header"), Param: "header"}
		case h.Format == "image" || h.Format == "video" || h.Format == "document":
			d.Media = true
			d.Header = &templateField{Name: "header_link", Label: v.T("template.header_link." + h.Format)}
		}
	}
	for i, p := range t.BodyParams {
		f := templateField{Name: "body_" + strconv.Itoa(i), Param: p, Value: prefill(p, i, contact)}
		f.Label = v.T("template.variable", p)
		d.Body = append(d.Body, f)
	}
	for i, b := range t.Buttons {
		if b.HasParam {
			d.Buttons = append(d.Buttons, templateField{Name: "button_" + strconv.Itoa(i), Label: v.T("template.button", b.Text)})
		}
	}
	return d
}

// prefill guesses a variable's value from the contact: a variable named
// like a name (or the first positional one) gets the contact's first name.
func prefill(param string, i int, c *parley.Contact) string {
	first, _, _ := strings.Cut(strings.TrimSpace(c.Name), " ")
	if first == "" {
		first, _, _ = strings.Cut(strings.TrimSpace(c.ProfileName), " ")
	}
	switch strings.ToLower(param) {
	case "name", "first_name", "nome", "primeiro_nome", "nombre", "customer_name":
		return first
	case "1":
		return first
	case "phone", "telefone", "telefono":
		return c.Phone
	}
	return ""
}

func (s *Server) template(ctx context.Context, ss *session, c *parley.Conversation, id string) (*parley.Template, error) {
	list, err := s.DB.ListTemplates(ctx, ss.Tenant.ID, store.TemplateFilter{ChannelID: c.ChannelID})
	if err != nil {
		return nil, err
	}
	for _, t := range list {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, parley.Errorf(parley.ENOTFOUND, "Template not found.")
}

// sendTemplate sends a template with the form's variables. A missing one
// is refused by the core, naming it.
func (s *Server) sendTemplate(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	t, err := s.template(r.Context(), ss, c, r.PostFormValue("template_id"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	tm := &parley.TemplateMessage{Name: t.Name, Language: t.Language}
	for i, p := range t.BodyParams {
		v := strings.TrimSpace(r.PostFormValue("body_" + strconv.Itoa(i)))
		if v == "" {
			s.fail(w, r, ss.view, ss.view.Errorf(parley.EINVALID, "template.missing", p))
			return
		}
		if t.ParameterFormat == "named" {
			if tm.NamedParameters == nil {
				tm.NamedParameters = map[string]string{}
			}
			tm.NamedParameters[p] = v
		} else {
			tm.Parameters = append(tm.Parameters, v)
		}
	}
	if h := t.Header; h != nil {
		if v := strings.TrimSpace(r.PostFormValue("header_text")); v != "" {
			tm.Header = &parley.TemplateHeaderParam{Type: "text", Text: v}
		} else if v := strings.TrimSpace(r.PostFormValue("header_link")); v != "" {
			tm.Header = &parley.TemplateHeaderParam{Type: h.Format, Link: v}
		}
	}
	for i, b := range t.Buttons {
		if b.HasParam {
			tm.Buttons = append(tm.Buttons, parley.TemplateButtonParam{Index: i, SubType: b.Type,
				Text: strings.TrimSpace(r.PostFormValue("button_" + strconv.Itoa(i)))})
		}
	}
	m, err := s.Messaging.Send(r.Context(), ss.Tenant.ID, messaging.SendRequest{ChannelID: c.ChannelID, To: c.ContactID,
		Type: parley.TypeTemplate, Template: tm, By: ss.actor()})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	s.sent(w, ss, m)
}
