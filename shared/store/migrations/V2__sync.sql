-- The sync state: per-user settings, sessions, cursors, links, the outbox and webhook subscriptions.

-- The Salesforce user the integration logs in as (JWT bearer `sub`) to read and write Contacts.
ALTER TABLE orgs ADD COLUMN salesforce_username text NOT NULL DEFAULT '';
-- The Salesforce org id (00D…) that Outbound Messages must carry to be accepted.
ALTER TABLE orgs ADD COLUMN salesforce_org_id text NOT NULL DEFAULT '';

-- Contact sync settings per user (SPEC §4 PUT /settings/contacts). A missing row means disabled.
CREATE TABLE contact_settings (
    user_id          text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    enabled          boolean     NOT NULL DEFAULT false,
    scope            text        NOT NULL DEFAULT 'mine' CHECK (scope IN ('mine', 'all', 'list_view')),
    list_view_id     text,
    auto_removal     boolean     NOT NULL DEFAULT false,
    conflict_winner  text        NOT NULL DEFAULT 'salesforce' CHECK (conflict_winner IN ('salesforce', 'exchange')),
    -- Bumped on every change of scope/list view: the Salesforce side then reads a full listing (B7).
    scope_version    integer     NOT NULL DEFAULT 1,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Scheduling state per user: when the next periodic session is due, and whether a trigger arrived
-- while a session was in flight (it then runs right after, so no notification is lost).
CREATE TABLE user_sync_state (
    user_id            text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    next_sync_at       timestamptz NOT NULL DEFAULT now(),
    pending_trigger    boolean     NOT NULL DEFAULT false,
    -- C5: set by the operator's confirm-deletions; consumed by the next session.
    deletions_confirmed boolean    NOT NULL DEFAULT false,
    -- Folder and category ensured in the mailbox (B1).
    graph_folder_id    text,
    last_error         jsonb
);

-- One row per sync session (= job). At most one active session per user (coalescing, B3).
CREATE TABLE sync_sessions (
    job_id          uuid PRIMARY KEY,
    user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    trigger         text        NOT NULL,
    state           text        NOT NULL DEFAULT 'fetching'
                    CHECK (state IN ('fetching', 'writing', 'succeeded', 'partial', 'failed')),
    exchange_input  jsonb,
    salesforce_input jsonb,
    -- While writing: what was decided, the cursors to store when the session finishes, and the
    -- writers' results so far (the link rows are stored only once every result is in).
    decisions       jsonb,
    cursors         jsonb,
    results         jsonb       NOT NULL DEFAULT '[]'::jsonb,
    pending_batches integer     NOT NULL DEFAULT 0,
    summary         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX sync_sessions_one_active_per_user
    ON sync_sessions (user_id) WHERE state IN ('fetching', 'writing');
CREATE INDEX sync_sessions_user_created ON sync_sessions (user_id, created_at DESC);

-- Where each side's change feed stands. Advanced by the reconciler in the same transaction that
-- takes the changes, so a cursor never moves past changes that were not durably processed.
CREATE TABLE sync_cursors (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    side        text NOT NULL CHECK (side IN ('exchange', 'salesforce')),
    cursor      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, side)
);

-- The link store: one row per synced contact pair (C4: unique on both ids per user).
CREATE TABLE contact_links (
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sync_key       text NOT NULL,
    salesforce_id  text,
    graph_id       text,
    link           jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, sync_key)
);
CREATE UNIQUE INDEX contact_links_salesforce ON contact_links (user_id, salesforce_id) WHERE salesforce_id IS NOT NULL;
CREATE UNIQUE INDEX contact_links_graph ON contact_links (user_id, graph_id) WHERE graph_id IS NOT NULL;

-- Transactional outbox: messages decided in a transaction, published with confirm afterwards.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    message_id  text  NOT NULL UNIQUE,
    route       text  NOT NULL,
    payload     jsonb NOT NULL,
    -- W3C trace context of the span that decided the message, so the trace continues through it.
    trace_context jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Graph change-notification subscriptions, renewed by the scheduler.
CREATE TABLE graph_subscriptions (
    id               text PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    resource         text NOT NULL,
    client_state     text NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX graph_subscriptions_user ON graph_subscriptions (user_id);

-- Idempotent consumers: a message whose effect must happen once (write results) records its id in
-- the same transaction as the effect; a redelivered duplicate then finds its id and does nothing.
CREATE TABLE processed_messages (
    message_id    text PRIMARY KEY,
    processed_at  timestamptz NOT NULL DEFAULT now()
);
