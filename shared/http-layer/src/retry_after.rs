//! The server's `Retry-After`, read once: seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};

/// The wait a response's `Retry-After` asks for, measured on our clock now; see
/// [`retry_after_at`].
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// The wait a response's `Retry-After` asks for: a number of seconds (Graph sends fractions such
/// as `2.128`) or an HTTP-date. A date is measured from the response's own `Date` when it has
/// one (the server set both on its clock, and ours may be off by more than the wait), else from
/// `now`; a date already past means no wait. Anything unreadable is `None`: the caller backs off.
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        // `try_from`: a hostile `1e300` or `-1` is refused, not a panic.
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v.trim()).ok())
        .unwrap_or(now);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    #[test]
    fn seconds_are_read_whole_or_fractional() {
        assert_eq!(
            retry_after(&headers(&[(RETRY_AFTER, "2.128")])),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            retry_after(&headers(&[(RETRY_AFTER, " 7 ")])),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn a_garbage_negative_or_huge_value_is_ignored() {
        for value in ["soon", "-1", "1e300", "NaN", "inf"] {
            assert_eq!(
                retry_after(&headers(&[(RETRY_AFTER, value)])),
                None,
                "{value}"
            );
        }
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn an_http_date_is_measured_from_the_response_date() {
        let h = headers(&[
            (RETRY_AFTER, "Wed, 21 Oct 2026 07:28:30 GMT"),
            (DATE, "Wed, 21 Oct 2026 07:28:00 GMT"),
        ]);
        // Our clock is an hour off; the server's own Date decides.
        let now = at("Wed, 21 Oct 2026 08:28:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(30)));
    }

    #[test]
    fn an_http_date_without_a_response_date_is_measured_from_now() {
        let h = headers(&[(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:45 GMT")]);
        let now = at("Wed, 21 Oct 2026 07:28:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::from_secs(45)));
    }

    #[test]
    fn an_http_date_already_past_means_no_wait() {
        let h = headers(&[(RETRY_AFTER, "Wed, 21 Oct 2026 07:28:00 GMT")]);
        let now = at("Wed, 21 Oct 2026 07:29:00 GMT");
        assert_eq!(retry_after_at(&h, now), Some(Duration::ZERO));
    }
}
