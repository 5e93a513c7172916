//! One received message, as a handler sees it.

use std::collections::HashMap;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use serde::de::DeserializeOwned;

/// A received message: its JSON body and the metadata a handler may need.
#[derive(Debug, Clone)]
pub struct Delivery {
    body: Vec<u8>,
    message_id: Option<String>,
    message_type: Option<String>,
    routing_key: String,
    redelivered: bool,
    delivery_count: u32,
    headers: HashMap<String, String>,
}

impl Delivery {
    pub(crate) fn from_lapin(delivery: &lapin::message::Delivery) -> Self {
        let headers = string_headers(&delivery.properties);
        // Quorum queues count earlier failed deliveries in this header; absent on the first.
        let delivery_count = headers
            .get("x-delivery-count")
            .and_then(|count| count.parse().ok())
            .unwrap_or(0);
        Delivery {
            body: delivery.data.clone(),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.to_string()),
            message_type: delivery
                .properties
                .kind()
                .as_ref()
                .map(|kind| kind.to_string()),
            routing_key: delivery.routing_key.to_string(),
            redelivered: delivery.redelivered,
            delivery_count,
            headers,
        }
    }

    /// For handler unit tests: a delivery of `body` on `route`, first attempt.
    pub fn for_tests(route: crate::Route, message_id: &str, body: Vec<u8>) -> Self {
        Delivery {
            body,
            message_id: Some(message_id.to_owned()),
            message_type: Some(route.routing_key().to_owned()),
            routing_key: route.routing_key().to_owned(),
            redelivered: false,
            delivery_count: 0,
            headers: HashMap::new(),
        }
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn decode<M: DeserializeOwned>(&self) -> Result<M, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub fn message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The AMQP `type` property: the route's routing key for our publishes.
    pub fn message_type(&self) -> Option<&str> {
        self.message_type.as_deref()
    }

    /// The routing key it was published with; tells routes apart on a queue fed by several.
    pub fn routing_key(&self) -> &str {
        &self.routing_key
    }

    /// Earlier deliveries of this message that did not end in an ack (0 on the first).
    pub fn delivery_count(&self) -> u32 {
        self.delivery_count
    }

    pub fn redelivered(&self) -> bool {
        self.redelivered
    }

    /// Message headers rendered as strings (numbers in decimal; other kinds are left out).
    pub fn headers(&self) -> &HashMap<String, String> {
        &self.headers
    }
}

fn string_headers(properties: &BasicProperties) -> HashMap<String, String> {
    properties
        .headers()
        .as_ref()
        .map(|table| {
            table
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_string(), value_to_string(value)?)))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn value_to_string(value: &AMQPValue) -> Option<String> {
    Some(match value {
        AMQPValue::LongString(text) => String::from_utf8_lossy(text.as_bytes()).into_owned(),
        AMQPValue::ShortString(text) => text.to_string(),
        AMQPValue::Boolean(flag) => flag.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Timestamp(n) => n.to_string(),
        _ => return None,
    })
}

/// The headers of a dead-lettered copy: the original ones plus the reason and the source.
pub(crate) fn with_headers(properties: &BasicProperties, extra: &[(&str, String)]) -> FieldTable {
    let mut table = properties.headers().clone().unwrap_or_default();
    for (key, value) in extra {
        if let Ok(key) = lapin::types::ShortString::try_new(*key) {
            table.insert(key, AMQPValue::LongString(value.as_str().into()));
        }
    }
    table
}
