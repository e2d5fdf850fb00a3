-- +goose Up
-- The messages to log in a tenant's CRM, in order, written in the same
-- transaction as the message: a CRM outage delays the log, loses nothing.
CREATE TABLE crm_outbox (
    id           BIGSERIAL PRIMARY KEY,
    connector_id TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX crm_outbox_connector ON crm_outbox (connector_id, id);

-- When a contact's records were last looked up in a connector's CRM, so a
-- busy conversation does not search the CRM for every message.
CREATE TABLE crm_lookups (
    connector_id TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    looked_up_at BIGINT NOT NULL,
    PRIMARY KEY (connector_id, contact_id)
);

-- Change tracking: where each table's changes were last read.
CREATE TABLE crm_sync (
    connector_id TEXT NOT NULL,
    record_table TEXT NOT NULL,
    delta_link   TEXT NOT NULL DEFAULT '',
    synced_at    BIGINT,
    PRIMARY KEY (connector_id, record_table)
);

-- +goose Down
DROP TABLE crm_sync;
DROP TABLE crm_lookups;
DROP TABLE crm_outbox;
