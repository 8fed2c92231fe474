-- zerodrift ledger, schema version 1.
--
-- One schema for SQLite and PostgreSQL: only types and statements both understand.
-- Every *_at column holds microseconds since the Unix epoch, UTC (BIGINT), so that both
-- databases store, compare and order times the same way. JSON columns are TEXT, kept byte for
-- byte as zerodrift wrote them; NULL means absent.

CREATE TABLE runs (
    id              TEXT   NOT NULL PRIMARY KEY,
    kind            TEXT   NOT NULL DEFAULT '',
    mode            TEXT   NOT NULL DEFAULT '',
    source          TEXT   NOT NULL DEFAULT '',
    version         TEXT   NOT NULL DEFAULT '',
    status          TEXT   NOT NULL,
    summary         TEXT,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    -- decision_count numbers the run's decisions: recording one increments it, which also
    -- serialises concurrent decisions of one run.
    decision_count  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX runs_started_at ON runs (started_at);

CREATE TABLE findings (
    run_id    TEXT NOT NULL REFERENCES runs (id),
    id        TEXT NOT NULL,
    rule      TEXT NOT NULL DEFAULT '',
    resource  TEXT NOT NULL DEFAULT '',
    project   TEXT NOT NULL DEFAULT '',
    severity  TEXT NOT NULL DEFAULT '',
    category  TEXT NOT NULL DEFAULT '',
    evidence  TEXT,
    PRIMARY KEY (run_id, id)
);

CREATE INDEX findings_resource ON findings (resource);

CREATE TABLE decisions (
    run_id     TEXT   NOT NULL REFERENCES runs (id),
    seq        BIGINT NOT NULL,
    finding    TEXT   NOT NULL DEFAULT '',
    rule       TEXT   NOT NULL DEFAULT '',
    resource   TEXT   NOT NULL DEFAULT '',
    action     TEXT   NOT NULL DEFAULT '',
    reason     TEXT   NOT NULL DEFAULT '',
    playbook   TEXT   NOT NULL DEFAULT '',
    change_id  TEXT   NOT NULL DEFAULT '',
    at         BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE changes (
    id           TEXT   NOT NULL PRIMARY KEY,
    run_id       TEXT   NOT NULL REFERENCES runs (id),
    finding      TEXT   NOT NULL DEFAULT '',
    resource     TEXT   NOT NULL,
    playbook     TEXT   NOT NULL DEFAULT '',
    action       TEXT   NOT NULL DEFAULT '',
    status       TEXT   NOT NULL
        CHECK (status IN ('planned', 'applied', 'verified', 'failed', 'rolled-back')),
    snapshot     TEXT,
    plan         TEXT,
    detail       TEXT   NOT NULL DEFAULT '',
    planned_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    -- event_count numbers the change's events: every transition increments it in the same
    -- statement that moves the status.
    event_count  BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX changes_planned_at ON changes (planned_at);
CREATE INDEX changes_resource ON changes (resource, planned_at);
CREATE INDEX changes_run_id ON changes (run_id);
CREATE INDEX changes_status ON changes (status);

CREATE TABLE change_events (
    change_id  TEXT   NOT NULL REFERENCES changes (id),
    seq        BIGINT NOT NULL,
    status     TEXT   NOT NULL
        CHECK (status IN ('planned', 'applied', 'verified', 'failed', 'rolled-back')),
    detail     TEXT   NOT NULL DEFAULT '',
    at         BIGINT NOT NULL,
    PRIMARY KEY (change_id, seq)
);

CREATE TABLE resource_locks (
    resource     TEXT   NOT NULL PRIMARY KEY,
    owner        TEXT   NOT NULL,
    acquired_at  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
