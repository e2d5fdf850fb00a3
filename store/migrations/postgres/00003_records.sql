-- +goose Up
-- The CRM records a contact is linked to. A record may hold several
-- numbers (a lead's mobile and office phone), and a contact may be on
-- several records (a lead, then the contact it became): many to many.
CREATE TABLE contact_records (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    record_table TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    contact_id   TEXT NOT NULL REFERENCES contacts (id),
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, record_table, record_id, contact_id)
);
CREATE INDEX contact_records_contact ON contact_records (tenant_id, contact_id);

-- +goose Down
DROP TABLE contact_records;
