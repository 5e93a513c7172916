-- Issue 12: a session's decisions and its writers' results, one row per write batch instead of
-- one jsonb value on the session row. At 100,000 contacts a single `decisions` value passes
-- jsonb's 255 MB limit, and appending each batch's results to one `results` array rewrote an
-- ever-growing value once per batch (quadratic). A batch row carries that batch's commands and
-- its share of the planned link rows; its results are written once, when its writer reports.
CREATE TABLE session_batches (
    job_id    uuid    NOT NULL REFERENCES sync_sessions (job_id) ON DELETE CASCADE,
    batch     integer NOT NULL CHECK (batch >= 0),
    side      text    NOT NULL CHECK (side IN ('exchange', 'salesforce')),
    decisions jsonb   NOT NULL,
    -- NULL until the batch's results are in; set once (a repeated result is not counted again).
    results   jsonb,
    PRIMARY KEY (job_id, batch)
);

-- The part of the decisions that belongs to the whole session (the guard's outcome, the errors
-- decided before writing), kept small on the session row. A row written before this migration
-- keeps its whole decisions in `decisions` (and results in `results`) and finishes from those.
ALTER TABLE sync_sessions ADD COLUMN session_decisions jsonb;
