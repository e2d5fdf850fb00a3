package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleyhq/parley"
	"github.com/parleyhq/parley/internal/dbtest"
	"github.com/parleyhq/parley/store"
)

func TestAssignResolveVisibility(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b := setup(t, db)
		_, conv := b.thread(t, "5511987654321")
		agent := &parley.User{TenantID: b.tenant.ID, Email: "a@x.test", Name: "Alice", Role: parley.RoleAgent}
		other := &parley.User{TenantID: b.tenant.ID, Email: "o@x.test", Name: "Otto", Role: parley.RoleAgent}
		sup := &parley.User{TenantID: b.tenant.ID, Email: "s@x.test", Name: "Sam", Role: parley.RoleSupervisor}
		for _, u := range []*parley.User{agent, other, sup} {
			if err := db.CreateUser(ctx, u, "hash"); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateUser(ctx, &parley.User{TenantID: b.other.ID, Email: "A@X.test", Role: parley.RoleAgent}, "h"); parley.ErrorCode(err) != parley.ECONFLICT {
			t.Fatalf("a second user with the same email (any case): %v", err)
		}
		visible := func(u *parley.User) int {
			list, _, err := db.ListConversations(ctx, b.tenant.ID, store.ConversationFilter{VisibleTo: u})
			if err != nil {
				t.Fatal(err)
			}
			return len(list)
		}
		if visible(agent) != 1 || visible(other) != 1 {
			t.Fatal("agents do not see an unassigned conversation")
		}
		c := inTx(t, db, func(tx *store.Tx) (*parley.Conversation, error) {
			return tx.Assign(ctx, b.tenant.ID, conv.ID, other.ID, "", sup.Actor())
		})
		if c.AssigneeID != other.ID {
			t.Fatalf("assignee = %q", c.AssigneeID)
		}
		if visible(agent) != 0 || visible(other) != 1 || visible(sup) != 1 {
			t.Fatalf("after assigning to Otto: Alice sees %d, Otto %d, Sam %d; want 0, 1, 1", visible(agent), visible(other), visible(sup))
		}
		team, err := db.CreateTeam(ctx, b.tenant.ID, "Sales")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddTeamMember(ctx, b.tenant.ID, team.ID, agent.ID); err != nil {
			t.Fatal(err)
		}
		inTx(t, db, func(tx *store.Tx) (*parley.Conversation, error) {
			return tx.Assign(ctx, b.tenant.ID, conv.ID, "", team.ID, sup.Actor())
		})
		if visible(agent) != 1 || visible(other) != 0 {
			t.Fatalf("after assigning to Alice's team: Alice sees %d, Otto %d; want 1, 0", visible(agent), visible(other))
		}
		c = inTx(t, db, func(tx *store.Tx) (*parley.Conversation, error) {
			return tx.SetConversationStatus(ctx, b.tenant.ID, conv.ID, parley.ConversationResolved, agent.Actor())
		})
		if c.Status != parley.ConversationResolved {
			t.Fatalf("status = %s", c.Status)
		}
		// Someone else's user or team cannot be assigned.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Assign(ctx, b.other.ID, conv.ID, agent.ID, "", sup.Actor())
			return err
		})
		if parley.ErrorCode(err) != parley.ENOTFOUND {
			t.Fatalf("assigning from another tenant: %v", err)
		}
		entries, _ := db.ListAudit(ctx, b.tenant.ID, conv.ID, 10)
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		if len(actions) != 3 || actions[0] != "conversation.resolve" || actions[1] != "conversation.transfer" || actions[2] != "conversation.assign" {
			t.Fatalf("audit = %v", actions)
		}
	})
}
