-- +goose Up
-- Sign in with Microsoft (OpenID Connect). A user is linked to one account
-- of the identity provider on first sign-in, by its tenant and object ID
-- (Entra's tid and oid claims), which never change, unlike the email:
-- from then on that account alone signs the user in.
ALTER TABLE users ADD COLUMN oidc_tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN oidc_object_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX users_oidc ON users (oidc_tenant_id, oidc_object_id) WHERE oidc_object_id <> '';

-- The one-time codes that carry a sign-in from the sign-in popup to the
-- CRM's panel: only their hash is kept, each is used once, and they live
-- a minute. In the database, so that any replica can take the code.
CREATE TABLE sign_in_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    tenant_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sign_in_codes_expires ON sign_in_codes (expires_at);

-- +goose Down
DROP TABLE sign_in_codes;
DROP INDEX users_oidc;
ALTER TABLE users DROP COLUMN oidc_object_id;
ALTER TABLE users DROP COLUMN oidc_tenant_id;
