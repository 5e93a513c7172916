-- Per-item errors that stay visible until fixed (C7), and on-demand sessions that saw the request
-- (SPEC §4 `sync?wait`).

-- Every contact that currently fails, per user: written when a session completes, one row per
-- (item, code, field). `since` is when this code+field was first reported for the item and is
-- kept while it persists; rows go when the item syncs or disappears, not when a session merely
-- skips it.
CREATE TABLE item_errors (
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Which item: its sync key, else `graph:<id>` / `salesforce:<id>` for an item without one.
    item_key    text        NOT NULL,
    code        text        NOT NULL,
    -- The Salesforce field at fault; '' when none (part of the key, so never NULL).
    field       text        NOT NULL DEFAULT '',
    item        text        NOT NULL,
    message     text        NOT NULL,
    graph_id    text,
    salesforce_id text,
    since       timestamptz NOT NULL,
    -- The last session that reported it.
    job_id      uuid,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (user_id, item_key, code, field)
);

-- When a session's first fetcher began reading its side: a sync request joins a session only
-- while this is NULL (it will then read after the request); otherwise it waits for the next one.
ALTER TABLE sync_sessions ADD COLUMN reading_at timestamptz;

-- The job id reserved for the follow-up session by a sync request that arrived while a session
-- was already reading; the next session started for the user takes it, so the request can wait
-- on (and answer with) the right job id.
ALTER TABLE user_sync_state ADD COLUMN pending_job_id uuid;
