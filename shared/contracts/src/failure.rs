//! Why a read or a write batch failed, as a message carries it: a code to act on, a message for
//! people.

use serde::{Deserialize, Deserializer, Serialize};
use sync_core::Disposition;

/// What kind of failure it was, so a consumer can act on it without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    /// Graph, Salesforce or the database could not be reached (or throttled us) after the
    /// retries: the next session tries again by itself.
    Unavailable,
    /// A server-side cursor is gone: the next read starts over.
    Resync,
    /// Nothing a retry fixes (permissions, configuration, a refused request): an operator must
    /// look.
    OperatorAction,
    /// A failure from a `v1` message, which carried text only, or a code this version does not
    /// know yet (a newer producer during a rollout).
    #[serde(other)]
    Unknown,
}

impl From<Disposition> for FailureCode {
    fn from(disposition: Disposition) -> Self {
        match disposition {
            Disposition::Retry { .. } | Disposition::ReAuth => FailureCode::Unavailable,
            Disposition::Resync => FailureCode::Resync,
            Disposition::PermanentItem | Disposition::Fatal => FailureCode::OperatorAction,
        }
    }
}

/// A failed read or batch: `{"code": "unavailable", "message": "…"}` on the wire.
///
/// Decodes also from a bare string, the shape `v1` messages carried (code
/// [`FailureCode::Unknown`]), so a message published before the upgrade is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A failure whose code follows what the error underneath says to do next.
    pub fn from_disposition(disposition: Disposition, message: impl Into<String>) -> Self {
        Self::new(disposition.into(), message)
    }
}

/// The message alone: what logs and the pages show, as before codes existed.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<'de> Deserialize<'de> for Failure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Coded { code: FailureCode, message: String },
            Text(String),
        }
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Coded { code, message } => Failure { code, message },
            Wire::Text(message) => Failure::new(FailureCode::Unknown, message),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failure_goes_on_the_wire_as_code_and_message() {
        let failure = Failure::new(FailureCode::Unavailable, "Graph answered 503");
        let json = serde_json::to_value(&failure).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "unavailable", "message": "Graph answered 503"})
        );
        assert_eq!(serde_json::from_value::<Failure>(json).unwrap(), failure);
    }

    #[test]
    fn a_v1_failure_text_still_decodes() {
        let failure: Failure = serde_json::from_str(r#""mailbox read failed: boom""#).unwrap();
        assert_eq!(
            failure,
            Failure::new(FailureCode::Unknown, "mailbox read failed: boom")
        );
    }

    #[test]
    fn a_code_from_a_newer_producer_is_unknown_not_an_error() {
        let failure: Failure =
            serde_json::from_str(r#"{"code": "quota_exhausted", "message": "m"}"#).unwrap();
        assert_eq!(failure.code, FailureCode::Unknown);
    }

    #[test]
    fn the_code_follows_the_disposition() {
        let code = |d| FailureCode::from(d);
        assert_eq!(
            code(Disposition::Retry {
                after: Some(Duration::from_secs(1))
            }),
            FailureCode::Unavailable
        );
        assert_eq!(code(Disposition::ReAuth), FailureCode::Unavailable);
        assert_eq!(code(Disposition::Resync), FailureCode::Resync);
        assert_eq!(code(Disposition::Fatal), FailureCode::OperatorAction);
        assert_eq!(
            code(Disposition::PermanentItem),
            FailureCode::OperatorAction
        );
    }
}
