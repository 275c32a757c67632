-- Which version of each flow is served, and how it came to be: one row per publication.
-- Every replica serves, for each flow, the version of its latest publication, and polls the
-- highest id to notice a new one within seconds. A version comes from the flows directory (an
-- edited file is imported as a new version, `origin = 'file'`) or is published by a person
-- (`origin = 'publish'`: `civictext flows publish`, the staff console). The texts themselves are
-- in flow_versions; old versions stay there for sessions still running on them.
CREATE TABLE flow_publications (
    id           INTEGER PRIMARY KEY,
    flow_id      TEXT NOT NULL,
    -- NULL: withdrawn (its file was removed from the directory); nothing is served for it.
    version      TEXT,
    origin       TEXT NOT NULL CHECK (origin IN ('file', 'publish')),
    -- The file's name for an import; who published it otherwise.
    published_by TEXT NOT NULL,
    -- RFC 3339 UTC.
    published_at TEXT NOT NULL,
    note         TEXT
);
CREATE INDEX flow_publications_flow ON flow_publications (flow_id, id);
