//! Outbound Messages: when enabled through the control API, every Contact create or update
//! queues a notification; a worker POSTs them as the SOAP `notifications` envelope (≤ 100
//! per message) and retries with exponential backoff until it reads `<Ack>true</Ack>`
//! (contract §10a). Record data is read at send time, as Salesforce does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ids;
use crate::schema::{FieldType, ObjectType};
use crate::state::AppState;
use crate::store::{Change, ChangeKind};
use crate::value::Value;

/// The WSDL's `maxOccurs` for `Notification`.
const MAX_PER_MESSAGE: usize = 100;

/// What the control API configures: the endpoint and which Contact fields to send.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundConfig {
    pub endpoint_url: String,
    /// Field API names; `None` = every Contact field.
    pub fields: Option<Vec<String>>,
    pub send_session_id: bool,
    pub action_id: String,
}

#[derive(Debug)]
struct Pending {
    notification_id: String,
    record_id: String,
    queued: Instant,
}

#[derive(Debug, Default, Serialize)]
pub struct OutboundStatus {
    pub enabled: bool,
    pub endpoint_url: Option<String>,
    pub pending: usize,
    pub delivered: u64,
    pub attempts: u64,
    pub failures: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    config: Option<OutboundConfig>,
    queue: VecDeque<Pending>,
    status: OutboundStatus,
    seq: u64,
    backoff: Option<Duration>,
    next_attempt: Option<Instant>,
}

pub struct Outbound {
    inner: Mutex<Inner>,
    wake: Notify,
    http: reqwest::Client,
    initial: Duration,
    max: Duration,
    expiry: Duration,
    pod: String,
}

impl Outbound {
    pub fn new(config: &Config) -> Outbound {
        let http = reqwest::Client::builder()
            .timeout(config.outbound_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Outbound {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            http,
            initial: config.outbound_initial_retry,
            max: config.outbound_max_retry,
            expiry: config.outbound_expiry,
            pod: config.pod.clone(),
        }
    }

    pub fn configure(
        &self,
        endpoint_url: String,
        fields: Option<Vec<String>>,
        send_session_id: bool,
    ) -> OutboundConfig {
        let cfg = OutboundConfig {
            endpoint_url,
            fields,
            send_session_id,
            action_id: ids::generate("04k", &self.pod, 1),
        };
        let mut inner = self.inner.lock();
        inner.config = Some(cfg.clone());
        inner.backoff = None;
        inner.next_attempt = None;
        cfg
    }

    /// Turns Outbound Messages off and drops anything queued.
    pub fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }

    pub fn status(&self) -> OutboundStatus {
        let inner = self.inner.lock();
        OutboundStatus {
            enabled: inner.config.is_some(),
            endpoint_url: inner.config.as_ref().map(|c| c.endpoint_url.clone()),
            pending: inner.queue.len(),
            delivered: inner.status.delivered,
            attempts: inner.status.attempts,
            failures: inner.status.failures,
            dropped: inner.status.dropped,
            last_error: inner.status.last_error.clone(),
        }
    }

    /// Queues a notification for each Contact created or updated (no delete trigger exists).
    pub fn notify(&self, st: &AppState, changes: &[Change]) {
        let mut inner = self.inner.lock();
        if inner.config.is_none() {
            return;
        }
        let org = st.org.read();
        for c in changes {
            if c.object != ObjectType::Contact || c.kind == ChangeKind::Deleted {
                continue;
            }
            inner.seq += 1;
            let notification_id = ids::generate("04l", &self.pod, inner.seq);
            let record_id = org.table(c.object).id(c.row).to_string();
            inner.queue.push_back(Pending {
                notification_id,
                record_id,
                queued: Instant::now(),
            });
        }
        drop(inner);
        self.wake.notify_one();
    }

    /// Delivery loop; returns when `shutdown` fires.
    pub async fn run(st: Arc<AppState>, shutdown: CancellationToken) {
        loop {
            let wait = {
                let inner = st.outbound.inner.lock();
                match inner.next_attempt {
                    Some(t) if !inner.queue.is_empty() => {
                        t.saturating_duration_since(Instant::now())
                    }
                    _ if inner.queue.is_empty() => Duration::from_secs(3600),
                    _ => Duration::ZERO,
                }
            };
            if !wait.is_zero() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = st.outbound.wake.notified() => continue,
                    () = tokio::time::sleep(wait) => {}
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
            st.outbound.attempt(&st).await;
        }
    }

    /// One delivery attempt of the oldest ≤ 100 queued notifications.
    async fn attempt(&self, st: &AppState) {
        let (cfg, batch) = {
            let mut inner = self.inner.lock();
            let expiry = self.expiry;
            let before = inner.queue.len();
            inner.queue.retain(|p| p.queued.elapsed() < expiry);
            inner.status.dropped += (before - inner.queue.len()) as u64;
            let Some(cfg) = inner.config.clone() else {
                inner.queue.clear();
                return;
            };
            if inner.queue.is_empty() {
                return;
            }
            let batch: Vec<(String, String)> = inner
                .queue
                .iter()
                .take(MAX_PER_MESSAGE)
                .map(|p| (p.notification_id.clone(), p.record_id.clone()))
                .collect();
            inner.status.attempts += 1;
            (cfg, batch)
        };
        let envelope = envelope(st, &cfg, &batch);
        let result = self
            .http
            .post(&cfg.endpoint_url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", "\"\"")
            .body(envelope)
            .send()
            .await;
        let outcome = match result {
            Ok(resp) if resp.status().is_success() => match resp.text().await {
                Ok(body) if acknowledged(&body) => Ok(()),
                Ok(body) => Err(format!(
                    "no <Ack>true</Ack> in response: {}",
                    body.chars().take(200).collect::<String>()
                )),
                Err(e) => Err(e.to_string()),
            },
            Ok(resp) => Err(format!("HTTP {}", resp.status())),
            Err(e) => Err(e.to_string()),
        };
        let mut inner = self.inner.lock();
        match outcome {
            Ok(()) => {
                let sent: Vec<&String> = batch.iter().map(|(n, _)| n).collect();
                inner.queue.retain(|p| !sent.contains(&&p.notification_id));
                inner.status.delivered += batch.len() as u64;
                inner.backoff = None;
                inner.next_attempt = None;
            }
            Err(e) => {
                tracing::info!(error = %e, endpoint = %cfg.endpoint_url, "Outbound Message not acknowledged; will retry");
                let next = inner
                    .backoff
                    .map_or(self.initial, |b| (b * 2).min(self.max));
                inner.backoff = Some(next);
                inner.next_attempt = Some(Instant::now() + next);
                inner.status.failures += 1;
                inner.status.last_error = Some(e);
            }
        }
    }
}

/// True when the body holds `<Ack>true</Ack>` in any namespace.
pub fn acknowledged(body: &str) -> bool {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut in_ack = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => in_ack = e.local_name().as_ref() == b"Ack",
            Ok(Event::Text(t))
                if in_ack && String::from_utf8_lossy(t.as_ref()).trim() == "true" =>
            {
                return true;
            }
            Ok(Event::End(_)) => in_ack = false,
            Ok(Event::Eof) | Err(_) => return false,
            _ => {}
        }
    }
}

/// Builds the SOAP envelope of the Salesforce outbound messaging WSDL.
fn envelope(st: &AppState, cfg: &OutboundConfig, batch: &[(String, String)]) -> String {
    let ids = *st.id_length.lock();
    let org_id = ids.apply(&st.config.org_id);
    let org15 = ids::to_15(org_id);
    let base = &st.base_url;
    let session = if cfg.send_session_id {
        let user = AppState::integration_user_id(&st.config);
        let expires = st.now() + chrono::Duration::hours(2);
        let token = st
            .sessions
            .lock()
            .mint(&st.config.org_id, &user, "", expires);
        format!("<SessionId>{}</SessionId>", escape(token.as_str()))
    } else {
        "<SessionId xsi:nil=\"true\"/>".to_string()
    };
    let mut x = String::with_capacity(1024 + batch.len() * 1024);
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n <soapenv:Body>\n  <notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">\n");
    x.push_str(&format!(
        "   <OrganizationId>{org_id}</OrganizationId>\n   <ActionId>{}</ActionId>\n   {session}\n",
        cfg.action_id
    ));
    x.push_str(&format!("   <EnterpriseUrl>{base}/services/Soap/c/60.0/{org15}</EnterpriseUrl>\n   <PartnerUrl>{base}/services/Soap/u/60.0/{org15}</PartnerUrl>\n"));
    let org = st.org.read();
    let t = org.table(ObjectType::Contact);
    let def = ObjectType::Contact.def();
    for (notification_id, record_id) in batch {
        let Some(r) = t.find(record_id) else { continue };
        x.push_str(&format!("   <Notification>\n    <Id>{notification_id}</Id>\n    <sObject xsi:type=\"sf:Contact\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n"));
        for (i, f) in def.fields.iter().enumerate() {
            let wanted = i == 0
                || cfg
                    .fields
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(f.name)));
            if !wanted {
                continue;
            }
            let value = match (f.ty, t.get(r, i)) {
                (FieldType::Id | FieldType::Reference(_), Value::Text(id)) => {
                    Some(ids.apply(id).to_owned())
                }
                (_, value) => value.to_soap(),
            };
            if let Some(v) = value {
                x.push_str(&format!(
                    "     <sf:{0}>{1}</sf:{0}>\n",
                    f.name,
                    escape(v.as_str())
                ));
            }
        }
        x.push_str("    </sObject>\n   </Notification>\n");
    }
    x.push_str("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::acknowledged;

    #[test]
    fn ack_is_found_in_the_documented_response() {
        let body = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"#;
        assert!(acknowledged(body));
        assert!(!acknowledged(&body.replace("true", "false")));
        assert!(!acknowledged("ok"));
    }
}
