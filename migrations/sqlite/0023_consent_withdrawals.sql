-- civictext, SQLite schema 0023: a resident who answers a consent question with anything but
-- the consenting answer ("no" to "Can we text you about youth planning events?") withdraws
-- their consent to that topic from that moment. Before this, only STOP withdrew consent, and a
-- "no" given after an earlier "yes" left the opt-in in force.
-- Shipped migrations are never edited.

-- The consent topic this answer withdraws (the flow says which question records consent and
-- which answer consents; any other answer, but a skip, withdraws). NULL for every other answer.
ALTER TABLE answers ADD COLUMN withdrawn_topic TEXT;

-- A withdrawal is a consent event of kind 'opt_out' with its topic, recorded like the opt-ins
-- of 0011: the resident's text, its MessageSid, and the source (flow, version and question),
-- whichever of the store's write paths saved the answer. An opt-out without a topic is still
-- STOP (everything); one with a topic withdraws that topic alone. Whether a contact consents
-- to a topic is decided by the latest of their events for that topic or for everything
-- (src/store/outbox.rs, `consent_sql`), so a later "yes" or START consents again.
CREATE TRIGGER answers_withdrawal_insert AFTER INSERT ON answers
WHEN NEW.withdrawn_topic IS NOT NULL
BEGIN
    INSERT INTO consent_events (contact_id, kind, text, message_sid, source, topic, created_at)
    VALUES (NEW.contact_id, 'opt_out', NEW.raw,
            (SELECT sid FROM messages WHERE id = NEW.message_id),
            'flow:' || NEW.flow_id || '@' || NEW.flow_version || '/' || NEW.question,
            NEW.withdrawn_topic, NEW.answered_at);
END;

-- An answer given again (the same question in the same session) withdraws only if the earlier
-- one did not: "yes" then "no" withdraws, "no" then "no" again records one withdrawal.
CREATE TRIGGER answers_withdrawal_update AFTER UPDATE OF withdrawn_topic ON answers
WHEN NEW.withdrawn_topic IS NOT NULL AND OLD.withdrawn_topic IS NULL
BEGIN
    INSERT INTO consent_events (contact_id, kind, text, message_sid, source, topic, created_at)
    VALUES (NEW.contact_id, 'opt_out', NEW.raw,
            (SELECT sid FROM messages WHERE id = NEW.message_id),
            'flow:' || NEW.flow_id || '@' || NEW.flow_version || '/' || NEW.question,
            NEW.withdrawn_topic, NEW.answered_at);
END;
