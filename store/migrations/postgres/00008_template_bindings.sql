-- +goose Up
-- What fills each variable of a tenant's template, by template name: every
-- language and every number of a name shares its variables, so a name is
-- bound once. bindings is a JSON object, variable → expression.
CREATE TABLE template_bindings (
    tenant_id     TEXT NOT NULL,
    template_name TEXT NOT NULL,
    bindings      TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, template_name)
);

-- +goose Down
DROP TABLE template_bindings;
