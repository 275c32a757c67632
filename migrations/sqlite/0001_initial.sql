-- civictext, SQLite schema v1.
-- Times are RFC 3339 UTC strings (they sort correctly as text); booleans are 0/1.
-- Shipped migrations are never edited: add a new numbered file instead.

-- A resident, keyed by phone number. Profile fields saved by flows (zip, language, ...) live in
-- `fields` as a JSON object so staff can add fields without a migration.
CREATE TABLE contacts (
    id                    INTEGER PRIMARY KEY,
    phone                 TEXT    NOT NULL UNIQUE,
    language              TEXT,
    fields                TEXT    NOT NULL DEFAULT '{}',
    opted_out             INTEGER NOT NULL DEFAULT 0,
    -- Robot protection: unanswerable texts counted per window; replies muted after a burst.
    unmatched_count       INTEGER NOT NULL DEFAULT 0,
    unmatched_since       TEXT,
    last_default_reply_at TEXT,
    muted_until           TEXT,
    created_at            TEXT    NOT NULL,
    updated_at            TEXT    NOT NULL
);

-- Every opt-out and opt-in, with the text that caused it: the compliance record.
CREATE TABLE consent_events (
    id          INTEGER PRIMARY KEY,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    kind        TEXT    NOT NULL CHECK (kind IN ('opt_out', 'opt_in')),
    text        TEXT    NOT NULL,
    message_sid TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX consent_events_contact ON consent_events(contact_id, id);

-- A conversation. `state` is the engine's session as JSON; flow_version pins the version of
-- the flow the session started on, so an edit never changes a conversation midway.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    contact_id   INTEGER NOT NULL REFERENCES contacts(id),
    flow_id      TEXT    NOT NULL,
    flow_version TEXT    NOT NULL,
    language     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('active', 'completed', 'expired', 'opted_out', 'interrupted')),
    state        TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    ended_at     TEXT,
    expires_at   TEXT
);
-- At most one active session per contact, enforced by the database itself.
CREATE UNIQUE INDEX sessions_one_active ON sessions(contact_id) WHERE status = 'active';
CREATE INDEX sessions_flow ON sessions(flow_id, id);

-- Every text in and out. An inbound MessageSid is unique: a repeat delivery finds its row and
-- gets the replies stored with it (reply_to) instead of being processed again.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    direction   TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    sid         TEXT    UNIQUE,
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    session_id  INTEGER REFERENCES sessions(id),
    reply_to    INTEGER REFERENCES messages(id),
    from_addr   TEXT    NOT NULL,
    to_addr     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    media       TEXT    NOT NULL DEFAULT '[]',
    encoding    TEXT    NOT NULL,
    segments    INTEGER NOT NULL,
    -- in: 'received'; out: 'replied' (sent in the webhook's TwiML), later delivery statuses.
    status      TEXT    NOT NULL,
    route       TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX messages_reply_to ON messages(reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX messages_contact ON messages(contact_id, id);

-- One row per question per session: a repeated question (a loop back) keeps the latest answer.
CREATE TABLE answers (
    id           INTEGER PRIMARY KEY,
    session_id   INTEGER NOT NULL REFERENCES sessions(id),
    contact_id   INTEGER NOT NULL REFERENCES contacts(id),
    flow_id      TEXT    NOT NULL,
    flow_version TEXT    NOT NULL,
    question     TEXT    NOT NULL,
    raw          TEXT    NOT NULL,
    value        TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    message_id   INTEGER REFERENCES messages(id),
    answered_at  TEXT    NOT NULL,
    UNIQUE (session_id, question)
);
CREATE INDEX answers_flow ON answers(flow_id, session_id);

-- Service requests filed by flows, with the tracking code the resident was given.
CREATE TABLE service_requests (
    id           INTEGER PRIMARY KEY,
    code         TEXT    NOT NULL UNIQUE,
    session_id   INTEGER NOT NULL REFERENCES sessions(id),
    contact_id   INTEGER NOT NULL REFERENCES contacts(id),
    flow_id      TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    description  TEXT,
    location     TEXT,
    photo        TEXT,
    status       TEXT    NOT NULL DEFAULT 'open',
    created_at   TEXT    NOT NULL
);

-- The text of every flow version ever served, so a session finishes on the version it began on
-- after a restart or an edit, and every replica can load the exact same version.
CREATE TABLE flow_versions (
    flow_id    TEXT NOT NULL,
    version    TEXT NOT NULL,
    file       TEXT NOT NULL,
    source     TEXT NOT NULL,
    loaded_at  TEXT NOT NULL,
    PRIMARY KEY (flow_id, version)
);
