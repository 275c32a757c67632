-- civictext, SQLite schema 0011: broadcasts aimed at a consent topic, survey invitations that
-- open their session when they are sent, and flow answers that are consents.
-- Shipped migrations are never edited.

-- The consent topic a broadcast was aimed at (NULL: any recorded opt-in), kept for the record.
ALTER TABLE broadcasts ADD COLUMN topic TEXT;

-- A survey invitation's session (the engine's session as JSON, waiting on the flow's first
-- question). It is opened when the text is recorded as sent, never before: an invitation held
-- by quiet hours, skipped for an opt-out or cancelled leaves no session behind.
ALTER TABLE outbox ADD COLUMN session_state TEXT;

-- The consent topic this answer gives (the flow says which answers are consents and to what).
-- The triggers below record it as an opt-in with its source — flow, version and question — and
-- the MessageSid of the resident's text, whichever of the store's write paths saved the answer.
ALTER TABLE answers ADD COLUMN consent_topic TEXT;

CREATE TRIGGER answers_consent_insert AFTER INSERT ON answers
WHEN NEW.consent_topic IS NOT NULL
BEGIN
    INSERT INTO consent_events (contact_id, kind, text, message_sid, source, topic, created_at)
    VALUES (NEW.contact_id, 'opt_in', NEW.raw,
            (SELECT sid FROM messages WHERE id = NEW.message_id),
            'flow:' || NEW.flow_id || '@' || NEW.flow_version || '/' || NEW.question,
            NEW.consent_topic, NEW.answered_at);
END;

-- An answer given again (the same question in the same session) becomes a consent only if the
-- earlier one was not.
CREATE TRIGGER answers_consent_update AFTER UPDATE OF consent_topic ON answers
WHEN NEW.consent_topic IS NOT NULL AND OLD.consent_topic IS NULL
BEGIN
    INSERT INTO consent_events (contact_id, kind, text, message_sid, source, topic, created_at)
    VALUES (NEW.contact_id, 'opt_in', NEW.raw,
            (SELECT sid FROM messages WHERE id = NEW.message_id),
            'flow:' || NEW.flow_id || '@' || NEW.flow_version || '/' || NEW.question,
            NEW.consent_topic, NEW.answered_at);
END;

-- Broadcasts to a topic look for opt-ins by topic.
CREATE INDEX consent_events_topic ON consent_events(topic, contact_id) WHERE kind = 'opt_in';
