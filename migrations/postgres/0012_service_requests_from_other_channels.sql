-- Service requests filed from other channels (Open311 clients: a 311 call centre's software, a
-- city app) besides texts. Such a request has no conversation and, unless the caller names a
-- resident we text, no contact: both columns become optional.
ALTER TABLE service_requests ALTER COLUMN session_id DROP NOT NULL;
ALTER TABLE service_requests ALTER COLUMN contact_id DROP NOT NULL;

-- Where it came from: 'sms', or 'open311' for a request posted to /open311/v2.
ALTER TABLE service_requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms';
-- WGS84 coordinates, when the filer gave them (Open311 `lat` / `long`).
ALTER TABLE service_requests ADD COLUMN lat DOUBLE PRECISION;
ALTER TABLE service_requests ADD COLUMN lon DOUBLE PRECISION;
-- Answers to the service's attributes beyond the standard fields, as a JSON object.
ALTER TABLE service_requests ADD COLUMN attributes TEXT;

-- Open311 lists by service and filing time.
CREATE INDEX service_requests_service ON service_requests(service, created_at);
