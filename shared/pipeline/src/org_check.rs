//! The onboarding check of an org (SPEC §4): everything a session will need from Microsoft and
//! Salesforce, tried once with the org's own credentials, each failure named with its fix.
//!
//! Run when an org is registered (the admin API refuses an org that fails), on demand, and by
//! the scheduler when the last check has gone stale; a failing org's sessions wait (see
//! `sync_state::org_checks`). What a response means is decided by pure functions, tested
//! without I/O; [`check`] only makes the calls.

use chrono::{DateTime, Utc};
use graph_client::{CONTACTS_PERMISSION, GraphClient, GraphError};
use salesforce_client::{
    SObjectDescribe, SYNC_KEY_FIELD, SalesforceClient, SalesforceError, TokenError,
};
use sync_state::org_checks::{self, OrgCheck, Problem};
use sync_state::orgs::{self, Org};

use crate::{ClientError, OrgClients};

/// How often orgs are checked again.
#[derive(Debug, Clone, Copy)]
pub struct CheckIntervals {
    /// After a check that passed (`ORG_CHECK_INTERVAL_SECS`).
    pub ready: std::time::Duration,
    /// After a check that failed (`ORG_RECHECK_FAILING_SECS`): an operator is likely fixing it.
    pub failing: std::time::Duration,
}

impl CheckIntervals {
    /// `ORG_CHECK_INTERVAL_SECS` (default 3600) and `ORG_RECHECK_FAILING_SECS` (default 60).
    pub fn from_env(env: &config::Env) -> Result<Self, config::ConfigError> {
        let defaults = CheckIntervals::default();
        let ready = env.parse_or("ORG_CHECK_INTERVAL_SECS", defaults.ready.as_secs())?;
        let failing = env.parse_or("ORG_RECHECK_FAILING_SECS", defaults.failing.as_secs())?;
        for (var, secs) in [
            ("ORG_CHECK_INTERVAL_SECS", ready),
            ("ORG_RECHECK_FAILING_SECS", failing),
        ] {
            if secs == 0 {
                return Err(config::ConfigError::Invalid {
                    var,
                    reason: "must be at least 1 second".to_owned(),
                });
            }
        }
        Ok(CheckIntervals {
            ready: std::time::Duration::from_secs(ready),
            failing: std::time::Duration::from_secs(failing),
        })
    }
}

impl Default for CheckIntervals {
    fn default() -> Self {
        CheckIntervals {
            ready: std::time::Duration::from_secs(3600),
            failing: std::time::Duration::from_secs(60),
        }
    }
}

/// Checks the stored org `org_id` and records the result; a user of an org that now passes has
/// its deferred triggers run by the scheduler's next tick.
pub async fn check_and_record(
    pool: &store::Pool,
    clients: &OrgClients,
    org_id: &str,
    intervals: CheckIntervals,
) -> Result<OrgCheck, ClientError> {
    let org = {
        let client = pool.get().await.map_err(sync_state::StateError::from)?;
        orgs::get_org(&**client, clients.cipher(), org_id).await?.0
    };
    let problems = check(clients, &org).await;
    let now = Utc::now();
    let next = next_check(now, problems.is_empty(), intervals.ready, intervals.failing);
    let client = pool.get().await.map_err(sync_state::StateError::from)?;
    let recorded = org_checks::record(&**client, org_id, &problems, now, next).await?;
    // A check that passed after a fix should not leave clients built from an older view.
    clients.invalidate(org_id);
    Ok(recorded)
}

/// The longest sync key we write (`ex` + 32 hex digits); the package makes the field Text(64).
pub const MIN_SYNC_KEY_LENGTH: u32 = 34;

fn problem(check: &str, message: impl Into<String>, fix: impl Into<String>) -> Problem {
    Problem {
        check: check.to_owned(),
        message: message.into(),
        fix: fix.into(),
    }
}

/// Checks both sides of `org` with fresh clients; an empty list means ready.
#[tracing::instrument(skip_all, fields(org_id = %org.id))]
pub async fn check(clients: &OrgClients, org: &Org) -> Vec<Problem> {
    let (graph, salesforce) = match clients.for_check(org) {
        Ok(pair) => pair,
        Err(e) => {
            return vec![problem(
                "configuration",
                e.to_string(),
                "correct the org's settings (login URL, private key) and register it again",
            )];
        }
    };
    // An org without a Microsoft tenant (Gmail users only, G1) has no Graph side to check. A
    // Google service account cannot be checked without a user to act as: its first session
    // says what is wrong (the user's status names a missing delegation).
    let graph_problems = async {
        if org.has_graph() {
            check_graph(&graph).await
        } else {
            Vec::new()
        }
    };
    let (mut problems, salesforce_problems) =
        tokio::join!(graph_problems, check_salesforce(&salesforce, org));
    problems.extend(salesforce_problems);
    if problems.is_empty() {
        tracing::info!("The org passed its check.");
    } else {
        tracing::warn!(problems = problems.len(), first = %problems[0].message, "The org failed its check.");
    }
    problems
}

/// A Graph token for the app, with the `Contacts.ReadWrite` application permission in it.
async fn check_graph(graph: &GraphClient) -> Vec<Problem> {
    match graph.app_token_roles().await {
        Ok(roles) => graph_roles_problems(roles.as_deref()).into_iter().collect(),
        Err(e) => vec![graph_token_problem(&e)],
    }
}

/// What a refused Graph token request means.
pub fn graph_token_problem(error: &GraphError) -> Problem {
    let text = error.to_string();
    let fix = if text.contains("AADSTS7000215") || text.contains("invalid_client") {
        "the client secret is wrong or expired: create a new secret in the Entra app registration \
         (Certificates & secrets) and register the org again with it"
    } else if text.contains("AADSTS700016") || text.contains("unauthorized_client") {
        "no app with this client id in the tenant: use the Application (client) ID of the app \
         registration, and the Directory (tenant) ID of the tenant it is in"
    } else if text.contains("AADSTS90002") || text.contains("AADSTS900023") {
        "the tenant does not exist: use the Directory (tenant) ID from the Entra admin center"
    } else if matches!(
        error,
        GraphError::Transport(_) | GraphError::Token(graph_client::TokenError::Transport(_))
    ) {
        "Microsoft's identity platform could not be reached: check GRAPH_LOGIN_URL and the \
         network path (proxy, firewall) from the services"
    } else {
        "check graph.tenant_id, graph.client_id and graph.client_secret against the Entra app \
         registration"
    };
    problem(
        "graph_token",
        format!("the Entra app could not get a Microsoft Graph token: {text}"),
        fix,
    )
}

/// A token without `Contacts.ReadWrite` among its roles lacks the permission or its consent;
/// a token we cannot read (`None`) proves nothing.
pub fn graph_roles_problems(roles: Option<&[String]>) -> Option<Problem> {
    let roles = roles?;
    if roles
        .iter()
        .any(|r| r.eq_ignore_ascii_case(CONTACTS_PERMISSION))
    {
        return None;
    }
    Some(problem(
        "graph_permission",
        format!(
            "the Graph token carries no application permission {CONTACTS_PERMISSION} (it has: {})",
            if roles.is_empty() {
                "none".to_owned()
            } else {
                roles.join(", ")
            }
        ),
        format!(
            "in the Entra app registration, add the Microsoft Graph application permission \
             {CONTACTS_PERMISSION} (not a delegated one) and grant admin consent for the tenant"
        ),
    ))
}

/// Login as the integration user, API access, Contact and Account access, and the sync key.
async fn check_salesforce(salesforce: &SalesforceClient, org: &Org) -> Vec<Problem> {
    let contact = match salesforce.describe("Contact").await {
        Ok(describe) => describe,
        Err(e) => return vec![salesforce_call_problem(&e, org)],
    };
    let mut problems = contact_problems(&contact);
    match salesforce.describe("Account").await {
        Ok(account) if !account.queryable => problems.push(problem(
            "salesforce_account_access",
            "the integration user cannot read Account (needed to link Contacts to their company, B14)",
            "assign the Contactsync permission set (deploy/salesforce) to the integration user",
        )),
        Ok(_) => {}
        Err(e) => problems.push(salesforce_call_problem(&e, org)),
    }
    problems
}

/// What a failed login or describe means, with the Setup step that fixes it.
pub fn salesforce_call_problem(error: &SalesforceError, org: &Org) -> Problem {
    match error {
        SalesforceError::Login(TokenError::Refused {
            error: code,
            description,
            ..
        }) => {
            let fix = match (code.as_str(), description.as_str()) {
                ("invalid_client_id", _) | ("invalid_client", _) => format!(
                    "the consumer key is not the connected app's: copy the Consumer Key of the \
                     Contactsync connected app (Setup > App Manager) into salesforce.consumer_key \
                     (was {})",
                    org.salesforce_consumer_key
                ),
                (_, d) if d.contains("audience") => format!(
                    "the JWT audience {} is not this org's: use https://login.salesforce.com for a \
                     production org, https://test.salesforce.com for a sandbox, or the org's My \
                     Domain URL (salesforce.jwt_audience)",
                    org.salesforce_jwt_audience
                ),
                (_, d) if d.contains("approved") => format!(
                    "the integration user {} may not use the connected app: in its OAuth Policies \
                     set Permitted Users to \"Admin approved users are pre-authorized\" and assign \
                     the Contactsync permission set to the user (or check the username)",
                    org.salesforce_username
                ),
                (_, d) if d.contains("expired") => {
                    "the assertion was refused as expired: check the services' clock (NTP)"
                        .to_owned()
                }
                (_, d) if d.contains("assertion") || d.contains("signature") => {
                    "the private key does not match the certificate uploaded to the connected app \
                     (Use digital signatures): upload the certificate of this key, or register \
                     the org with the key of the uploaded certificate"
                        .to_owned()
                }
                _ => {
                    "check the connected app, the integration username and the login URL".to_owned()
                }
            };
            problem(
                "salesforce_login",
                format!(
                    "the JWT bearer login as {} was refused: {code}: {description}",
                    org.salesforce_username
                ),
                fix,
            )
        }
        SalesforceError::Api(api) => {
            let code = api.error_code().unwrap_or_default();
            let fix = match code {
                "API_DISABLED_FOR_ORG" | "API_DISABLED_FOR_USER" => {
                    "the API is off for the org or the user: the org needs an edition with API \
                     access, and the integration user the \"API Enabled\" permission (the \
                     Contactsync permission set grants it)"
                }
                "INSUFFICIENT_ACCESS" | "NOT_FOUND" | "INVALID_TYPE" => {
                    "the integration user cannot see Contact or Account: assign the Contactsync \
                     permission set (deploy/salesforce)"
                }
                _ => "check the integration user's profile and permission sets",
            };
            problem(
                "salesforce_api",
                format!("a Salesforce API call as the integration user failed: {api}"),
                fix,
            )
        }
        SalesforceError::Transport(_) | SalesforceError::Login(TokenError::Transport(_)) => {
            problem(
                "salesforce_unreachable",
                format!("Salesforce could not be reached: {error}"),
                format!(
                    "check salesforce.login_url ({}) and the network path from the services",
                    org.salesforce_login_url
                ),
            )
        }
        other => problem(
            "salesforce_api",
            format!("Salesforce answered unexpectedly: {other}"),
            "check salesforce.login_url: it must be the org's login or My Domain URL",
        ),
    }
}

/// What the integration user's view of Contact lacks: the object rights and the sync key.
pub fn contact_problems(contact: &SObjectDescribe) -> Vec<Problem> {
    let mut problems = Vec::new();
    let missing: Vec<&str> = [
        ("read", contact.queryable),
        ("create", contact.createable),
        ("edit", contact.updateable),
        ("delete", contact.deletable),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(right, _)| right)
    .collect();
    if !missing.is_empty() {
        problems.push(problem(
            "salesforce_contact_access",
            format!(
                "the integration user may not {} Contacts",
                missing.join(", ")
            ),
            "assign the Contactsync permission set (deploy/salesforce), which grants Contact \
             read, create, edit and delete, to the integration user",
        ));
    }
    let deploy = "deploy the Contactsync package (deploy/salesforce: sf project deploy start) or \
                  create the field in Setup > Object Manager > Contact: Text(64), External ID, \
                  Unique; then give the integration user edit access to it (the permission set)";
    let Some(field) = contact.field(SYNC_KEY_FIELD) else {
        problems.push(problem(
            "salesforce_sync_key_field",
            format!(
                "Contact has no field {SYNC_KEY_FIELD} visible to the integration user (the sync \
                 key every session reads and upserts by)"
            ),
            deploy,
        ));
        return problems;
    };
    let mut wrong = Vec::new();
    if field.field_type != "string" {
        wrong.push(format!("is of type {} instead of Text", field.field_type));
    }
    if !field.external_id {
        wrong.push("is not an External ID".to_owned());
    }
    if !field.unique {
        wrong.push("is not Unique".to_owned());
    }
    if field.field_type == "string" && field.length < MIN_SYNC_KEY_LENGTH {
        wrong.push(format!(
            "holds {} characters, fewer than the {MIN_SYNC_KEY_LENGTH} a key needs",
            field.length
        ));
    }
    if !(field.createable && field.updateable) {
        wrong.push("is read-only for the integration user".to_owned());
    }
    if !wrong.is_empty() {
        problems.push(problem(
            "salesforce_sync_key_field",
            format!("Contact.{SYNC_KEY_FIELD} {}", wrong.join(", ")),
            deploy,
        ));
    }
    problems
}

/// When the next check of an org is due: soon after a failure (the operator is fixing it),
/// rarely after a pass.
pub fn next_check(
    now: DateTime<Utc>,
    ready: bool,
    ready_interval: std::time::Duration,
    failing_interval: std::time::Duration,
) -> DateTime<Utc> {
    let wait = if ready {
        ready_interval
    } else {
        failing_interval
    };
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use salesforce_client::FieldDescribe;

    fn org() -> Org {
        Org {
            id: "acme".into(),
            name: "Acme".into(),
            graph_tenant_id: "t".into(),
            graph_client_id: "c".into(),
            graph_client_secret: "s".into(),
            salesforce_login_url: "https://acme.my.salesforce.com".into(),
            salesforce_consumer_key: "ck".into(),
            salesforce_private_key_pem: String::new(),
            salesforce_username: "integration@acme.example".into(),
            salesforce_org_id: "00D000000000001AAA".into(),
            salesforce_jwt_audience: "https://login.salesforce.com".into(),
            google: None,
        }
    }

    fn key_field() -> FieldDescribe {
        FieldDescribe {
            name: SYNC_KEY_FIELD.into(),
            field_type: "string".into(),
            length: 64,
            external_id: true,
            unique: true,
            createable: true,
            updateable: true,
            filterable: true,
        }
    }

    fn contact(fields: Vec<FieldDescribe>) -> SObjectDescribe {
        SObjectDescribe {
            name: "Contact".into(),
            createable: true,
            updateable: true,
            deletable: true,
            queryable: true,
            fields,
        }
    }

    #[test]
    fn a_contact_with_the_key_field_and_full_rights_is_ready() {
        assert!(contact_problems(&contact(vec![key_field()])).is_empty());
    }

    #[test]
    fn a_missing_key_field_is_named_with_the_package_to_deploy() {
        let problems = contact_problems(&contact(Vec::new()));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].check, "salesforce_sync_key_field");
        assert!(problems[0].message.contains(SYNC_KEY_FIELD));
        assert!(problems[0].fix.contains("deploy/salesforce"));
    }

    #[test]
    fn a_wrongly_typed_key_field_says_every_difference() {
        let field = FieldDescribe {
            field_type: "double".into(),
            external_id: false,
            unique: false,
            ..key_field()
        };
        let problems = contact_problems(&contact(vec![field]));
        let message = &problems[0].message;
        assert!(message.contains("type double"), "{message}");
        assert!(message.contains("not an External ID"), "{message}");
        assert!(message.contains("not Unique"), "{message}");
        let short = FieldDescribe {
            length: 20,
            ..key_field()
        };
        assert!(
            contact_problems(&contact(vec![short]))[0]
                .message
                .contains("20 characters")
        );
    }

    #[test]
    fn missing_contact_rights_are_listed() {
        let described = SObjectDescribe {
            deletable: false,
            createable: false,
            ..contact(vec![key_field()])
        };
        let problems = contact_problems(&described);
        assert_eq!(problems[0].check, "salesforce_contact_access");
        assert!(problems[0].message.contains("create, delete"));
    }

    #[test]
    fn login_refusals_name_their_setup_step() {
        let refused = |error: &str, description: &str| {
            salesforce_call_problem(
                &SalesforceError::Login(TokenError::Refused {
                    status: 400,
                    error: error.into(),
                    description: description.into(),
                }),
                &org(),
            )
        };
        let p = refused("invalid_grant", "audience is invalid");
        assert_eq!(p.check, "salesforce_login");
        assert!(p.fix.contains("test.salesforce.com"), "{}", p.fix);
        let p = refused("invalid_grant", "user hasn't approved this consumer");
        assert!(p.fix.contains("pre-authorized"), "{}", p.fix);
        let p = refused("invalid_client_id", "client identifier invalid");
        assert!(p.fix.contains("Consumer Key"), "{}", p.fix);
    }

    #[test]
    fn a_token_without_contacts_permission_is_a_problem_and_an_unreadable_one_is_not() {
        assert!(graph_roles_problems(None).is_none());
        assert!(graph_roles_problems(Some(&["Contacts.ReadWrite".to_owned()])).is_none());
        let p = graph_roles_problems(Some(&["User.Read.All".to_owned()])).expect("a problem");
        assert_eq!(p.check, "graph_permission");
        assert!(p.message.contains("User.Read.All"));
        assert!(p.fix.contains("admin consent"));
    }

    #[test]
    fn a_failing_org_is_checked_again_sooner() {
        let now = Utc::now();
        let hour = std::time::Duration::from_secs(3600);
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(
            next_check(now, true, hour, minute),
            now + chrono::Duration::hours(1)
        );
        assert_eq!(
            next_check(now, false, hour, minute),
            now + chrono::Duration::minutes(1)
        );
    }
}
