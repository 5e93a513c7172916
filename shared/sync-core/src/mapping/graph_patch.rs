//! The Graph PATCH body for changed mapped fields, and how Graph applies one (collections replaced
//! wholesale, a display name regenerated when the name parts change without one).

use serde::{Deserialize, Serialize};

use super::{
    BUSINESS_ADDRESS, ExchangeExtras, HOME_ADDRESS, canonical_to_graph, generated_display_name,
    graph_address, graph_emails, with_tail,
};
use crate::contact::{Contact, Field};
use crate::fields::{GraphAddress, GraphContactFields, GraphEmailAddress};

/// A Graph address in a PATCH: every part written, `null` clearing it, because Graph replaces a
/// complex property as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphAddressPatch {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country_or_region: Option<String>,
}

impl From<GraphAddress> for GraphAddressPatch {
    fn from(a: GraphAddress) -> Self {
        GraphAddressPatch {
            street: a.street,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country_or_region: a.country_or_region,
        }
    }
}

/// A Graph contact PATCH body for changed properties only: an absent property is left alone,
/// `Some(None)` sends `null`. Collections (emails, phones) are whole arrays, because Graph
/// replaces collections wholesale; they carry the extras so nothing mailbox-only is lost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GraphPatch {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub given_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub surname: Option<Option<String>>,
    /// Sent only to keep a hand-set display name when the name parts change.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub display_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub title: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub job_title: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub department: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub company_name: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_addresses: Option<Vec<GraphEmailAddress>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub mobile_phone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phones: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub assistant_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub birthday: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_address: Option<GraphAddressPatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_address: Option<GraphAddressPatch>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::fields::double_option"
    )]
    pub personal_notes: Option<Option<String>>,
}

impl GraphPatch {
    pub fn is_empty(&self) -> bool {
        *self == GraphPatch::default()
    }

    /// Applies this patch to a Graph record the way Graph does (used by tests and models).
    pub fn apply_to(&self, g: &mut GraphContactFields) {
        fn put(slot: &mut Option<String>, value: &Option<Option<String>>) {
            if let Some(v) = value {
                *slot = v.clone();
            }
        }
        let name_changed = self.given_name.is_some() || self.surname.is_some();
        put(&mut g.given_name, &self.given_name);
        put(&mut g.surname, &self.surname);
        put(&mut g.title, &self.title);
        put(&mut g.job_title, &self.job_title);
        put(&mut g.department, &self.department);
        put(&mut g.company_name, &self.company_name);
        put(&mut g.mobile_phone, &self.mobile_phone);
        put(&mut g.assistant_name, &self.assistant_name);
        put(&mut g.birthday, &self.birthday);
        put(&mut g.personal_notes, &self.personal_notes);
        if let Some(v) = &self.email_addresses {
            g.email_addresses = Some(v.clone());
        }
        if let Some(v) = &self.business_phones {
            g.business_phones = Some(v.clone());
        }
        if let Some(v) = &self.home_phones {
            g.home_phones = Some(v.clone());
        }
        let address = |p: &GraphAddressPatch| GraphAddress {
            street: p.street.clone(),
            city: p.city.clone(),
            state: p.state.clone(),
            postal_code: p.postal_code.clone(),
            country_or_region: p.country_or_region.clone(),
        };
        if let Some(p) = &self.business_address {
            g.business_address = Some(address(p));
        }
        if let Some(p) = &self.home_address {
            g.home_address = Some(address(p));
        }
        match &self.display_name {
            Some(v) => g.display_name = v.clone(),
            // Graph regenerates the display name when the name parts change without one.
            None if name_changed => {
                g.display_name =
                    generated_display_name(g.given_name.as_deref(), g.surname.as_deref());
            }
            None => {}
        }
    }
}

/// The PATCH that takes a mailbox item from `current` to `target` (both canonical), rebuilding
/// collection properties from `extras`. Empty when nothing mapped differs.
pub fn graph_patch(current: &Contact, target: &Contact, extras: &ExchangeExtras) -> GraphPatch {
    if current == target {
        return GraphPatch::default();
    }
    let full = canonical_to_graph(target, extras);
    let changed = |f: Field| current.get(f) != target.get(f);
    let scalar = |f: Field, value: &Option<String>| changed(f).then(|| value.clone());
    let mut patch = GraphPatch {
        given_name: scalar(Field::FirstName, &full.given_name),
        surname: scalar(Field::LastName, &full.surname),
        display_name: None,
        title: scalar(Field::Salutation, &full.title),
        job_title: scalar(Field::Title, &full.job_title),
        department: scalar(Field::Department, &full.department),
        company_name: scalar(Field::Company, &full.company_name),
        email_addresses: changed(Field::Email).then(|| graph_emails(target, extras)),
        business_phones: changed(Field::Phone)
            .then(|| with_tail(target.phone.as_deref(), &extras.other_business_phones)),
        mobile_phone: scalar(Field::MobilePhone, &full.mobile_phone),
        home_phones: changed(Field::HomePhone)
            .then(|| with_tail(target.home_phone.as_deref(), &extras.other_home_phones)),
        assistant_name: scalar(Field::AssistantName, &full.assistant_name),
        birthday: scalar(Field::Birthdate, &full.birthday),
        business_address: BUSINESS_ADDRESS
            .into_iter()
            .any(changed)
            .then(|| graph_address(target, BUSINESS_ADDRESS).into()),
        home_address: HOME_ADDRESS
            .into_iter()
            .any(changed)
            .then(|| graph_address(target, HOME_ADDRESS).into()),
        personal_notes: scalar(Field::Description, &full.personal_notes),
    };
    if (patch.given_name.is_some() || patch.surname.is_some())
        && extras.custom_display_name.is_some()
    {
        patch.display_name = Some(extras.custom_display_name.clone());
    }
    patch
}
