-- civictext, SQLite schema: the readiness write probe.
-- `/readyz` commits a write to this one-row table through the same connection that stores
-- texts. A database the gateway can read but not write (a full disk, a file made read-only)
-- must make the gateway unready, and only a committed write proves it is not.
CREATE TABLE write_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    -- When the last probe committed (RFC 3339 UTC).
    checked_at TEXT NOT NULL
);
