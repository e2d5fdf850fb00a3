package web

import (
	"context"
	"slices"

	"github.com/parleyhq/parley"
)

// mayAccess reports whether a user may see a conversation: supervisors and
// admins see all of the tenant's; agents their own, their teams' and the
// unassigned ones.
func (s *Server) mayAccess(ctx context.Context, u *parley.User, c *parley.Conversation) (bool, error) {
	if u.SeesAll() || c.AssigneeID != "" || c.TeamID == "" {
		return visible(u, c, nil), nil
	}
	teams, err := s.DB.UserTeams(ctx, u.ID)
	if err != nil {
		return false, err
	}
	return visible(u, c, teams), nil
}

// visible is mayAccess for a user whose teams are known.
func visible(u *parley.User, c *parley.Conversation, teams []string) bool {
	switch {
	case u.SeesAll() || c.AssigneeID == u.ID:
		return true
	case c.AssigneeID != "":
		return false
	case c.TeamID == "":
		return true
	}
	return slices.Contains(teams, c.TeamID)
}

// conversation loads a conversation the session may see. One it may not
// see is "not found", so its existence does not leak.
func (s *Server) conversation(ctx context.Context, ss *session, id string) (*parley.Conversation, error) {
	c, err := s.DB.FindConversation(ctx, ss.Tenant.ID, id)
	if err != nil {
		return nil, err
	}
	ok, err := s.mayAccess(ctx, ss.User, c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, parley.Errorf(parley.ENOTFOUND, "Conversation not found.")
	}
	return c, nil
}
