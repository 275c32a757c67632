-- A service request's page lists the texts of the conversation that filed it, found by session.
-- Only inbound texts were indexed by session (0015), so on a database of a million answers the
-- lookup read the messages table in id order until it had them all: about 300 ms per page, and
-- the whole table for a request filed from another channel (which has no conversation).
CREATE INDEX messages_session ON messages(session_id, id);
