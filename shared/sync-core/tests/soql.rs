//! Fuzzing the B14 account query: no company name can change the query's structure. A small SOQL
//! tokenizer (written from the SOQL reference's quoting rules, independent of the escaper) must
//! find the fixed template with exactly two string literals that decode back to the company.

use proptest::prelude::*;
use sync_core::account::account_lookup_soql;
use sync_core::contact::normalize_text;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Punct(char),
    /// A string literal, decoded: each element a literal char or (for LIKE) an unescaped wildcard.
    Str(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Char(char),
    Wildcard(char),
}

/// Tokenizes SOQL; `Err` for anything a real parser would reject (unterminated literal, a
/// backslash escape the reference does not list, a stray character).
fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {}
            ',' | '=' => out.push(Token::Punct(c)),
            '\'' => {
                // Wildcards and their escapes exist only in a LIKE pattern.
                let like = out.last() == Some(&Token::Word("LIKE".to_owned()));
                let mut pieces = Vec::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated literal".into()),
                        Some('\'') => break,
                        Some('\\') => {
                            let escaped = chars.next().ok_or("dangling backslash")?;
                            let piece = match escaped {
                                'n' | 'N' => Piece::Char('\n'),
                                'r' | 'R' => Piece::Char('\r'),
                                't' | 'T' => Piece::Char('\t'),
                                'b' | 'B' => Piece::Char('\u{8}'),
                                'f' | 'F' => Piece::Char('\u{c}'),
                                '"' | '\'' | '\\' => Piece::Char(escaped),
                                // LIKE-only escapes: a literal wildcard character.
                                '%' | '_' if like => Piece::Char(escaped),
                                'u' => {
                                    let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                                    let code = u32::from_str_radix(&hex, 16)
                                        .map_err(|_| format!("bad \\u{hex}"))?;
                                    Piece::Char(char::from_u32(code).ok_or("bad code point")?)
                                }
                                other => return Err(format!("invalid escape \\{other}")),
                            };
                            pieces.push(piece);
                        }
                        Some(w @ ('%' | '_')) if like => pieces.push(Piece::Wildcard(w)),
                        Some(other) => pieces.push(Piece::Char(other)),
                    }
                }
                out.push(Token::Str(pieces));
            }
            c if c.is_ascii_alphanumeric() || c == '.' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '.' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("stray character {other:?}")),
        }
    }
    Ok(out)
}

fn template() -> Vec<Option<Token>> {
    let w = |s: &str| Some(Token::Word(s.to_owned()));
    let p = |c: char| Some(Token::Punct(c));
    vec![
        w("SELECT"),
        w("Id"),
        p(','),
        w("Name"),
        p(','),
        w("CreatedDate"),
        w("FROM"),
        w("Account"),
        w("WHERE"),
        w("Name"),
        p('='),
        None,
        w("OR"),
        w("Name"),
        w("LIKE"),
        None,
        w("ORDER"),
        w("BY"),
        w("CreatedDate"),
        w("ASC"),
        p(','),
        w("Id"),
        w("ASC"),
    ]
}

fn check(company: &str) -> Result<(), TestCaseError> {
    let expected = normalize_text(Some(company)).filter(|c| c.chars().count() <= 255);
    let query = account_lookup_soql(company);
    let (Some(expected), Some(query)) = (expected.clone(), query.clone()) else {
        prop_assert_eq!(
            expected.is_none(),
            query.is_none(),
            "query iff a company: {:?}",
            query
        );
        return Ok(());
    };
    let tokens = tokenize(&query).map_err(|e| TestCaseError::fail(format!("{e} in {query:?}")))?;
    let shape = template();
    prop_assert_eq!(tokens.len(), shape.len(), "structure changed: {:?}", query);
    let mut literals = Vec::new();
    for (token, slot) in tokens.iter().zip(&shape) {
        match slot {
            Some(fixed) => prop_assert_eq!(token, fixed, "structure changed: {:?}", query),
            None => literals.push(token.clone()),
        }
    }
    let chars: Vec<Piece> = expected.chars().map(Piece::Char).collect();
    // `Name = '…'`: every character literal; a LIKE escape there would fail to tokenize.
    prop_assert_eq!(&literals[0], &Token::Str(chars.clone()));
    // `Name LIKE '%…%'`: wildcards only at the ends.
    let mut like = vec![Piece::Wildcard('%')];
    like.extend(chars);
    like.push(Piece::Wildcard('%'));
    prop_assert_eq!(&literals[1], &Token::Str(like));
    Ok(())
}

fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\'', '"', '\\', '%', '_', '\n', '\r', '\t', '\u{0}', '\u{8}', '\u{c}', '\u{1b}',
            '\u{7f}', '\u{85}', '\u{2028}', ' ', 'a', 'Z', '9', '(', ')', ',', '=', 'é', '😀',
        ]),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn no_company_name_changes_the_query_structure(
        company in prop::collection::vec(nasty_char(), 0..40).prop_map(|v| v.into_iter().collect::<String>())
    ) {
        check(&company)?;
    }

    #[test]
    fn arbitrary_strings_stay_one_literal(company in any::<String>()) {
        check(&company)?;
    }
}

#[test]
fn injection_attempts_stay_literals() {
    for company in [
        "x' OR Name != '",
        "x\\' OR Name != \\'",
        "%' OR Id != null OR Name LIKE '%",
        "Acme\n) OR (Name = 'y",
        "100% _real_ \\ Co",
        "'",
        "\\",
    ] {
        check(company).unwrap_or_else(|e| panic!("{company:?}: {e}"));
    }
}
