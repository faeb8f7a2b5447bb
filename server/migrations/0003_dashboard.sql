-- Metrics, the audit log and dashboard sessions.

-- Usage per tenant, metric and UTC hour (`bucket` is the hour's first second). Written in
-- batches by each server's in-memory recorder, never on the track path; days are sums of hours.
CREATE TABLE usage_buckets (
    project_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    metric      TEXT NOT NULL,
    bucket      BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, bucket, metric)
);

-- Which users tracked anything in which UTC hour: distinct active users over any range.
CREATE TABLE usage_active (
    project_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    bucket      BIGINT NOT NULL,
    user_id     TEXT NOT NULL,
    PRIMARY KEY (project_id, mode, bucket, user_id)
);

-- Every change made with a secret key, from the API or the dashboard. Append-only.
CREATE TABLE audit_log (
    project_id   TEXT NOT NULL,
    mode         TEXT NOT NULL,
    id           TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    actor_kind   TEXT NOT NULL,
    actor_label  TEXT NOT NULL,
    summary      TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, id)
);
CREATE INDEX audit_log_tenant ON audit_log (project_id, mode, seq);

-- Dashboard sign-ins. Only a SHA-256 hash of the session token (the cookie) is stored; the
-- secret key or operator token signed in with is never stored. `modes` lists the modes the
-- session may see ('test', 'live' or 'test,live'); `project_id` is NULL for an operator who
-- has not picked a project yet.
CREATE TABLE dashboard_sessions (
    token_hash  TEXT PRIMARY KEY,
    project_id  TEXT,
    project_name TEXT,
    operator    BIGINT NOT NULL,
    modes       TEXT NOT NULL,
    mode        TEXT NOT NULL,
    label       TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
