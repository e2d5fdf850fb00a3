package dataverse_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/crm/dataverse"
	fake "github.com/parleyhq/parley/internal/fake/dataverse"
)

func TestTokenIsReusedAndRefreshedAfter401(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.fake.AddRecord("lead", map[string]any{"firstname": "Ana"})
	if err := e.client.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Get(ctx, "leads", id, []string{"firstname"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Query(ctx, "leads", dataverse.Query{Select: []string{"fullname"}}); err != nil {
		t.Fatal(err)
	}
	if n := e.tokens.Load(); n != 1 {
		t.Errorf("%d token requests for three calls, want 1", n)
	}
	auth := map[string]bool{}
	for _, r := range e.fake.Requests() {
		auth[r.Header.Get("Authorization")] = true
	}
	if len(auth) != 1 {
		t.Errorf("the calls carried %d different Authorization headers, want one token", len(auth))
	}

	e.fake.ExpireAccessTokens()
	n := len(e.fake.Requests())
	if err := e.client.Check(ctx); err != nil {
		t.Fatalf("Check after the token expired: %v", err)
	}
	if n := e.tokens.Load(); n != 2 {
		t.Errorf("%d token requests after a 401, want 2", n)
	}
	var statuses []int
	for _, r := range since(e.fake, n) {
		statuses = append(statuses, r.Status)
	}
	if len(statuses) != 2 || statuses[0] != http.StatusUnauthorized || statuses[1] != http.StatusOK {
		t.Errorf("after expiry the fake answered %v, want [401 200]: one retry with a new token", statuses)
	}
}

func TestCheckReportsWrongSecret(t *testing.T) {
	f := fake.New(t)
	cfg := config(f)
	cfg.ClientSecret = "not-the-secret"
	c, err := dataverse.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background())
	if parley.ErrorCode(err) != parley.EUNAUTHORIZED {
		t.Fatalf("Check with a wrong secret: %v (code %q), want %s", err, parley.ErrorCode(err), parley.EUNAUTHORIZED)
	}
	if msg := parley.ErrorMessage(err); !strings.Contains(msg, "invalid_client") || strings.Contains(msg, "not-the-secret") {
		t.Errorf("message %q should name Entra's reason and never the secret", msg)
	}
	if len(f.Requests()) != 0 {
		t.Errorf("the Web API was called without a token")
	}
}

func TestCheckReportsMissingApplicationUser(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.FailNext(1, fake.Fault{Status: http.StatusForbidden, Code: "0x80072560", Message: "The user is not a member of the organization."})
	err := e.client.Check(context.Background())
	if parley.ErrorCode(err) != parley.EFORBIDDEN || !strings.Contains(parley.ErrorMessage(err), "application user") {
		t.Errorf("Check refused by Dataverse: %v, want %s telling to add the application user", err, parley.EFORBIDDEN)
	}
}

func TestManyRequestsRefusedAtOnceFetchOneToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.client.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.fake.ExpireAccessTokens()
	release := e.fake.Hold()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := e.client.Check(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	eventually(t, "20 requests in flight", func() bool { return e.fake.Stats().InFlight == 20 })
	release()
	wg.Wait()
	if n := e.tokens.Load(); n != 2 {
		t.Errorf("%d token requests after 20 requests were refused together, want 2", n)
	}
}

func TestThrottlingIsWaitedOutAndRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.FailNext(1, fake.Throttle(fake.LimitRequests, 7*time.Second))
	id, err := e.client.Create(context.Background(), "leads", map[string]any{"lastname": "Throttled"})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.waited(); len(w) != 1 || w[0] != 7*time.Second {
		t.Errorf("waited %v, want [7s], the Retry-After", w)
	}
	if _, ok := e.fake.Record("lead", id); !ok {
		t.Errorf("the lead %s was not created after the retry", id)
	}
	if st := e.fake.Stats(); st.Throttled != 1 {
		t.Errorf("%d throttled answers, want 1", st.Throttled)
	}
}

func TestThrottlingBeyondMaxWaitIsReturned(t *testing.T) {
	e := newEnv(t, nil, dataverse.WithMaxWait(time.Minute))
	e.fake.FailNext(1, fake.Throttle(fake.LimitExecutionTime, 5*time.Minute))
	_, err := e.client.Query(context.Background(), "leads", dataverse.Query{Select: []string{"fullname"}})
	d, ok := dataverse.RetryAfter(err)
	if !ok || d != 5*time.Minute {
		t.Fatalf("RetryAfter(%v) = %v, %v; want 5m, true", err, d, ok)
	}
	var apiErr *dataverse.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTooManyRequests || apiErr.Code != "0x80072321" {
		t.Errorf("error %v, want the 429 with Dataverse's code", err)
	}
	if parley.ErrorCode(err) != parley.EUNAVAILABLE {
		t.Errorf("code %q, want %s", parley.ErrorCode(err), parley.EUNAVAILABLE)
	}
	if w := e.waited(); len(w) != 0 {
		t.Errorf("waited %v although the wait was over the maximum", w)
	}
}

func TestCancelDuringRetryAfter(t *testing.T) {
	f := fake.New(t)
	c, err := dataverse.New(config(f)) // the real wait, on a timer
	if err != nil {
		t.Fatal(err)
	}
	f.FailNext(1, fake.Throttle(fake.LimitRequests, 30*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Query(ctx, "leads", dataverse.Query{Select: []string{"fullname"}})
		done <- err
	}()
	eventually(t, "the 429", func() bool {
		rs := f.Requests()
		return len(rs) == 1 && rs[0].Status == http.StatusTooManyRequests
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Query returned %v, want context.Canceled", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("Query took %s to notice the cancellation", time.Since(start))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Query kept waiting after its context was canceled")
	}
	if n := len(f.Requests()); n != 1 {
		t.Errorf("%d requests, want 1: nothing is sent after cancellation", n)
	}
}

func TestServerErrorsRetryOnlyIdempotentRequests(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.install(t)
	n := len(e.fake.Requests())

	e.fake.FailNext(1, fake.Outage(http.StatusServiceUnavailable))
	key := dataverse.Key(dataverse.ColMessageID, "m1")
	if err := e.client.Upsert(ctx, dataverse.MessageEntitySet, key, map[string]any{"subject": "hi"}); err != nil {
		t.Fatalf("Upsert after one 503: %v", err)
	}
	if got := len(e.fake.Records(dataverse.MessageTable)); got != 1 {
		t.Errorf("%d messages after the retried upsert, want 1", got)
	}
	if w := e.waited(); len(w) == 0 || w[len(w)-1] != time.Second {
		t.Errorf("waits %v, want a 1s backoff before the retry", w)
	}

	e.fake.FailNext(1, fake.Outage(http.StatusServiceUnavailable))
	m := len(e.fake.Requests())
	_, err := e.client.Create(ctx, "leads", map[string]any{"lastname": "Maybe"})
	var apiErr *dataverse.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
		t.Fatalf("Create during an outage: %v, want the 503", err)
	}
	if got := len(since(e.fake, m)); got != 1 {
		t.Errorf("the create was sent %d times, want once: it may have happened", got)
	}
	if len(since(e.fake, n)) != 3 {
		t.Errorf("requests %d, want 3", len(since(e.fake, n)))
	}
}

func TestNeverMoreThan52InFlight(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	id := e.fake.AddRecord("contact", map[string]any{"firstname": "Bo"})
	if err := e.client.Check(ctx); err != nil { // the token, before the hold
		t.Fatal(err)
	}
	release := e.fake.Hold()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for range 200 {
		wg.Go(func() {
			if _, err := e.client.Get(ctx, "contacts", id, []string{"fullname"}); err != nil {
				errs <- err
			}
		})
	}
	eventually(t, "52 requests in flight", func() bool {
		st := e.fake.Stats()
		return st.InFlight >= dataverse.DefaultConcurrency || st.Throttled > 0
	})
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.fake.Stats()
	if st.MaxConcurrency != dataverse.DefaultConcurrency || st.Throttled != 0 {
		t.Errorf("max concurrency %d with %d throttled, want %d and 0", st.MaxConcurrency, st.Throttled, dataverse.DefaultConcurrency)
	}
	if st.Requests != 201 {
		t.Errorf("%d requests, want 201", st.Requests)
	}
}

func TestErrorsAreParleyErrors(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.client.Get(context.Background(), "leads", "00000000-0000-0000-0000-000000000001", nil)
	if parley.ErrorCode(err) != parley.ENOTFOUND {
		t.Fatalf("Get of a missing lead: %v (code %q), want %s", err, parley.ErrorCode(err), parley.ENOTFOUND)
	}
	if !strings.Contains(err.Error(), "dataverse: get leads(00000000-0000-0000-0000-000000000001)") {
		t.Errorf("error %q does not say what failed", err)
	}
}
