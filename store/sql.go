package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Times are stored as Unix milliseconds so one SQL text serves both
// databases and comparisons stay integer comparisons.

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// boolInt is a flag as stored: an INTEGER 0 or 1, which both databases
// read and write alike (PostgreSQL does not cast a boolean to integer).
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// null maps "" to NULL, because absent identifiers must be NULL for the
// partial unique indexes to ignore them.
func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(v sql.NullString) string { return v.String }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // only our own types are marshalled
	}
	return string(b)
}

// queryer is what both *sql.DB and *sql.Tx offer, so read helpers serve
// inside and outside transactions.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// greatest is the two-argument maximum: greatest() on PostgreSQL, the
// scalar max() on SQLite.
func (d Dialect) greatest() string {
	if d == Postgres {
		return "greatest"
	}
	return "max"
}
