-- A text that might mean "stop" without saying so plainly ("tell them to stop speeding") is
-- kept as what it was (an answer, a keyword) and the resident is told once how to opt out.
-- "Once" is at most one such text per resident a day: this is when the last one was sent.
-- NULL: never.
ALTER TABLE contacts ADD COLUMN opt_out_hint_at TIMESTAMPTZ;
