package dataverse_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse"
	fake "github.com/parleyhq/parley/internal/fake/dataverse"
)

// env is a client against a fake Dataverse, with what the client did on
// the side: the token requests it made and the waits it asked for.
type env struct {
	fake   *fake.Server
	client *dataverse.Client
	tokens atomic.Int32

	mu    sync.Mutex
	waits []time.Duration
}

func config(f *fake.Server) *parley.DataverseConfig {
	return &parley.DataverseConfig{
		EnvironmentURL: f.URL(),
		EntraTenantID:  fake.DefaultTenantID,
		ClientID:       fake.DefaultClientID,
		ClientSecret:   fake.DefaultClientSecret,
		TokenURL:       f.TokenURL(),
		APIBase:        f.APIBase(),
	}
}

// newEnv starts a fake and a client whose waits return at once, recorded.
func newEnv(t *testing.T, fakeOpts []fake.Option, opts ...dataverse.Option) *env {
	t.Helper()
	e := &env{fake: fake.New(t, fakeOpts...)}
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			e.tokens.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	opts = append([]dataverse.Option{dataverse.WithHTTPClient(hc), dataverse.WithSleep(e.sleep), dataverse.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c, err := dataverse.New(config(e.fake), opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

func (e *env) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	e.waits = append(e.waits, d)
	e.mu.Unlock()
	return nil
}

func (e *env) waited() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]time.Duration(nil), e.waits...)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// since returns the requests the fake received after the first n.
func since(f *fake.Server, n int) []fake.Request {
	return f.Requests()[n:]
}

// outer keeps the requests that came over the wire (not inside a $batch).
func outer(rs []fake.Request) []fake.Request {
	var out []fake.Request
	for _, r := range rs {
		if !r.InBatch {
			out = append(out, r)
		}
	}
	return out
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// install runs Install for tests that need Parley's table.
func (e *env) install(t *testing.T) {
	t.Helper()
	if _, err := e.client.Install(context.Background(), dataverse.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
}

// fakeThrottle is a 429 on the next $batch.
func fakeThrottle(seconds int) fake.Fault {
	f := fake.Throttle(fake.LimitRequests, time.Duration(seconds)*time.Second)
	f.Path = "$batch"
	return f
}

// clock is the fake's time, moved on by the client's waits, so that a
// Retry-After window passes without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}
