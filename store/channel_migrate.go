package store

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley"
)

// ChannelUsage is what hangs off a channel: what a move to another
// provider keeps, and what it has to wait for.
type ChannelUsage struct {
	Contacts      int `json:"contacts"`
	Conversations int `json:"conversations"`
	Messages      int `json:"messages"`
	OptedOut      int `json:"opted_out" doc:"Contacts of the channel who opted out; they stay opted out."`
	Queued        int `json:"queued" doc:"Sends waiting to go; they go through the new provider."`
	InFlight      int `json:"in_flight" doc:"Sends handed to the provider whose outcome is not known yet."`
	Templates     int `json:"templates" doc:"Templates synced from the old provider; they are fetched again from the new one."`
}

// ChannelUsage counts a channel's contacts, conversations, messages and
// templates.
func (db *DB) ChannelUsage(ctx context.Context, tenantID, channelID string) (ChannelUsage, error) {
	var u ChannelUsage
	err := db.read.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM conversations WHERE tenant_id = $1 AND channel_id = $2),
		(SELECT COUNT(*) FROM contacts c WHERE c.tenant_id = $1 AND c.id IN (SELECT contact_id FROM conversations WHERE tenant_id = $1 AND channel_id = $2)),
		(SELECT COUNT(*) FROM contacts c WHERE c.tenant_id = $1 AND c.consent_state = $3
			AND c.id IN (SELECT contact_id FROM conversations WHERE tenant_id = $1 AND channel_id = $2)),
		(SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND channel_id = $2),
		(SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND channel_id = $2 AND status = $4),
		(SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND channel_id = $2 AND status = $5),
		(SELECT COUNT(*) FROM templates WHERE tenant_id = $1 AND channel_id = $2)`,
		tenantID, channelID, parley.ConsentOptedOut, parley.StatusQueued, parley.StatusSending).
		Scan(&u.Conversations, &u.Contacts, &u.OptedOut, &u.Messages, &u.Queued, &u.InFlight, &u.Templates)
	if err != nil {
		return u, fmt.Errorf("store: channel usage: %w", err)
	}
	return u, nil
}

// MoveChannel puts a channel on another provider: new settings and
// provider account, the old provider's templates dropped (their IDs mean
// nothing to the new one), and an audit entry. The channel keeps its ID,
// so its contacts, conversations, consent and history stay as they are.
// It refuses while a send is in flight, in the same transaction, because
// only the old provider could say whether that send went out.
func (db *DB) MoveChannel(ctx context.Context, ch *parley.Channel, from string, by parley.Actor) error {
	ch.UpdatedAt = db.Now().UTC().Truncate(1e6)
	ch.Health = parley.ChannelHealth{Status: parley.HealthHealthy, CheckedAt: ch.UpdatedAt}
	sealed, err := db.sealConfig(ch)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *Tx) error {
		var inFlight, taken int
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND channel_id = $2 AND status = $3),
			(SELECT COUNT(*) FROM channels WHERE provider = $4 AND account_id = $5 AND id <> $2)`,
			ch.TenantID, ch.ID, parley.StatusSending, ch.Provider, ch.AccountID).Scan(&inFlight, &taken)
		if err != nil {
			return fmt.Errorf("store: move channel: %w", err)
		}
		if inFlight > 0 {
			return parley.Errorf(parley.ECONFLICT, "%d sends are in flight through %s; move the number once they are sent or failed (usually within a minute).", inFlight, from)
		}
		if taken > 0 {
			return parley.Errorf(parley.ECONFLICT, "Another channel already uses this %s account (%s).", ch.Provider, ch.AccountID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE channels SET provider = $1, account_id = $2, business_account_id = $3, verify_token_hash = $4,
			config = $5, health_status = $6, health_reason = '', health_checked_at = $7, updated_at = $7
			WHERE id = $8 AND tenant_id = $9 AND provider = $10`,
			ch.Provider, ch.AccountID, null(ch.BusinessAccountID), null(HashToken(verifyTokenOf(ch))), sealed,
			ch.Health.Status, ms(ch.UpdatedAt), ch.ID, ch.TenantID, from)
		if err != nil {
			return fmt.Errorf("store: move channel: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return parley.Errorf(parley.ECONFLICT, "The channel is no longer on %s; look at it again.", from)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM templates WHERE tenant_id = $1 AND channel_id = $2`, ch.TenantID, ch.ID); err != nil {
			return fmt.Errorf("store: move channel: drop templates: %w", err)
		}
		if err := tx.AddAudit(ctx, ch.TenantID, by, "channel.migrated", ch.ID, map[string]any{"from": from, "to": ch.Provider}); err != nil {
			return err
		}
		return tx.AddEvent(ctx, ch.TenantID, parley.EventChannelUpdated, ch)
	})
}
