-- Issue 16 (G1): a user's mailbox is Exchange (the default, as every user before) or Gmail.
ALTER TABLE users ADD COLUMN provider text NOT NULL DEFAULT 'exchange'
    CHECK (provider IN ('exchange', 'gmail'));

-- An org's Google Workspace: the service account with domain-wide delegation that reads and
-- writes its users' contacts. All four are set together, or none (an Exchange-only org).
ALTER TABLE orgs ADD COLUMN google_client_email text;
-- The service account's private key (PEM), sealed like the org's other secrets.
ALTER TABLE orgs ADD COLUMN google_private_key bytea;
ALTER TABLE orgs ADD COLUMN google_token_uri text;
ALTER TABLE orgs ADD COLUMN google_api_url text;
ALTER TABLE orgs ADD CONSTRAINT orgs_google_all_or_none CHECK (
    (google_client_email IS NULL) = (google_private_key IS NULL)
    AND (google_client_email IS NULL) = (google_token_uri IS NULL)
    AND (google_client_email IS NULL) = (google_api_url IS NULL));

-- A Gmail user's "Salesforce" contact group (the category of B9–B11), as the fetcher found or
-- created it; the writer puts contacts in it. (Its "Salesforce Contacts" group is the sync
-- folder, in `graph_folder_id` like an Exchange user's folder.)
ALTER TABLE user_sync_state ADD COLUMN category_group text;

-- C3 (issue 12): the mailbox items whose change notifications arrived while the user's session
-- ran, when only such notifications are pending. The session that closes checks them against the
-- links it just stored: notifications that only echo its own writes start no follow-up session.
-- NULL while nothing is pending or while another kind of trigger is (that one always runs).
ALTER TABLE user_sync_state ADD COLUMN pending_notified jsonb;
