-- Service requests filed from other channels (Open311 clients: a 311 call centre's software, a
-- city app) besides texts. Such a request has no conversation and, unless the caller names a
-- resident we text, no contact: both columns become optional.
--
-- SQLite cannot drop NOT NULL, so the table is rebuilt with its rows, ids and indexes. The rows
-- referencing it (status history, outbox) keep pointing at the same ids. Foreign keys are
-- checked when this migration commits, once every row is back; the new table is created under
-- the old name rather than renamed into place, because a rename would rewrite those references.
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE service_requests_copy AS SELECT * FROM service_requests;
DROP TABLE service_requests;

CREATE TABLE service_requests (
    id           INTEGER PRIMARY KEY,
    code         TEXT    NOT NULL UNIQUE,
    -- The conversation that filed it; NULL for a request from another channel.
    session_id   INTEGER REFERENCES sessions(id),
    -- The resident to text about it; NULL when nobody can be texted.
    contact_id   INTEGER REFERENCES contacts(id),
    -- The flow that filed it; for another channel, the flow that defines its service.
    flow_id      TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    description  TEXT,
    location     TEXT,
    photo        TEXT,
    status       TEXT    NOT NULL DEFAULT 'open',
    created_at   TEXT    NOT NULL,
    status_notes TEXT,
    updated_at   TEXT,
    -- Where it came from: 'sms', or 'open311' for a request posted to /open311/v2.
    channel      TEXT    NOT NULL DEFAULT 'sms',
    -- WGS84 coordinates, when the filer gave them (Open311 `lat` / `long`).
    lat          REAL,
    lon          REAL,
    -- Answers to the service's attributes beyond the standard fields, as a JSON object.
    attributes   TEXT
);

INSERT INTO service_requests
    (id, code, session_id, contact_id, flow_id, service, description, location, photo, status,
     created_at, status_notes, updated_at)
SELECT id, code, session_id, contact_id, flow_id, service, description, location, photo, status,
       created_at, status_notes, updated_at
FROM service_requests_copy;
DROP TABLE service_requests_copy;

CREATE INDEX service_requests_status ON service_requests(status, id);
CREATE INDEX service_requests_contact ON service_requests(contact_id, id);
-- Open311 lists by service and filing time.
CREATE INDEX service_requests_service ON service_requests(service, created_at);
