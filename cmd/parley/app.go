package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/blob"
	"github.com/parleyhq/parley/crm"
	"github.com/parleyhq/parley/crm/dataverse"
	"github.com/parleyhq/parley/crm/webhook"
	"github.com/parleyhq/parley/httpapi"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/panel"
	"github.com/parleyhq/parley/ratelimit"
	"github.com/parleyhq/parley/realtime"
	"github.com/parleyhq/parley/secret"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/web"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/acs"
	"github.com/parleyhq/parley/whatsapp/meta"
	"github.com/parleyhq/parley/whatsapp/sandbox"
	"github.com/parleyhq/parley/whatsapp/twilio"
)

// Main is a running Parley: the database, the job queue, the HTTP server.
// Tests start it on a random port with a temporary data directory, the way
// the binary runs.
type Main struct {
	Config Config
	Log    *slog.Logger
	// Pace is the sandbox's simulated pace.
	Pace sandbox.Pace
	// JobBackoff overrides the job queue's retry delays (tests shorten
	// them); nil keeps the default.
	JobBackoff func(attempt int) time.Duration
	// PollInterval overrides how often idle workers look for due jobs.
	PollInterval time.Duration
	// DataverseOptions adjust every Dataverse client (tests shorten its
	// waits); CRMPollEvery how often change tracking is read.
	DataverseOptions []dataverse.Option
	CRMPollEvery     time.Duration
	// CRMOutageWait overrides how long deliveries to a webhook CRM wait
	// after it failed without a Retry-After.
	CRMOutageWait time.Duration

	DB        *store.DB
	Queue     *jobs.Queue
	Messaging *messaging.Service
	Ingester  *messaging.Ingester
	Broker    *realtime.Broker
	Sandbox   *sandbox.Network
	Server    *httpapi.Server
	Web       *web.Server
	Panels    *panel.Signer
	CRM       *crm.Service
	AnyCRM    *webhook.Service

	ln      net.Listener
	http    *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	baseURL string
	info    func(ctx context.Context) httpapi.RootInfo
}

// NewMain returns a Main with the environment's configuration.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Log: slog.Default(), Pace: sandbox.DemoPace}
}

// Open connects to the database, migrates it and builds the services,
// without listening yet.
func (m *Main) Open(ctx context.Context) error {
	key, err := m.masterKey()
	if err != nil {
		return err
	}
	box, err := secret.New(key)
	if err != nil {
		return err
	}
	m.Panels = &panel.Signer{Key: panel.DeriveKey(key)}
	if m.DB, err = openDB(ctx, m.Config); err != nil {
		return err
	}
	m.DB.Secrets = box
	blobs, err := blob.New(filepath.Join(m.Config.DataDir, "media"))
	if err != nil {
		return err
	}
	m.Queue = jobs.New(m.DB, jobs.Options{Logger: m.Log, Backoff: m.JobBackoff})
	m.Sandbox = sandbox.New(m.deliver, m.Pace)
	providers := map[string]whatsapp.Provider{
		parley.ProviderMeta:    meta.New(&http.Client{Timeout: 2 * time.Minute}),
		parley.ProviderACS:     acs.New(&http.Client{Timeout: 2 * time.Minute}),
		parley.ProviderTwilio:  twilio.NewWithBaseURL(&http.Client{Timeout: 2 * time.Minute}, m.URL), // m.URL is known once Run listens
		parley.ProviderSandbox: m.Sandbox,
	}
	m.Messaging = messaging.New(m.DB, m.Queue, blobs, ratelimit.New(m.DB), providers, m.Log)
	if m.Config.ReconcileWait > 0 {
		m.Messaging.ReconcileWait = m.Config.ReconcileWait
	}
	m.Messaging.Register()
	m.Broker = realtime.New(m.DB, m.Log)
	loops := 1
	if m.DB.Dialect() == store.Postgres {
		loops = max(2, runtime.GOMAXPROCS(0))
	}
	m.Ingester = m.Messaging.NewIngester(loops, 512)
	m.CRM = &crm.Service{DB: m.DB, Jobs: m.Queue, Log: m.Log, Open: m.openCRM, PollEvery: m.CRMPollEvery}
	m.AnyCRM = &webhook.Service{DB: m.DB, CRM: m.CRM, Jobs: m.Queue, Log: m.Log, Now: m.DB.Now, OutageWait: m.CRMOutageWait}
	m.AnyCRM.Register()
	return m.CRM.Register(ctx)
}

// openDB opens and migrates the configured database.
func openDB(ctx context.Context, c Config) (*store.DB, error) {
	db, err := store.Open(ctx, c.databaseURL())
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// masterKey is PARLEY_MASTER_KEY, or the key file in the data directory,
// generated on first start.
func (m *Main) masterKey() ([]byte, error) {
	if m.Config.MasterKey != "" {
		return secret.ParseKey(m.Config.MasterKey)
	}
	path := filepath.Join(m.Config.DataDir, "master.key")
	key, created, err := secret.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, err
	}
	if created {
		m.Log.Warn("generated a master key; back it up, or set PARLEY_MASTER_KEY (every replica needs the same key)", "path", path)
	}
	return key, nil
}

// deliver feeds the sandbox's simulated webhooks into ingestion.
func (m *Main) deliver(ctx context.Context, ch *parley.Channel, b *whatsapp.Batch) error {
	return m.Ingester.Submit(ctx, messaging.Delivery{Channel: ch, Batch: b})
}

// Run starts listening, the workers and the periodic maintenance. It
// returns once the server is up; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if m.DB == nil {
		if err := m.Open(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.ln = ln
	m.baseURL = m.Config.baseURL(ln.Addr())
	signIn, err := m.Config.oidc(m.baseURL)
	if err != nil {
		ln.Close()
		return err
	}
	m.CRM.BaseURL = m.baseURL
	m.Panels.Now = m.DB.Now
	m.Web = &web.Server{DB: m.DB, Messaging: m.Messaging, Broker: m.Broker, Limiter: ratelimit.New(m.DB), Log: m.Log,
		FrameAncestors: m.Config.frameAncestors(), Panels: m.Panels, SecureCookies: strings.HasPrefix(m.baseURL, "https://"),
		OIDC: signIn, Records: m.CRM}
	m.Server = &httpapi.Server{DB: m.DB, Messaging: m.Messaging, Ingester: m.Ingester, Broker: m.Broker, Log: m.Log,
		BaseURL: m.baseURL, Info: m.rootInfo, Web: m.Web, Panels: m.Panels, CRM: m.CRM, Records: m.CRM, AnyCRM: m.AnyCRM}
	handler, err := m.Server.Handler()
	if err != nil {
		ln.Close()
		return err
	}
	m.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn)}

	if m.DB.Dialect() == store.SQLite {
		// One process per SQLite file: whatever is still running was cut
		// off when the last one died, and need not wait for its lease.
		if n, err := m.Queue.RescueAbandoned(ctx); err != nil {
			ln.Close()
			return err
		} else if n > 0 {
			m.Log.Warn("resumed jobs cut off when Parley last stopped", "jobs", n)
		}
	}
	bg, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	if err := m.Queue.Start(bg, jobs.Config{Queues: map[string]int{messaging.QueueSend: 64, messaging.QueueDefault: 16, crm.Queue: 8},
		ListenURL: listenURL(m.DB), PollInterval: m.PollInterval}); err != nil {
		ln.Close()
		return err
	}
	m.wg.Add(4)
	go func() { defer m.wg.Done(); m.Broker.Listen(bg) }()
	go func() { defer m.wg.Done(); m.Messaging.RunPeriodic(bg) }()
	go func() { defer m.wg.Done(); m.CRM.RunPeriodic(bg) }()
	go func() {
		defer m.wg.Done()
		if err := m.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("http server stopped", "error", err)
		}
	}()
	m.Log.Info("parley is listening", "addr", ln.Addr().String(), "url", m.baseURL, "database", string(m.DB.Dialect()))
	return nil
}

func listenURL(db *store.DB) string {
	if db.Dialect() == store.Postgres {
		return db.URL()
	}
	return ""
}

// URL is the server's address, once running.
func (m *Main) URL() string { return m.baseURL }

// Addr is the listener's address, once running.
func (m *Main) Addr() net.Addr { return m.ln.Addr() }

// Close stops in order: no new requests (in-flight webhooks finish and are
// committed), then the simulated network, the ingestion loops, the workers
// (running jobs get a grace period, then return to the queue), and the
// database.
func (m *Main) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if m.http != nil {
		errs = append(errs, m.http.Shutdown(ctx))
	}
	if m.Sandbox != nil {
		m.Sandbox.Close()
	}
	if m.Ingester != nil {
		m.Ingester.Close()
	}
	if m.Queue != nil && m.cancel != nil {
		errs = append(errs, m.Queue.Stop(ctx))
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}

func (m *Main) rootInfo(ctx context.Context) httpapi.RootInfo {
	if m.info != nil {
		return m.info(ctx)
	}
	return m.baseInfo(ctx, "serving")
}

func (m *Main) baseInfo(ctx context.Context, mode string) httpapi.RootInfo {
	info := httpapi.RootInfo{Mode: mode, Database: string(m.DB.Dialect()), Version: version, BaseURL: m.baseURL}
	if c, err := m.DB.Count(ctx); err == nil {
		info.Tenants, info.Channels, info.Conversations, info.Messages = c.Tenants, c.Channels, c.Conversations, c.Messages
	}
	return info
}

// mainFromFlags is a Main configured by a command's environment and flags.
func mainFromFlags(name string, args []string, stderr io.Writer) (*Main, error) {
	cfg, _, err := parseFlags(name, args, stderr, nil)
	if err != nil {
		return nil, err
	}
	m := NewMain()
	m.Config = cfg
	if m.Log, err = cfg.logger(stderr); err != nil {
		return nil, err
	}
	return m, nil
}

// runServe is `parley serve`.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m, err := mainFromFlags("serve", args, stderr)
	if err != nil {
		return err
	}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	m.Log.Info("shutting down")
	return m.Close()
}

// runMigrate is `parley migrate`.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := parseFlags("migrate", args, stderr, nil)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.databaseURL())
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "The database schema is up to date.")
	}
	for _, a := range applied {
		fmt.Fprintln(stdout, "applied", a)
	}
	return nil
}
