-- civictext, SQLite schema 0013: retention of message bodies and erasure of residents.
-- Times are RFC 3339 UTC strings. Shipped migrations are never edited.

-- When a message's body (and media links) were blanked by the retention job; NULL while the
-- text is still held. The partial index is what the job walks: only rows not yet redacted.
ALTER TABLE messages ADD COLUMN redacted_at TEXT;
CREATE INDEX messages_unredacted ON messages(created_at) WHERE redacted_at IS NULL;

-- Answers whose raw text (a verbatim copy of the resident's message) is still held, by age,
-- for the same job. The normalised value and category are never redacted.
CREATE INDEX answers_raw_held ON answers(answered_at) WHERE raw <> '';

-- Finished outbox rows keep their text for the same time as messages, no longer.
CREATE INDEX outbox_done_unredacted ON outbox(done_at) WHERE done_at IS NOT NULL AND body <> '';

-- A contact that was forgotten (erased on request). Its number has been replaced by a random
-- stand-in (`erased:…`) and it is opted out and marked invalid, so no send path can ever text
-- it; it remains only to hold the sessions whose answers the flow marked anonymous.
ALTER TABLE contacts ADD COLUMN erased_at TEXT;
