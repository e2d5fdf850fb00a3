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
	Record    string // the record the form is to be filled from, passed on
}

// templatePicker lists the channel's approved templates, those in the
// customer's language first: the language their CRM record holds, else
// the contact's, else the tenant's first fallback, else the agent's.
func (s *Server) templatePicker(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	ctx := r.Context()
	contact, err := s.DB.FindContact(ctx, ss.Tenant.ID, c.ContactID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	list, err := s.DB.ListTemplates(ctx, ss.Tenant.ID, store.TemplateFilter{ChannelID: c.ChannelID, Status: parley.TemplateApproved})
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	want := r.URL.Query().Get("record")
	rec, err := s.fillRecord(ctx, ss.Tenant.ID, contact.ID, want)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	lang, err := s.Messaging.TemplateLanguage(ctx, ss.Tenant.ID, s.Records, messaging.FillSource{Record: rec, Contact: contact})
	if err != nil {
		// The CRM being down must not keep the agent from sending.
		s.Log.WarnContext(ctx, "template language from the CRM", "error", err)
		lang = contact.Language
	}
	if lang == "" {
		lang = ss.view.Lang
	}
	sortByLanguage(list, lang)
	s.render(w, http.StatusOK, "template_picker", pickerData{view: ss.view, C: c, Templates: list, Language: lang, Record: want})
}

// fillRecord is the CRM record a template form is filled from: the one
// the panel was opened for (want), if it is linked to the contact, else
// the contact's primary record; nil when the contact has none. Only a
// linked record is read, so a crafted address cannot make Parley read
// another record of the CRM.
func (s *Server) fillRecord(ctx context.Context, tenantID, contactID, want string) (*parley.Record, error) {
	links, err := s.DB.RecordsOf(ctx, tenantID, contactID)
	if err != nil || len(links) == 0 {
		return nil, err
	}
	if r, err := parley.ParseRecord(want); err == nil {
		for _, l := range links {
			if l.Record == r {
				return &r, nil
			}
		}
	}
	return &links[0].Record, nil
}

// sortByLanguage puts templates in the wanted language first, then those
// of the same base language (pt for pt_BR), then the rest by name.
func sortByLanguage(list []*parley.Template, lang string) {
	rank := func(t *parley.Template) int {
		switch {
		case parley.NormalizeLanguage(t.Language) == parley.NormalizeLanguage(lang):
			return 0
		case parley.BaseLanguage(t.Language) == parley.BaseLanguage(lang):
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
	From  string // where a pre-filled value came from, for the agent to see
}

type templateFormData struct {
	*view
	C       *parley.Conversation
	Tpl     *parley.Template
	Header  *templateField
	Media   bool // the header takes a file link
	Body    []templateField
	Buttons []templateField
	Record  *parley.Record // the CRM record the form was filled from
}

// templateForm shows a template's variables with a live preview,
// pre-filled from the template's bindings (the contact's CRM record, the
// agent, the tenant) and, for variables those leave empty, guessed from
// the contact. The agent may change any of them.
func (s *Server) templateForm(w http.ResponseWriter, r *http.Request, ss *session, c *parley.Conversation) {
	ctx := r.Context()
	t, err := s.template(ctx, ss, c, r.PathValue("tpl"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	contact, err := s.DB.FindContact(ctx, ss.Tenant.ID, c.ContactID)
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	rec, err := s.fillRecord(ctx, ss.Tenant.ID, contact.ID, r.URL.Query().Get("record"))
	if err != nil {
		s.fail(w, r, ss.view, err)
		return
	}
	agent := ""
	if ss.as == nil {
		agent = ss.User.Name
	}
	filled, err := s.Messaging.FillTemplate(ctx, ss.Tenant.ID, s.Records, t, messaging.FillSource{Record: rec, Contact: contact, Agent: agent})
	if err != nil {
		// The CRM being down must not keep the agent from sending: they
		// fill in by hand what it would have.
		s.Log.WarnContext(ctx, "template form from the CRM", "error", err)
	}
	d := buildTemplateForm(ss.view, c, t, contact, filled)
	for _, f := range filled.From {
		if f.Kind == parley.BindRecord {
			d.Record = rec
		}
	}
	s.render(w, http.StatusOK, "template_form", d)
}

func buildTemplateForm(v *view, c *parley.Conversation, t *parley.Template, contact *parley.Contact, filled parley.Filled) templateFormData {
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
		if value, ok := filled.Values[p]; ok {
			f.Value, f.From = value, bindingSource(v, filled.From[p])
		}
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

// bindingSource tells the agent where a pre-filled value came from.
func bindingSource(v *view, b parley.Binding) string {
	switch b.Kind {
	case parley.BindRecord:
		return v.T("template.from_record", b.Arg)
	case parley.BindContact:
		return v.T("template.from_contact")
	case parley.BindAgent:
		return v.T("template.from_agent")
	case parley.BindTenant:
		return v.T("template.from_tenant")
	case parley.BindLiteral:
		return v.T("template.from_literal")
	}
	return ""
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
