//! The emulator's controllable clock and Salesforce's several datetime formats.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use parking_lot::Mutex;

/// Wall clock plus an offset that tests move forward (`POST /_emulator/clock`), so windows
/// (Get Updated, token expiry, cursor lifetime) can be exercised without waiting.
#[derive(Debug, Default)]
pub struct Clock {
    offset: Mutex<Duration>,
}

impl Clock {
    /// Current emulator time, truncated to milliseconds like every Salesforce timestamp.
    pub fn now(&self) -> DateTime<Utc> {
        let t = Utc::now() + *self.offset.lock();
        truncate_ms(t)
    }

    pub fn advance(&self, by: Duration) {
        *self.offset.lock() += by;
    }

    /// Moves the clock so that `now()` returns about `to`. Going backwards is allowed: tests own it.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.offset.lock() = to - Utc::now();
    }

    pub fn reset(&self) {
        *self.offset.lock() = Duration::zero();
    }
}

pub fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// REST record format: `2011-07-07T00:37:00.000+0000` (milliseconds, offset without a colon).
pub fn format_rest(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// SOAP (Outbound Message) format: `2014-06-26T00:05:38.000Z`.
pub fn format_soap(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// List-view results format, Java's `Date.toString`: `Fri Aug 01 21:15:46 GMT 2014`.
pub fn format_java(t: &DateTime<Utc>) -> String {
    t.format("%a %b %d %H:%M:%S GMT %Y").to_string()
}

pub fn format_date(d: &NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Parses a datetime a client writes or passes as a parameter: `Z`, `+hh:mm` or `+hhmm`
/// offsets, optional fractional seconds. Anything else is rejected, as Salesforce does.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(truncate_ms(t.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(truncate_ms(t.with_timezone(&Utc)));
        }
    }
    None
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Parses an HTTP-date (`If-Modified-Since: Tue, 10 Aug 2015 00:00:00 GMT`).
/// The weekday is ignored: Salesforce's own documentation example (`Tue, 10 Aug 2015`) names
/// the wrong day, and clients copy it.
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let without_weekday = s.split_once(", ").map_or(s, |(_, rest)| rest);
    chrono::NaiveDateTime::parse_from_str(without_weekday, "%d %b %Y %H:%M:%S GMT")
        .ok()
        .map(|t| t.and_utc())
        .or_else(|| {
            DateTime::parse_from_rfc2822(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// Truncates to the minute: Get Updated/Deleted ignore seconds.
pub fn truncate_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(60), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_format_has_millis_and_colonless_offset() {
        let t = parse_datetime("2011-07-07T00:37:00Z").expect("valid");
        assert_eq!(format_rest(&t), "2011-07-07T00:37:00.000+0000");
        assert_eq!(format_soap(&t), "2011-07-07T00:37:00.000Z");
        assert_eq!(format_java(&t), "Thu Jul 07 00:37:00 GMT 2011");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let t = parse_datetime("2013-05-06T02:00:00+02:00").expect("valid");
        assert_eq!(format_rest(&t), "2013-05-06T00:00:00.000+0000");
        let t = parse_datetime("2013-05-06T02:00:00.123+0200").expect("valid");
        assert_eq!(format_rest(&t), "2013-05-06T00:00:00.123+0000");
        assert!(parse_datetime("2013-05-06 02:00:00").is_none());
    }
}
