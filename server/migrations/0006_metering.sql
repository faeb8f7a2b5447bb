-- Entitlements: the features a tier unlocks, as a JSON array of names.
ALTER TABLE tiers ADD COLUMN features_json TEXT NOT NULL DEFAULT '[]';

-- Usage events ingested from a backend (`ingestUsageEvents`): one row per counted event, so an
-- event sent again is known by its id (per project and mode) and compared by its content.
CREATE TABLE usage_events (
    project_id   TEXT NOT NULL REFERENCES projects (id),
    mode         TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    event_id     TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    metric       TEXT NOT NULL,
    amount       BIGINT NOT NULL,
    period       TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (project_id, mode, event_id)
);
