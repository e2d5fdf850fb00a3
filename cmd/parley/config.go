package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parleyhq/parley/web"
)

// durationValue is a flag.Value for a positive duration.
type durationValue struct{ d *time.Duration }

func (v *durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return fmt.Errorf("%q is not a duration such as 2m or 30s", s)
	}
	*v.d = d
	return nil
}

// Config is how Parley is set up. Every field has an environment variable
// and a flag; the flag wins.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	BaseURL     string
	MasterKey   string
	LogLevel    string
	// ReconcileWait is how long a send whose outcome is unknown waits for
	// the provider's status webhook before it is sent again.
	ReconcileWait time.Duration
	// FrameAncestors are the origins allowed to embed the chat panel,
	// such as "https://*.dynamics.com".
	FrameAncestors string
	// OIDCIssuer turns on "Sign in with Microsoft" in the panel:
	// https://login.microsoftonline.com/<tenant>/v2.0, or
	// …/organizations/v2.0 with OIDCTenants. See docs/microsoft-sign-in.md.
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret string
	// OIDCTenants are the Entra directories (tenant IDs, spaces or
	// commas) whose users may sign in; required by a multi-tenant issuer.
	OIDCTenants string
}

// DefaultConfig reads the environment.
func DefaultConfig() Config {
	return Config{
		Addr:        env("PARLEY_ADDR", ":8080"),
		DataDir:     env("PARLEY_DATA_DIR", "data"),
		DatabaseURL: os.Getenv("PARLEY_DATABASE_URL"),
		BaseURL:     os.Getenv("PARLEY_BASE_URL"),
		MasterKey:   os.Getenv("PARLEY_MASTER_KEY"),
		LogLevel:    env("PARLEY_LOG_LEVEL", "info"),

		FrameAncestors: os.Getenv("PARLEY_FRAME_ANCESTORS"),

		OIDCIssuer:       os.Getenv("PARLEY_OIDC_ISSUER"),
		OIDCClientID:     os.Getenv("PARLEY_OIDC_CLIENT_ID"),
		OIDCClientSecret: os.Getenv("PARLEY_OIDC_CLIENT_SECRET"),
		OIDCTenants:      os.Getenv("PARLEY_OIDC_TENANTS"),
	}
}

// frameAncestors splits the configured origins (spaces or commas).
func (c Config) frameAncestors() []string {
	return strings.FieldsFunc(c.FrameAncestors, func(r rune) bool { return r == ' ' || r == ',' })
}

// oidc is the panel's Microsoft sign-in, or nil when no issuer is set.
// The provider sends the browser back to the base URL's callback, which
// must be registered with it.
func (c Config) oidc(baseURL string) (*web.OIDC, error) {
	if c.OIDCIssuer == "" {
		return nil, nil
	}
	o := &web.OIDC{Issuer: c.OIDCIssuer, ClientID: c.OIDCClientID, ClientSecret: c.OIDCClientSecret,
		RedirectURL: strings.TrimRight(baseURL, "/") + "/auth/oidc/callback",
		Tenants:     strings.FieldsFunc(c.OIDCTenants, func(r rune) bool { return r == ' ' || r == ',' })}
	return o, o.Check()
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// flags binds the configuration to a command's flags.
func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (PARLEY_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory for the SQLite file, media and the master key (PARLEY_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "postgres://… for PostgreSQL; empty for SQLite in the data directory (PARLEY_DATABASE_URL)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public URL for webhook addresses (PARLEY_BASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (PARLEY_LOG_LEVEL)")
	fs.StringVar(&c.FrameAncestors, "frame-ancestors", c.FrameAncestors,
		"origins allowed to embed the chat panel, e.g. https://*.dynamics.com (PARLEY_FRAME_ANCESTORS)")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", c.OIDCIssuer,
		"OpenID Connect issuer for signing in to the panel with Microsoft, e.g. https://login.microsoftonline.com/<tenant>/v2.0; empty turns it off (PARLEY_OIDC_ISSUER)")
	fs.StringVar(&c.OIDCClientID, "oidc-client-id", c.OIDCClientID, "the application (client) ID registered with the issuer (PARLEY_OIDC_CLIENT_ID)")
	fs.StringVar(&c.OIDCTenants, "oidc-tenants", c.OIDCTenants,
		"Entra tenant IDs whose users may sign in; required with the organizations issuer (PARLEY_OIDC_TENANTS)")
	fs.Var(&durationValue{&c.ReconcileWait}, "reconcile-wait",
		"how long a send whose outcome is unknown waits for the provider's status before it is sent again (PARLEY_RECONCILE_WAIT, default 2m)")
	// The master key and the OIDC client secret (PARLEY_OIDC_CLIENT_SECRET)
	// have no flag: command lines show up in process lists.
}

// parseFlags parses a command's flags over the environment's defaults.
func parseFlags(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (Config, []string, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("parley "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.flags(fs)
	if extra != nil {
		extra(fs)
	}
	if v := os.Getenv("PARLEY_RECONCILE_WAIT"); v != "" && c.ReconcileWait == 0 {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fmt.Fprintf(stderr, "PARLEY_RECONCILE_WAIT=%q is not a duration such as 2m or 30s\n", v)
			return c, nil, errUsage
		}
		c.ReconcileWait = d
	}
	if err := fs.Parse(args); err != nil {
		return c, nil, errUsage
	}
	return c, fs.Args(), nil
}

// databaseURL is the configured URL, or the SQLite file in the data dir.
func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "parley.db")
}

// baseURL is the configured public URL, or one derived from the listen
// address for local use.
func (c Config) baseURL(addr net.Addr) string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	port := "8080"
	if addr != nil {
		if _, p, err := net.SplitHostPort(addr.String()); err == nil {
			port = p
		}
	}
	return "http://localhost:" + port
}

func (c Config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", c.LogLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}
