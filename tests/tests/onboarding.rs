//! Onboarding against the whole stack (SPEC §4): an org that fails its check holds its users'
//! sessions instead of failing each of them, and the scheduler's re-check releases them.

use chrono::{Duration, Utc};
use contactsync_e2e::{Options, Provider, Stack, both_providers, eventually};
use reqwest::Method;
use serde_json::json;
use sync_state::org_checks::{self, Problem};

both_providers! {
    async fn a_failing_org_holds_sessions_and_the_schedulers_recheck_releases_them(provider: Provider) {
        let stack = Stack::start().await.expect("stack");
        let user = stack.add_user_on(provider, "ada", json!({})).await.expect("user");

        // The org's last check failed (the key field was missing), next check far away.
        let now = Utc::now();
        let problem = Problem {
            check: "salesforce_sync_key_field".into(),
            message: "Contact has no field Contactsync_Key__c".into(),
            fix: "deploy the package".into(),
        };
        {
            let client = stack.pool.get().await.expect("db");
            org_checks::record(&**client, "dev", &[problem], now, now + Duration::hours(1))
                .await
                .expect("recorded");
        }
        let (status, body) = stack
            .admin(Method::POST, "/api/v1/users/ada/sync?wait=5", None)
            .await
            .expect("sync");
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "org_not_ready");
        stack
            .create_in_salesforce(&user, json!({"LastName": "Waited"}))
            .await
            .expect("contact");

        // The package is deployed; the org's re-check comes due and the scheduler runs it: the
        // check passes against the emulators and the remembered session runs.
        {
            let client = stack.pool.get().await.expect("db");
            sync_state::simulate::make_org_check_due(&**client, "dev")
                .await
                .expect("due");
        }
        eventually(30, "the held session to bring the Contact in", || async {
            let contacts = stack.mailbox_contacts(&user).await.ok()?;
            contacts
                .iter()
                .any(|c| c["surname"] == "Waited")
                .then_some(())
        })
        .await;
        let (_, org) = stack
            .admin(Method::GET, "/api/v1/orgs/dev", None)
            .await
            .expect("org");
        assert_eq!(org["check"]["ready"], true, "{org}");
        assert!(org["check"]["checked_at"].is_string(), "{org}");
        stack.stop().await.expect("stop");
    }

    async fn an_org_without_the_package_defers_sessions_instead_of_failing_them(provider: Provider) {
        let stack = Stack::start_with(Options {
            salesforce: Some(Box::new(|sf| sf.sync_key_field = false)),
            ..Options::default()
        })
        .await
        .expect("stack");
        // The scheduler's check of the org comes due and finds the field missing.
        {
            let client = stack.pool.get().await.expect("db");
            sync_state::simulate::make_org_check_due(&**client, "dev")
                .await
                .expect("due");
        }
        let (_, org) = eventually(30, "the scheduler to check the org", || async {
            let (status, org) = stack
                .admin(Method::GET, "/api/v1/orgs/dev", None)
                .await
                .ok()?;
            (org["check"]["ready"] == false).then_some((status, org))
        })
        .await;
        assert_eq!(
            org["check"]["problems"][0]["check"], "salesforce_sync_key_field",
            "{org}"
        );
        // A user registered now waits with the org: enabling stores the settings, the session is
        // held, and asking for one says why.
        let (status, body) = stack
            .admin(
                Method::POST,
                "/api/v1/users",
                Some(json!({"id": "bo", "mailbox": "bo@contoso.test", "provider": provider.as_str(),
                            "salesforce_user_id": "005xx000001SvbQAAS"})),
            )
            .await
            .expect("user");
        assert_eq!(status, 201, "{body}");
        let (status, body) = stack
            .admin(
                Method::PUT,
                "/api/v1/users/bo/settings/contacts",
                Some(json!({"enabled": true})),
            )
            .await
            .expect("settings");
        assert_eq!(status, 200, "{body}");
        let (status, body) = stack
            .admin(Method::POST, "/api/v1/users/bo/sync?wait=5", None)
            .await
            .expect("sync");
        assert_eq!(status, 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Contactsync_Key__c"), "{message}");
        let (_, status) = stack
            .admin(Method::GET, "/api/v1/users/bo/status", None)
            .await
            .expect("status");
        assert_eq!(status["pending_trigger"], true, "{status}");
        assert!(
            status["last_session"].is_null(),
            "no session failed: {status}"
        );
        stack.stop().await.expect("stop");
    }
}
