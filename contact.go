package parley

import "time"

// Contact is a customer as one tenant knows them. WhatsApp may name the same
// person by WhatsApp ID (phone digits), by business-scoped user ID (BSUID)
// or by E.164 phone, and the three may arrive in any order; the store finds a
// contact by any of them so that one person is one contact.
type Contact struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`

	WAID  string `json:"wa_id,omitempty"`
	BSUID string `json:"bsuid,omitempty"`
	Phone string `json:"phone,omitempty"` // E.164

	Name        string `json:"name,omitempty"`         // set by an agent or a CRM
	ProfileName string `json:"profile_name,omitempty"` // as the customer's WhatsApp profile says
	Language    string `json:"language,omitempty"`     // e.g. "pt_BR"

	Consent Consent `json:"consent"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DisplayName is the best name to show for the contact.
func (c *Contact) DisplayName() string {
	switch {
	case c.Name != "":
		return c.Name
	case c.ProfileName != "":
		return c.ProfileName
	case c.Phone != "":
		return c.Phone
	case c.WAID != "":
		return "+" + c.WAID
	}
	return c.BSUID
}
