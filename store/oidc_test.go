package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

// TestOIDCLink: an account links to one user, finds them from then on,
// and neither side can be relinked to someone else.
func TestOIDCLink(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		ana := &parley.User{TenantID: b.tenant.ID, Email: "ana@x.test", Role: parley.RoleAgent}
		bob := &parley.User{TenantID: b.tenant.ID, Email: "bob@x.test", Role: parley.RoleAgent}
		for _, u := range []*parley.User{ana, bob} {
			if err := db.CreateUser(ctx, u, "hash"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.UserByOIDC(ctx, "tid-1", "oid-ana"); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("an unlinked account found %v", err)
		}
		if err := db.LinkOIDC(ctx, ana.ID, "tid-1", "oid-ana"); err != nil {
			t.Fatal(err)
		}
		if err := db.LinkOIDC(ctx, ana.ID, "tid-1", "oid-ana"); err != nil {
			t.Fatalf("linking the same account again: %v", err)
		}
		got, err := db.UserByOIDC(ctx, "tid-1", "oid-ana")
		if err != nil || got.ID != ana.ID {
			t.Fatalf("UserByOIDC = %v, %v; want ana", got, err)
		}
		// The same object ID in another directory is another account.
		if _, err := db.UserByOIDC(ctx, "tid-2", "oid-ana"); parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("another tenant's account found %v", err)
		}
		if err := db.LinkOIDC(ctx, ana.ID, "tid-2", "oid-other"); parley.ErrorCode(err) != parley.ECONFLICT {
			t.Fatalf("relinking a linked user: %v, want conflict", err)
		}
		if err := db.LinkOIDC(ctx, bob.ID, "tid-1", "oid-ana"); parley.ErrorCode(err) != parley.ECONFLICT {
			t.Fatalf("linking ana's account to bob: %v, want conflict", err)
		}
		if err := db.LinkOIDC(ctx, bob.ID, "tid-2", "oid-ana"); err != nil {
			t.Fatalf("the same oid in another tenant: %v", err)
		}
	})
}

// TestSignInCode: a code works once, until it expires, and only for an
// active user.
func TestSignInCode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		b := setup(t, db)
		u := &parley.User{TenantID: b.tenant.ID, Email: "ana@x.test", Role: parley.RoleAgent}
		if err := db.CreateUser(ctx, u, "hash"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"code-1", "code-2"} {
			if err := db.CreateSignInCode(ctx, u, c, b.now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.TakeSignInCode(ctx, "code-1")
		if err != nil || got.ID != u.ID || got.TenantID != b.tenant.ID {
			t.Fatalf("TakeSignInCode = %v, %v", got, err)
		}
		if _, err := db.TakeSignInCode(ctx, "code-1"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("a used code: %v", err)
		}
		if _, err := db.TakeSignInCode(ctx, "unknown"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("an unknown code: %v", err)
		}
		b.now = b.now.Add(time.Minute)
		if _, err := db.TakeSignInCode(ctx, "code-2"); parley.ErrorCode(err) != parley.EUNAUTHORIZED {
			t.Fatalf("an expired code: %v", err)
		}
		// Making a code prunes the expired ones.
		if err := db.CreateSignInCode(ctx, u, "code-3", b.now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.Reader().QueryRow(`SELECT COUNT(*) FROM sign_in_codes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d codes kept (%v), want 1", n, err)
		}
	})
}
