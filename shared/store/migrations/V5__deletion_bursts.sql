-- C5 judged per burst (issue 17): deletions wait until their burst settles, are judged together
-- with those carried out in a rolling window, and held ones wait for an operator.

-- Deletions decided but not carried out, one per link: waiting for the burst to settle, held by
-- the guard, or confirmed by an operator. `removal` is the sync core's observation that decided
-- it (replayed into the user's next sessions); `side` is where the contact would be deleted.
CREATE TABLE pending_deletions (
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sync_key    text        NOT NULL,
    side        text        NOT NULL CHECK (side IN ('exchange', 'salesforce')),
    removal     jsonb       NOT NULL,
    state       text        NOT NULL CHECK (state IN ('waiting', 'held', 'confirmed')),
    first_seen  timestamptz NOT NULL,
    PRIMARY KEY (user_id, sync_key)
);

-- Deletions carried out without an operator's confirmation, for the rolling window.
CREATE TABLE deletion_history (
    user_id     text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    carried_at  timestamptz NOT NULL,
    deletions   integer     NOT NULL CHECK (deletions > 0)
);
CREATE INDEX deletion_history_user ON deletion_history (user_id, carried_at);

-- When the user's waiting deletions settle: the scheduler starts a session for them then.
ALTER TABLE user_sync_state ADD COLUMN deletions_settle_at timestamptz;
CREATE INDEX user_sync_state_deletions_settle ON user_sync_state (deletions_settle_at)
    WHERE deletions_settle_at IS NOT NULL;
-- An on-demand trigger coalesced into the session in flight: the session after it is on demand.
ALTER TABLE user_sync_state ADD COLUMN pending_on_demand boolean NOT NULL DEFAULT false;

-- Someone asked for this session (sync?wait, a settings change, a confirmation): waiting
-- deletions are judged at once (C6).
ALTER TABLE sync_sessions ADD COLUMN on_demand boolean NOT NULL DEFAULT false;
-- While writing: the guard's outcome, stored with the links and cursors when the session ends.
ALTER TABLE sync_sessions ADD COLUMN deletions jsonb;
