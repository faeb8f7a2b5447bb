-- Assets: a row per stored file; the bytes live in the object store under `object_key`
-- ('<project>/<mode>/<asset id>'). An asset may be an image of one product of its tenant, at
-- `position` among that product's images.
CREATE TABLE assets (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects (id),
    mode          TEXT NOT NULL CHECK (mode IN ('test', 'live')),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    product_id    TEXT REFERENCES products (id),
    position      BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX assets_tenant ON assets (project_id, mode, created_at, id);
CREATE INDEX assets_product ON assets (product_id, position);
