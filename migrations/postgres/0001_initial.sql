-- civictext, PostgreSQL schema v1: the same records as migrations/sqlite, with native types.
-- Times are TIMESTAMPTZ (microsecond precision, stored as UTC); keys are 64-bit identities;
-- free-form structures (profile fields, media) are JSONB so they can be queried and indexed.
-- Several gateway replicas share this database: every rule that must hold across them
-- (one active session, a MessageSid handled once) is a constraint here, not only in code.
-- Shipped migrations are never edited: add a new numbered file instead.

-- A resident, keyed by phone number. Profile fields saved by flows (zip, language, ...) live in
-- `fields` as a JSON object so staff can add fields without a migration.
CREATE TABLE contacts (
    id                    BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone                 TEXT        NOT NULL UNIQUE,
    language              TEXT,
    fields                JSONB       NOT NULL DEFAULT '{}'
                                      CHECK (jsonb_typeof(fields) = 'object'),
    opted_out             BOOLEAN     NOT NULL DEFAULT false,
    -- Robot protection: unanswerable texts counted per window; replies muted after a burst.
    unmatched_count       INTEGER     NOT NULL DEFAULT 0 CHECK (unmatched_count >= 0),
    unmatched_since       TIMESTAMPTZ,
    last_default_reply_at TIMESTAMPTZ,
    muted_until           TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);

-- Every opt-out and opt-in, with the text that caused it: the compliance record.
CREATE TABLE consent_events (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id  BIGINT      NOT NULL REFERENCES contacts(id),
    kind        TEXT        NOT NULL CHECK (kind IN ('opt_out', 'opt_in')),
    text        TEXT        NOT NULL,
    message_sid TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_events_contact ON consent_events(contact_id, id);

-- A conversation. `state` is the engine's session as JSON; flow_version pins the version of
-- the flow the session started on, so an edit never changes a conversation midway.
CREATE TABLE sessions (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id   BIGINT      NOT NULL REFERENCES contacts(id),
    flow_id      TEXT        NOT NULL,
    flow_version TEXT        NOT NULL,
    language     TEXT        NOT NULL,
    status       TEXT        NOT NULL
                             CHECK (status IN ('active', 'completed', 'expired', 'opted_out', 'interrupted')),
    state        JSONB       NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    started_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    ended_at     TIMESTAMPTZ,
    expires_at   TIMESTAMPTZ,
    -- A session has an end time exactly when it is over.
    CHECK ((status = 'active') = (ended_at IS NULL))
);
-- At most one active session per contact, enforced by the database itself: two replicas can
-- never both start a conversation for the same resident. Also the index the snapshot reads.
CREATE UNIQUE INDEX sessions_one_active ON sessions(contact_id) WHERE status = 'active';
CREATE INDEX sessions_flow ON sessions(flow_id, id);

-- Every text in and out. An inbound MessageSid is unique: a repeat delivery finds its row and
-- gets the replies stored with it (reply_to) instead of being processed again. The constraint
-- is named because the store recognises its violation: the backstop when the same MessageSid
-- reaches two replicas at once.
CREATE TABLE messages (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    direction   TEXT        NOT NULL CHECK (direction IN ('in', 'out')),
    sid         TEXT        CONSTRAINT messages_sid_unique UNIQUE,
    contact_id  BIGINT      NOT NULL REFERENCES contacts(id),
    session_id  BIGINT      REFERENCES sessions(id),
    reply_to    BIGINT      REFERENCES messages(id),
    from_addr   TEXT        NOT NULL,
    to_addr     TEXT        NOT NULL,
    body        TEXT        NOT NULL,
    media       JSONB       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(media) = 'array'),
    encoding    TEXT        NOT NULL,
    segments    INTEGER     NOT NULL CHECK (segments >= 0),
    -- in: 'received'; out: 'replied' (sent in the webhook's TwiML), later delivery statuses.
    status      TEXT        NOT NULL,
    route       TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    -- Deduplication keys on the provider's id, so every inbound text has one.
    CHECK (direction = 'out' OR sid IS NOT NULL)
);
CREATE INDEX messages_reply_to ON messages(reply_to) WHERE reply_to IS NOT NULL;
CREATE INDEX messages_contact ON messages(contact_id, id);

-- One row per question per session: a repeated question (a loop back) keeps the latest answer.
CREATE TABLE answers (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id   BIGINT      NOT NULL REFERENCES sessions(id),
    contact_id   BIGINT      NOT NULL REFERENCES contacts(id),
    flow_id      TEXT        NOT NULL,
    flow_version TEXT        NOT NULL,
    question     TEXT        NOT NULL,
    raw          TEXT        NOT NULL,
    value        TEXT        NOT NULL,
    category     TEXT        NOT NULL,
    message_id   BIGINT      REFERENCES messages(id),
    answered_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (session_id, question)
);
CREATE INDEX answers_flow ON answers(flow_id, session_id);

-- Service requests filed by flows, with the tracking code the resident was given.
CREATE TABLE service_requests (
    id           BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         TEXT        NOT NULL UNIQUE,
    session_id   BIGINT      NOT NULL REFERENCES sessions(id),
    contact_id   BIGINT      NOT NULL REFERENCES contacts(id),
    flow_id      TEXT        NOT NULL,
    service      TEXT        NOT NULL,
    description  TEXT,
    location     TEXT,
    photo        TEXT,
    status       TEXT        NOT NULL DEFAULT 'open',
    created_at   TIMESTAMPTZ NOT NULL
);

-- The text of every flow version ever served, so a session finishes on the version it began on
-- after a restart or an edit, and every replica can load the exact same version.
CREATE TABLE flow_versions (
    flow_id    TEXT        NOT NULL,
    version    TEXT        NOT NULL,
    file       TEXT        NOT NULL,
    source     TEXT        NOT NULL,
    loaded_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (flow_id, version)
);
