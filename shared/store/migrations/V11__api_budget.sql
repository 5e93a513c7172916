-- Issue 11 §4: the Salesforce API budget. Each org's daily API usage as Salesforce last reported
-- it (`Sforce-Limit-Info: api-usage=N/M` on any response), written by the services that call
-- Salesforce, so the scheduler (which calls it rarely) can stretch periodic sessions of an org
-- past its budget share, and the status API and dashboard can say so.
ALTER TABLE orgs ADD COLUMN api_used bigint;
ALTER TABLE orgs ADD COLUMN api_limit bigint;
-- When that figure was reported; a figure older than Salesforce's rolling 24-hour window says
-- nothing any more.
ALTER TABLE orgs ADD COLUMN api_usage_at timestamptz;
