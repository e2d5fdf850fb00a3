package web

import (
	"encoding/json"
	"strconv"
)

// sharedContact is a contact card a customer shared, as the thread shows it.
type sharedContact struct {
	Name   string
	Phones []string
}

// parseContacts reads WhatsApp's contacts array (name.formatted_name and
// phones[].phone); anything else in a card is left out of the thread.
func parseContacts(raw json.RawMessage) []sharedContact {
	var cards []struct {
		Name struct {
			Formatted string `json:"formatted_name"`
			First     string `json:"first_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
		} `json:"phones"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &cards) != nil {
		return nil
	}
	out := make([]sharedContact, 0, len(cards))
	for _, c := range cards {
		sc := sharedContact{Name: c.Name.Formatted}
		if sc.Name == "" {
			sc.Name = c.Name.First
		}
		for _, p := range c.Phones {
			sc.Phones = append(sc.Phones, p.Phone)
		}
		out = append(out, sc)
	}
	return out
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
