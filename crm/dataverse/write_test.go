package dataverse_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/crm/dataverse"
	fake "github.com/parleyhq/parley/internal/fake/dataverse"
)

func TestCreateReturnsID(t *testing.T) {
	e := newEnv(t, nil)
	id, err := e.client.Create(context.Background(), "leads", map[string]any{"firstname": "Ana", "lastname": "Lima", "mobilephone": "+5511987654321"})
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := e.fake.Record("lead", id)
	if !ok {
		t.Fatalf("no lead %s", id)
	}
	if rec.Fields["mobilephone"] != "+5511987654321" {
		t.Errorf("the lead holds %v", rec.Fields)
	}
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	e := newEnv(t, nil)
	e.install(t)
	ctx := context.Background()
	lead := e.fake.AddRecord("lead", map[string]any{"lastname": "Lima"})
	// A WhatsApp ID with characters a URL and an OData literal must escape.
	key := dataverse.Key(dataverse.ColMessageID, "wamid.HBg'L/Mz+Q==")
	body := map[string]any{
		"subject":              "WhatsApp from +5511987654321",
		dataverse.ColStatus:    dataverse.StatusSent,
		dataverse.ColDirection: dataverse.DirectionOutbound,
		dataverse.ColBody:      "Olá <b>&</b>",
		"regardingobjectid_lead_" + dataverse.MessageTable + "@odata.bind": "/leads(" + lead + ")",
	}
	if err := e.client.Upsert(ctx, dataverse.MessageEntitySet, key, body); err != nil {
		t.Fatal(err)
	}
	body[dataverse.ColStatus] = dataverse.StatusRead
	if err := e.client.Upsert(ctx, dataverse.MessageEntitySet, key, body); err != nil {
		t.Fatal(err)
	}
	recs := e.fake.Records(dataverse.MessageTable)
	if len(recs) != 1 {
		t.Fatalf("%d messages after two upserts of one, want 1", len(recs))
	}
	f := recs[0].Fields
	if f[dataverse.ColMessageID] != "wamid.HBg'L/Mz+Q==" || f[dataverse.ColStatus] != int64(dataverse.StatusRead) || f[dataverse.ColBody] != "Olá <b>&</b>" {
		t.Errorf("the message holds %v", f)
	}
}

func upserts(n int, prefix string) []dataverse.Op {
	ops := make([]dataverse.Op, n)
	for i := range ops {
		ops[i] = dataverse.Op{
			Method: http.MethodPatch,
			Path:   dataverse.MessageEntitySet + "(" + dataverse.Key(dataverse.ColMessageID, fmt.Sprintf("%s%03d", prefix, i)) + ")",
			Body:   map[string]any{"subject": fmt.Sprint("message ", i), dataverse.ColStatus: dataverse.StatusDelivered},
		}
	}
	return ops
}

func TestBatchOfUpsertsIsOneRequest(t *testing.T) {
	e := newEnv(t, nil)
	e.install(t)
	n := len(e.fake.Requests())
	if err := e.client.Batch(context.Background(), upserts(dataverse.MaxBatch, "m")); err != nil {
		t.Fatal(err)
	}
	reqs := since(e.fake, n)
	wire := outer(reqs)
	if len(wire) != 1 || wire[0].Method != http.MethodPost || !strings.HasSuffix(wire[0].Path, "/$batch") {
		t.Fatalf("sent %d requests, want one POST $batch", len(wire))
	}
	if len(reqs)-len(wire) != dataverse.MaxBatch {
		t.Errorf("the $batch held %d requests, want %d", len(reqs)-len(wire), dataverse.MaxBatch)
	}
	if body := wire[0].Body; bytes.Count(body, []byte("\n")) != bytes.Count(body, []byte("\r\n")) {
		t.Errorf("the $batch body has lines ending in LF alone")
	}
	if got := len(e.fake.Records(dataverse.MessageTable)); got != dataverse.MaxBatch {
		t.Errorf("%d messages, want %d", got, dataverse.MaxBatch)
	}
	// Upserted again: the same rows, nothing added.
	if err := e.client.Batch(context.Background(), upserts(dataverse.MaxBatch, "m")); err != nil {
		t.Fatal(err)
	}
	if got := len(e.fake.Records(dataverse.MessageTable)); got != dataverse.MaxBatch {
		t.Errorf("%d messages after the same batch again, want %d", got, dataverse.MaxBatch)
	}

	m := len(e.fake.Requests())
	if err := e.client.Batch(context.Background(), upserts(dataverse.MaxBatch+1, "x")); err == nil {
		t.Errorf("a batch of %d was accepted", dataverse.MaxBatch+1)
	}
	if len(e.fake.Requests()) != m {
		t.Errorf("a batch over the limit was sent")
	}
}

func TestBatchFailureRollsBack(t *testing.T) {
	e := newEnv(t, nil)
	acc := e.fake.AddRecord("account", map[string]any{"name": "Contoso"})
	task := func(subject string) dataverse.Op {
		return dataverse.Op{Method: http.MethodPost, Path: "tasks", Body: map[string]any{
			"subject": subject, "regardingobjectid_account_task@odata.bind": "/accounts(" + acc + ")"}}
	}
	ops := []dataverse.Op{task("Task 1"), task(strings.Repeat("x", 201)), task("Task 3")}
	err := e.client.Batch(context.Background(), ops)
	var opErr *dataverse.OpError
	if !errors.As(err, &opErr) {
		t.Fatalf("Batch returned %v, want an *OpError", err)
	}
	if opErr.Index != 1 || opErr.Err.Status != http.StatusBadRequest || opErr.Err.Code != "0x80044331" {
		t.Errorf("OpError{Index: %d, Err: %v}, want the second operation's validation error", opErr.Index, opErr.Err)
	}
	var apiErr *dataverse.Error
	if !errors.As(err, &apiErr) {
		t.Errorf("the error does not unwrap to *Error")
	}
	if got := e.fake.Records("task"); len(got) != 0 {
		t.Errorf("%d tasks after a failed change set, want none: it rolls back", len(got))
	}
}

func TestBatchThrottledIsRetried(t *testing.T) {
	e := newEnv(t, nil)
	e.install(t)
	e.fake.FailNext(1, fakeThrottle(3))
	if err := e.client.Batch(context.Background(), upserts(10, "t")); err != nil {
		t.Fatal(err)
	}
	if got := len(e.fake.Records(dataverse.MessageTable)); got != 10 {
		t.Errorf("%d messages, want 10", got)
	}
	if w := e.waited(); len(w) == 0 || w[len(w)-1].Seconds() != 3 {
		t.Errorf("waits %v, want the 3s Retry-After", w)
	}
}

func TestBatchThrottledInsideWaitsForTheWindow(t *testing.T) {
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return clk.sleep(ctx, d)
	}
	e := newEnv(t, []fake.Option{fake.WithClock(clk.Now), fake.WithRequestLimit(10, 300*time.Second)},
		dataverse.WithMaxWait(10*time.Minute), dataverse.WithSleep(sleep))
	c := e.client
	ctx := context.Background()
	for i := range 6 {
		if _, err := c.Create(ctx, "tasks", map[string]any{"subject": fmt.Sprint("single ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	ops := make([]dataverse.Op, 10)
	for i := range ops {
		ops[i] = dataverse.Op{Method: http.MethodPost, Path: "tasks", Body: map[string]any{"subject": fmt.Sprint("batched ", i)}}
	}
	// The window holds 10 requests: the 5th of the change set is refused,
	// the change set rolls back, and the client waits until the window
	// has room for all 10.
	if err := c.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	if len(waits) != 1 || waits[0] != 300*time.Second {
		t.Errorf("waits %v, want [5m0s], the Retry-After of the refused part", waits)
	}
	if got := len(e.fake.Records("task")); got != 16 {
		t.Errorf("%d tasks, want 16: every batched one exactly once", got)
	}
	if st := e.fake.Stats(); st.Throttled != 1 {
		t.Errorf("%d throttled answers, want 1", st.Throttled)
	}
}
