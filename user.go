package parley

import "time"

// Roles a console user may have. Agents see their own conversations,
// their teams' and the unassigned ones; supervisors and admins see all of
// the tenant's. Admins also manage users, quick replies and channels.
const (
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return r == RoleAgent || r == RoleSupervisor || r == RoleAdmin }

// User is a person who signs in to the console: an agent, a supervisor or
// an admin of one tenant.
type User struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	// Language is the console language ("en", "pt", "es"); empty follows
	// the browser.
	Language string `json:"language,omitempty"`
	// TimeZone is an IANA zone such as "America/Sao_Paulo"; empty follows
	// the browser.
	TimeZone string `json:"time_zone,omitempty"`
	// MustChangePassword is set while the user signs in with a password
	// someone else chose (a printed one-time password): the console lets
	// them do nothing else until they choose their own.
	MustChangePassword bool      `json:"must_change_password,omitempty"`
	CreatedAt          time.Time `json:"created_at"`
}

// SeesAll reports whether the user sees every conversation of the tenant.
func (u *User) SeesAll() bool { return u.Role == RoleSupervisor || u.Role == RoleAdmin }

// DisplayName is the best name to show for the user.
func (u *User) DisplayName() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// Actor is the user as the author of an action, for the audit record.
func (u *User) Actor() Actor { return Actor{Kind: ActorUser, ID: u.ID, Name: u.DisplayName()} }

// Team is a group of agents that conversations can be assigned to.
type Team struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

// QuickReply is a canned answer an agent inserts by typing /shortcut.
type QuickReply struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Shortcut string `json:"shortcut"`
	Text     string `json:"text"`
}
