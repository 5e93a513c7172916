//! Property tests: any string, escaped by the SOQL rules, matches exactly itself with `=`
//! and with `LIKE` (wildcards escaped), so no input can widen a query (SPEC B14).

use chrono::Utc;
use proptest::prelude::*;
use salesforce_emulator::schema::ObjectType;
use salesforce_emulator::soql::{eval, parser};
use salesforce_emulator::store::{Actor, Org};
use salesforce_emulator::value::Value;

/// Quoted-string escaping of the SOQL reference: backslash and quote, plus control chars.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// Additionally escapes LIKE wildcards.
fn escape_like(s: &str) -> String {
    escape(s).replace('%', "\\%").replace('_', "\\_")
}

fn org_with_names(names: &[String]) -> Org {
    let mut org = Org::new("Dn", 1);
    let d = ObjectType::Account.def();
    let actor = Actor {
        user_id: "005Dn0000000000AAA".to_string(),
    };
    for n in names {
        org.apply_create(
            ObjectType::Account,
            vec![(d.must("Name"), Value::text(n.as_str()))],
            &actor,
            Utc::now(),
        );
    }
    org
}

fn count(org: &Org, q: &str) -> Result<usize, String> {
    let parsed = parser::parse(q, Utc::now()).map_err(|e| format!("{e} in {q:?}"))?;
    Ok(eval::run(org, &parsed, "005Dn0000000000AAA", false)
        .rows
        .len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn an_escaped_value_matches_only_itself(name in "[ -~äöüß%_'\\\\\n]{1,24}", other in "[a-z]{1,8}") {
        prop_assume!(name.to_lowercase() != other.to_lowercase() && !name.trim().is_empty());
        let names = [name.clone(), other.clone(), format!("{name}x"), "decoy".to_string()];
        let org = org_with_names(&names);
        let containing = names.iter().filter(|n| n.to_lowercase().contains(&name.to_lowercase())).count();
        let eq = format!("SELECT Id FROM Account WHERE Name = '{}'", escape(&name));
        prop_assert_eq!(count(&org, &eq), Ok(1));
        let like = format!("SELECT Id FROM Account WHERE Name LIKE '{}'", escape_like(&name));
        prop_assert_eq!(count(&org, &like), Ok(1));
        let contains = format!("SELECT Id FROM Account WHERE Name LIKE '%{}%'", escape_like(&name));
        prop_assert_eq!(count(&org, &contains), Ok(containing));
    }
}
