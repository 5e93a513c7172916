-- One Salesforce change feed per org (issue 11, SPEC §3): an org's Contact changes, Account
-- renames and deletions are read once per org, from one org cursor, and routed to the users they
-- concern; a user's session reads its Salesforce side from what was routed to it.

-- The org's cursor. Its row is locked (FOR UPDATE) while a fetcher reads the feed, so several
-- replicas never read one org at once, and routing commits in the order the reads ran.
CREATE TABLE org_feeds (
    org_id              text        PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    -- The newest Contact / Account SystemModstamp read (by the Salesforce server's clock).
    contact_high_water  timestamptz,
    account_high_water  timestamptz,
    -- Where the next Get Deleted window starts (its last `latestDateCovered`).
    deleted_from        timestamptz,
    -- Our clock when the last completed read began: a session requested before it finds every
    -- change it could need already routed.
    read_started_at     timestamptz,
    -- Bumped when the delete log can no longer tell what was deleted: every user of the org then
    -- re-lists its scope once.
    relist_epoch        bigint      NOT NULL DEFAULT 0,
    reads               bigint      NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- What the overlap of the org cursor read already routed: a row read again with the same
-- SystemModstamp is not routed twice; one that commits late (an older stamp than rows already
-- read, but never seen) still is. Pruned once behind the cursor by more than the overlap.
CREATE TABLE org_feed_seen (
    org_id          text        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    salesforce_id   text        NOT NULL,
    system_modstamp timestamptz NOT NULL,
    PRIMARY KEY (org_id, salesforce_id)
);

-- What the feed routed to each user and the user's sessions have not taken yet: the newest state
-- of each Contact (a record, or its deletion). `seq` orders it: a session reads the rows after
-- its cursor's `seq`, and the rows up to a committed cursor are deleted by the next session.
CREATE SEQUENCE salesforce_inbox_seq;
CREATE TABLE salesforce_inbox (
    user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    salesforce_id   text        NOT NULL,
    seq             bigint      NOT NULL DEFAULT nextval('salesforce_inbox_seq'),
    -- In the user's scope (B2, B7) when it was routed; false: it left the scope (or never was
    -- in it) and the user holds a link to it.
    in_scope        boolean     NOT NULL,
    -- Set: deleted at that time (record is then null).
    deleted_at      timestamptz,
    record          jsonb,
    routed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, salesforce_id)
);
CREATE INDEX salesforce_inbox_user_seq ON salesforce_inbox (user_id, seq);

-- Routing looks up the users linked to the changed Contacts, across the org's users.
CREATE INDEX contact_links_by_salesforce ON contact_links (salesforce_id) WHERE salesforce_id IS NOT NULL;
