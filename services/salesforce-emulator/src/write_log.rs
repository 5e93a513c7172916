//! The write log of the control API: when the REST API wrote each record (created, updated,
//! deleted), by the wall clock to the microsecond, recorded only while a test or the bench has
//! turned it on (`POST /_emulator/write-log` `{"enabled": true}`), so a latency can be taken from
//! the emulator's own record of when a write arrived rather than from polling it (the record's
//! `SystemModstamp` follows the emulator's movable clock). Off, it costs nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

use crate::store::{Change, Org};

/// One API write of a record.
#[derive(Debug, Clone, Serialize)]
pub struct Write {
    #[serde(rename = "Id")]
    pub id: String,
    pub sobject: &'static str,
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

    /// Records the records of `changes`, written now, when the log is on.
    pub fn record(&self, org: &Org, changes: &[Change]) {
        let mut writes = self.writes.lock();
        let Some(writes) = writes.as_mut() else {
            return;
        };
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        writes.extend(changes.iter().map(|c| Write {
            id: org.table(c.object).id(c.row).to_string(),
            sobject: c.object.name(),
            at_ms,
        }));
    }

    /// Whether the log is on, and what it holds, oldest first.
    pub fn view(&self) -> (bool, Vec<Write>) {
        let writes = self.writes.lock();
        (writes.is_some(), writes.clone().unwrap_or_default())
    }
}
