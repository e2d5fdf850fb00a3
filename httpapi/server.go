// Package httpapi serves Parley over HTTP: the REST API under /v1 (built
// with huma, so the OpenAPI document at /v1/openapi.json is generated from
// the code and cannot drift), the providers' webhook receivers, the
// realtime event stream, and the root page.
//
// Handlers are thin: they parse, call the core and render. Errors take one
// shape, {"error":{"code","message"}}, mapped to statuses in error.go.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/crm/webhook"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/panel"
	"github.com/parleyhq/parley/realtime"
	"github.com/parleyhq/parley/store"
)

// Version is the API's version in the OpenAPI document.
const Version = "1.0.0"

// Server holds what the handlers need.
type Server struct {
	DB        *store.DB
	Messaging *messaging.Service
	Ingester  *messaging.Ingester
	Broker    *realtime.Broker
	Log       *slog.Logger
	// BaseURL is the public address, used in the webhook URLs shown to
	// admins.
	BaseURL string
	// Info describes the running instance on the about page.
	Info func(ctx context.Context) RootInfo
	// Web is the console, when it is served: its routes join the mux and
	// the site's root leads to it.
	Web interface {
		Register(mux *http.ServeMux) error
	}
	// Panels signs the tokens that open the chat panel in a CRM.
	Panels *panel.Signer
	// CRM manages the tenants' CRM connectors.
	CRM *crm.Service
	// AnyCRM receives the webhooks of CRMs connected through webhooks and
	// runs their imports.
	AnyCRM *webhook.Service
	// Records reads the CRM records templates are filled from
	// (template.fill_from_record); nil means no CRM, and variables bound
	// to record columns are then reported unfilled.
	Records parley.RecordReader

	api      huma.API
	mux      *http.ServeMux
	channels channelCache
}

// maxWebhookBody is the largest webhook body accepted. Meta's payloads are
// a few kilobytes; anything this large is not one.
const maxWebhookBody = 4 << 20

// Handler builds the HTTP handler.
func (s *Server) Handler() (http.Handler, error) {
	s.mux = http.NewServeMux()
	s.api = humago.New(s.mux, apiConfig())
	s.api.UseMiddleware(s.authenticate)
	s.registerChannels()
	s.registerMessages()
	s.registerConversations()
	s.registerContacts()
	s.registerTemplates()
	s.registerMedia()
	s.registerTenant()
	s.registerPanelTokens()
	s.registerConnectors()

	s.mux.Handle("GET /v1/events", s.requireKey(http.HandlerFunc(s.events)))
	s.mux.Handle("GET /v1/media/{id}", s.requireKey(http.HandlerFunc(s.downloadMedia)))
	s.mux.HandleFunc("GET /webhooks/meta", s.metaHandshake)
	s.mux.HandleFunc("POST /webhooks/meta", s.metaWebhook)
	s.mux.HandleFunc("POST /webhooks/twilio/{channel_id}", s.twilioWebhook)
	s.mux.HandleFunc("POST /webhooks/acs/{channel_id}", s.acsWebhook)
	s.mux.HandleFunc("OPTIONS /webhooks/acs/{channel_id}", s.acsOptions)
	s.mux.HandleFunc("POST /webhooks/dataverse/{connector}", s.dataverseWebhook)
	s.mux.HandleFunc("POST /webhooks/crm/{connector}", s.crmWebhook)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /about", s.root)
	s.mux.HandleFunc("GET /about/parley.css", s.static)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.Log, parley.Errorf(parley.ENOTFOUND, "No such endpoint: %s %s.", r.Method, r.URL.Path))
	})
	if s.Web != nil {
		if err := s.Web.Register(s.mux); err != nil {
			return nil, err
		}
		s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/console", http.StatusSeeOther) })
	} else {
		s.mux.HandleFunc("GET /{$}", s.root)
	}
	return secureHeaders(s.mux), nil
}

// API is the huma API, for generating the OpenAPI document.
func (s *Server) API() huma.API { return s.api }

func apiConfig() huma.Config {
	c := huma.DefaultConfig("Parley API", Version)
	c.Info.Description = "Send and receive WhatsApp messages through Parley, per tenant. Authenticate with `Authorization: Bearer <api key>`; " +
		"create a key with `parley tenant create NAME`. Errors are `{\"error\":{\"code\",\"message\"}}`."
	c.OpenAPIPath = "/v1/openapi"
	// The bundled docs page loads scripts from a CDN, which the strict
	// content security policy (and offline installs) forbid.
	c.DocsPath = ""
	c.SchemasPath = ""
	// No $schema links in responses: bodies stay what the docs show.
	c.CreateHooks = nil
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey": {Type: "http", Scheme: "bearer", Description: "A tenant API key (pk_…)."},
	}
	return c
}

// secured marks an operation as needing an API key.
var secured = []map[string][]string{{"apiKey": {}}}

type ctxKey int

const authKey ctxKey = iota

// Auth is the authenticated caller of a request.
type Auth struct {
	Tenant *parley.Tenant
	Key    *parley.APIKey
}

// Actor is who the caller is, for the audit record.
func (a *Auth) Actor() parley.Actor {
	return parley.Actor{Kind: parley.ActorAPIKey, ID: a.Key.ID, Name: a.Key.Name}
}

func authFrom(ctx context.Context) *Auth {
	a, _ := ctx.Value(authKey).(*Auth)
	return a
}

func (s *Server) authFromRequest(r *http.Request) (*Auth, error) {
	h := r.Header.Get("Authorization")
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || key == "" {
		return nil, parley.Errorf(parley.EUNAUTHORIZED, "Send an API key as \"Authorization: Bearer <key>\".")
	}
	t, k, err := s.DB.Authenticate(r.Context(), strings.TrimSpace(key))
	if err != nil {
		return nil, err
	}
	return &Auth{Tenant: t, Key: k}, nil
}

// authenticate resolves the API key of operations that need one.
func (s *Server) authenticate(ctx huma.Context, next func(huma.Context)) {
	if len(ctx.Operation().Security) == 0 {
		next(ctx)
		return
	}
	r, _ := humago.Unwrap(ctx)
	a, err := s.authFromRequest(r)
	if err != nil {
		e := apiError(ctx.Context(), s.Log, err)
		huma.WriteErr(s.api, ctx, e.status, e.Body.Message)
		return
	}
	next(huma.WithValue(ctx, authKey, a))
}

// requireKey is authenticate for plain net/http handlers.
func (s *Server) requireKey(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, err := s.authFromRequest(r)
		if err != nil {
			writeError(w, r, s.Log, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey, a)))
	})
}

// register adds an operation whose handler returns core errors, mapping
// them to responses in one place.
func register[I, O any](s *Server, op huma.Operation, h func(context.Context, *Auth, *I) (*O, error)) {
	if op.Security == nil {
		op.Security = secured
	}
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, authFrom(ctx), in)
		if err != nil {
			return nil, apiError(ctx, s.Log, err)
		}
		return out, nil
	})
}

// secureHeaders sets the headers a modern web app sends on every
// response. Pages that need more (the console's CSP) add to them.
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The console's pages replace these with their own (it runs a
		// script and may be framed as the panel).
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.ServeHTTP(w, r)
	})
}

// timeout bounds calls the API makes to providers on a caller's behalf.
const providerTimeout = 60 * time.Second
