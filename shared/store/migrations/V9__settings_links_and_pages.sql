-- Settings links that can be revoked per user (issue 15): a signed link names the generation it
-- was signed for; bumping the user's generation makes every earlier link invalid at once. A
-- missing row is generation 0.
CREATE TABLE settings_link_generations (
    user_id     text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    generation  bigint      NOT NULL DEFAULT 0,
    revoked_at  timestamptz
);

-- The dashboard's filters and search at thousands of users: users with failing items are found
-- from item_errors by user (its primary key leads with user_id); held deletions by code.
CREATE INDEX user_sync_state_held ON user_sync_state (user_id)
    WHERE last_error->>'code' = 'mass_delete_guard';
