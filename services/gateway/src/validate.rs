//! Field checks of the admin API: pure functions that name the bad field in their message.

use sync_core::SalesforceId;

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

/// A Salesforce record id of the given key prefix (`005` user, `00B` list view, `00D` org), in
/// its 18-character form (B15): a 15-character id is converted by its checksum; an 18-character
/// id whose checksum suffix disagrees with its first 15 characters, another length or another
/// character is refused, naming the field.
pub fn salesforce_id(field: &str, value: &str, prefix: &str) -> Result<SalesforceId, ApiError> {
    let id = SalesforceId::try_from(value.trim()).map_err(|e| {
        bad(
            field,
            format_args!("must be a Salesforce id (15 or 18 letters and digits): {e}"),
        )
    })?;
    if id.key_prefix() != prefix {
        return Err(bad(
            field,
            format_args!("must be a Salesforce id starting with {prefix} (got {id})"),
        ));
    }
    Ok(id)
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
    fn salesforce_user_ids_are_15_or_18_chars_starting_005_and_kept_in_18() {
        let field = "salesforce_user_id";
        let short = salesforce_id(field, "005xx000001SvbQ", "005").expect("15");
        assert_eq!(short.as_str(), "005xx000001SvbQAAS");
        let long = salesforce_id(field, "005xx000001SvbQAAS", "005").expect("18");
        assert_eq!(short, long);
        assert!(salesforce_id(field, "003xx000001SvbQ", "005").is_err());
        assert!(salesforce_id(field, "005xx000001Svb", "005").is_err());
        assert!(
            message(salesforce_id(field, "005xx000001Svb!", "005").map(drop))
                .starts_with("salesforce_user_id:")
        );
    }

    #[test]
    fn an_18_character_id_with_a_wrong_checksum_is_refused_naming_the_field() {
        let err = message(salesforce_id("list_view_id", "00BDn0000000001XYZ", "00B").map(drop));
        assert!(err.starts_with("list_view_id:"), "{err}");
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn mailboxes_refuse_blanks_and_slashes() {
        assert!(mailbox("mailbox", "a@b.example").is_ok());
        assert!(mailbox("mailbox", "").is_err());
        assert!(mailbox("mailbox", "a/b").is_err());
        assert!(mailbox("mailbox", "a b@c").is_err());
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
