//! Migration V3 (B15): Salesforce ids stored before it, in the 15-character form, are in the
//! 18-character form after it; and its SQL `salesforce_id18` agrees with the sync core's.

use store::testing::fresh_database_at;

/// The last version before the conversion.
const BEFORE: i32 = 2;

#[tokio::test]
async fn ids_stored_in_15_characters_before_v3_are_18_characters_after() {
    let db = fresh_database_at(Some(BEFORE))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432");
    let client = db.pool.get().await.expect("connection");
    client
        .batch_execute(
            "INSERT INTO orgs (id, name, graph_tenant_id, graph_client_id, graph_client_secret,
                               salesforce_login_url, salesforce_consumer_key,
                               salesforce_private_key, salesforce_org_id)
             VALUES ('o1', 'Org', 't', 'c', '\\x00', 'https://login', 'k', '\\x00',
                     '00Dxx0000001gPL'),
                    ('o2', 'Org without an id yet', 't', 'c', '\\x00', 'https://login', 'k',
                     '\\x00', '');
             INSERT INTO users (id, org_id, mailbox, salesforce_user_id) VALUES
                 ('short', 'o1', 'a@b', '005xx000001SvbQ'),
                 ('long', 'o1', 'b@b', '005xx000001SvbRAAS'),
                 ('lower', 'o1', 'c@b', '005xx000001SvbSaas'),
                 ('damaged', 'o1', 'd@b', '005xx000001SvbTXYZ');
             INSERT INTO contact_settings (user_id, scope, list_view_id)
                 VALUES ('short', 'list_view', '00BD0000005WcCN');
             INSERT INTO contact_links (user_id, sync_key, salesforce_id, link)
                 VALUES ('short', 'k1', '003RO0000035WQg',
                         '{\"sync_key\": \"k1\", \"salesforce_id\": \"003RO0000035WQg\"}'::jsonb);",
        )
        .await
        .expect("rows as version 2 stored them");
    drop(client);

    store::migrate(&db.pool).await.expect("V3 and later apply");

    let client = db.pool.get().await.expect("connection");
    let user_id = |id: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one("SELECT salesforce_user_id FROM users WHERE id = $1", &[&id])
                .await
                .expect("user");
            row.get::<_, String>(0)
        }
    };
    assert_eq!(user_id("short").await, "005xx000001SvbQAAS");
    assert_eq!(
        user_id("long").await,
        "005xx000001SvbRAAS",
        "already canonical"
    );
    assert_eq!(
        user_id("lower").await,
        "005xx000001SvbSAAS",
        "suffix upper-cased"
    );
    assert_eq!(
        user_id("damaged").await,
        "005xx000001SvbTXYZ",
        "a disagreeing suffix is left for the services to report, not guessed at"
    );
    let view: String = client
        .query_one(
            "SELECT list_view_id FROM contact_settings WHERE user_id = 'short'",
            &[],
        )
        .await
        .expect("settings")
        .get(0);
    assert_eq!(view, "00BD0000005WcCNMA0");
    let orgs: Vec<(String, String)> = client
        .query("SELECT id, salesforce_org_id FROM orgs ORDER BY id", &[])
        .await
        .expect("orgs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        orgs,
        vec![
            ("o1".to_owned(), "00Dxx0000001gPLEAY".to_owned()),
            ("o2".to_owned(), String::new()),
        ]
    );
    let link = client
        .query_one(
            "SELECT salesforce_id, link->>'salesforce_id' FROM contact_links WHERE sync_key = 'k1'",
            &[],
        )
        .await
        .expect("link");
    assert_eq!(link.get::<_, String>(0), "003RO0000035WQgYAM");
    assert_eq!(link.get::<_, String>(1), "003RO0000035WQgYAM");
    drop(client);
    db.drop_database().await.expect("cleanup");
}

#[tokio::test]
async fn the_sql_conversion_agrees_with_the_sync_core_on_many_ids() {
    let db = fresh_database_at(None).await.expect("database");
    let client = db.pool.get().await.expect("connection");
    // A fixed pseudo-random walk over letters and digits (no dependency, same ids every run),
    // plus each id's lower-case-suffix and wrong-suffix spellings.
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state: u64 = 0x5eed_cafe_f00d_0015;
    let mut inputs = Vec::new();
    for _ in 0..300 {
        let id15: String = (0..15)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                char::from(ALPHABET[(state >> 33) as usize % ALPHABET.len()])
            })
            .collect();
        let id18 = sync_core::salesforce_id18(&id15).expect("15 letters and digits");
        inputs.push(format!("{id15}{}", id18[15..].to_ascii_lowercase()));
        inputs.push(format!("{id15}Z5Z"));
        inputs.push(id15);
    }
    inputs.extend(["", "005", "005xx000001SvbQ!", "005xx000001SvbQAASX"].map(String::from));
    let converted: Vec<String> = client
        .query_one("SELECT array_agg(salesforce_id18(x) ORDER BY n) FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n)", &[&inputs])
        .await
        .expect("converted")
        .get(0);
    for (input, sql) in inputs.iter().zip(&converted) {
        // The sync core refuses what SQL leaves unchanged.
        let expected = sync_core::salesforce_id18(input).unwrap_or_else(|_| input.clone());
        assert_eq!(sql, &expected, "salesforce_id18({input:?})");
    }
    drop(client);
    db.drop_database().await.expect("cleanup");
}
