//! The OData query options contacts support: `$filter` (the two lambda forms Outlook accepts
//! on contacts, and `displayName eq` on folders), `$expand` of extended properties, and paging.

use crate::errors::GraphError;
use crate::wire::ApiRequest;

/// A `$filter` the emulator evaluates through an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `singleValueExtendedProperties/Any(ep: ep/id eq 'X' and ep/value eq 'Y')`
    Extended { id: String, value: String },
    /// `emailAddresses/any(a:a/address eq 'x')`
    Email(String),
    /// `categories/any(c:c eq 'x')`
    Category(String),
    /// `displayName eq 'x'` (folders)
    DisplayName(String),
}

fn invalid_filter() -> GraphError {
    GraphError::bad_request(
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )
}

/// Splits an OData expression into its string literals and a skeleton in which each literal is
/// `?`, lower-cased and without whitespace, so structure can be compared whatever the spacing.
fn skeleton(expr: &str) -> Result<(String, Vec<String>), GraphError> {
    let mut shape = String::new();
    let mut literals = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            let mut literal = String::new();
            loop {
                match chars.next() {
                    // '' inside a literal is an escaped quote.
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push('\'');
                    }
                    Some('\'') => break,
                    Some(other) => literal.push(other),
                    None => return Err(invalid_filter()),
                }
            }
            literals.push(literal);
            shape.push('?');
        } else if !c.is_whitespace() {
            shape.extend(c.to_lowercase());
        }
    }
    Ok((shape, literals))
}

pub fn parse_filter(raw: &str) -> Result<Filter, GraphError> {
    let (shape, literals) = skeleton(raw)?;
    if let Some(inner) = shape
        .strip_prefix("singlevalueextendedproperties/any(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (var, body) = inner.split_once(':').ok_or_else(invalid_filter)?;
        if body == format!("{var}/ideq?and{var}/valueeq?") && literals.len() == 2 {
            return Ok(Filter::Extended {
                id: literals[0].clone(),
                value: literals[1].clone(),
            });
        }
        if body == format!("{var}/valueeq?and{var}/ideq?") && literals.len() == 2 {
            return Ok(Filter::Extended {
                id: literals[1].clone(),
                value: literals[0].clone(),
            });
        }
        return Err(invalid_filter());
    }
    if let Some(inner) = shape
        .strip_prefix("emailaddresses/any(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (var, body) = inner.split_once(':').ok_or_else(invalid_filter)?;
        if body == format!("{var}/addresseq?") && literals.len() == 1 {
            return Ok(Filter::Email(literals[0].clone()));
        }
        return Err(invalid_filter());
    }
    if let Some(inner) = shape
        .strip_prefix("categories/any(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let (var, body) = inner.split_once(':').ok_or_else(invalid_filter)?;
        if body == format!("{var}eq?") && literals.len() == 1 {
            return Ok(Filter::Category(literals[0].clone()));
        }
        return Err(invalid_filter());
    }
    if shape == "displaynameeq?" && literals.len() == 1 {
        return Ok(Filter::DisplayName(literals[0].clone()));
    }
    Err(invalid_filter())
}

/// The extended property ids named by `$expand=singleValueExtendedProperties($filter=id eq '…')`.
/// None when `$expand` is absent.
pub fn parse_expand(raw: Option<&str>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(raw) = raw else { return Ok(None) };
    let unsupported = || {
        GraphError::bad_request(
            "ErrorInvalidUrlQuery",
            format!(
                "The $expand option '{raw}' is not supported; expand singleValueExtendedProperties with a $filter on id."
            ),
        )
    };
    let (shape, literals) = skeleton(raw)?;
    let inner = shape
        .strip_prefix("singlevalueextendedproperties($filter=")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(unsupported)?;
    // `id eq 'a'` or `id eq 'a' or id eq 'b' …`
    let expected = vec!["ideq?"; literals.len()].join("or");
    if literals.is_empty() || inner != expected {
        return Err(unsupported());
    }
    Ok(Some(literals))
}

/// `$orderby=name [asc|desc], …` over the contact's sortable scalar properties.
pub fn parse_orderby(raw: Option<&str>) -> Result<Option<Vec<(String, bool)>>, GraphError> {
    let Some(raw) = raw else { return Ok(None) };
    let mut keys = Vec::new();
    for clause in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut words = clause.split_whitespace();
        let property = words.next().unwrap_or_default();
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    format!("Invalid $orderby direction '{other}'."),
                ));
            }
        };
        if !crate::model::is_sortable(property) {
            return Err(GraphError::bad_request(
                "BadRequest",
                format!("The property '{property}' cannot be used in $orderby."),
            ));
        }
        keys.push((property.to_owned(), descending));
    }
    Ok(Some(keys))
}

/// `$top`, capped at the configured maximum; `default` when absent.
pub fn top(req: &ApiRequest, default: usize, max: usize) -> Result<usize, GraphError> {
    match req.query_param("$top") {
        None => Ok(default.min(max).max(1)),
        Some(raw) => raw
            .parse::<usize>()
            .map(|n| n.min(max).max(1))
            .map_err(|_| {
                GraphError::bad_request("BadRequest", format!("Invalid $top value '{raw}'."))
            }),
    }
}

pub fn skip(req: &ApiRequest) -> Result<usize, GraphError> {
    match req.query_param("$skip") {
        None => Ok(0),
        Some(raw) => raw.parse::<usize>().map_err(|_| {
            GraphError::bad_request("BadRequest", format!("Invalid $skip value '{raw}'."))
        }),
    }
}

/// The `@odata.nextLink` of a `$skip`-paged list: the same URL with `$skip` advanced.
pub fn next_skip_link(req: &ApiRequest, next_skip: usize) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &req.query {
        if !k.eq_ignore_ascii_case("$skip") {
            serializer.append_pair(k, v);
        }
    }
    serializer.append_pair("$skip", &next_skip.to_string());
    format!("{}{}?{}", req.base_url, req.path, serializer.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_extended_property_filter_parses_whatever_the_spacing() {
        let f = parse_filter(
            "singleValueExtendedProperties/Any(ep: ep/id eq 'String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SalesforceId' and ep/value eq '003ABC')",
        );
        assert_eq!(
            f.ok(),
            Some(Filter::Extended {
                id: "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SalesforceId".to_owned(),
                value: "003ABC".to_owned()
            })
        );
        let g = parse_filter(
            "singlevalueextendedproperties/any(x:x/id eq 'a' and x/value eq 'O''Brien')",
        );
        assert_eq!(
            g.ok(),
            Some(Filter::Extended {
                id: "a".to_owned(),
                value: "O'Brien".to_owned()
            })
        );
    }

    #[test]
    fn the_email_filter_parses_and_other_operators_do_not() {
        assert_eq!(
            parse_filter("emailAddresses/any(a:a/address eq 'garth@contoso.com')").ok(),
            Some(Filter::Email("garth@contoso.com".to_owned()))
        );
        assert_eq!(
            parse_filter("categories/any(c:c eq 'Sales''force')").ok(),
            Some(Filter::Category("Sales'force".to_owned()))
        );
        assert!(parse_filter("startswith(displayName,'a')").is_err());
        assert!(parse_filter("emailAddresses/any(a:a/name eq 'x')").is_err());
    }

    #[test]
    fn expand_needs_a_filter_on_id() {
        assert_eq!(
            parse_expand(Some(
                "singleValueExtendedProperties($filter=id eq 'String {x} Name A')"
            ))
            .ok(),
            Some(Some(vec!["String {x} Name A".to_owned()]))
        );
        assert!(parse_expand(Some("singleValueExtendedProperties")).is_err());
        assert!(parse_expand(Some("extensions")).is_err());
    }
}
