-- civictext, SQLite schema 0008: texts the gateway starts (broadcasts, survey invitations,
-- reminders, service-request follow-ups) through a durable outbox, the consent and reachability
-- facts those texts depend on, delivery status, and service-request status changes.
-- Times are RFC 3339 UTC strings; booleans are 0/1. Shipped migrations are never edited.

-- ---------------------------------------------------------------------------------------------
-- Service requests: staff move a request on (open → in_progress → closed ...) with a note the
-- resident can read. `status_notes` is the latest note; every change is kept below.
ALTER TABLE service_requests ADD COLUMN status_notes TEXT;
ALTER TABLE service_requests ADD COLUMN updated_at   TEXT;
CREATE INDEX service_requests_status ON service_requests(status, id);
CREATE INDEX service_requests_contact ON service_requests(contact_id, id);

-- Every status change of a request: from what, to what, by whom, when, and why.
CREATE TABLE service_request_updates (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL REFERENCES service_requests(id),
    old_status  TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    note        TEXT,
    changed_by  TEXT    NOT NULL,
    changed_at  TEXT    NOT NULL
);
CREATE INDEX service_request_updates_request ON service_request_updates(request_id, id);

-- ---------------------------------------------------------------------------------------------
-- Contacts: what decides whether and when the gateway may text them first.
-- The resident's IANA time zone when known (else derived from the number, else the gateway's).
ALTER TABLE contacts ADD COLUMN time_zone TEXT;
-- Twilio said the number cannot receive SMS (21211, 21614): never texted first again.
ALTER TABLE contacts ADD COLUMN invalid_at TEXT;
-- Carrier failures (30003–30006) in a row, reset by a delivery; past a limit the number is
-- unreachable and broadcasts skip it.
ALTER TABLE contacts ADD COLUMN delivery_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN unreachable_at TEXT;

-- Consent events now say where they came from (`keyword` for STOP/START texts,
-- `flow:<flow>/<question>` for an answer saved as consent, `import:<list>` for an imported list,
-- `twilio:21610` for an opt-out Twilio reported), what they cover (NULL: everything), and when
-- the consent was given when that differs from when it was recorded (imported lists).
ALTER TABLE consent_events ADD COLUMN source   TEXT;
ALTER TABLE consent_events ADD COLUMN topic    TEXT;
ALTER TABLE consent_events ADD COLUMN given_at TEXT;

-- ---------------------------------------------------------------------------------------------
-- Delivery status of outbound messages. `status_rank` orders Twilio's statuses (queued <
-- sending < sent < delivered/undelivered/failed < read) so a callback that arrives late never
-- moves a message backwards.
ALTER TABLE messages ADD COLUMN error_code  INTEGER;
ALTER TABLE messages ADD COLUMN status_rank INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN status_at   TEXT;

-- ---------------------------------------------------------------------------------------------
-- Sessions: a reminder due at `remind_at` (cleared once queued, so it goes once), and indexes
-- for the background sweeps that send reminders and close expired sessions.
ALTER TABLE sessions ADD COLUMN remind_at TEXT;
CREATE INDEX sessions_expiry ON sessions(expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;
CREATE INDEX sessions_reminder ON sessions(remind_at) WHERE status = 'active' AND remind_at IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- A broadcast or survey invitation staff queued: its text per language (JSON object) or the
-- flow it invites to, how the audience was chosen, and when it may go. Progress is counted from
-- its outbox rows.
CREATE TABLE broadcasts (
    id            INTEGER PRIMARY KEY,
    texts         TEXT    NOT NULL DEFAULT '{}',
    flow_id       TEXT,
    audience      TEXT    NOT NULL,
    send_at       TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('queued', 'cancelled')),
    recipients    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    cancelled_at  TEXT
);

-- The outbox: one row per text to send, written in the same transaction as its cause.
-- Life of a row: queued → sending (claimed by one replica with a lease, after checking opt-out,
-- consent and quiet hours) → sent | failed | skipped; queued → cancelled. A `sending` row whose
-- lease ran out (its replica died mid-call) becomes in_doubt and is reconciled against Twilio's
-- Messages list before anything is resent (docs/adr).
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY,
    contact_id    INTEGER NOT NULL REFERENCES contacts(id),
    to_addr       TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    segments      INTEGER NOT NULL CHECK (segments >= 1),
    kind          TEXT    NOT NULL
                  CHECK (kind IN ('broadcast', 'invitation', 'reminder', 'expiry', 'request_update')),
    -- Lower goes first: follow-ups and reminders are never starved by a broadcast.
    priority      INTEGER NOT NULL,
    -- Needs a recorded opt-in (broadcasts, invitations), and waits out quiet hours.
    needs_consent INTEGER NOT NULL,
    quiet_hours   INTEGER NOT NULL,
    broadcast_id  INTEGER REFERENCES broadcasts(id),
    session_id    INTEGER REFERENCES sessions(id),
    request_id    INTEGER REFERENCES service_requests(id),
    -- At most one row per cause (`broadcast:7`, `reminder:<session>:<step>` ...).
    dedupe_key    TEXT    UNIQUE,
    -- Earliest time to send: the schedule, the end of quiet hours, or a retry's backoff.
    not_before    TEXT    NOT NULL,
    state         TEXT    NOT NULL
                  CHECK (state IN ('queued', 'sending', 'in_doubt', 'sent', 'failed', 'skipped', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    claimed_at    TEXT,
    lease_until   TEXT,
    -- Twilio's id once accepted, and the message row that tracks its delivery.
    sid           TEXT,
    message_id    INTEGER REFERENCES messages(id),
    -- Why it failed or was skipped: Twilio's code when it gave one, and words.
    error_code    INTEGER,
    error         TEXT,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    done_at       TEXT
);
CREATE INDEX outbox_due ON outbox(priority, not_before, id) WHERE state = 'queued';
CREATE INDEX outbox_leases ON outbox(lease_until) WHERE state IN ('sending', 'in_doubt');
CREATE INDEX outbox_broadcast ON outbox(broadcast_id, state) WHERE broadcast_id IS NOT NULL;
CREATE INDEX outbox_contact ON outbox(contact_id, id);

-- Pacing shared by every replica: the next free send slot per sender, in microseconds since
-- the Unix epoch. A claim reserves slots for its rows by moving it forward.
CREATE TABLE send_pacing (
    sender        TEXT    PRIMARY KEY,
    next_slot_us  INTEGER NOT NULL
);
