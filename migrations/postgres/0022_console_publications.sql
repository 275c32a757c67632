-- Versions published from the staff console are told apart from those published with
-- `civictext flows publish`: origin 'console' (published_by is the staff member's email).
ALTER TABLE flow_publications DROP CONSTRAINT flow_publications_origin_check;
ALTER TABLE flow_publications ADD CONSTRAINT flow_publications_origin_check
    CHECK (origin IN ('file', 'publish', 'console'));
