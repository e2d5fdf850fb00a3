-- +goose Up
-- The watched columns of each CRM record linked to a contact, as last
-- read: change tracking says which records changed, not which columns, so
-- Parley compares with this to write "Lead status: Qualified".
CREATE TABLE crm_snapshots (
    connector_id TEXT NOT NULL,
    record_table TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    vals         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (connector_id, record_table, record_id)
);

-- +goose Down
DROP TABLE crm_snapshots;
