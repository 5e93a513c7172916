//! Shared emulator state: the org, sessions, query cursors, traffic counters, injected
//! faults and the daily API budget. Each piece has its own lock so queries run in parallel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use parking_lot::{Mutex, RwLock};

use crate::api::query::Cursors;
use crate::auth::Sessions;
use crate::config::Config;
use crate::ids;
use crate::outbound::Outbound;
use crate::schema::ObjectType;
use crate::store::Org;
use crate::time::Clock;
use crate::value::Value;

/// API traffic since the last reset, as `GET /_emulator/requests` reports it.
#[derive(Debug, Default)]
pub struct Traffic {
    pub http_requests: u64,
    pub operations: u64,
    pub by_route: BTreeMap<String, u64>,
}

/// What an injected fault does to the calls it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with the fault's status and a REST error body.
    Status,
    /// A `query`/`queryAll` (or `query/{locator}`) answer says `done: false` but carries no
    /// `nextRecordsUrl`, and only the first half of its batch: the broken answer a client must
    /// refuse rather than take as complete. Other routes are not hit.
    TruncateQuery,
}

/// An injected failure: the next `remaining` matching requests get `status` (or `kind`'s effect).
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    pub status: u16,
    pub remaining: u64,
    pub retry_after: Option<String>,
    /// `"METHOD /path/template"`, `"/path/template"`, or a prefix ending in `*`; `None` = all API routes.
    pub route: Option<String>,
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// Only calls made with a token of this user (id or username).
    pub user: Option<String>,
}

impl Fault {
    /// Route patterns compare case-insensitively, like the Graph emulator's.
    pub fn matches(&self, route_key: &str) -> bool {
        let Some(pattern) = &self.route else {
            return true;
        };
        let (key, pattern) = (route_key.to_ascii_lowercase(), pattern.to_ascii_lowercase());
        let path = key.split_once(' ').map_or(key.as_str(), |(_, p)| p);
        let target = if pattern.starts_with('/') {
            path
        } else {
            key.as_str()
        };
        match pattern.strip_suffix('*') {
            Some(prefix) => target.starts_with(prefix),
            None => target == pattern,
        }
    }

    /// Whether the fault applies to a caller (`(user id, username)` of the bearer token).
    pub fn applies_to(&self, caller: Option<&(String, String)>) -> bool {
        match (&self.user, caller) {
            (None, _) => true,
            (Some(who), Some((id, username))) => {
                who.eq_ignore_ascii_case(username)
                    || crate::ids::normalize(who).is_some_and(|w| w.eq_ignore_ascii_case(id))
            }
            (Some(_), None) => false,
        }
    }
}

/// Rolling 24-hour API usage in hourly buckets (Salesforce counts a rolling window).
#[derive(Debug, Default)]
pub struct Usage {
    buckets: VecDeque<(i64, u64)>,
}

impl Usage {
    fn trim(&mut self, now: DateTime<Utc>) {
        let oldest = (now - Duration::hours(24)).timestamp() / 3600;
        while self.buckets.front().is_some_and(|(h, _)| *h <= oldest) {
            self.buckets.pop_front();
        }
    }

    pub fn used(&mut self, now: DateTime<Utc>) -> u64 {
        self.trim(now);
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    pub fn add(&mut self, now: DateTime<Utc>, n: u64) {
        let hour = now.timestamp() / 3600;
        match self.buckets.back_mut() {
            Some((h, c)) if *h == hour => *c += n,
            _ => self.buckets.push_back((hour, n)),
        }
    }

    pub fn clear(&mut self) {
        self.buckets.clear();
    }
}

pub struct AppState {
    pub config: Config,
    pub base_url: String,
    pub jwt_key: Vec<u8>,
    pub clock: Clock,
    pub org: RwLock<Org>,
    pub sessions: Mutex<Sessions>,
    pub cursors: Mutex<Cursors>,
    pub traffic: Mutex<Traffic>,
    pub faults: Mutex<Vec<Fault>>,
    pub usage: Mutex<Usage>,
    pub outbound: Outbound,
    /// The duplicate rule in force (the config's, until the control API changes it).
    pub duplicate_rule: Mutex<crate::config::DuplicateRule>,
    /// The id length of answers in force (the config's, until the control API changes it).
    pub id_length: Mutex<crate::config::IdLength>,
    /// When the REST API wrote each record, while the control API has it on.
    pub write_log: crate::write_log::WriteLog,
    generation: AtomicU64,
}

impl AppState {
    pub fn new(config: Config, base_url: String, jwt_key: Vec<u8>) -> AppState {
        let org = new_org(&config, 1);
        let state = AppState {
            outbound: Outbound::new(&config),
            base_url,
            jwt_key,
            clock: Clock::default(),
            org: RwLock::new(org),
            sessions: Mutex::new(Sessions::default()),
            cursors: Mutex::new(Cursors::default()),
            traffic: Mutex::new(Traffic::default()),
            faults: Mutex::new(Vec::new()),
            usage: Mutex::new(Usage::default()),
            write_log: crate::write_log::WriteLog::default(),
            generation: AtomicU64::new(1),
            duplicate_rule: Mutex::new(config.duplicate_rule),
            id_length: Mutex::new(config.id_length),
            config,
        };
        state.configure_outbound_from_config();
        state
    }

    /// Enables Outbound Messages to the configured endpoint, if any (dev stack wiring).
    fn configure_outbound_from_config(&self) {
        if let Some(url) = &self.config.outbound_endpoint_url {
            self.outbound.configure(url.clone(), None, false);
        }
    }

    /// `POST /_emulator/reset`: an empty org (but the Run-As user), no cursors, counters,
    /// faults, usage, or clock offset; Outbound Messages, duplicate rule and id length back to
    /// the configured ones. Tokens of users that no longer
    /// exist stop working because every call re-checks the user.
    pub fn reset(&self) {
        *self.org.write() = new_org(&self.config, self.next_generation());
        *self.cursors.lock() = Cursors::default();
        *self.traffic.lock() = Traffic::default();
        self.faults.lock().clear();
        self.usage.lock().clear();
        self.clock.reset();
        self.outbound.reset();
        self.configure_outbound_from_config();
        *self.duplicate_rule.lock() = self.config.duplicate_rule;
        *self.id_length.lock() = self.config.id_length;
        self.write_log.set_enabled(false);
    }

    /// A generation number no org has had yet: replacing the org (reset, composite rollback)
    /// with a fresh one invalidates every query locator that points into the old rows.
    pub fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The identity URL of a user (`…/id/<org>/<user>`), as token responses carry it.
    pub fn identity_url(&self, user_id: &str) -> String {
        format!("{}/id/{}/{}", self.base_url, self.config.org_id, user_id)
    }

    /// The id of the Run-As user of the client-credentials flow, created with every org.
    pub fn integration_user_id(config: &Config) -> String {
        ids::generate(ObjectType::User.def().key_prefix, &config.pod, 0)
    }
}

fn new_org(config: &Config, generation: u64) -> Org {
    let mut org = Org::new(&config.pod, generation);
    if !config.sync_key_field {
        org.hide(
            ObjectType::Contact,
            ObjectType::Contact
                .def()
                .must(crate::schema::CONTACTSYNC_KEY),
        );
    }
    if let Some(username) = &config.client_credentials_username {
        let def = ObjectType::User.def();
        let fields = vec![
            (def.must("Username"), Value::text(username.as_str())),
            (def.must("LastName"), Value::text("Integration")),
            (def.must("FirstName"), Value::text("Contactsync")),
            (def.must("Alias"), Value::text("integ")),
            (def.must("Email"), Value::text(username.as_str())),
        ];
        let id = AppState::integration_user_id(config);
        org.insert_with_id(ObjectType::User, id, fields, Utc::now());
    }
    if !config.recently_viewed_list_view {
        org.list_views
            .retain(|v| v.developer_name != "RecentlyViewedContacts");
    }
    org.changes.clear();
    org
}
