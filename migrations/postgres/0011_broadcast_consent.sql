-- civictext, PostgreSQL schema 0011: broadcasts aimed at a consent topic, survey invitations
-- that open their session when they are sent, and flow answers that are consents.
-- The same records as migrations/sqlite/0011. Shipped migrations are never edited.

-- The consent topic a broadcast was aimed at (NULL: any recorded opt-in), kept for the record.
ALTER TABLE broadcasts ADD COLUMN topic TEXT;

-- A survey invitation's session (the engine's session, waiting on the flow's first question).
-- It is opened when the text is recorded as sent, never before: an invitation held by quiet
-- hours, skipped for an opt-out or cancelled leaves no session behind.
ALTER TABLE outbox ADD COLUMN session_state JSONB
    CHECK (session_state IS NULL OR jsonb_typeof(session_state) = 'object');

-- The consent topic this answer gives (the flow says which answers are consents and to what).
-- The trigger below records it as an opt-in with its source — flow, version and question — and
-- the MessageSid of the resident's text, whichever of the store's write paths saved the answer.
ALTER TABLE answers ADD COLUMN consent_topic TEXT;

CREATE FUNCTION answers_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An answer given again (the same question in the same session) becomes a consent only if
    -- the earlier one was not.
    IF NEW.consent_topic IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.consent_topic IS NULL) THEN
        INSERT INTO consent_events (contact_id, kind, text, message_sid, source, topic, created_at)
        VALUES (NEW.contact_id, 'opt_in', NEW.raw,
                (SELECT sid FROM messages WHERE id = NEW.message_id),
                'flow:' || NEW.flow_id || '@' || NEW.flow_version || '/' || NEW.question,
                NEW.consent_topic, NEW.answered_at);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER answers_consent AFTER INSERT OR UPDATE OF consent_topic ON answers
    FOR EACH ROW EXECUTE FUNCTION answers_consent();

-- Broadcasts to a topic look for opt-ins by topic.
CREATE INDEX consent_events_topic ON consent_events(topic, contact_id) WHERE kind = 'opt_in';
