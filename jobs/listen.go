package jobs

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

const (
	// listenPing is how long the LISTEN connection may stay silent before
	// it is pinged, so that a connection dropped without a word is noticed.
	listenPing = time.Minute
	// listenRetryMax caps the delay between reconnection attempts.
	listenRetryMax = 30 * time.Second
)

// listen keeps a PostgreSQL connection LISTENing on notifyChannel and
// wakes the fetch loop of each queue named in a notification. While it is
// down the fetch loops fall back to polling.
func (r *runner) listen() {
	defer r.loops.Done()
	const retryMin = 100 * time.Millisecond
	delay := retryMin
	for {
		err := r.listenOnce(r.loopCtx, func() { delay = retryMin })
		if r.loopCtx.Err() != nil {
			return
		}
		r.q.log.Warn("jobs: listen connection lost; polling until it is back",
			slog.Any("error", err), slog.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-r.loopCtx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, listenRetryMax)
	}
}

// listenOnce listens on a new connection until it fails or ctx ends: a
// dedicated one if Config.ListenURL is set, else one taken out of the
// store's pool for good. It calls listening once LISTEN is in place.
func (r *runner) listenOnce(ctx context.Context, listening func()) error {
	if r.cfg.ListenURL != "" {
		conn, err := pgx.Connect(ctx, r.cfg.ListenURL)
		if err != nil {
			return fmt.Errorf("jobs: listen: connect: %w", err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn.Close(ctx)
		}()
		return r.listenOn(ctx, conn, listening)
	}
	c, err := r.q.db.Writer().Conn(ctx)
	if err != nil {
		return fmt.Errorf("jobs: listen: connect: %w", err)
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("jobs: listen: unexpected driver connection %T", dc)
		}
		err := r.listenOn(ctx, sc.Conn(), listening)
		// ErrBadConn makes database/sql close the connection rather than
		// hand a LISTENing session to some other query.
		return fmt.Errorf("%w: %w", driver.ErrBadConn, err)
	})
}

// listenOn runs LISTEN on conn, then relays notifications to the hub.
func (r *runner) listenOn(ctx context.Context, conn *pgx.Conn, listening func()) error {
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return fmt.Errorf("jobs: listen: %w", err)
	}
	listening()
	// Jobs may have been inserted while nobody listened.
	r.q.hub.wakeAll()
	if r.q.testListen != nil {
		r.q.testListen(conn.PgConn().PID())
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil
		cancel()
		switch {
		case err == nil:
			r.q.hub.wake(n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case timedOut:
			// pgx leaves the connection usable after a timeout.
			if err := conn.Ping(ctx); err != nil {
				return fmt.Errorf("jobs: listen: ping: %w", err)
			}
		default:
			return fmt.Errorf("jobs: listen: %w", err)
		}
	}
}
