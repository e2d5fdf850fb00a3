-- +goose Up
-- A password someone else chose (a one-time password printed by
-- `parley user create`) must be replaced at the first sign-in. INTEGER
-- rather than BOOLEAN so that both dialects read it the same way.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE users DROP COLUMN must_change_password;
