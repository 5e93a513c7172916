//! C4 under duplicated messages: the outbox publishes at least once, so a write batch may arrive
//! twice with the same message id; the second copy must not create anything twice.

use contactsync_e2e::{Provider, Stack, both_providers, eventually};
use contracts::{Commands, Header, Message, WriteBatch};
use serde_json::json;
use sync_core::fields::GraphContactFields;
use sync_core::mapping::GraphPatch;
use sync_core::{ExchangeCommand, GraphItemId, SalesforceId, Stamp, SyncKey};

both_providers! {
    async fn c4_a_write_batch_published_twice_creates_nothing_twice(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "dup", json!({})).await.expect("user");
        let id = stack
            .create_in_salesforce(&user, json!({"FirstName": "Only", "LastName": "Once"}))
            .await
            .expect("contact");
        let summary = stack.sync(&user).await.expect("session");
        assert_eq!(summary["writes"]["exchange"]["created"], 1, "{summary}");
        let job_id: uuid::Uuid = summary["job_id"]
            .as_str()
            .expect("job id")
            .parse()
            .expect("uuid");
        let graph_id = {
            let client = stack.pool.get().await.expect("db");
            let linked = sync_state::links::linked_graph_ids(&**client, &user.id)
                .await
                .expect("links");
            assert_eq!(linked.len(), 1, "one mirror linked: {linked:?}");
            linked.into_keys().next().expect("the link")
        };

        // The same batch again, with the same message id, as a relay that crashed after the broker's
        // confirm would publish it; plus an update that shows when the batch has been carried out.
        let key = SyncKey::for_salesforce(&SalesforceId::try_from(id.as_str()).expect("id"));
        let patch = GraphPatch {
            job_title: Some(Some("Sentinel".into())),
            ..GraphPatch::default()
        };
        let duplicate = Message::WriteBatch(WriteBatch {
            header: Header::derived(job_id, &user.id, "write.exchange.0", chrono::Utc::now()),
            batch: 0,
            commands: Commands::Exchange(vec![
                ExchangeCommand::Create {
                    sync_key: key.clone(),
                    fields: GraphContactFields {
                        given_name: Some("Only".into()),
                        surname: Some("Once".into()),
                        ..GraphContactFields::default()
                    },
                },
                ExchangeCommand::Update {
                    sync_key: key,
                    id: GraphItemId::try_from(graph_id).expect("graph id"),
                    patch,
                    categories: None,
                    stamp: Stamp::Keep,
                },
            ]),
        });
        let broker = messaging::Broker::connect(
            config::DEFAULT_AMQP_URL,
            &stack.prefix,
            messaging::BrokerSettings::default(),
        )
        .await
        .expect("broker");
        let publisher = broker.publisher().await.expect("publisher");
        publisher
            .publish(
                messaging::Route::ExchangeWrite,
                &duplicate.header().message_id,
                &duplicate,
            )
            .await
            .expect("publish");

        let mirrors = eventually(30, "the duplicate batch to be carried out", || async {
            let contacts = stack.mailbox_contacts(&user).await.ok()?;
            let mirrors: Vec<_> = contacts
                .into_iter()
                .filter(|c| c["surname"] == "Once")
                .collect();
            mirrors
                .iter()
                .any(|c| c["jobTitle"] == "Sentinel")
                .then_some(mirrors)
        })
        .await;
        assert_eq!(mirrors.len(), 1, "no second mirror: {mirrors:?}");
        broker.close().await;
        stack.stop().await.expect("stop");
    }
}
