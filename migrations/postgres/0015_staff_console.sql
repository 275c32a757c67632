-- The staff console: staff accounts, their signed-in sessions, one-time links to set a
-- password, failed sign-ins (for throttling) and the log of every change staff make.
-- Shipped migrations are never edited: add a new numbered file instead.

-- One row per person. The email is stored lower-cased, so it is unique however it is typed.
-- `password_hash` is an Argon2id PHC string, NULL until the person follows their link.
CREATE TABLE staff (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL UNIQUE,
    role          TEXT        NOT NULL CHECK (role IN ('admin', 'editor', 'analyst', 'caseworker')),
    password_hash TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    -- A disabled account cannot sign in and its sessions stop working.
    disabled_at   TIMESTAMPTZ
);

-- One-time links to set a password. Only a SHA-256 hash of the link's secret is kept.
CREATE TABLE staff_password_links (
    token_hash    TEXT        PRIMARY KEY,
    staff_id      BIGINT      NOT NULL REFERENCES staff(id),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    used_at       TIMESTAMPTZ
);

-- Signed-in sessions, in the database so any replica serves a signed-in clerk. The cookie holds
-- a random secret; only its SHA-256 hash is kept. `csrf` is the session's form token.
CREATE TABLE staff_sessions (
    token_hash    TEXT        PRIMARY KEY,
    staff_id      BIGINT      NOT NULL REFERENCES staff(id),
    csrf          TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);

-- Failed sign-ins per (lower-cased) email, for throttling; cleared by a successful one.
CREATE TABLE staff_login_failures (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT        NOT NULL,
    at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX staff_login_failures_email ON staff_login_failures(email, at);

-- Every change a staff member makes (and sign-ins, sign-outs), newest last. `staff_id` is NULL
-- for changes made from the command line.
CREATE TABLE staff_audit (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id      BIGINT      REFERENCES staff(id),
    -- Who, as shown then (the email), so the log reads the same after an account changes.
    actor         TEXT        NOT NULL,
    action        TEXT        NOT NULL,
    detail        TEXT        NOT NULL,
    at            TIMESTAMPTZ NOT NULL
);

-- The first text of each session (the keyword it came in by) is found through this index.
CREATE INDEX messages_session_in ON messages(session_id, id) WHERE direction = 'in';
