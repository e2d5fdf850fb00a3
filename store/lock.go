package store

import (
	"github.com/pressly/goose/v3/lock"
)

// newPGLocker serialises migrations across replicas that start together.
func newPGLocker() (lock.SessionLocker, error) {
	return lock.NewPostgresSessionLocker()
}
