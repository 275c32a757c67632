-- Results pages show each session's tracking code, looked up by session. Without this index
-- every session of a page (and of an export: every session of the flow) read the whole
-- service_requests table, so an export slowed down with each request ever filed.
CREATE INDEX service_requests_session ON service_requests(session_id, id);
