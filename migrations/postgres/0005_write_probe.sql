-- civictext, PostgreSQL schema: the readiness write probe.
-- `/readyz` commits a write to this one-row table. A server that answers reads but refuses
-- writes (a full disk, a read-only standby after a failover) must make the gateway unready,
-- and only a committed write proves it is not. Replicas share the row; each probe is one
-- short upsert.
CREATE TABLE write_probe (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    -- When the last probe committed.
    checked_at TIMESTAMPTZ NOT NULL
);
