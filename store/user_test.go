package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// TestUserMustChangePassword: the flag round-trips through every way a
// user is read, and SetPassword sets or clears it and ends the sessions.
func TestUserMustChangePassword(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b := setup(t, db)
		forced := &parley.User{TenantID: b.tenant.ID, Email: "new@x.test", Role: parley.RoleAgent, MustChangePassword: true}
		chosen := &parley.User{TenantID: b.tenant.ID, Email: "old@x.test", Role: parley.RoleAgent}
		for _, u := range []*parley.User{forced, chosen} {
			if err := db.CreateUser(ctx, u, "hash-"+u.Email); err != nil {
				t.Fatal(err)
			}
		}
		expires := b.now.Add(time.Hour)
		if err := db.CreateSession(ctx, forced, "session-forced", expires); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, chosen, "session-chosen", expires); err != nil {
			t.Fatal(err)
		}
		// check reads the user every way and wants the flag and hash.
		check := func(step string, u *parley.User, session string, want bool, wantHash string) {
			t.Helper()
			got, hash, err := db.UserByEmail(ctx, u.Email)
			if err != nil {
				t.Fatalf("%s: UserByEmail: %v", step, err)
			} else if got.MustChangePassword != want || hash != wantHash {
				t.Errorf("%s: UserByEmail MustChangePassword=%v hash=%q, want %v %q", step, got.MustChangePassword, hash, want, wantHash)
			}
			if got, err := db.FindUser(ctx, b.tenant.ID, u.ID); err != nil {
				t.Fatalf("%s: FindUser: %v", step, err)
			} else if got.MustChangePassword != want {
				t.Errorf("%s: FindUser MustChangePassword=%v, want %v", step, got.MustChangePassword, want)
			}
			if session == "" {
				return
			}
			if got, err := db.SessionUser(ctx, session); err != nil {
				t.Fatalf("%s: SessionUser: %v", step, err)
			} else if got.ID != u.ID || got.MustChangePassword != want {
				t.Errorf("%s: SessionUser %s MustChangePassword=%v, want %s %v", step, got.ID, got.MustChangePassword, u.ID, want)
			}
		}
		check("created forced", forced, "session-forced", true, "hash-new@x.test")
		check("created chosen", chosen, "session-chosen", false, "hash-old@x.test")
		users, err := db.ListUsers(ctx, b.tenant.ID)
		if err != nil || len(users) != 2 {
			t.Fatalf("ListUsers: %d users, %v", len(users), err)
		}
		for _, u := range users {
			if u.MustChangePassword != (u.ID == forced.ID) {
				t.Errorf("ListUsers: %s MustChangePassword=%v", u.Email, u.MustChangePassword)
			}
		}

		// The user chooses their own password: the flag clears, and every
		// session of theirs (and only theirs) ends.
		if err := db.SetPassword(ctx, forced.ID, "own-hash", false); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SessionUser(ctx, "session-forced"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("the session after a password change: %v, want EUNAUTHORIZED", err)
		}
		check("changed", forced, "", false, "own-hash")
		check("the other user", chosen, "session-chosen", false, "hash-old@x.test")
		if err := db.CreateSession(ctx, forced, "session-forced-2", expires); err != nil {
			t.Fatal(err)
		}
		check("signed in again", forced, "session-forced-2", false, "own-hash")

		// An admin resets the other user's password to a one-time one.
		if err := db.SetPassword(ctx, chosen.ID, "reset-hash", true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SessionUser(ctx, "session-chosen"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("the session after a password reset: %v, want EUNAUTHORIZED", err)
		}
		check("reset", chosen, "", true, "reset-hash")
	})
}
