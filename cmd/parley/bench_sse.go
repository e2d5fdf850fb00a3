package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp"
	"github.com/parleyhq/parley/whatsapp/meta"
)

// runBenchSSE is `parley bench sse`: how long an inbound message takes to
// reach the consoles of the agents who see it, with many agents connected
// and many conversations stored, and how much memory that takes.
func runBenchSSE(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o sseOptions
	fs := flag.NewFlagSet("parley bench sse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.tenants, "tenants", 200, "tenants, each with one number")
	fs.IntVar(&o.agents, "agents", 5, "agents per tenant, each with the console's live stream open")
	fs.IntVar(&o.conversations, "conversations", 100_000, "conversations stored before the run, spread over the tenants")
	fs.Float64Var(&o.rate, "rate", 1000, "inbound messages per second, as signed Meta webhooks")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the load runs")
	fs.StringVar(&o.postgres, "postgres", "", "PostgreSQL URL to run on instead of SQLite (a scratch schema is created)")
	fs.StringVar(&o.out, "out", "", "write the results as Markdown into this file (e.g. docs/performance.md)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the load (not the setup) to this file")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	res, err := o.run(ctx, stdout)
	if err != nil {
		return err
	}
	return publish(stdout, res.report(o), o.out, "bench-sse")
}

type sseOptions struct {
	tenants, agents, conversations int
	rate                           float64
	duration                       time.Duration
	postgres, out, cpuprofile      string
}

type sseResult struct {
	sent, expected, received int64
	errors                   int64
	rate                     float64
	p50, p99, max            time.Duration
	idleRSS, peakRSS         int64 // bytes
	heap                     uint64
	seedTime                 time.Duration
}

// sseAppSecret signs the benchmark's webhooks; every number shares it.
const sseAppSecret = "bench-sse-app-secret"

func (o sseOptions) run(ctx context.Context, log io.Writer) (*sseResult, error) {
	dir, err := os.MkdirTemp("", "parley-bench-sse-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	databaseURL := ""
	if o.postgres != "" {
		u, drop, err := scratchSchema(ctx, o.postgres)
		if err != nil {
			return nil, err
		}
		defer drop()
		databaseURL = u
	}
	m := NewMain()
	m.Config = Config{Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: databaseURL, LogLevel: "error",
		MasterKey: hex.EncodeToString(make([]byte, 32))}
	m.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m.Run(ctx); err != nil {
		m.Close()
		return nil, err
	}
	defer m.Close()

	// Tenants, numbers, stored conversations, agents and their sessions.
	res := &sseResult{}
	start := time.Now()
	type tenant struct {
		ch              *parley.Channel
		phoneID, wabaID string
		cookies         []*http.Cookie
	}
	tenants := make([]*tenant, o.tenants)
	perTenant := max(1, o.conversations/o.tenants)
	for i := range tenants {
		t, err := m.DB.CreateTenant(ctx, fmt.Sprintf("Bench %d", i))
		if err != nil {
			return nil, err
		}
		phoneID := strconv.Itoa(100000000000000 + i)
		ch, err := m.Messaging.ConnectChannel(ctx, t.ID, messaging.ChannelInput{Provider: parley.ProviderMeta,
			PhoneNumber: fmt.Sprintf("+1555%07d", i), Meta: &parley.MetaConfig{PhoneNumberID: phoneID, WABAID: strconv.Itoa(200000000000000 + i),
				AccessToken: "unused", AppSecret: sseAppSecret, VerifyToken: "bench-verify-token", GraphURL: "http://127.0.0.1:1"}})
		if err != nil {
			return nil, err
		}
		tenants[i] = &tenant{ch: ch, phoneID: phoneID, wabaID: strconv.Itoa(200000000000000 + i)}
		if err := o.seed(ctx, m, ch, i, perTenant); err != nil {
			return nil, err
		}
		for a := range o.agents {
			u := &parley.User{TenantID: t.ID, Email: fmt.Sprintf("agent%d@tenant%d.bench", a, i), Name: fmt.Sprintf("Agent %d", a),
				Role: parley.RoleAgent}
			// Nobody signs in with a password: the sessions are made directly.
			if err := m.DB.CreateUser(ctx, u, "-"); err != nil {
				return nil, err
			}
			c, err := m.Web.NewSession(ctx, u)
			if err != nil {
				return nil, err
			}
			tenants[i].cookies = append(tenants[i].cookies, c)
		}
		if i%50 == 49 {
			fmt.Fprintf(log, "set up %d tenants (%d conversations each)\n", i+1, perTenant)
		}
	}
	res.seedTime = time.Since(start)

	// Every agent opens the console's stream.
	clients := o.tenants * o.agents
	streams, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}
	defer tr.CloseIdleConnections()
	var mu sync.Mutex
	var latencies []time.Duration
	var received atomic.Int64
	var wg sync.WaitGroup
	for _, t := range tenants {
		for _, c := range t.cookies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := sseClient(streams, tr, m.URL()+"/console/events", c, &received)
				mu.Lock()
				latencies = append(latencies, local...)
				mu.Unlock()
			}()
		}
	}
	deadline := time.Now().Add(time.Minute)
	for m.Broker.Subscribers() < clients {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: only %d of %d streams connected", m.Broker.Subscribers(), clients)
		}
		time.Sleep(50 * time.Millisecond)
	}
	runtime.GC()
	res.idleRSS, _ = rss()
	fmt.Fprintf(log, "%d streams open, %d conversations stored, RSS %d MB\n", clients, perTenant*o.tenants, res.idleRSS>>20)

	// The load: signed webhooks, paced, each a text naming when it was sent.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}, Timeout: 30 * time.Second}
	const workers = 64
	interval := time.Duration(float64(time.Second) * workers / o.rate)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	var seq, sent, errs atomic.Int64
	var load sync.WaitGroup
	began := time.Now()
	end := began.Add(o.duration)
	for w := range workers {
		load.Add(1)
		go func() {
			defer load.Done()
			next := began.Add(time.Duration(w) * interval / workers)
			for time.Now().Before(end) && ctx.Err() == nil {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(interval)
				n := seq.Add(1)
				ti := int(n) % len(tenants)
				t := tenants[ti]
				from := sseCustomer(ti, int(n/int64(len(tenants)))%perTenant)
				body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":%q,"changes":[{"value":{"messaging_product":"whatsapp",`+
					`"metadata":{"display_phone_number":"15550000000","phone_number_id":%q},"contacts":[{"profile":{"name":"Customer %d"},"wa_id":"%d"}],`+
					`"messages":[{"from":"%d","id":"wamid.sse.%d","timestamp":"%d","type":"text","text":{"body":"bench %d"}}]},"field":"messages"}]}]}`,
					t.wabaID, t.phoneID, from, from, from, n, time.Now().Unix(), time.Now().UnixNano())
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL()+"/webhooks/meta", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hub-Signature-256", meta.Sign(body, sseAppSecret))
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				sent.Add(1)
			}
		}()
	}
	var peak int64
	sampling := make(chan struct{})
	go func() {
		defer close(sampling)
		for time.Now().Before(end.Add(2 * time.Second)) {
			if r, err := rss(); err == nil && r > peak {
				peak = r
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	load.Wait()
	res.sent, res.errors = sent.Load(), errs.Load()
	res.rate = float64(res.sent) / time.Since(began).Seconds()
	res.expected = res.sent * int64(o.agents)
	// Give the streams until everything arrived, or five seconds.
	settle := time.Now().Add(5 * time.Second)
	for received.Load() < res.expected && time.Now().Before(settle) {
		time.Sleep(20 * time.Millisecond)
	}
	<-sampling
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heap = ms.HeapInuse
	res.peakRSS = peak
	cancel()
	wg.Wait()
	res.received = int64(len(latencies))
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	res.p50, res.p99 = pct(0.50), pct(0.99)
	if len(latencies) > 0 {
		res.max = latencies[len(latencies)-1]
	}
	return res, nil
}

// sseCustomer is the WhatsApp ID of customer k of tenant t.
func sseCustomer(t, k int) int64 { return 5511900000000 + int64(t)*100_000 + int64(k) }

// seed stores n conversations of a tenant, one message each, in large
// transactions: the setup is not what is measured.
func (o sseOptions) seed(ctx context.Context, m *Main, ch *parley.Channel, t, n int) error {
	const batch = 1000
	at := time.Now().Add(-time.Hour)
	for k := 0; k < n; k += batch {
		b := &whatsapp.Batch{}
		for j := k; j < min(n, k+batch); j++ {
			waid := strconv.FormatInt(sseCustomer(t, j), 10)
			b.Messages = append(b.Messages, whatsapp.Message{Account: ch.AccountID, Contact: whatsapp.Contact{WAID: waid, ProfileName: "Customer " + waid},
				Content: parley.Message{Type: parley.TypeText, ProviderMessageID: "wamid.seed." + waid, Text: "Olá", Timestamp: at}})
		}
		if err := m.Messaging.Ingest(ctx, messaging.Delivery{Channel: ch, Batch: b}); err != nil {
			return fmt.Errorf("bench: seed: %w", err)
		}
	}
	return nil
}

// sseClient reads one console stream until ctx ends, and returns how long
// each benchmark message took to arrive. A message's text is "bench" and
// the time it was sent, in Unix nanoseconds.
func sseClient(ctx context.Context, tr http.RoundTripper, url string, c *http.Cookie, received *atomic.Int64) []time.Duration {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.AddCookie(c)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []time.Duration
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	var event string
	for {
		line, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			return out
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			event = strings.TrimSpace(string(line[7:]))
		case event == "message" && bytes.Contains(line, []byte(`<p class="text">bench `)):
			i := bytes.Index(line, []byte(`<p class="text">bench `)) + len(`<p class="text">bench `)
			j := bytes.IndexByte(line[i:], '<')
			if j < 0 {
				continue
			}
			ns, err := strconv.ParseInt(string(line[i:i+j]), 10, 64)
			if err != nil {
				continue
			}
			out = append(out, time.Since(time.Unix(0, ns)))
			received.Add(1)
		case len(bytes.TrimSpace(line)) == 0:
			event = ""
		}
	}
}

// rss is the process's resident memory, from /proc (Linux only).
func rss() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS in /proc/self/status")
}

func (r *sseResult) report(o sseOptions) string {
	var b strings.Builder
	db := "SQLite"
	if o.postgres != "" {
		db = "PostgreSQL"
	}
	fmt.Fprintf(&b, "Measured by `parley bench sse` on %s, %d CPUs, %s, %s: %d tenants with %d agents each (%d console streams open), "+
		"%d conversations stored, inbound text messages posted as signed Meta webhooks at %.0f/s for %s. Every agent sees every "+
		"conversation of their tenant (they are unassigned), so each message goes to %d streams. The streams are read in the same "+
		"process, so the memory includes the %d clients.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), db, o.tenants, o.agents, o.tenants*o.agents,
		(o.conversations/o.tenants)*o.tenants, o.rate, o.duration, o.agents, o.tenants*o.agents)
	fmt.Fprintf(&b, "| measure | result | target |\n|---|---:|---|\n")
	fmt.Fprintf(&b, "| inbound messages acknowledged | %d (%.0f/s), %d errors | 1,000/s |\n", r.sent, r.rate, r.errors)
	fmt.Fprintf(&b, "| console events delivered | %d of %d | all |\n", r.received, r.expected)
	fmt.Fprintf(&b, "| webhook → agent's console, p50 | %s | |\n", roundDur(r.p50))
	fmt.Fprintf(&b, "| webhook → agent's console, p99 | %s | ≤ 100 ms |\n", roundDur(r.p99))
	fmt.Fprintf(&b, "| webhook → agent's console, max | %s | |\n", roundDur(r.max))
	fmt.Fprintf(&b, "| RSS, streams open and idle | %d MB | ≤ 150 MB |\n", r.idleRSS>>20)
	fmt.Fprintf(&b, "| RSS, peak under load | %d MB | |\n", r.peakRSS>>20)
	fmt.Fprintf(&b, "\nReproduce with:\n\n```sh\ngo run ./cmd/parley bench sse -tenants %d -agents %d -conversations %d -rate %.0f -duration %s",
		o.tenants, o.agents, o.conversations, o.rate, o.duration)
	if o.postgres != "" {
		b.WriteString(" -postgres 'postgres://…'")
	}
	b.WriteString(" -out docs/performance.md\n```\n")
	return b.String()
}
