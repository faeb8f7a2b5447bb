-- The initial schema. Written in the SQL that Postgres and SQLite share, so both backends run
-- the same migrations: text ids, BIGINT unix-second timestamps, BIGINT 0/1 flags, JSON as text.

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Publishable and secret keys. Only a SHA-256 hash of each key is stored; `display` is the
-- whole key for publishable keys and a redacted form for secret keys.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects (id),
    mode        TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    kind        TEXT NOT NULL CHECK (kind IN ('publishable', 'secret')),
    token_hash  TEXT NOT NULL UNIQUE,
    display     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);
CREATE INDEX api_keys_project ON api_keys (project_id, mode);

CREATE TABLE settings (
    project_id          TEXT NOT NULL REFERENCES projects (id),
    mode                TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    jwt_issuer          TEXT,
    jwks_url            TEXT,
    allowed_origins     TEXT NOT NULL,
    leeway_seconds      BIGINT NOT NULL,
    dev_issuer_enabled  BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode)
);

CREATE TABLE tiers (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects (id),
    mode             TEXT NOT NULL,
    name             TEXT NOT NULL,
    display_name     TEXT NOT NULL,
    is_default       BIGINT NOT NULL,
    active           BIGINT NOT NULL,
    price_json       TEXT,
    limits_json      TEXT NOT NULL,
    rate_limit_json  TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (project_id, mode, name)
);

CREATE TABLE products (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects (id),
    mode           TEXT NOT NULL,
    name           TEXT NOT NULL,
    description    TEXT,
    active         BIGINT NOT NULL,
    metadata_json  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX products_project ON products (project_id, mode, created_at);

CREATE TABLE prices (
    id           TEXT PRIMARY KEY,
    product_id   TEXT NOT NULL REFERENCES products (id),
    position     BIGINT NOT NULL,
    currency     TEXT NOT NULL,
    unit_amount  BIGINT NOT NULL
);
CREATE INDEX prices_product ON prices (product_id, position);

CREATE TABLE customers (
    project_id        TEXT NOT NULL REFERENCES projects (id),
    mode              TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    email             TEXT,
    tier_override_id  TEXT,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, user_id)
);

-- One row per user, metric and calendar month (`period` is 'YYYY-MM' in UTC): a new month is a
-- new key, so counts reset without any scheduled job.
CREATE TABLE usage_counters (
    project_id  TEXT NOT NULL,
    mode        TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    metric      TEXT NOT NULL,
    period      TEXT NOT NULL,
    count       BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, user_id, metric, period)
);

CREATE TABLE idempotency_keys (
    project_id     TEXT NOT NULL,
    mode           TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    idem_key       TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    response_json  TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, user_id, idem_key)
);

-- The development issuer's signing keys, shared by every replica on this database.
CREATE TABLE dev_signing_keys (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
