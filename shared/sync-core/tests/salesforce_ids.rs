//! Property tests of the Salesforce id form (B15): the 18-character form of a 15-character id
//! round-trips, is idempotent, and encodes exactly the case of the 15 characters.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use sync_core::fields::SalesforceContactFields;
use sync_core::{
    ErrorCode, ExchangeChanges, ExchangeCommand, IdError, ItemError, ReadKind, SalesforceChanges,
    SalesforceContact, SalesforceId, Settings, reconcile, salesforce_id18,
};

const SUFFIX_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// Any 15 ASCII letters and digits, as Salesforce's UI shows an id.
fn id15() -> impl Strategy<Value = String> {
    "[0-9A-Za-z]{15}"
}

proptest! {
    #[test]
    fn the_18_character_form_extends_the_15_and_gives_them_back(x in id15()) {
        let id = SalesforceId::try_from(x.as_str()).expect("15 letters and digits");
        prop_assert_eq!(id.as_str().len(), 18);
        prop_assert!(id.as_str().starts_with(&x));
        prop_assert_eq!(id.as_15(), x.as_str());
        prop_assert_eq!(salesforce_id18(&x), Ok(id.as_str().to_owned()));
    }

    #[test]
    fn converting_again_changes_nothing(x in id15()) {
        let once = salesforce_id18(&x).expect("valid");
        let twice = salesforce_id18(&once).expect("its own 18-character form is valid");
        prop_assert_eq!(&once, &twice);
        prop_assert_eq!(
            SalesforceId::try_from(x.as_str()).expect("15"),
            SalesforceId::try_from(once.as_str()).expect("18")
        );
    }

    #[test]
    fn each_suffix_character_names_the_upper_case_letters_of_its_chunk(x in id15()) {
        let id = salesforce_id18(&x).expect("valid");
        let suffix = &id.as_bytes()[15..];
        for (chunk, &c) in x.as_bytes().chunks(5).zip(suffix) {
            let mask = SUFFIX_ALPHABET.iter().position(|&a| a == c).expect("suffix alphabet");
            for (i, b) in chunk.iter().enumerate() {
                prop_assert_eq!(mask & (1 << i) != 0, b.is_ascii_uppercase(), "{} in {}", i, id);
            }
        }
    }

    #[test]
    fn the_suffix_is_read_in_either_case_and_kept_upper(x in id15()) {
        let id = salesforce_id18(&x).expect("valid");
        let lower = format!("{x}{}", id[15..].to_ascii_lowercase());
        prop_assert_eq!(salesforce_id18(&lower), Ok(id));
    }

    #[test]
    fn a_letter_of_another_case_is_another_record_and_breaks_the_old_suffix(
        x in id15(),
        at in 0usize..15,
    ) {
        let byte = x.as_bytes()[at];
        prop_assume!(byte.is_ascii_alphabetic());
        let mut flipped = x.clone().into_bytes();
        flipped[at] = if byte.is_ascii_uppercase() {
            byte.to_ascii_lowercase()
        } else {
            byte.to_ascii_uppercase()
        };
        let flipped = String::from_utf8(flipped).expect("ascii");
        let id = salesforce_id18(&x).expect("valid");
        prop_assert_ne!(salesforce_id18(&flipped).expect("valid"), id.clone());
        let forged = format!("{flipped}{}", &id[15..]);
        let is_checksum_error = matches!(salesforce_id18(&forged), Err(IdError::Checksum { .. }));
        prop_assert!(is_checksum_error);
    }

    #[test]
    fn other_lengths_are_refused(x in "[0-9A-Za-z]{0,40}") {
        prop_assume!(x.len() != 15 && x.len() != 18);
        prop_assert!(SalesforceId::try_from(x.as_str()).is_err());
    }

    #[test]
    fn characters_outside_letters_and_digits_are_refused(
        x in id15(),
        at in 0usize..15,
        bad in "[^0-9A-Za-z]",
    ) {
        let mut s: Vec<char> = x.chars().collect();
        s[at] = bad.chars().next().expect("one char");
        let s: String = s.into_iter().collect();
        let is_character_error = matches!(
            SalesforceId::try_from(s.as_str()),
            Err(IdError::Character { .. } | IdError::Length { .. })
        );
        prop_assert!(is_character_error);
    }
}

fn contact_owned_by(id: &str, owner: &str) -> SalesforceContact {
    SalesforceContact {
        id: id.parse().expect("contact id"),
        owner_id: Some(owner.parse().expect("owner id")),
        sync_key: None,
        fields: SalesforceContactFields {
            last_name: Some("Lovelace".into()),
            ..SalesforceContactFields::default()
        },
    }
}

fn nothing_in_the_mailbox() -> ExchangeChanges {
    ExchangeChanges {
        kind: ReadKind::Incremental,
        items: Vec::new(),
        removed: Vec::new(),
        folder_lost: false,
    }
}

#[test]
fn b15_scope_mine_takes_the_contacts_of_a_user_registered_by_the_15_character_id() {
    // Registered as Salesforce shows the id in its URLs; the API returns OwnerId in 18.
    let settings = Settings::new("005xx000001SvbQ".parse().expect("15-character user id"));
    let salesforce = SalesforceChanges {
        kind: ReadKind::Complete,
        contacts: vec![contact_owned_by("003xx000004TmiQ", "005xx000001SvbQAAS")],
        deleted: Vec::new(),
        out_of_scope: Vec::new(),
        errors: Vec::new(),
    };
    let now = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let d = reconcile(&[], &nothing_in_the_mailbox(), &salesforce, &settings, now);
    assert!(
        matches!(d.exchange.as_slice(), [ExchangeCommand::Create { .. }]),
        "the user's Contact gets its mirror: {d:#?}"
    );
}

#[test]
fn b15_records_a_read_could_not_take_are_the_sessions_per_item_errors() {
    let settings = Settings::new("005xx000001SvbQAAS".parse().expect("user id"));
    let unreadable = ItemError {
        item: "Ada Lovelace".into(),
        code: ErrorCode::MalformedId,
        field: Some("OwnerId".into()),
        message: "not a Salesforce id".into(),
        sync_key: None,
        graph_id: None,
        salesforce_id: None,
    };
    let salesforce = SalesforceChanges {
        kind: ReadKind::Incremental,
        contacts: Vec::new(),
        deleted: Vec::new(),
        out_of_scope: Vec::new(),
        errors: vec![unreadable.clone()],
    };
    let now = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let d = reconcile(&[], &nothing_in_the_mailbox(), &salesforce, &settings, now);
    assert_eq!(d.errors, vec![unreadable]);
    assert!(d.has_no_writes());
}
