//! Maps a `/v1.0/…` path to the operation it names and to its templated route (the key of
//! `by_route` and of fault matching). Direct calls and `$batch` items both come through here.

use axum::http::Method;

use crate::errors::GraphError;
use crate::wire::decode_segment;

/// A folder as a path names it: the default folder (`/contacts`) or a chain of ids
/// (`/contactFolders/{a}/childFolders/{b}`), the last being the one meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    Default,
    Chain(Vec<String>),
}

/// What a path under `/users/{id}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxTarget {
    User,
    Contacts(FolderRef),
    Delta(FolderRef),
    Contact { id: String },
    ContactAction { id: String, action: String },
    Folders,
    Folder(Vec<String>),
    ChildFolders(Vec<String>),
    Categories,
    Category(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Batch,
    Subscriptions,
    Subscription(String),
    Reauthorize(String),
    Mailbox { user: String, target: MailboxTarget },
}

impl Target {
    /// The mailbox segment of the path, if the operation is on a mailbox.
    pub fn user(&self) -> Option<&str> {
        match self {
            Target::Mailbox { user, .. } => Some(user),
            _ => None,
        }
    }
}

/// Splits a raw path into decoded segments, expanding the OData key form `name('key')` into
/// two segments so `contactFolders('contacts')` and `contactFolders/contacts` are the same.
pub fn segments(raw_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in raw_path.split('/').filter(|s| !s.is_empty()) {
        let decoded = decode_segment(raw);
        if let Some(open) = decoded.find("('")
            && decoded.ends_with("')")
            && open > 0
            && decoded.len() >= open + 4
        {
            out.push(decoded[..open].to_owned());
            out.push(decoded[open + 2..decoded.len() - 2].replace("''", "'"));
            continue;
        }
        out.push(decoded);
    }
    out
}

fn is(segment: &str, name: &str) -> bool {
    segment.eq_ignore_ascii_case(name)
}

/// Parses the segments after `/v1.0`. Returns the target and its route template.
pub fn parse(method: &Method, segs: &[String]) -> Result<(Target, String), GraphError> {
    let mut template = String::from("/v1.0");
    let mut push = |t: &str| {
        template.push('/');
        template.push_str(t);
    };
    let target = match segs {
        [] => return Err(GraphError::unknown_segment("v1.0")),
        [b] if b == "$batch" => {
            push("$batch");
            Target::Batch
        }
        [s, rest @ ..] if is(s, "subscriptions") => {
            push("subscriptions");
            match rest {
                [] => Target::Subscriptions,
                [id] => {
                    push("{id}");
                    Target::Subscription(id.clone())
                }
                [id, r] if is(r, "reauthorize") => {
                    push("{id}");
                    push("reauthorize");
                    Target::Reauthorize(id.clone())
                }
                [_, other, ..] => return Err(GraphError::unknown_segment(other)),
            }
        }
        [me, ..] if is(me, "me") => {
            return Err(GraphError::bad_request(
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            ));
        }
        [u, user, rest @ ..] if is(u, "users") => {
            push("users");
            push("{id}");
            let target = parse_mailbox(rest, &mut push)?;
            Target::Mailbox {
                user: user.clone(),
                target,
            }
        }
        [other, ..] => return Err(GraphError::unknown_segment(other)),
    };
    Ok((target, format!("{} {}", method.as_str(), template)))
}

fn parse_mailbox(
    rest: &[String],
    push: &mut impl FnMut(&str),
) -> Result<MailboxTarget, GraphError> {
    match rest {
        [] => Ok(MailboxTarget::User),
        [c, tail @ ..] if is(c, "contacts") => {
            push("contacts");
            parse_contacts(FolderRef::Default, tail, push)
        }
        [f, tail @ ..] if is(f, "contactFolders") => {
            push("contactFolders");
            let Some((first, mut tail)) = tail.split_first() else {
                return Ok(MailboxTarget::Folders);
            };
            if is(first, "delta") {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The emulator does not model contactFolders/delta.",
                ));
            }
            push("{id}");
            let mut chain = vec![first.clone()];
            loop {
                match tail {
                    [] => return Ok(MailboxTarget::Folder(chain)),
                    [c] if is(c, "childFolders") => {
                        push("childFolders");
                        return Ok(MailboxTarget::ChildFolders(chain));
                    }
                    [c, id, more @ ..] if is(c, "childFolders") => {
                        push("childFolders");
                        push("{id}");
                        chain.push(id.clone());
                        tail = more;
                    }
                    [c, more @ ..] if is(c, "contacts") => {
                        push("contacts");
                        return parse_contacts(FolderRef::Chain(chain), more, push);
                    }
                    [other, ..] => return Err(GraphError::unknown_segment(other)),
                }
            }
        }
        [o, m, tail @ ..] if is(o, "outlook") && is(m, "masterCategories") => {
            push("outlook");
            push("masterCategories");
            match tail {
                [] => Ok(MailboxTarget::Categories),
                [id] => {
                    push("{id}");
                    Ok(MailboxTarget::Category(id.clone()))
                }
                [_, other, ..] => Err(GraphError::unknown_segment(other)),
            }
        }
        [other, ..] => Err(GraphError::unknown_segment(other)),
    }
}

fn parse_contacts(
    folder: FolderRef,
    tail: &[String],
    push: &mut impl FnMut(&str),
) -> Result<MailboxTarget, GraphError> {
    match tail {
        [] => Ok(MailboxTarget::Contacts(folder)),
        [d] if is(d, "delta") => {
            push("delta");
            Ok(MailboxTarget::Delta(folder))
        }
        [id] => {
            push("{id}");
            Ok(MailboxTarget::Contact { id: id.clone() })
        }
        [id, action] => {
            push("{id}");
            push(action);
            Ok(MailboxTarget::ContactAction {
                id: id.clone(),
                action: action.clone(),
            })
        }
        [_, _, other, ..] => Err(GraphError::unknown_segment(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Result<(Target, String), GraphError> {
        let segs = segments(path);
        parse(&method, &segs[1..])
    }

    #[test]
    fn nested_folder_contacts_route_to_the_last_folder_with_a_templated_key() {
        let (target, template) = route(
            Method::GET,
            "/v1.0/users/u1/contactFolders/f1/childFolders/f2/contacts/AAMk%2Fx%3D",
        )
        .unwrap_or((Target::Batch, String::new()));
        assert_eq!(
            template,
            "GET /v1.0/users/{id}/contactFolders/{id}/childFolders/{id}/contacts/{id}"
        );
        assert_eq!(
            target,
            Target::Mailbox {
                user: "u1".to_owned(),
                target: MailboxTarget::Contact {
                    id: "AAMk/x=".to_owned()
                }
            }
        );
    }

    #[test]
    fn the_odata_key_form_and_well_known_name_are_accepted() {
        let (target, template) = route(
            Method::GET,
            "/v1.0/users('a@b.c')/contactFolders('contacts')/contacts/delta",
        )
        .unwrap_or((Target::Batch, String::new()));
        assert_eq!(
            template,
            "GET /v1.0/users/{id}/contactFolders/{id}/contacts/delta"
        );
        assert_eq!(
            target,
            Target::Mailbox {
                user: "a@b.c".to_owned(),
                target: MailboxTarget::Delta(FolderRef::Chain(vec!["contacts".to_owned()]))
            }
        );
    }

    #[test]
    fn a_truncated_key_form_is_an_ordinary_segment() {
        assert_eq!(segments("/v1.0/users/a(')"), vec!["v1.0", "users", "a(')"]);
    }

    #[test]
    fn unknown_segments_answer_like_the_real_router() {
        let err = route(Method::GET, "/v1.0/users/u/contacts/x/move/y").err();
        assert!(err.is_some_and(|e| e.to_string().contains("'y'")));
        let (_, template) = route(Method::POST, "/v1.0/users/u/contacts/x/move")
            .unwrap_or((Target::Batch, String::new()));
        assert_eq!(template, "POST /v1.0/users/{id}/contacts/{id}/move");
    }
}
