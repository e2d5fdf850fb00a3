package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp"
)

// TextInput is a text message's content.
type TextInput struct {
	Body       string `json:"body" doc:"Up to 4096 characters."`
	PreviewURL bool   `json:"preview_url,omitempty" doc:"Show a preview of the first link."`
}

// MediaBody is a media message's file: a public link, or a media_id from
// POST /v1/media.
type MediaBody struct {
	Link     string `json:"link,omitempty" doc:"A public http(s) address of the file."`
	MediaID  string `json:"media_id,omitempty" doc:"A file uploaded with POST /v1/media."`
	Caption  string `json:"caption,omitempty" doc:"Shown under images, videos and documents."`
	Filename string `json:"filename,omitempty" doc:"Shown for documents."`
}

// ReactionInput reacts to a message of the conversation.
type ReactionInput struct {
	MessageID string `json:"message_id" doc:"Parley's ID of the message reacted to."`
	Emoji     string `json:"emoji" doc:"One emoji; empty removes the reaction."`
}

// TemplateInput is a template send: the template and its parameters, and
// optionally the CRM record whose columns fill the variables the request
// leaves out.
type TemplateInput struct {
	parley.TemplateMessage
	FillFromRecord string `json:"fill_from_record,omitempty" doc:"A CRM record, table:id (such as lead:3f2c9a4e-…), to fill the variables left out from the template's bindings (PUT /v1/templates/{name}/bindings). Parameters given win."`
}

// SendInput is a message to send.
type SendInput struct {
	ChannelID   string              `json:"channel_id" doc:"The number to send from."`
	To          string              `json:"to" doc:"The recipient: an E.164 phone number or a contact ID."`
	Type        string              `json:"type" enum:"text,template,image,document,audio,video,sticker,interactive,reaction,location"`
	Text        *TextInput          `json:"text,omitempty"`
	Template    *TemplateInput      `json:"template,omitempty"`
	Image       *MediaBody          `json:"image,omitempty"`
	Document    *MediaBody          `json:"document,omitempty"`
	Audio       *MediaBody          `json:"audio,omitempty"`
	Video       *MediaBody          `json:"video,omitempty"`
	Sticker     *MediaBody          `json:"sticker,omitempty"`
	Interactive *parley.Interactive `json:"interactive,omitempty"`
	Reaction    *ReactionInput      `json:"reaction,omitempty"`
	Location    *parley.Location    `json:"location,omitempty"`
	ReplyTo     string              `json:"reply_to,omitempty" doc:"Quote this message (Parley's ID)."`
}

func (in *SendInput) request(by parley.Actor) (messaging.SendRequest, error) {
	req := messaging.SendRequest{ChannelID: in.ChannelID, To: in.To, Type: parley.MessageType(in.Type),
		Interactive: in.Interactive, Location: in.Location, ReplyTo: in.ReplyTo, By: by}
	if in.Template != nil {
		req.Template = &in.Template.TemplateMessage
		req.Template.Category = ""
	}
	if in.Text != nil {
		req.Text, req.PreviewURL = in.Text.Body, in.Text.PreviewURL
	}
	if in.Reaction != nil {
		req.ReactTo, req.Emoji = in.Reaction.MessageID, in.Reaction.Emoji
	}
	media := map[parley.MessageType]*MediaBody{parley.TypeImage: in.Image, parley.TypeDocument: in.Document, parley.TypeAudio: in.Audio,
		parley.TypeVideo: in.Video, parley.TypeSticker: in.Sticker}
	if m := media[req.Type]; m != nil {
		req.Media = &messaging.MediaInput{Link: m.Link, MediaID: m.MediaID, Caption: m.Caption, Filename: m.Filename}
	}
	missing := map[parley.MessageType]bool{
		parley.TypeText: in.Text == nil, parley.TypeTemplate: in.Template == nil, parley.TypeInteractive: in.Interactive == nil,
		parley.TypeReaction: in.Reaction == nil, parley.TypeLocation: in.Location == nil,
	}
	if m, ok := media[req.Type]; ok && m == nil {
		missing[req.Type] = true
	}
	if missing[req.Type] {
		return req, parley.Errorf(parley.EINVALID, "A %s message needs a %q object.", in.Type, in.Type)
	}
	return req, nil
}

// fillFrom is the record a template send is filled from, if it names one.
func (in *SendInput) fillFrom() (*parley.Record, error) {
	if in.Template == nil || in.Template.FillFromRecord == "" {
		return nil, nil
	}
	r, err := parley.ParseRecord(in.Template.FillFromRecord)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

type messageOutput struct {
	Body *parley.Message
}

type messageIDInput struct {
	ID string `path:"id"`
}

func (s *Server) registerMessages() {
	register(s, huma.Operation{OperationID: "SendMessage", Method: http.MethodPost, Path: "/v1/messages", Tags: []string{"Messages"},
		Summary: "Send a message", DefaultStatus: http.StatusAccepted,
		Description: "Checks the WhatsApp rules (the 24-hour window, consent, template approval and parameters, media limits) and queues the message. " +
			"It answers 202 once the message and its send job are stored; follow its status on GET /v1/messages/{id} or the event stream. " +
			"Outside the window only a template may be sent: other types get the error code outside_window. " +
			"A template may leave out its language (picked from the record's language column, the contact's language and the tenant's fallback chain) " +
			"and the variables it has bindings for; template.fill_from_record names the CRM record they read. " +
			"A variable left unfilled gets the error code template_unfilled, with a detail for each."},
		func(ctx context.Context, a *Auth, in *struct{ Body SendInput }) (*messageOutput, error) {
			req, err := in.Body.request(a.Actor())
			if err != nil {
				return nil, err
			}
			fill, err := in.Body.fillFrom()
			if err != nil {
				return nil, err
			}
			if err := s.Messaging.PrepareTemplate(ctx, a.Tenant.ID, s.Records, &req, fill); err != nil {
				return nil, err
			}
			m, err := s.Messaging.Send(ctx, a.Tenant.ID, req)
			if err != nil {
				return nil, err
			}
			return &messageOutput{Body: m}, nil
		})

	register(s, huma.Operation{OperationID: "GetMessage", Method: http.MethodGet, Path: "/v1/messages/{id}", Tags: []string{"Messages"},
		Summary: "Get a message", Description: "Returns a message with its status timeline. A failed message carries error, with the provider's code and text."},
		func(ctx context.Context, a *Auth, in *messageIDInput) (*messageOutput, error) {
			m, err := s.DB.FindMessage(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			return &messageOutput{Body: m}, nil
		})

	register(s, huma.Operation{OperationID: "MarkMessageRead", Method: http.MethodPost, Path: "/v1/messages/{id}/read", Tags: []string{"Messages"},
		Summary: "Mark a message read", Description: "Clears the conversation's unread count and shows the customer blue ticks."},
		func(ctx context.Context, a *Auth, in *messageIDInput) (*messageOutput, error) {
			m, err := s.Messaging.MarkRead(ctx, a.Tenant.ID, in.ID)
			if err != nil {
				return nil, err
			}
			return &messageOutput{Body: m}, nil
		})
}

// providerError turns a provider's refusal into an API error that says
// whose refusal it was.
func providerError(err error) error {
	if werr, ok := whatsapp.AsError(err); ok {
		me := werr.MessageError()
		return parley.Errorf(parley.EUNAVAILABLE, "The provider refused (%s, code %s): %s", werr.Kind, me.Code, me.Message)
	}
	return err
}
