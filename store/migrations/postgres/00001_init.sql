-- +goose Up
-- Times are Unix milliseconds in BIGINT columns on both databases, so the
-- SQL text is shared. JSON is stored as TEXT. Absent identifiers are NULL,
-- never '', so that partial unique indexes ignore them.

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    opt_out_keywords TEXT NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL DEFAULT '',
    hash       TEXT NOT NULL UNIQUE,
    hint       TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE channels (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    provider            TEXT NOT NULL,
    phone_number        TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    account_id          TEXT NOT NULL,
    business_account_id TEXT,
    verify_token_hash   TEXT,
    rate_per_second     DOUBLE PRECISION NOT NULL DEFAULT 0,
    config              BYTEA NOT NULL,
    health_status       TEXT NOT NULL DEFAULT 'healthy',
    health_reason       TEXT NOT NULL DEFAULT '',
    health_checked_at   BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (provider, account_id)
);
CREATE INDEX channels_tenant ON channels (tenant_id);
CREATE INDEX channels_verify ON channels (provider, verify_token_hash);
CREATE INDEX channels_business ON channels (provider, business_account_id);

CREATE TABLE contacts (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    wa_id          TEXT,
    bsuid          TEXT,
    phone          TEXT,
    phone_key      TEXT,
    name           TEXT NOT NULL DEFAULT '',
    profile_name   TEXT NOT NULL DEFAULT '',
    language       TEXT NOT NULL DEFAULT '',
    consent_state  TEXT NOT NULL DEFAULT 'unknown',
    consent_source TEXT NOT NULL DEFAULT '',
    consent_at     BIGINT,
    opt_in_source  TEXT NOT NULL DEFAULT '',
    opt_in_at      BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
-- Not partial: NULLs never collide in a unique index, and a partial one
-- is not used for the IN lists ingestion looks contacts up with.
CREATE UNIQUE INDEX contacts_phone_key ON contacts (tenant_id, phone_key);
CREATE UNIQUE INDEX contacts_bsuid ON contacts (tenant_id, bsuid);
CREATE INDEX contacts_tenant ON contacts (tenant_id, id);

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    channel_id      TEXT NOT NULL REFERENCES channels (id),
    contact_id      TEXT NOT NULL REFERENCES contacts (id),
    status          TEXT NOT NULL DEFAULT 'open',
    last_inbound_at BIGINT,
    last_message_at BIGINT,
    last_message    TEXT NOT NULL DEFAULT '',
    unread_count    INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    -- One thread per channel and contact. The tenant leads so that lookups,
    -- which always name the tenant, use this index and not the next one.
    UNIQUE (tenant_id, channel_id, contact_id)
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, last_message_at);
CREATE INDEX conversations_contact ON conversations (contact_id);

CREATE TABLE media (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    channel_id        TEXT,
    message_id        TEXT,
    provider_media_id TEXT,
    link              TEXT NOT NULL DEFAULT '',
    mime_type         TEXT NOT NULL DEFAULT '',
    filename          TEXT NOT NULL DEFAULT '',
    size              BIGINT NOT NULL DEFAULT 0,
    sha256            TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    error             TEXT NOT NULL DEFAULT '',
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX media_tenant ON media (tenant_id, id);

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    channel_id          TEXT NOT NULL REFERENCES channels (id),
    conversation_id     TEXT NOT NULL REFERENCES conversations (id),
    contact_id          TEXT NOT NULL REFERENCES contacts (id),
    direction           TEXT NOT NULL,
    type                TEXT NOT NULL,
    status              TEXT NOT NULL,
    provider_message_id TEXT,
    text                TEXT NOT NULL DEFAULT '',
    content             TEXT NOT NULL DEFAULT '{}',
    media_id            TEXT,
    reply_to_id         TEXT,
    sent_by_kind        TEXT NOT NULL,
    sent_by_id          TEXT NOT NULL DEFAULT '',
    sent_by_name        TEXT NOT NULL DEFAULT '',
    error_code          TEXT NOT NULL DEFAULT '',
    error_reason        TEXT NOT NULL DEFAULT '',
    error_title         TEXT NOT NULL DEFAULT '',
    error_message       TEXT NOT NULL DEFAULT '',
    error_details       TEXT NOT NULL DEFAULT '',
    timestamp           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    -- The slot in its number's throughput a queued send has reserved, so
    -- that whichever replica runs the send next honours it.
    send_slot           BIGINT
);
CREATE UNIQUE INDEX messages_provider_id ON messages (channel_id, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id, id);

CREATE TABLE message_statuses (
    message_id       TEXT NOT NULL REFERENCES messages (id),
    status           TEXT NOT NULL,
    at               BIGINT NOT NULL,
    error_code       TEXT NOT NULL DEFAULT '',
    error_reason     TEXT NOT NULL DEFAULT '',
    error_title      TEXT NOT NULL DEFAULT '',
    error_message    TEXT NOT NULL DEFAULT '',
    error_details    TEXT NOT NULL DEFAULT '',
    pricing_category TEXT NOT NULL DEFAULT '',
    billable         INTEGER,
    PRIMARY KEY (message_id, status)
);

-- Statuses for messages Parley does not know yet (an echo that arrives
-- after its own status). They are applied when the message appears.
CREATE TABLE orphan_statuses (
    channel_id          TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    payload             TEXT NOT NULL,
    received_at         BIGINT NOT NULL,
    PRIMARY KEY (channel_id, provider_message_id, status)
);

CREATE TABLE message_reactions (
    message_id TEXT NOT NULL REFERENCES messages (id),
    actor      TEXT NOT NULL,
    emoji      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (message_id, actor)
);

CREATE TABLE templates (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants (id),
    channel_id           TEXT NOT NULL REFERENCES channels (id),
    provider_template_id TEXT NOT NULL DEFAULT '',
    name                 TEXT NOT NULL,
    language             TEXT NOT NULL,
    category             TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    status_reason        TEXT NOT NULL DEFAULT '',
    parameter_count      INTEGER NOT NULL DEFAULT 0,
    definition           TEXT NOT NULL DEFAULT '{}',
    updated_at           BIGINT NOT NULL,
    UNIQUE (channel_id, name, language)
);
CREATE INDEX templates_tenant ON templates (tenant_id, name);
CREATE INDEX templates_provider ON templates (provider_template_id);

CREATE TABLE audit (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT NOT NULL DEFAULT '',
    actor_name TEXT NOT NULL DEFAULT '',
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_tenant ON audit (tenant_id, at);
CREATE INDEX audit_subject ON audit (subject);

-- The realtime outbox: written in the change's own transaction, read by
-- SSE clients resuming with Last-Event-ID, pruned after a day.
CREATE TABLE events (
    id        BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    type      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);

-- Parts of webhook deliveries Parley does not interpret, kept verbatim.
CREATE TABLE unhandled_events (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT,
    channel_id  TEXT,
    provider    TEXT NOT NULL,
    field       TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    payload     TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX unhandled_events_tenant ON unhandled_events (tenant_id, received_at);

CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    queue        TEXT NOT NULL DEFAULT 'default',
    args         TEXT NOT NULL DEFAULT '{}',
    state        TEXT NOT NULL DEFAULT 'available',
    priority     INTEGER NOT NULL DEFAULT 1,
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 25,
    snoozes      INTEGER NOT NULL DEFAULT 0,
    scheduled_at BIGINT NOT NULL,
    attempted_at BIGINT,
    attempted_by TEXT,
    lease_until  BIGINT,
    last_error   TEXT NOT NULL DEFAULT '',
    unique_key   TEXT,
    tenant_id    TEXT,
    created_at   BIGINT NOT NULL,
    finalized_at BIGINT
);
CREATE INDEX jobs_fetch ON jobs (queue, priority, scheduled_at, id) WHERE state = 'available';
-- The idle worker's "when is the next job due?" must not scan a backlog
-- of snoozed jobs.
CREATE INDEX jobs_next ON jobs (queue, scheduled_at) WHERE state = 'available';
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running');
CREATE INDEX jobs_finalized ON jobs (finalized_at) WHERE finalized_at IS NOT NULL;

-- GCRA rate-limit state shared by all replicas: one row per key, holding
-- the theoretical arrival time in microseconds.
CREATE TABLE rate_buckets (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rate_buckets;
DROP TABLE jobs;
DROP TABLE unhandled_events;
DROP TABLE events;
DROP TABLE audit;
DROP TABLE templates;
DROP TABLE message_reactions;
DROP TABLE orphan_statuses;
DROP TABLE message_statuses;
DROP TABLE messages;
DROP TABLE media;
DROP TABLE conversations;
DROP TABLE contacts;
DROP TABLE channels;
DROP TABLE api_keys;
DROP TABLE tenants;
