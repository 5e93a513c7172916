//! SOQL date literals (`TODAY`, `THIS_WEEK`, `LAST_N_DAYS:n`, ...) as half-open day ranges.
//! Weeks start on Sunday and days at 00:00 UTC: the emulator's users all live in UTC, en_US.

use chrono::{Datelike, Days, Months, NaiveDate};

/// Whether the literal takes `:n`.
pub fn takes_argument(upper: &str) -> bool {
    matches!(upper, "LAST_N_DAYS" | "NEXT_N_DAYS")
}

/// `[lo, hi)` for an upper-cased literal name, `None` if it is not a date literal.
pub fn range(upper: &str, n: Option<u64>, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
    let week_start = today - Days::new(u64::from(today.weekday().num_days_from_sunday()));
    let month_start = today.with_day(1).unwrap_or(today);
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let day = Days::new(1);
    Some(match upper {
        "TODAY" => (today, today + day),
        "YESTERDAY" => (today - day, today),
        "TOMORROW" => (today + day, today + Days::new(2)),
        "THIS_WEEK" => (week_start, week_start + Days::new(7)),
        "LAST_WEEK" => (week_start - Days::new(7), week_start),
        "NEXT_WEEK" => (week_start + Days::new(7), week_start + Days::new(14)),
        "THIS_MONTH" => (month_start, month_start + Months::new(1)),
        "LAST_MONTH" => (month_start - Months::new(1), month_start),
        "NEXT_MONTH" => (month_start + Months::new(1), month_start + Months::new(2)),
        "THIS_YEAR" => (year_start, year_start + Months::new(12)),
        "LAST_YEAR" => (year_start - Months::new(12), year_start),
        "NEXT_YEAR" => (year_start + Months::new(12), year_start + Months::new(24)),
        "LAST_90_DAYS" => (today - Days::new(90), today + day),
        "NEXT_90_DAYS" => (today + day, today + Days::new(91)),
        // LAST_N_DAYS:n runs from n days ago through the end of today.
        "LAST_N_DAYS" => (today - Days::new(n?), today + day),
        // NEXT_N_DAYS:n starts tomorrow.
        "NEXT_N_DAYS" => (today + day, today + day + Days::new(n?)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn weeks_start_on_sunday() {
        // 2024-05-15 is a Wednesday.
        assert_eq!(
            range("THIS_WEEK", None, d("2024-05-15")),
            Some((d("2024-05-12"), d("2024-05-19")))
        );
        assert_eq!(
            range("LAST_WEEK", None, d("2024-05-15")),
            Some((d("2024-05-05"), d("2024-05-12")))
        );
    }

    #[test]
    fn n_day_ranges_include_today_or_start_tomorrow() {
        assert_eq!(
            range("LAST_N_DAYS", Some(3), d("2024-03-01")),
            Some((d("2024-02-27"), d("2024-03-02")))
        );
        assert_eq!(
            range("NEXT_N_DAYS", Some(2), d("2024-12-31")),
            Some((d("2025-01-01"), d("2025-01-03")))
        );
        assert_eq!(
            range("THIS_MONTH", None, d("2024-02-29")),
            Some((d("2024-02-01"), d("2024-03-01")))
        );
        assert_eq!(range("SOMEDAY", None, d("2024-02-29")), None);
    }
}
