//! The status panel of the Sync Settings page: contacts in sync, last and next sync, whether
//! near-real-time sync is on, held deletions (C5), the contacts that currently fail with what to
//! do about each (C7), and **Sync now**. Rendered with the page and alone for its refresh.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use sync_state::StateError;
use sync_state::deletions::DeletionsView;
use sync_state::item_errors::{self, CurrentItemError};
use sync_state::overview::{self, InSync};
use sync_state::users::{self, ContactSettings};

use crate::Ctx;
use crate::error::ApiError;
use crate::html::{escape, query_value};
use crate::links::Viewer;
use sync_state::schedule;
use sync_state::sessions::{self as session_rows, SessionState, SessionView};

/// Everything the panel shows.
#[derive(Debug, Clone)]
pub struct StatusData {
    pub settings: ContactSettings,
    pub in_sync: InSync,
    pub last: Option<SessionView>,
    pub running: bool,
    pub next_sync_at: Option<DateTime<Utc>>,
    pub notifications_until: Option<DateTime<Utc>>,
    /// Deletions waiting for their burst to settle, held by the guard, or confirmed (C5).
    pub deletions: DeletionsView,
    pub failing: Vec<CurrentItemError>,
}

/// Read from one snapshot (see [`sync_state::snapshot`]).
pub async fn load(ctx: &Ctx, user_id: &str) -> Result<StatusData, ApiError> {
    let mut client = ctx.pool.get().await.map_err(StateError::from)?;
    let tx = sync_state::snapshot(&mut client).await?;
    let db = &*tx;
    users::get_user(db, user_id).await?;
    let settings = users::get_settings(db, user_id).await?;
    let state = schedule::user_sync_state(db, user_id).await?;
    let data = StatusData {
        settings,
        in_sync: overview::in_sync(db, user_id).await?,
        last: session_rows::last_finished(db, user_id).await?,
        running: session_rows::running(db, user_id).await?.is_some(),
        next_sync_at: state.as_ref().map(|s| s.next_sync_at),
        notifications_until: overview::notifications_until(db, user_id, Utc::now()).await?,
        deletions: sync_state::deletions::view(db, user_id).await?,
        failing: item_errors::current(db, user_id).await?,
    };
    tx.commit().await.map_err(StateError::from)?;
    Ok(data)
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `n` with its noun, singular or plural: `1 contact`, `2,000 contacts`.
pub fn count(n: i64, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        if n == 1 { singular } else { plural }
    )
}

/// A moment as people read it: the UTC time and how long ago or ahead it is.
pub fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let at = t.format("%Y-%m-%d %H:%M UTC");
    let secs = (t - now).num_seconds();
    let (ahead, secs) = (secs > 0, secs.abs());
    let span = match secs {
        0..=59 => return format!("{at} (just now)"),
        60..=3599 => format!("{} min", secs / 60),
        3600..=86_399 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    };
    if ahead {
        format!("{at} (in {span})")
    } else {
        format!("{at} ({span} ago)")
    }
}

/// What a user can do about a failing contact, by error code (C7): the fix is always theirs
/// to make on either side, and the contact is tried again as soon as it changes.
pub fn advice(error: &CurrentItemError) -> String {
    let field = error.field.as_deref().unwrap_or("the field");
    let what = match error.code.as_str() {
        "REQUIRED_FIELD_MISSING" => format!(
            "Fill in {field}: give the contact a last name (or at least a display name or an \
             email address) in your mailbox, or in Salesforce."
        ),
        "STRING_TOO_LONG" => format!(
            "Shorten {field} to the length Salesforce allows (the problem says how long it is)."
        ),
        "INVALID_EMAIL_ADDRESS" => {
            "Correct the email address: it must look like name@example.com.".to_owned()
        }
        "INVALID_DATE" => "Correct the birthday: it must be a real date.".to_owned(),
        "KEY_CONFLICT" => "The same contact is linked twice: delete the extra copy from the \
                           Salesforce Contacts folder."
            .to_owned(),
        _ if error.message.contains("DUPLICATE") => "Salesforce already has this contact (its \
            duplicate rule refused a second one): change the copy in your mailbox, or delete it \
            and keep Salesforce's."
            .to_owned(),
        _ => "Correct the contact in your mailbox or in Salesforce; if the problem stays, tell \
              your administrator the code shown."
            .to_owned(),
    };
    format!("{what} It is tried again as soon as it changes.")
}

/// The panel, `<section id="status">`, with where the script refreshes it from.
pub fn panel_html(s: &StatusData, user_id: &str, viewer: &Viewer, now: DateTime<Utc>) -> String {
    let user = query_value(user_id);
    let keep = viewer.keep();
    let q = if keep.is_empty() {
        String::new()
    } else {
        format!("?{keep}")
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<section id=\"status\" aria-labelledby=\"status-title\" data-refresh=\"{}\">\
         <h2 id=\"status-title\">Status</h2><dl class=\"facts\">",
        escape(&format!("/settings/{user}/status{q}"))
    );
    let _ = write!(
        h,
        "<dt>Contacts in sync</dt><dd><strong id=\"in-sync\">{}</strong> {} \
         <span class=\"muted\">({} in your mailbox's Salesforce Contacts folder · {} in \
         Salesforce)</span></dd>",
        thousands(s.in_sync.both),
        if s.in_sync.both == 1 {
            "contact"
        } else {
            "contacts"
        },
        thousands(s.in_sync.mailbox),
        thousands(s.in_sync.salesforce),
    );
    h.push_str("<dt>Last sync</dt><dd id=\"last-sync\">");
    if s.running {
        h.push_str("<strong>A sync is running now.</strong> ");
    }
    match &s.last {
        None => h.push_str("No sync has finished yet."),
        Some(last) => {
            let finished = last.finished_at.map(|t| when(t, now)).unwrap_or_default();
            let state = match last.state {
                SessionState::Succeeded => "completed",
                SessionState::Partial => "completed, some contacts failed",
                other => other.as_str(),
            };
            let w = &last.writes;
            let _ = write!(
                h,
                "{} — {}. <span class=\"muted\">Mailbox: {} added, {} updated, {} removed · \
                 Salesforce: {} added, {} updated, {} removed.</span>",
                escape(&finished),
                escape(state),
                w.exchange.created,
                w.exchange.updated,
                w.exchange.deleted,
                w.salesforce.created,
                w.salesforce.updated,
                w.salesforce.deleted,
            );
            if let Some(failure) = &last.failure {
                let _ = write!(h, " <span class=\"error\">{}</span>", escape(failure));
            }
        }
    }
    h.push_str("</dd><dt>Next sync</dt><dd>");
    match (s.settings.enabled, s.next_sync_at) {
        (false, _) => h.push_str("None: contacts sync is off."),
        (true, Some(next)) if next > now => h.push_str(&escape(&when(next, now))),
        (true, _) => h.push_str("Due now."),
    }
    h.push_str("</dd><dt>Near-real-time sync</dt><dd>");
    match (s.settings.enabled, s.notifications_until) {
        (true, Some(until)) => {
            let _ = write!(
                h,
                "On: changes in your mailbox reach Salesforce within seconds \
                 <span class=\"muted\">(notifications renewed before {})</span>.",
                escape(&until.format("%Y-%m-%d %H:%M UTC").to_string())
            );
        }
        _ => h.push_str(
            "Off: changes are picked up by the periodic sync (or <strong>Sync now</strong>).",
        ),
    }
    h.push_str("</dd></dl>");
    h.push_str(&crate::deletions::section_html(
        user_id,
        viewer.keep(),
        &s.deletions,
    ));
    failing_html(&mut h, &s.failing, now);
    let _ = write!(
        h,
        "<form method=\"post\" action=\"{}\"><button type=\"submit\">Sync now</button></form>\
         </section>",
        escape(&format!("/settings/{user}/sync{q}"))
    );
    h
}

/// Every contact that currently fails (C7), until it syncs or is gone.
fn failing_html(h: &mut String, failing: &[CurrentItemError], now: DateTime<Utc>) {
    if failing.is_empty() {
        h.push_str("<p class=\"ok\" id=\"no-failures\">Every contact syncs.</p>");
        return;
    }
    let _ = write!(
        h,
        "<h3 id=\"failing-title\">Contacts not syncing ({})</h3><table class=\"failing\" \
         aria-labelledby=\"failing-title\"><thead><tr><th scope=\"col\">Contact</th>\
         <th scope=\"col\">Problem</th><th scope=\"col\">Since</th><th scope=\"col\">What to do</th>\
         </tr></thead><tbody>",
        failing.len()
    );
    for e in failing {
        let field = e
            .field
            .as_deref()
            .map(|f| format!(" ({})", escape(f)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr class=\"failing\"><td>{}</td><td>{} <code>{}</code>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&e.item),
            escape(&e.message),
            escape(&e.code),
            field,
            escape(&when(e.since, now)),
            escape(&advice(e)),
        );
    }
    h.push_str("</tbody></table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, field: Option<&str>, message: &str) -> CurrentItemError {
        CurrentItemError {
            item: "Ivo Invalid".into(),
            code: code.into(),
            field: field.map(Into::into),
            message: message.into(),
            since: Utc::now(),
        }
    }

    #[test]
    fn counts_take_their_noun_in_the_right_number() {
        assert_eq!(count(1, "user", "users"), "1 user");
        assert_eq!(count(0, "user", "users"), "0 users");
        assert_eq!(count(2000, "contact", "contacts"), "2,000 contacts");
    }

    #[test]
    fn counts_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2000), "2,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1500), "-1,500");
    }

    #[test]
    fn moments_say_how_far_they_are() {
        let now = Utc::now();
        assert!(when(now, now).ends_with("(just now)"));
        assert!(when(now - chrono::Duration::minutes(5), now).ends_with("(5 min ago)"));
        assert!(when(now + chrono::Duration::minutes(30), now).ends_with("(in 30 min)"));
        assert!(when(now - chrono::Duration::hours(3), now).ends_with("(3 h ago)"));
    }

    #[test]
    fn every_failure_says_what_to_do_and_that_it_is_retried_on_change() {
        for (code, needle) in [
            ("INVALID_EMAIL_ADDRESS", "email address"),
            ("STRING_TOO_LONG", "Shorten LastName"),
            ("REQUIRED_FIELD_MISSING", "last name"),
            ("INVALID_DATE", "birthday"),
            ("KEY_CONFLICT", "linked twice"),
            ("WRITE_FAILED", "administrator"),
        ] {
            let text = advice(&error(code, Some("LastName"), "refused"));
            assert!(text.contains(needle), "{code}: {text}");
            assert!(text.ends_with("It is tried again as soon as it changes."));
        }
        let duplicate = advice(&error("WRITE_FAILED", None, "DUPLICATES_DETECTED: x"));
        assert!(
            duplicate.contains("already has this contact"),
            "{duplicate}"
        );
    }
}
