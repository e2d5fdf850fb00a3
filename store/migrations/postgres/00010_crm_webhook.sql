-- +goose Up
-- Any CRM through webhooks (crm/webhook). Its records are mirrored here,
-- as the CRM pushes them or the initial import reads them, so that phone
-- lookups, record links, template bindings and console links work the way
-- they do with a CRM Parley can query.
CREATE TABLE crm_records (
    connector_id TEXT NOT NULL,
    entity       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    source_crm   TEXT NOT NULL DEFAULT '',
    -- The record's phones as digits only, space separated.
    phones       TEXT NOT NULL DEFAULT '',
    fields       TEXT NOT NULL DEFAULT '{}',
    deleted      INTEGER NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (connector_id, entity, record_id)
);

-- Each phone's last eight digits, which every way of writing one number
-- shares (see crm.PhoneFilter), so a lookup is an index seek.
CREATE TABLE crm_record_phones (
    connector_id TEXT NOT NULL,
    suffix       TEXT NOT NULL,
    entity       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    PRIMARY KEY (connector_id, suffix, entity, record_id)
);

-- The webhook-ids a CRM's webhooks came with, until they are too old to be
-- accepted anyway: a replay is acknowledged, not applied again.
CREATE TABLE crm_webhook_seen (
    connector_id TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    PRIMARY KEY (connector_id, webhook_id)
);

-- The initial import of a connector: where it is (the next page or
-- cursor, so an interrupted import resumes), how far it got, and how it
-- ended.
CREATE TABLE crm_imports (
    connector_id TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    next_cursor  TEXT NOT NULL DEFAULT '',
    records      BIGINT NOT NULL DEFAULT 0,
    pages        BIGINT NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    started_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);

-- Every attempt to deliver an activity to a CRM's activity URL.
CREATE TABLE crm_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    connector_id TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    http_status  INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    at           BIGINT NOT NULL
);
CREATE INDEX crm_deliveries_connector ON crm_deliveries (connector_id, id);
CREATE INDEX crm_deliveries_webhook ON crm_deliveries (connector_id, webhook_id);
CREATE INDEX crm_deliveries_message ON crm_deliveries (connector_id, message_id);

-- +goose Down
DROP TABLE crm_deliveries;
DROP TABLE crm_imports;
DROP TABLE crm_webhook_seen;
DROP TABLE crm_record_phones;
DROP TABLE crm_records;
