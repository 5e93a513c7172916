//! The write log of the control API: when the API wrote each contact (created, updated,
//! deleted), by the wall clock to the microsecond, recorded only while a test or the bench has
//! turned it on (`POST /_emulator/write-log` `{"enabled": true}`), so a latency can be taken from
//! the emulator's own record of when a write arrived rather than from polling it. Off, it costs
//! nothing and holds nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use crate::state::ChangeEvent;

/// One API write of a contact.
#[derive(Debug, Clone, Serialize)]
pub struct Write {
    pub id: String,
    #[serde(rename = "immutableId")]
    pub immutable_id: String,
    /// Milliseconds since the Unix epoch (wall clock, microsecond fraction) when it was applied.
    pub at_ms: f64,
}

/// The log: `None` while off.
#[derive(Debug, Default)]
pub struct WriteLog {
    writes: Mutex<Option<Vec<Write>>>,
}

impl WriteLog {
    /// Turns the log on (emptied) or off (dropped).
    pub fn set_enabled(&self, enabled: bool) {
        *self.writes.lock() = enabled.then(Vec::new);
    }

    /// Records the contacts of `events`, written now, when the log is on.
    pub fn record(&self, events: &[ChangeEvent]) {
        let mut writes = self.writes.lock();
        let Some(writes) = writes.as_mut() else {
            return;
        };
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        writes.extend(events.iter().map(|e| Write {
            id: e.id.clone(),
            immutable_id: e.immutable_id.clone(),
            at_ms,
        }));
    }

    /// Whether the log is on, and what it holds, oldest first.
    pub fn view(&self) -> (bool, Vec<Write>) {
        let writes = self.writes.lock();
        (writes.is_some(), writes.clone().unwrap_or_default())
    }
}
