-- civictext, SQLite schema 0014: reminders and background expiry of conversations.
-- Shipped migrations are never edited.

-- When a session's reminder falls due lives in its state (the engine's `remind_at`, an
-- RFC 3339 UTC string), which every path that stores a session already writes: one source of
-- truth, nothing to keep in step. The background sweep finds due reminders through this index
-- on that expression instead of reading every active session. Due expiries are found through
-- 0008's `sessions_expiry` index.
CREATE INDEX sessions_remind_due ON sessions(json_extract(state, '$.remind_at'))
    WHERE status = 'active';

-- 0008 added a `remind_at` column for this; it was never written, and a second copy of the
-- time could only disagree with the state. Its index goes first (SQLite refuses to drop an
-- indexed column).
DROP INDEX sessions_reminder;
ALTER TABLE sessions DROP COLUMN remind_at;
