package store

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/pressly/goose/v3/lock"
)

// newPGLocker serialises migrations across replicas that start together.
// The advisory lock is named after the schema: replicas of one deployment
// share it, while deployments (or test runs) in other schemas of the same
// server do not queue behind each other.
func (db *DB) newPGLocker(ctx context.Context) (lock.SessionLocker, error) {
	var schema string
	if err := db.write.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return nil, fmt.Errorf("store: read the current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("parley migrations " + schema))
	return lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64()>>1)),
		lock.WithLockTimeout(1, 300), // retry each second, for five minutes
	)
}
