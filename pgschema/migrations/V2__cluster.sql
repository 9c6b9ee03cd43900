-- V2__cluster: what several tollgate nodes share besides accounts.
-- StorDb: one row per TPid, the same JSON document the embedded StorDb writes to <TPid>.json
CREATE TABLE tollgate_tp (
    tpid    TEXT PRIMARY KEY,
    data    TEXT NOT NULL,
    updated TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- live sessions (the journal's session:<uuid>), written only by the switch's lease holder
CREATE TABLE tollgate_sessions (
    uuid        TEXT PRIMARY KEY,
    switch      TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tollgate_sessions_switch ON tollgate_sessions (switch);
-- call records (the journal's cdr:<uuid>), CGRateS-like columns + the full JSON
CREATE TABLE tollgate_cdrs (
    origin_id        TEXT PRIMARY KEY,
    cgrid            TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    origin_host      TEXT NOT NULL,
    request_type     TEXT NOT NULL,
    tenant           TEXT NOT NULL,
    category         TEXT NOT NULL,
    account          TEXT NOT NULL,
    subject          TEXT NOT NULL,
    destination      TEXT NOT NULL,
    setup_time       TIMESTAMPTZ,
    answer_time      TIMESTAMPTZ,
    usage_ns         BIGINT NOT NULL,
    cost             NUMERIC NOT NULL,
    disconnect_cause TEXT NOT NULL,
    extra_info       TEXT NOT NULL,
    estimated        BOOLEAN NOT NULL DEFAULT false,
    order_id         BIGINT NOT NULL,
    node_id          TEXT NOT NULL,
    data             TEXT NOT NULL
);
CREATE INDEX tollgate_cdrs_order ON tollgate_cdrs (order_id);
CREATE INDEX tollgate_cdrs_account ON tollgate_cdrs (tenant, account, order_id);
CREATE INDEX tollgate_cdrs_cgrid ON tollgate_cdrs (cgrid);
-- switch ownership
CREATE TABLE tollgate_switch_leases (
    switch    TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    node_http TEXT,
    epoch     BIGINT NOT NULL,
    expires   TIMESTAMPTZ NOT NULL
);
