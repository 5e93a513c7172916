-- The foundation: tenants (orgs) and the users whose contacts are synced.

-- An org pairs one Microsoft tenant with one Salesforce org. Secrets are stored encrypted
-- (AES-256-GCM, nonce || ciphertext) with the key from CONTACTSYNC_ENCRYPTION_KEY (SPEC §5).
CREATE TABLE orgs (
    id                       text        PRIMARY KEY,
    name                     text        NOT NULL,
    graph_tenant_id          text        NOT NULL,
    graph_client_id          text        NOT NULL,
    graph_client_secret      bytea       NOT NULL,
    salesforce_login_url     text        NOT NULL,
    salesforce_consumer_key  text        NOT NULL,
    salesforce_private_key   bytea       NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now()
);

-- A user with a mailbox on the Microsoft side and a user on the Salesforce side.
CREATE TABLE users (
    id                  text        PRIMARY KEY,
    org_id              text        NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    mailbox             text        NOT NULL,
    salesforce_user_id  text        NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org_id ON users (org_id);
