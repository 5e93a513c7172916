-- Outbound Messages are routed by the ids they carry (issue 9 §5.8): the owner of a changed
-- Contact and the users linked to it. Ids are compared by their first 15 characters, the
-- case-sensitive part that the 15- and 18-character forms share, so these lookups stay right
-- whichever form a row holds.
CREATE INDEX contact_links_salesforce_15 ON contact_links (left(salesforce_id, 15));
CREATE INDEX users_org_salesforce_user_15 ON users (org_id, left(salesforce_user_id, 15));
