package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/panel"
	"github.com/parleyhq/parley/phone"
	"github.com/parleyhq/parley/store"
)

// PanelTokenInput asks for a token that opens the chat panel.
type PanelTokenInput struct {
	UserID     string `json:"user_id,omitempty" doc:"Act as this Parley user (their conversations, their name in the audit record). Empty: a CRM user Parley does not know, acting under this API key's name."`
	TTLSeconds int    `json:"ttl_seconds,omitempty" minimum:"0" maximum:"43200" doc:"How long the token lasts; default 900 (15 minutes), at most 12 hours."`
	Phone      string `json:"phone,omitempty" doc:"The contact's phone (E.164), to build the panel's address."`
	Record     string `json:"record,omitempty" doc:"The CRM record the panel opens from, as table:id (lead:3f2c…). With phone, the record is linked to the phone's contact, so that panels open by the record alone from then on, and the console shows the link."`
}

// PanelToken is a token and the panel's address with it.
type PanelToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	URL       string    `json:"url" doc:"The panel's address: embed it in the CRM's iframe."`
}

func (s *Server) registerPanelTokens() {
	register(s, huma.Operation{OperationID: "CreatePanelToken", Method: http.MethodPost, Path: "/v1/panel-tokens", Tags: []string{"Panel"},
		Summary: "Open the chat panel", DefaultStatus: http.StatusCreated,
		Description: "Returns a short-lived token, scoped to this tenant (and optionally to one user), and the address of the chat panel " +
			"that a CRM embeds next to a record: /panel?phone=+E164&panel_token=… (or record=table:id, once the record is linked to a contact " +
			"by a token request that names both)."},
		func(ctx context.Context, a *Auth, in *struct{ Body PanelTokenInput }) (*struct{ Body PanelToken }, error) {
			if s.Panels == nil {
				return nil, parley.Errorf(parley.EUNAVAILABLE, "The panel is not served by this instance.")
			}
			if in.Body.UserID != "" {
				if _, err := s.DB.FindUser(ctx, a.Tenant.ID, in.Body.UserID); err != nil {
					return nil, err
				}
			}
			if err := s.linkRecord(ctx, a, in.Body.Record, in.Body.Phone); err != nil {
				return nil, err
			}
			ttl := time.Duration(in.Body.TTLSeconds) * time.Second
			if ttl == 0 {
				ttl = 15 * time.Minute
			}
			exp := s.DB.Now().Add(ttl).UTC().Truncate(time.Second)
			tok := s.Panels.Sign(panel.Claims{TenantID: a.Tenant.ID, UserID: in.Body.UserID, KeyID: a.Key.ID, Expires: exp})
			q := url.Values{"panel_token": {tok}}
			if in.Body.Phone != "" {
				q.Set("phone", in.Body.Phone)
			}
			if in.Body.Record != "" {
				q.Set("record", in.Body.Record)
			}
			return &struct{ Body PanelToken }{PanelToken{Token: tok, ExpiresAt: exp, URL: s.BaseURL + "/panel?" + q.Encode()}}, nil
		})
}

// linkRecord checks the record a panel token names and, given a phone as
// well, links the record to the phone's contact (creating the contact: a
// CRM opens the panel for customers who have not written yet).
func (s *Server) linkRecord(ctx context.Context, a *Auth, record, number string) error {
	if record == "" {
		return nil
	}
	r, err := parley.ParseRecord(record)
	if err != nil {
		return err
	}
	if number == "" {
		return nil
	}
	e164, err := phone.E164(number)
	if err != nil {
		return parley.Errorf(parley.EINVALID, "%q is not a phone number in international form (+5511987654321).", number)
	}
	return s.DB.InTx(ctx, func(tx *store.Tx) error {
		c, _, err := tx.FindOrCreateContact(ctx, a.Tenant.ID, store.Identity{Phone: e164})
		if err != nil {
			return err
		}
		return tx.LinkRecord(ctx, a.Tenant.ID, c.ID, parley.RecordLink{Record: r}, a.Actor())
	})
}
