-- +goose Up
-- CRM connectors: a tenant's Dataverse (and later other CRMs). The settings
-- Parley reads to decide (tables, leads, languages) are plain JSON; the
-- credentials are encrypted with the master key, bound to the row.
CREATE TABLE crm_connectors (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    type              TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    settings          TEXT NOT NULL,
    config            BYTEA NOT NULL,
    health_status     TEXT NOT NULL DEFAULT 'healthy',
    health_reason     TEXT NOT NULL DEFAULT '',
    health_checked_at BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (tenant_id, type)
);

-- A record link found by a connector says which, the record's name as the
-- CRM shows it, and whether it is the contact's primary record.
ALTER TABLE contact_records ADD COLUMN connector_id TEXT NOT NULL DEFAULT '';
ALTER TABLE contact_records ADD COLUMN record_name TEXT NOT NULL DEFAULT '';
ALTER TABLE contact_records ADD COLUMN is_primary INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE contact_records DROP COLUMN is_primary;
ALTER TABLE contact_records DROP COLUMN record_name;
ALTER TABLE contact_records DROP COLUMN connector_id;
DROP TABLE crm_connectors;
