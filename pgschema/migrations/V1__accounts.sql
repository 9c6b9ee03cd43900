-- V1__accounts: exactly the schema tollgate created before migrations (IF NOT EXISTS so a
-- database made by an older tollgate, before migrations, is adopted without error).
CREATE TABLE IF NOT EXISTS tollgate_accounts (
    id     TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    data   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tollgate_accounts_tenant ON tollgate_accounts (tenant, id);
CREATE TABLE IF NOT EXISTS tollgate_ops (
    id      TEXT PRIMARY KEY,
    reply   TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tollgate_ops_created ON tollgate_ops (created);

