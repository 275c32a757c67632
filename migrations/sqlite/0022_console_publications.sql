-- Versions published from the staff console are told apart from those published with
-- `civictext flows publish`: origin 'console' (published_by is the staff member's email).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt with the same rows
-- and ids (replicas compare the highest id, which must not move).
CREATE TABLE flow_publications_new (
    id           INTEGER PRIMARY KEY,
    flow_id      TEXT NOT NULL,
    -- NULL: withdrawn (its file was removed from the directory); nothing is served for it.
    version      TEXT,
    -- 'file': imported from the flows directory; 'publish': the command line; 'console': the
    -- staff console.
    origin       TEXT NOT NULL CHECK (origin IN ('file', 'publish', 'console')),
    -- The file's name for an import; who published it otherwise.
    published_by TEXT NOT NULL,
    -- RFC 3339 UTC.
    published_at TEXT NOT NULL,
    note         TEXT
);
INSERT INTO flow_publications_new (id, flow_id, version, origin, published_by, published_at, note)
    SELECT id, flow_id, version, origin, published_by, published_at, note FROM flow_publications;
DROP TABLE flow_publications;
ALTER TABLE flow_publications_new RENAME TO flow_publications;
CREATE INDEX flow_publications_flow ON flow_publications (flow_id, id);
