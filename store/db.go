// Package store keeps Parley's records in SQLite or PostgreSQL through
// database/sql, with one SQL text for both wherever the dialects agree.
//
// SQLite is the default: one file in the data directory, in WAL mode with
// synchronous=FULL, so that a commit is on disk before a webhook is
// acknowledged. SQLite allows one writer at a time, so the store keeps a
// single write connection (transactions queue in Go instead of failing
// with SQLITE_BUSY) and a pool of read connections. PostgreSQL uses one
// pool for both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"

	"github.com/parleyhq/parley"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect names a supported database.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// DB is a connection to Parley's database.
type DB struct {
	dialect Dialect
	write   *sql.DB // the only connection that writes, on SQLite
	read    *reader // reads, with statements prepared once on SQLite
	dsn     string

	// Secrets encrypts provider settings at rest. Channels cannot be
	// stored or read without it.
	Secrets Sealer

	// Now is the clock; tests replace it.
	Now func() time.Time

	instance string // names this process in event notifications

	mu           sync.Mutex
	onWrite      []func() // called after each committed write transaction
	beforeCommit []func(context.Context, *Tx, []parley.Event) error
	subscribers  []func([]parley.Event)

	stmts     sync.Map // SQL text → *sql.Stmt prepared on the SQLite writer
	stmtCount atomic.Int64
}

// IsPostgres reports whether url names a PostgreSQL database.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Open connects to the database named by url: a postgres:// URL, or else
// the path of a SQLite file (created if missing). It does not migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	db := &DB{dsn: url, Now: time.Now, instance: parley.NewID("proc")}
	if IsPostgres(url) {
		db.dialect = Postgres
		pool, err := sql.Open("pgx", url)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		pool.SetMaxOpenConns(max(8, 4*runtime.GOMAXPROCS(0)))
		pool.SetMaxIdleConns(max(8, 4*runtime.GOMAXPROCS(0)))
		pool.SetConnMaxIdleTime(5 * time.Minute)
		db.write, db.read = pool, &reader{pool: pool}
	} else {
		db.dialect = SQLite
		path := strings.TrimPrefix(url, "sqlite://")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("store: create data dir: %w", err)
			}
		}
		w, err := sql.Open("sqlite", sqliteDSN(path, true))
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		r, err := sql.Open("sqlite", sqliteDSN(path, false))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		n := max(4, runtime.GOMAXPROCS(0)*2)
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		db.write, db.read = w, &reader{pool: r, cache: true}
	}
	if err := db.write.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return db, nil
}

// sqliteDSN sets the pragmas on every connection: WAL so readers never
// block the writer, synchronous=FULL so a commit survives power loss (in WAL
// mode NORMAL may lose the last commits), and a busy timeout for the rare
// case where another process holds the file.
func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		// Take the write lock at BEGIN, not at the first write, so that a
		// transaction never fails halfway for want of the lock.
		q.Add("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + q.Encode()
}

// URL is the database URL the store was opened with. It may hold a
// password: never log it.
func (db *DB) URL() string { return db.dsn }

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Writer is the connection pool that writes (a single connection on SQLite).
func (db *DB) Writer() *sql.DB { return db.write }

// Reader is the pool for reads that need not see uncommitted work.
func (db *DB) Reader() *sql.DB { return db.read.pool }

// Close closes the connections.
func (db *DB) Close() error {
	var errs []error
	if db.dialect == SQLite && db.write != nil {
		// Lets SQLite refresh the statistics its planner uses, as its
		// documentation asks of long-lived connections before they close.
		db.write.Exec(`PRAGMA optimize`)
	}
	db.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	if db.write != nil {
		errs = append(errs, db.write.Close())
	}
	if db.read != nil && db.read.pool != db.write {
		db.read.stmts.Range(func(_, st any) bool {
			st.(*sql.Stmt).Close()
			return true
		})
		errs = append(errs, db.read.pool.Close())
	}
	return errors.Join(errs...)
}

// Migrate brings the schema up to date. It is safe to run on every start
// and from several replicas at once (goose takes a lock on PostgreSQL).
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, err
	}
	d := goose.DialectSQLite3
	// Out of order: 00007 landed before 00006 and 00008, which were
	// numbered while it was written; a database migrated in between must
	// still take them. Each migration stands alone, so the order of
	// those three does not matter.
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true)}
	if db.dialect == Postgres {
		d = goose.DialectPostgres
		locker, err := db.newPGLocker(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d, db.write, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migrate: %w", err)
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// OnWrite registers f to run after every committed write transaction. The
// job queue uses it to wake its workers on SQLite, where there is no
// LISTEN/NOTIFY.
func (db *DB) OnWrite(f func()) {
	db.mu.Lock()
	db.onWrite = append(db.onWrite, f)
	db.mu.Unlock()
}

// BeforeCommit registers f to run at the end of every write transaction
// that recorded events, inside it, with those events. What f writes
// commits or rolls back with them: the CRM log uses it to queue each
// message for its CRM in the transaction that stores the message, so that
// nothing is logged that did not happen, and nothing that happened is lost.
func (db *DB) BeforeCommit(f func(ctx context.Context, tx *Tx, events []parley.Event) error) {
	db.mu.Lock()
	db.beforeCommit = append(db.beforeCommit, f)
	db.mu.Unlock()
}

// Tx is a write transaction. Use it through DB.InTx.
type Tx struct {
	*sql.Tx
	db          *DB
	afterCommit []func()
	events      []parley.Event
	unprepared  map[string]bool // statements to prepare after the commit
}

// maxCachedStmts bounds the statement cache: SQL built with a variable
// number of placeholders would otherwise grow it without end.
const maxCachedStmts = 512

// prepared returns the statement for query inside the transaction. On
// SQLite, parsing and planning a statement costs more than running it, and
// the writer is a single connection, so each statement is prepared once
// and reused by every transaction. It cannot be prepared here, inside a
// transaction that holds the only connection: a statement seen for the
// first time runs unprepared and is prepared after the commit (see
// prepareSeen). PostgreSQL's driver caches prepared statements itself.
func (tx *Tx) prepared(ctx context.Context, query string) *sql.Stmt {
	db := tx.db
	if db.dialect != SQLite {
		return nil
	}
	if st, ok := db.stmts.Load(query); ok {
		return tx.Tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	if db.stmtCount.Load() < maxCachedStmts {
		if tx.unprepared == nil {
			tx.unprepared = map[string]bool{}
		}
		tx.unprepared[query] = true
	}
	return nil
}

// prepareSeen prepares, on the writer, the statements a transaction ran
// unprepared. It runs after the commit has released the connection.
func (db *DB) prepareSeen(ctx context.Context, queries map[string]bool) {
	for q := range queries {
		if _, ok := db.stmts.Load(q); ok || db.stmtCount.Load() >= maxCachedStmts {
			continue
		}
		st, err := db.write.PrepareContext(ctx, q)
		if err != nil {
			continue // the statement itself reports its errors when run
		}
		if _, loaded := db.stmts.LoadOrStore(q, st); loaded {
			st.Close()
		} else {
			db.stmtCount.Add(1)
		}
	}
}

// ExecContext runs a statement in the transaction, prepared once on SQLite.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := tx.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction, prepared once on SQLite.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := tx.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a one-row query in the transaction, prepared once
// on SQLite.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := tx.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// AfterCommit runs f once the transaction has committed (never if it rolls
// back). Realtime events and worker wake-ups go here, so nobody hears of a
// change that did not happen.
func (tx *Tx) AfterCommit(f func()) { tx.afterCommit = append(tx.afterCommit, f) }

// Dialect reports which database the transaction is on.
func (tx *Tx) Dialect() Dialect { return tx.db.dialect }

// InTx runs f in a write transaction and commits if f returns nil.
func (db *DB) InTx(ctx context.Context, f func(tx *Tx) error) error {
	stx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	tx := &Tx{Tx: stx, db: db}
	if err := f(tx); err != nil {
		stx.Rollback()
		return err
	}
	if len(tx.events) > 0 {
		db.mu.Lock()
		hooks := db.beforeCommit
		db.mu.Unlock()
		for _, h := range hooks {
			if err := h(ctx, tx, tx.events); err != nil {
				stx.Rollback()
				return err
			}
		}
	}
	if err := tx.flushEvents(ctx); err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if len(tx.unprepared) > 0 {
		db.prepareSeen(context.WithoutCancel(ctx), tx.unprepared)
	}
	for _, fn := range tx.afterCommit {
		fn()
	}
	db.publish(tx.events)
	db.mu.Lock()
	hooks := db.onWrite
	db.mu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	return nil
}

// Counts are the sizes of the main tables, for the root page and the
// operator.
type Counts struct {
	Tenants, Channels, Conversations, Messages int
}

// Count reads the table sizes.
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	for _, q := range []struct {
		table string
		dst   *int
	}{{"tenants", &c.Tenants}, {"channels", &c.Channels}, {"conversations", &c.Conversations}, {"messages", &c.Messages}} {
		if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+q.table).Scan(q.dst); err != nil {
			return c, fmt.Errorf("store: count %s: %w", q.table, err)
		}
	}
	return c, nil
}

// reader runs reads on the read pool. On SQLite, preparing a statement
// costs more than running one of Parley's indexed lookups, so each query is
// prepared once (database/sql then prepares it on each pool connection as
// it first runs there). PostgreSQL's driver caches statements itself.
type reader struct {
	pool  *sql.DB
	cache bool

	stmts sync.Map // SQL text → *sql.Stmt
	count atomic.Int64
}

// stmt returns the prepared statement for query, or nil to run it as is.
func (r *reader) stmt(ctx context.Context, query string) *sql.Stmt {
	if !r.cache {
		return nil
	}
	if st, ok := r.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if r.count.Load() >= maxCachedStmts {
		return nil
	}
	st, err := r.pool.PrepareContext(ctx, query)
	if err != nil {
		return nil // the query reports its own error when run
	}
	if old, loaded := r.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return old.(*sql.Stmt)
	}
	r.count.Add(1)
	return st
}

func (r *reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.pool.QueryContext(ctx, query, args...)
}

func (r *reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := r.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.pool.QueryRowContext(ctx, query, args...)
}

// ExecContext is for the read pool's rare statements that are not
// queries; it makes reader a queryer.
func (r *reader) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.pool.ExecContext(ctx, query, args...)
}
