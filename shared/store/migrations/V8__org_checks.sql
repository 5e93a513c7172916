-- Onboarding: what an org's check found (SPEC §4: login, API access, the Contactsync_Key__c
-- external id on Contact, a Graph token), so sessions of an org that cannot work wait instead of
-- failing one by one, and the dashboard says why.

-- The JWT bearer `aud` Salesforce expects from this org: https://login.salesforce.com
-- (production), https://test.salesforce.com (sandbox) or the org's My Domain URL.
ALTER TABLE orgs ADD COLUMN salesforce_jwt_audience text NOT NULL
    DEFAULT 'https://login.salesforce.com';

CREATE TABLE org_checks (
    org_id         text PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    -- The last finished check passed (an org never checked counts as ready).
    ready          boolean     NOT NULL DEFAULT true,
    -- [{"check","message","fix"}]: what failed, in the words shown to the operator.
    problems       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    checked_at     timestamptz,
    -- When the scheduler checks again; pushed ahead while a replica runs a check (its lease).
    next_check_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_checks_next ON org_checks (next_check_at);
