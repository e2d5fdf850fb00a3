package messaging_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/jobs"
	"github.com/parleyhq/parley/messaging"
	"github.com/parleyhq/parley/secret"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/whatsapp"
)

// BenchmarkIngest measures the database side of inbound ingestion: a
// delivery of 64 text messages from 1,000 customers, applied in one
// transaction, as the ingester commits them under load.
func BenchmarkIngest(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, dbtest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, dbtest.Postgres(b)) })
}

func benchIngest(b *testing.B, db *store.DB) {
	ctx := context.Background()
	box, _ := secret.New(bytes.Repeat([]byte{1}, 32))
	db.Secrets = box
	svc := messaging.New(db, jobs.New(db, jobs.Options{}), nil, nil, nil, nil)
	t, err := db.CreateTenant(ctx, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	ch, err := svc.ConnectChannel(ctx, t.ID, messaging.ChannelInput{Provider: parley.ProviderSandbox, PhoneNumber: "+551140028922"})
	if err != nil {
		b.Fatal(err)
	}
	const perBatch = 64
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := &whatsapp.Batch{}
		for range perBatch {
			n++
			batch.Messages = append(batch.Messages, whatsapp.Message{Account: ch.AccountID,
				Contact: whatsapp.Contact{WAID: fmt.Sprint(5511900000000 + n%1000), ProfileName: "Customer"},
				Content: parley.Message{Type: parley.TypeText, ProviderMessageID: fmt.Sprintf("wamid.%d", n), Text: "Olá",
					Timestamp: time.Now()}})
		}
		if err := svc.Ingest(ctx, messaging.Delivery{Channel: ch, Batch: batch}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "msgs/s")
}
