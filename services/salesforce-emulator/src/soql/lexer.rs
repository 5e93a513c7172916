//! SOQL lexer: identifiers, quoted strings with SOQL escapes, numbers, unquoted date and
//! datetime literals, and operators. Positions are kept for Salesforce's caret diagrams.

use chrono::{DateTime, NaiveDate, Utc};

use super::SoqlError;
use crate::time;

/// One piece of a LIKE pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum LikePart {
    Char(char),
    /// `%`: zero or more characters.
    Many,
    /// `_`: exactly one character.
    One,
}

/// A quoted string, decoded twice: as a plain value, and as a LIKE pattern where `\%` and
/// `\_` are literal and bare `%`/`_` are wildcards.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    pub pattern: Vec<LikePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(StrLit),
    Num(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Dot,
    Colon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    /// Byte offset of the token in the query.
    pub pos: usize,
    /// The token as written, for "unexpected token" messages.
    pub text: String,
}

pub fn lex(q: &str) -> Result<Vec<Token>, SoqlError> {
    let bytes = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => single(&mut i, Tok::LParen),
            b')' => single(&mut i, Tok::RParen),
            b',' => single(&mut i, Tok::Comma),
            b'.' => single(&mut i, Tok::Dot),
            b':' => single(&mut i, Tok::Colon),
            b'=' => single(&mut i, Tok::Eq),
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Ne
            }
            b'<' if bytes.get(i + 1) == Some(&b'>') => {
                i += 2;
                Tok::Ne
            }
            b'<' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Le
            }
            b'>' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Ge
            }
            b'<' => single(&mut i, Tok::Lt),
            b'>' => single(&mut i, Tok::Gt),
            b'\'' => Tok::Str(string(q, &mut i)?),
            b'0'..=b'9' | b'-' | b'+' => number_or_date(q, &mut i)?,
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                Tok::Ident(q[start..i].to_string())
            }
            _ => {
                let ch = q[i..].chars().next().unwrap_or('?');
                return Err(SoqlError::malformed(
                    format!("unexpected token: '{ch}'"),
                    start,
                ));
            }
        };
        out.push(Token {
            tok,
            pos: start,
            text: q[start..i].to_string(),
        });
    }
    Ok(out)
}

fn single(i: &mut usize, t: Tok) -> Tok {
    *i += 1;
    t
}

/// Decodes `'...'` with the escapes of the SOQL reference: `\n \r \t \b \f \" \' \\ \uXXXX`,
/// and `\%` `\_` which only mean something inside LIKE. Any other backslash is an error.
fn string(q: &str, i: &mut usize) -> Result<StrLit, SoqlError> {
    let start = *i;
    let mut chars = q[start + 1..].char_indices();
    let mut value = String::new();
    let mut pattern = Vec::new();
    loop {
        let Some((off, c)) = chars.next() else {
            return Err(SoqlError::malformed(
                "unterminated string literal".to_string(),
                start,
            ));
        };
        match c {
            '\'' => {
                *i = start + 1 + off + 1;
                return Ok(StrLit { value, pattern });
            }
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Err(SoqlError::malformed(
                        "unterminated string literal".to_string(),
                        start,
                    ));
                };
                let decoded = match e {
                    'n' | 'N' => '\n',
                    'r' | 'R' => '\r',
                    't' | 'T' => '\t',
                    'b' | 'B' => '\u{8}',
                    'f' | 'F' => '\u{c}',
                    '"' => '"',
                    '\'' => '\'',
                    '\\' => '\\',
                    '%' | '_' => {
                        // Literal inside LIKE; elsewhere Salesforce keeps the backslash.
                        value.push('\\');
                        value.push(e);
                        pattern.push(LikePart::Char(e));
                        continue;
                    }
                    'u' => {
                        let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                        match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                            Some(ch) if hex.len() == 4 => ch,
                            _ => {
                                return Err(SoqlError::malformed(
                                    format!("Invalid unicode escape: \\u{hex}"),
                                    start,
                                ));
                            }
                        }
                    }
                    other => {
                        return Err(SoqlError::malformed(
                            format!(
                                "Invalid string literal '\\{other}'. Illegal character sequence '\\{other}' in string literal."
                            ),
                            start,
                        ));
                    }
                };
                value.push(decoded);
                pattern.push(LikePart::Char(decoded));
            }
            '%' => {
                value.push(c);
                pattern.push(LikePart::Many);
            }
            '_' => {
                value.push(c);
                pattern.push(LikePart::One);
            }
            _ => {
                value.push(c);
                pattern.push(LikePart::Char(c));
            }
        }
    }
}

/// `2024-01-31`, `2024-01-31T10:00:00Z`, `2024-01-31T10:00:00.000+02:00`, or a number.
fn number_or_date(q: &str, i: &mut usize) -> Result<Tok, SoqlError> {
    let start = *i;
    let bytes = q.as_bytes();
    let mut j = start;
    if bytes[j] == b'-' || bytes[j] == b'+' {
        j += 1;
    }
    while j < bytes.len()
        && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'-' | b':' | b'.' | b'+'))
    {
        j += 1;
    }
    let text = &q[start..j];
    *i = j;
    if text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-') {
        if text.len() == 10 {
            return time::parse_date(text).map(Tok::Date).ok_or_else(|| {
                SoqlError::malformed(
                    format!("line 1:{start} no viable alternative at character '{text}'"),
                    start,
                )
            });
        }
        // The datetime forms of the SOQL reference: an offset is mandatory.
        let has_zone =
            text.ends_with('Z') || text[10..].contains('+') || text[10..].rfind('-').is_some();
        if let Some(t) = time::parse_datetime(text).filter(|_| has_zone) {
            return Ok(Tok::DateTime(t));
        }
        return Err(SoqlError::malformed(
            format!("unexpected token: '{text}'"),
            start,
        ));
    }
    if text
        .trim_start_matches(['-', '+'])
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        && text.len() > usize::from(text.starts_with(['-', '+']))
    {
        return Ok(Tok::Num(text.to_string()));
    }
    Err(SoqlError::malformed(
        format!("unexpected token: '{text}'"),
        start,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_of(q: &str) -> StrLit {
        match lex(q).expect("lexes").remove(0).tok {
            Tok::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn escapes_decode_and_quotes_stay_inside_the_literal() {
        let s = str_of(r"'Bob\'s BBQ \\ OR 1=1'");
        assert_eq!(s.value, r"Bob's BBQ \ OR 1=1");
    }

    #[test]
    fn escaped_wildcards_are_literal_in_patterns() {
        let s = str_of(r"'50\%_off'");
        assert_eq!(
            s.pattern,
            vec![
                LikePart::Char('5'),
                LikePart::Char('0'),
                LikePart::Char('%'),
                LikePart::One,
                LikePart::Char('o'),
                LikePart::Char('f'),
                LikePart::Char('f')
            ]
        );
    }

    #[test]
    fn unknown_escapes_and_open_strings_are_errors() {
        assert!(lex(r"'a\qb'").is_err());
        assert!(lex("'open").is_err());
        assert!(lex("\"double\"").is_err());
    }

    #[test]
    fn unquoted_datetimes_lex_as_datetimes() {
        let toks = lex("SystemModstamp >= 2024-01-31T10:00:00.000+02:00").expect("lexes");
        assert!(matches!(toks[2].tok, Tok::DateTime(_)));
        let toks = lex("Birthdate = 2024-01-31").expect("lexes");
        assert!(matches!(toks[2].tok, Tok::Date(_)));
    }
}
