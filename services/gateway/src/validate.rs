//! Field checks of the admin API: pure functions that name the bad field in their message.

use crate::error::ApiError;

/// Longest id we accept for users and orgs: ids appear in URLs, logs and queue headers.
pub const MAX_ID_LEN: usize = 128;
/// RFC 5321's limit on a mailbox address.
pub const MAX_MAILBOX_LEN: usize = 320;
/// Free-text fields (names, usernames, keys) get a generous but finite bound.
pub const MAX_TEXT_LEN: usize = 1024;
/// A PEM private key is a few kilobytes; anything much larger is not one.
pub const MAX_PEM_LEN: usize = 16 * 1024;

fn bad(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("{field}: {message}"))
}

/// User and org ids: 1–128 characters from `[A-Za-z0-9._@-]`, so they are safe in a URL path
/// segment, an HTML attribute and a log line without escaping surprises.
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if value.len() > MAX_ID_LEN {
        return Err(bad(
            field,
            format_args!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'))
    {
        return Err(bad(field, "may only contain letters, digits and . _ @ -"));
    }
    Ok(())
}

/// A Salesforce record id of the given key prefix: 15 or 18 alphanumeric characters.
pub fn salesforce_id(field: &str, value: &str, prefix: &str) -> Result<(), ApiError> {
    let shape_ok =
        matches!(value.len(), 15 | 18) && value.chars().all(|c| c.is_ascii_alphanumeric());
    if !shape_ok || !value.starts_with(prefix) {
        return Err(bad(
            field,
            format_args!(
                "must be a Salesforce id: 15 or 18 letters and digits starting with {prefix}"
            ),
        ));
    }
    Ok(())
}

/// The mailbox: a user principal name / SMTP address or a Graph user id. It goes into Graph URL
/// paths (percent-encoded by the client), so only its size and printable-ness are checked here.
pub fn mailbox(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if value.len() > MAX_MAILBOX_LEN {
        return Err(bad(
            field,
            format_args!("must be at most {MAX_MAILBOX_LEN} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(bad(
            field,
            "must not contain spaces, control characters or '/'",
        ));
    }
    Ok(())
}

/// Required free text of bounded length.
pub fn text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if value.len() > MAX_TEXT_LEN {
        return Err(bad(
            field,
            format_args!("must be at most {MAX_TEXT_LEN} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn http_url(field: &str, value: &str) -> Result<(), ApiError> {
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(bad(field, "must be an absolute http(s) URL")),
    }
}

/// A PEM-encoded private key (checked for its armour only; the JWT signer parses it on use).
pub fn private_key_pem(field: &str, value: &str) -> Result<(), ApiError> {
    let trimmed = value.trim();
    if trimmed.len() > MAX_PEM_LEN {
        return Err(bad(
            field,
            format_args!("must be at most {MAX_PEM_LEN} bytes"),
        ));
    }
    if !(trimmed.starts_with("-----BEGIN ") && trimmed.contains("PRIVATE KEY-----")) {
        return Err(bad(
            field,
            "must be a PEM private key (-----BEGIN PRIVATE KEY-----)",
        ));
    }
    Ok(())
}

/// Whether two Salesforce ids name the same record: the 18-character form only adds a
/// case-checksum to the 15-character one.
pub fn same_salesforce_id(a: &str, b: &str) -> bool {
    if a.len() < 15 || b.len() < 15 {
        return a == b;
    }
    a.get(..15) == b.get(..15)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<(), ApiError>) -> String {
        match result {
            Err(e) => e.to_string(),
            Ok(()) => String::new(),
        }
    }

    #[test]
    fn ids_accept_the_safe_charset_and_name_the_field_otherwise() {
        assert!(id("id", "alice@example.com").is_ok());
        assert!(id("id", "u-1_2.3").is_ok());
        assert!(message(id("id", "")).starts_with("id: must not be empty"));
        assert!(message(id("id", "a b")).starts_with("id: may only"));
        assert!(message(id("org", "<script>")).starts_with("org: may only"));
        assert!(id("id", &"x".repeat(129)).is_err());
    }

    #[test]
    fn salesforce_user_ids_are_15_or_18_chars_starting_005() {
        assert!(salesforce_id("salesforce_user_id", "005xx000001SvbQ", "005").is_ok());
        assert!(salesforce_id("salesforce_user_id", "005xx000001SvbQAAS", "005").is_ok());
        assert!(salesforce_id("salesforce_user_id", "003xx000001SvbQ", "005").is_err());
        assert!(salesforce_id("salesforce_user_id", "005xx000001Svb", "005").is_err());
        assert!(
            message(salesforce_id(
                "salesforce_user_id",
                "005xx000001Svb!",
                "005"
            ))
            .starts_with("salesforce_user_id:")
        );
    }

    #[test]
    fn mailboxes_refuse_blanks_and_slashes() {
        assert!(mailbox("mailbox", "a@b.example").is_ok());
        assert!(mailbox("mailbox", "").is_err());
        assert!(mailbox("mailbox", "a/b").is_err());
        assert!(mailbox("mailbox", "a b@c").is_err());
    }

    #[test]
    fn the_15_and_18_character_forms_of_an_id_are_the_same_record() {
        assert!(same_salesforce_id("00Dxx0000001gPL", "00Dxx0000001gPLEAY"));
        assert!(!same_salesforce_id("00Dxx0000001gPM", "00Dxx0000001gPLEAY"));
        assert!(!same_salesforce_id("short", "shorter"));
    }

    #[test]
    fn urls_and_pems_are_checked_for_shape() {
        assert!(http_url("login_url", "https://login.salesforce.com").is_ok());
        assert!(http_url("login_url", "ftp://x").is_err());
        assert!(http_url("login_url", "not a url").is_err());
        assert!(
            private_key_pem(
                "pem",
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
            )
            .is_ok()
        );
        assert!(private_key_pem("pem", "hello").is_err());
    }
}
