//! `OrgClients` against a real PostgreSQL: the first deliveries of a process race for an org's
//! clients, and all must get the same ones (one token cache, one set of Graph mailbox gates:
//! Outlook's 4 requests in flight per mailbox hold only if every call passes the same gate).

use std::sync::Arc;

use config::{CommonSettings, CredentialKey, Env};
use pipeline::OrgClients;
use sync_state::orgs::Org;
use sync_state::secrets::Cipher;

/// A throwaway key (base64 of 32 bytes).
const KEY: &str = "ZTJlLWtleS1kby1ub3QtdXNlLWluLXByb2R1Y3Rpb24=";

#[tokio::test]
async fn concurrent_first_calls_for_an_org_share_one_graph_client() {
    let database = store::testing::fresh_database().await.expect("database");
    let org = Org {
        id: "acme".into(),
        name: "Acme".into(),
        graph_tenant_id: "tenant".into(),
        graph_client_id: "client".into(),
        graph_client_secret: "secret".into(),
        salesforce_login_url: "https://login.salesforce.com".into(),
        salesforce_consumer_key: "key".into(),
        // A test key of the Salesforce client's own tests: the client refuses to be built
        // without a usable one.
        salesforce_private_key_pem: include_str!(
            "../../salesforce-client/tests/fixtures/test_rsa_key.pem"
        )
        .into(),
        salesforce_username: "integration@acme.test".into(),
        salesforce_org_id: "00D000000000001AAA".into(),
        salesforce_jwt_audience: sync_state::orgs::DEFAULT_JWT_AUDIENCE.into(),
        google: None,
    };
    let cipher = Cipher::from_base64(KEY).expect("key");
    {
        let client = database.pool.get().await.expect("connection");
        sync_state::orgs::put_org(&**client, &cipher, &org)
            .await
            .expect("org");
    }
    let env = Env::from_pairs([("CONTACTSYNC_ENCRYPTION_KEY", KEY)]);
    let common = CommonSettings::from_source(&env).expect("settings");
    let key = CredentialKey::from_source(&env).expect("key");
    let clients = Arc::new(OrgClients::new(database.pool.clone(), &common, &key).expect("clients"));

    let calls: Vec<_> = (0..16)
        .map(|_| {
            let clients = Arc::clone(&clients);
            tokio::spawn(async move { clients.graph("acme").await })
        })
        .collect();
    let mut got = Vec::new();
    for call in calls {
        got.push(call.await.expect("task").expect("a client"));
    }
    assert!(
        got.iter().all(|c| Arc::ptr_eq(c, &got[0])),
        "every caller got the same client"
    );
    assert!(Arc::ptr_eq(
        &clients.graph("acme").await.expect("a client"),
        &got[0]
    ));
    let _ = database.drop_database().await;
}
