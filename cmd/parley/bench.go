package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/whatsapp/meta"
)

// runBench is `parley bench ingest`: it measures durable webhook ingestion
// over loopback against a no-op handler driven by the same load generator
// in the same run, and writes the results.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "sse" {
		return runBenchSSE(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		fmt.Fprintln(stderr, "usage: parley bench ingest [-duration 10s] [-concurrency 64] [-postgres URL] [-out docs/performance.md]")
		fmt.Fprintln(stderr, "       parley bench sse [-tenants 200] [-agents 5] [-conversations 100000] [-rate 1000] [-duration 10s] [-postgres URL] [-out docs/performance.md]")
		return errUsage
	}
	var o benchOptions
	fs := flag.NewFlagSet("parley bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each measurement runs")
	fs.IntVar(&o.concurrency, "concurrency", 64, "concurrent senders (connections)")
	fs.IntVar(&o.contacts, "contacts", 1000, "distinct customers the messages come from")
	fs.StringVar(&o.postgres, "postgres", os.Getenv("PARLEY_TEST_POSTGRES_URL"), "PostgreSQL URL to measure too (a scratch database: tables are created in a new schema)")
	fs.StringVar(&o.out, "out", "", "write the results as Markdown to this file (e.g. docs/performance.md)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	results, err := o.run(ctx, stdout)
	if err != nil {
		return err
	}
	return publish(stdout, benchReport(o, results), o.out, "bench")
}

// publish prints a benchmark's report and, given a file, writes it there
// between the markers of its name (see writeReport).
func publish(stdout io.Writer, report, path, name string) error {
	fmt.Fprint(stdout, "\n"+report)
	if path == "" {
		return nil
	}
	if err := writeReport(path, name, report); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", path)
	return nil
}

type benchOptions struct {
	duration    time.Duration
	concurrency int
	contacts    int
	postgres    string
	out         string
}

type benchResult struct {
	name     string
	rate     float64 // acknowledged webhooks per second
	p50, p99 time.Duration
	errors   int64
	acked    int64
	note     string
}

func (o benchOptions) run(ctx context.Context, log io.Writer) ([]benchResult, error) {
	var results []benchResult
	base, err := o.noop(ctx)
	if err != nil {
		return nil, err
	}
	results = append(results, base)
	fmt.Fprintf(log, "no-op handler: %.0f req/s\n", base.rate)

	sqlite, err := o.parley(ctx, "Parley, SQLite (durable, synchronous=FULL)", "", 0)
	if err != nil {
		return nil, err
	}
	results = append(results, sqlite)
	fmt.Fprintf(log, "sqlite: %.0f msg/s\n", sqlite.rate)
	half, err := o.parley(ctx, "Parley, SQLite, paced at half that rate", "", sqlite.rate/2)
	if err != nil {
		return nil, err
	}
	half.note = "paced, so × no-op says nothing; this row measures acknowledgement latency; " + half.note
	results = append(results, half)

	if o.postgres != "" {
		schemaURL, drop, err := scratchSchema(ctx, o.postgres)
		if err != nil {
			return nil, err
		}
		defer drop()
		pg, err := o.parley(ctx, "Parley, PostgreSQL", schemaURL, 0)
		if err != nil {
			return nil, err
		}
		results = append(results, pg)
		fmt.Fprintf(log, "postgres: %.0f msg/s\n", pg.rate)
	}
	return results, nil
}

// noop measures the ceiling: a handler that reads the body and answers.
func (o benchOptions) noop(ctx context.Context) (benchResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	secretKey := "noop"
	res := o.load(ctx, "http://"+ln.Addr().String()+"/webhooks/meta", secretKey, "1", 0)
	res.name = "no-op net/http handler (ceiling)"
	return res, nil
}

// parley measures a real server on a fresh database. rate 0 means as fast
// as it goes; otherwise the senders pace themselves to it.
func (o benchOptions) parley(ctx context.Context, name, databaseURL string, rate float64) (benchResult, error) {
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	m := NewMain()
	m.Config = Config{Addr: "127.0.0.1:0", DataDir: dir, DatabaseURL: databaseURL, LogLevel: "error"}
	m.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	m.Config.MasterKey = hex.EncodeToString(make([]byte, 32))
	if err := m.Run(ctx); err != nil {
		m.Close()
		return benchResult{}, err
	}
	defer m.Close()
	t, err := m.DB.CreateTenant(ctx, "Bench")
	if err != nil {
		return benchResult{}, err
	}
	const appSecret, phoneID = "bench-app-secret", "100000000000001"
	_, err = m.Messaging.ConnectChannel(ctx, t.ID, messaging.ChannelInput{Provider: parley.ProviderMeta, PhoneNumber: "+15550783881",
		Meta: &parley.MetaConfig{PhoneNumberID: phoneID, WABAID: "200000000000001", AccessToken: "unused", AppSecret: appSecret,
			VerifyToken: "bench-verify-token", GraphURL: "http://127.0.0.1:1"}})
	if err != nil {
		return benchResult{}, err
	}
	res := o.load(ctx, m.URL()+"/webhooks/meta", appSecret, phoneID, rate)
	res.name = name
	c, err := m.DB.Count(ctx)
	if err != nil {
		return benchResult{}, err
	}
	if want := int(res.acked); c.Messages != want {
		return res, fmt.Errorf("bench: %d webhooks were acknowledged but %d messages are stored", want, c.Messages)
	}
	res.note = fmt.Sprintf("%d messages stored, one per acknowledged webhook", c.Messages)
	return res, nil
}

// load drives url with signed webhooks, each one inbound text message,
// from o.concurrency connections for o.duration.
func (o benchOptions) load(ctx context.Context, target, appSecret, phoneID string, rate float64) benchResult {
	tr := &http.Transport{MaxIdleConns: o.concurrency, MaxIdleConnsPerHost: o.concurrency, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var run [8]byte
	rand.Read(run[:])
	prefix := hex.EncodeToString(run[:])

	var seq, errs atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	deadline := time.Now().Add(o.duration)
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(o.concurrency) / rate)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			next := start.Add(time.Duration(w) * interval / time.Duration(o.concurrency))
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
					next = next.Add(interval)
				}
				n := seq.Add(1)
				body := webhookBody(phoneID, fmt.Sprintf("wamid.bench.%s.%d", prefix, n), 5511900000000+n%int64(o.contacts), n)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Hub-Signature-256", meta.Sign(body, appSecret))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	return benchResult{rate: float64(len(latencies)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), errors: errs.Load(),
		acked: int64(len(latencies))}
}

// webhookBody is one inbound text message as Meta sends it.
func webhookBody(phoneID, wamid string, from, n int64) []byte {
	return fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"value":{"messaging_product":"whatsapp",`+
		`"metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"contacts":[{"profile":{"name":"Customer %d"},"wa_id":"%d"}],`+
		`"messages":[{"from":"%d","id":%q,"timestamp":"%d","type":"text","text":{"body":"Olá, mensagem número %d"}}]},"field":"messages"}]}]}`,
		phoneID, from, from, from, wamid, time.Now().Unix(), n)
}

// scratchSchema creates an empty schema for the PostgreSQL run.
func scratchSchema(ctx context.Context, base string) (string, func(), error) {
	var b [6]byte
	rand.Read(b[:])
	schema := "bench_" + hex.EncodeToString(b[:])
	db, err := openAdmin(base)
	if err != nil {
		return "", nil, err
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		db.Close()
	}, nil
}

func benchReport(o benchOptions, results []benchResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured by `parley bench ingest` on %s, %d CPUs (GOMAXPROCS %d), %s. Each webhook is one signed inbound text message "+
		"from one of %d customers, posted over loopback by %d concurrent connections for %s; the load generator runs in the same process "+
		"for every row, so the ratio to the no-op handler is the fair comparison.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), o.contacts, o.concurrency, o.duration)
	fmt.Fprintf(&b, "| path | webhooks/s | × no-op | p50 ack | p99 ack | errors | notes |\n|---|---:|---:|---:|---:|---:|---|\n")
	ceiling := results[0].rate
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %s | %s | %d | %s |\n", r.name, r.rate, r.rate/ceiling, roundDur(r.p50), roundDur(r.p99), r.errors, r.note)
	}
	fmt.Fprintf(&b, "\nReproduce with:\n\n```sh\ngo run ./cmd/parley bench ingest -duration %s -concurrency %d", o.duration, o.concurrency)
	if o.postgres != "" {
		b.WriteString(" -postgres 'postgres://…'")
	}
	b.WriteString(" -out docs/performance.md\n```\n")
	return b.String()
}

func roundDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// openAdmin connects to PostgreSQL to create and drop the scratch schema.
func openAdmin(url string) (*sql.DB, error) { return sql.Open("pgx", url) }

// writeReport puts a report between the markers <!-- name:begin --> and
// <!-- name:end --> of an existing file, so that the analysis written
// around it survives a new run; without them, it is appended.
func writeReport(path, name, report string) error {
	begin, end := "<!-- "+name+":begin -->", "<!-- "+name+":end -->"
	block := begin + "\n" + report + end + "\n"
	old, err := os.ReadFile(path)
	if err == nil {
		s := string(old)
		i, j := strings.Index(s, begin), strings.Index(s, end)
		if i >= 0 && j > i {
			return os.WriteFile(path, []byte(s[:i]+block+strings.TrimPrefix(s[j+len(end):], "\n")), 0o644)
		}
		return os.WriteFile(path, []byte(strings.TrimRight(s, "\n")+"\n\n"+block), 0o644)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(path, []byte("# Performance\n\n"+block), 0o644)
}
