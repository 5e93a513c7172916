//! The mapping's promises: fields written into a person read back unchanged (from any starting
//! person, and through JSON), a second apply changes nothing, and what the mapping does not own
//! survives an update.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::json;
use sync_core::contact::Contact;
use sync_core::fields::{GraphAddress, GraphContactFields, GraphEmailAddress};
use sync_core::mapping::{ExchangeExtras, canonical_to_graph, graph_to_canonical};

use super::*;

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 .'-]{0,11}"
}

fn opt() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(word())
}

fn address() -> impl Strategy<Value = GraphAddress> {
    (opt(), opt(), opt(), opt(), opt()).prop_map(|(street, city, state, postal_code, country)| {
        GraphAddress {
            street,
            city,
            state,
            postal_code,
            country_or_region: country,
        }
    })
}

fn email() -> impl Strategy<Value = GraphEmailAddress> {
    ("[a-z]{1,8}@[a-z]{1,6}\\.com", opt()).prop_map(|(address, name)| GraphEmailAddress {
        address: Some(address),
        name,
    })
}

fn birthday() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        (1900i32..2030, 1u32..13, 1u32..29)
            .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}T11:59:00Z")),
    )
}

/// Fields as Graph reads them: lists and addresses present, strings absent or non-empty.
fn fields() -> impl Strategy<Value = GraphContactFields> {
    let names = (opt(), opt(), opt(), opt());
    let org = (opt(), opt(), opt());
    let lists = (
        proptest::collection::vec(email(), 0..4),
        proptest::collection::vec(word(), 0..3),
        opt(),
        proptest::collection::vec(word(), 0..3),
    );
    let rest = (opt(), birthday(), address(), address(), opt());
    (names, org, lists, rest).prop_map(
        |(
            (given_name, surname, display_name, title),
            (job_title, department, company_name),
            (emails, business, mobile_phone, home),
            (assistant_name, birthday, business_address, home_address, personal_notes),
        )| GraphContactFields {
            given_name,
            surname,
            display_name,
            title,
            job_title,
            department,
            company_name,
            email_addresses: Some(emails),
            business_phones: Some(business),
            mobile_phone,
            home_phones: Some(home),
            assistant_name,
            birthday,
            business_address: Some(business_address),
            home_address: Some(home_address),
            personal_notes,
        },
    )
}

proptest! {
    #[test]
    fn fields_applied_to_any_person_read_back_unchanged(before in fields(), after in fields()) {
        let mut person = Person::default();
        apply_graph_fields(&before, &mut person);
        prop_assert_eq!(&graph_fields(&person), &before);
        let mask = apply_graph_fields(&after, &mut person);
        prop_assert_eq!(&graph_fields(&person), &after);
        prop_assert_eq!(mask.is_empty(), before == after);
        // Through the wire format too: nothing the mapping relies on is lost in JSON.
        let wire: Person = serde_json::from_value(serde_json::to_value(&person).unwrap()).unwrap();
        prop_assert_eq!(&graph_fields(&wire), &after);
        prop_assert!(apply_graph_fields(&after, &mut person).is_empty());
    }

    #[test]
    fn a_canonical_contact_mirrors_through_a_person(
        first in opt(), last in opt(), email in proptest::option::of("[a-z]{1,8}@x\\.com"),
        phone in opt(), city in opt(), notes in opt(), birthday in proptest::option::of(
            (1900i32..2030, 1u32..13, 1u32..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))),
    ) {
        let contact = Contact {
            first_name: first,
            last_name: last,
            email,
            phone,
            mailing_city: city,
            description: notes,
            birthdate: birthday,
            ..Contact::default()
        };
        let graph = canonical_to_graph(&contact, &ExchangeExtras::default());
        let mut person = Person::default();
        apply_graph_fields(&graph, &mut person);
        prop_assert_eq!(&graph_fields(&person), &graph);
        prop_assert_eq!(graph_to_canonical(&graph_fields(&person)), graph_to_canonical(&graph));
    }
}

/// A contact as Google returns it, with data the mapping does not own.
fn rich_person() -> Person {
    serde_json::from_value(json!({
        "resourceName": "people/c1", "etag": "%E1",
        "names": [{"metadata": {"primary": true}, "displayName": "Ada Lovelace",
            "givenName": "Ada", "familyName": "Lovelace", "middleName": "Augusta"}],
        "emailAddresses": [
            {"value": "ada@work.com", "type": "work"},
            {"value": "ada@home.com", "type": "home", "displayName": "Ada"},
            {"value": "countess@old.com", "type": "other"}],
        "phoneNumbers": [
            {"value": "+44 1", "type": "work", "formattedType": "Work"},
            {"value": "+44 9", "type": "workFax"},
            {"value": "+44 2", "type": "mobile"},
            {"value": "+44 3", "type": "mobile"},
            {"value": "+44 4", "type": "home"}],
        "organizations": [{"name": "Analytical Engines", "title": "Programmer"},
            {"name": "Royal Society", "type": "other"}],
        "addresses": [{"streetAddress": "1 St James's Sq", "city": "London", "type": "work",
            "formattedValue": "1 St James's Sq, London"},
            {"city": "Ockham", "type": "other"}],
        "relations": [{"person": "Charles", "type": "manager"}],
        "birthdays": [{"date": {"year": 1815, "month": 12, "day": 10}}],
        "userDefined": [{"key": "Shoe size", "value": "38"}],
        "clientData": [{"key": "otherApp", "value": "x"}],
        "memberships": [{"contactGroupMembership": {"contactGroupResourceName": "contactGroups/myContacts"}}]
    }))
    .unwrap()
}

#[test]
fn the_person_reads_in_graphs_shape() {
    let fields = graph_fields(&rich_person());
    assert_eq!(fields.given_name.as_deref(), Some("Ada"));
    assert_eq!(fields.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(fields.company_name.as_deref(), Some("Analytical Engines"));
    assert_eq!(fields.job_title.as_deref(), Some("Programmer"));
    assert_eq!(fields.email_addresses.as_ref().unwrap().len(), 3);
    assert_eq!(fields.business_phones, Some(vec!["+44 1".to_owned()]));
    assert_eq!(fields.mobile_phone.as_deref(), Some("+44 2"));
    assert_eq!(fields.home_phones, Some(vec!["+44 4".to_owned()]));
    assert_eq!(fields.birthday.as_deref(), Some("1815-12-10T11:59:00Z"));
    assert_eq!(
        fields.business_address.as_ref().unwrap().city.as_deref(),
        Some("London")
    );
    assert_eq!(fields.home_address, Some(GraphAddress::default()));
    assert_eq!(fields.assistant_name, None);
}

#[test]
fn an_update_keeps_what_the_mapping_does_not_own() {
    let mut person = rich_person();
    let mut fields = graph_fields(&person);
    fields.given_name = Some("Augusta Ada".into());
    fields.business_phones = Some(vec!["+44 100".into()]);
    fields.mobile_phone = None;
    fields.assistant_name = Some("Mary".into());
    fields.business_address.as_mut().unwrap().city = Some("Marylebone".into());
    let mask = apply_graph_fields(&fields, &mut person);
    assert_eq!(mask.to_string(), "addresses,names,phoneNumbers,relations");

    // The name keeps its middle name and item metadata.
    assert_eq!(person.names[0].middle_name.as_deref(), Some("Augusta"));
    assert!(person.names[0].extra.contains_key("metadata"));
    // The third email, the fax, the second mobile stay; the work phone keeps its place.
    assert_eq!(
        person.email_addresses[2].value.as_deref(),
        Some("countess@old.com")
    );
    let phones: Vec<(&str, &str)> = person
        .phone_numbers
        .iter()
        .map(|p| (p.value.as_deref().unwrap(), p.kind.as_deref().unwrap()))
        .collect();
    assert_eq!(
        phones,
        [
            ("+44 100", "work"),
            ("+44 9", "workFax"),
            ("+44 3", "mobile"),
            ("+44 4", "home")
        ]
    );
    // The manager stays beside the new assistant; the other address and organization stay.
    assert_eq!(person.relations.len(), 2);
    assert_eq!(person.addresses[1].city.as_deref(), Some("Ockham"));
    assert_eq!(person.addresses[0].formatted_value, None);
    assert_eq!(
        person.organizations[1].name.as_deref(),
        Some("Royal Society")
    );
    // Untouched fields, in or out of the mask.
    assert_eq!(person.user_defined[0].key, "Shoe size");
    assert_eq!(person.client_data[0].key, "otherApp");
    assert_eq!(
        person.birthdays[0].date,
        Some(Date {
            year: 1815,
            month: 12,
            day: 10
        })
    );
    assert!(in_group(&person, "contactGroups/myContacts"));
    // What was written reads back.
    let mut expected = fields;
    expected.mobile_phone = Some("+44 3".into());
    assert_eq!(graph_fields(&person), expected);
}

#[test]
fn unchanged_fields_give_an_empty_mask() {
    let mut person = rich_person();
    let before = person.clone();
    assert!(apply_graph_fields(&graph_fields(&person), &mut person).is_empty());
    assert_eq!(person, before);
}

#[test]
fn a_birthday_without_a_year_reads_as_none_and_survives() {
    let mut person: Person =
        serde_json::from_value(json!({"birthdays": [{"date": {"month": 12, "day": 10}}]})).unwrap();
    let fields = graph_fields(&person);
    assert_eq!(fields.birthday, None);
    assert!(apply_graph_fields(&fields, &mut person).is_empty());
    assert_eq!(person.birthdays.len(), 1);
}

#[test]
fn a_birthday_that_is_no_date_is_kept_as_text() {
    let mut person = Person::default();
    let fields = GraphContactFields {
        birthday: Some("around 1815".into()),
        ..GraphContactFields::default()
    };
    assert!(apply_graph_fields(&fields, &mut person).contains(UpdateMask::BIRTHDAYS));
    assert_eq!(person.birthdays[0].text.as_deref(), Some("around 1815"));
    assert_eq!(
        graph_fields(&person).birthday.as_deref(),
        Some("around 1815")
    );
    let plain = GraphContactFields {
        birthday: Some("1990-02-03".into()),
        ..GraphContactFields::default()
    };
    apply_graph_fields(&plain, &mut person);
    assert_eq!(
        person.birthdays[0].date,
        Some(Date {
            year: 1990,
            month: 2,
            day: 3
        })
    );
    assert_eq!(
        graph_fields(&person).birthday.as_deref(),
        Some("1990-02-03T11:59:00Z")
    );
}

#[test]
fn cleared_fields_remove_their_entries() {
    let mut person = rich_person();
    let cleared = GraphContactFields {
        email_addresses: Some(Vec::new()),
        ..GraphContactFields::default()
    };
    let mask = apply_graph_fields(&cleared, &mut person);
    for field in [
        "names",
        "emailAddresses",
        "phoneNumbers",
        "organizations",
        "addresses",
        "birthdays",
    ] {
        assert!(mask.contains(field), "{field} in {mask}");
    }
    // The middle name keeps a names entry; the unowned phone, org and address stay.
    assert_eq!(person.names.len(), 1);
    assert!(person.email_addresses.is_empty());
    assert_eq!(person.phone_numbers.len(), 2, "{:?}", person.phone_numbers);
    assert_eq!(person.organizations.len(), 1);
    assert_eq!(person.addresses.len(), 1);
    assert!(person.birthdays.is_empty());
}

#[test]
fn the_sync_key_is_stamped_once_beside_other_apps_data() {
    let mut person = rich_person();
    assert_eq!(sync_key(&person), None);
    assert!(set_sync_key(&mut person, "k-1"));
    assert!(!set_sync_key(&mut person, "k-1"));
    assert!(set_sync_key(&mut person, "k-2"));
    assert_eq!(sync_key(&person), Some("k-2"));
    assert_eq!(person.client_data.len(), 2);
    let wire = serde_json::to_value(&person).unwrap();
    assert_eq!(
        wire["clientData"][1],
        json!({"key": SYNC_KEY, "value": "k-2"})
    );
}

#[test]
fn group_membership_is_read_and_added_by_name_or_id() {
    let mut person = rich_person();
    assert!(in_group(&person, "myContacts"));
    assert!(!in_group(&person, "contactGroups/abc"));
    assert!(join_group(&mut person, "abc"));
    assert!(!join_group(&mut person, "contactGroups/abc"));
    assert!(in_group(&person, "contactGroups/abc"));
}
