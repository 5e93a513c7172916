//! The org's object model: Contact, Account and User with the field types, lengths and
//! properties of the Salesforce Object Reference (contract §8).

/// The sObject types this org knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectType {
    Contact,
    Account,
    User,
}

impl ObjectType {
    pub const ALL: [ObjectType; 3] = [ObjectType::Contact, ObjectType::Account, ObjectType::User];

    pub fn def(self) -> &'static ObjectDef {
        match self {
            ObjectType::Contact => &CONTACT,
            ObjectType::Account => &ACCOUNT,
            ObjectType::User => &USER,
        }
    }

    pub fn name(self) -> &'static str {
        self.def().name
    }

    /// Index into per-object arrays (tables, counters).
    pub fn slot(self) -> usize {
        match self {
            ObjectType::Contact => 0,
            ObjectType::Account => 1,
            ObjectType::User => 2,
        }
    }

    /// Looks an sObject name up case-insensitively, as the REST API does.
    pub fn from_name(name: &str) -> Option<ObjectType> {
        Self::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }

    pub fn from_id(id: &str) -> Option<ObjectType> {
        Self::ALL
            .into_iter()
            .find(|o| id.starts_with(o.def().key_prefix))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Id,
    Reference(ObjectType),
    String,
    TextArea,
    /// Long text area: cannot be filtered in SOQL WHERE.
    LongTextArea,
    Email,
    Phone,
    Picklist,
    Url,
    Boolean,
    Date,
    DateTime,
}

impl FieldType {
    pub fn is_text(self) -> bool {
        !matches!(
            self,
            FieldType::Boolean | FieldType::Date | FieldType::DateTime
        )
    }

    /// The describe `type` name.
    pub fn describe_name(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Reference(_) => "reference",
            FieldType::String => "string",
            FieldType::TextArea | FieldType::LongTextArea => "textarea",
            FieldType::Email => "email",
            FieldType::Phone => "phone",
            FieldType::Picklist => "picklist",
            FieldType::Url => "url",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
        }
    }
}

/// How a field is kept in a secondary index so selective queries avoid full scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    None,
    /// Case-insensitive equality (ids, names, external ids).
    Hash,
    /// Range scans over a datetime (SystemModstamp and friends).
    Ordered,
}

#[derive(Debug)]
pub struct FieldDef {
    pub name: &'static str,
    pub label: &'static str,
    pub ty: FieldType,
    /// Maximum length in characters for text types, 0 otherwise.
    pub length: usize,
    /// Required on create (nillable = false and no default).
    pub required: bool,
    /// Writable through the API (create/update). System and compound fields are not.
    pub writable: bool,
    pub external_id: bool,
    pub unique: bool,
    /// Usable as the key of an upsert (`idLookup` in describe).
    pub id_lookup: bool,
    /// Relationship name for a reference field (`Account` for `AccountId`).
    pub relationship: Option<&'static str>,
    pub index: IndexKind,
}

impl FieldDef {
    pub fn filterable(&self) -> bool {
        self.ty != FieldType::LongTextArea
    }
}

#[derive(Debug)]
pub struct ObjectDef {
    pub name: &'static str,
    pub label: &'static str,
    pub key_prefix: &'static str,
    pub fields: &'static [FieldDef],
    /// Users cannot be deleted; they have no `IsDeleted`.
    pub deletable: bool,
}

impl ObjectDef {
    /// Field index by API name, case-insensitive like SOQL and the REST API.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn field(&self, name: &str) -> Option<(usize, &'static FieldDef)> {
        let i = self.field_index(name)?;
        Some((i, &self.fields[i]))
    }

    /// The reference field behind a relationship name (`Account` → `AccountId`).
    pub fn relationship(&self, name: &str) -> Option<(usize, &'static FieldDef)> {
        self.fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.relationship.is_some_and(|r| r.eq_ignore_ascii_case(name)))
    }

    /// Index of a field that every object of ours has; a missing one is a bug in the tables below.
    pub fn must(&self, name: &str) -> usize {
        match self.field_index(name) {
            Some(i) => i,
            None => unreachable!("schema of {} lacks {name}", self.name),
        }
    }
}

/// Builders keep the tables below readable: one line per field.
const fn f(name: &'static str, label: &'static str, ty: FieldType, length: usize) -> FieldDef {
    FieldDef {
        name,
        label,
        ty,
        length,
        required: false,
        writable: true,
        external_id: false,
        unique: false,
        id_lookup: false,
        relationship: None,
        index: IndexKind::None,
    }
}

const fn system(name: &'static str, label: &'static str, ty: FieldType, length: usize) -> FieldDef {
    let mut d = f(name, label, ty, length);
    d.writable = false;
    d
}

const fn with_index(mut d: FieldDef, index: IndexKind) -> FieldDef {
    d.index = index;
    d
}

const fn reference(
    name: &'static str,
    label: &'static str,
    to: ObjectType,
    rel: &'static str,
    writable: bool,
    index: IndexKind,
) -> FieldDef {
    let mut d = f(name, label, FieldType::Reference(to), 18);
    d.relationship = Some(rel);
    d.writable = writable;
    d.index = index;
    d
}

const fn required(mut d: FieldDef) -> FieldDef {
    d.required = true;
    d
}

const fn lookup(mut d: FieldDef) -> FieldDef {
    d.id_lookup = true;
    d
}

/// The custom External ID field the sync upserts by: Text(64), unique, external id.
pub const CONTACTSYNC_KEY: &str = "Contactsync_Key__c";

use FieldType as T;
use IndexKind as I;
use ObjectType as O;

static CONTACT_FIELDS: [FieldDef; 49] = [
    lookup(with_index(system("Id", "Contact ID", T::Id, 18), I::Hash)),
    system("IsDeleted", "Deleted", T::Boolean, 0),
    reference(
        "MasterRecordId",
        "Master Record ID",
        O::Contact,
        "MasterRecord",
        false,
        I::None,
    ),
    reference(
        "AccountId",
        "Account ID",
        O::Account,
        "Account",
        true,
        I::Hash,
    ),
    required(f("LastName", "Last Name", T::String, 80)),
    f("FirstName", "First Name", T::String, 40),
    f("Salutation", "Salutation", T::Picklist, 40),
    lookup(system("Name", "Full Name", T::String, 121)),
    f("OtherStreet", "Other Street", T::TextArea, 255),
    f("OtherCity", "Other City", T::String, 40),
    f("OtherState", "Other State/Province", T::String, 80),
    f("OtherPostalCode", "Other Zip/Postal Code", T::String, 20),
    f("OtherCountry", "Other Country", T::String, 80),
    f("MailingStreet", "Mailing Street", T::TextArea, 255),
    f("MailingCity", "Mailing City", T::String, 40),
    f("MailingState", "Mailing State/Province", T::String, 80),
    f(
        "MailingPostalCode",
        "Mailing Zip/Postal Code",
        T::String,
        20,
    ),
    f("MailingCountry", "Mailing Country", T::String, 80),
    f("Phone", "Business Phone", T::Phone, 40),
    f("Fax", "Business Fax", T::Phone, 40),
    f("MobilePhone", "Mobile Phone", T::Phone, 40),
    f("HomePhone", "Home Phone", T::Phone, 40),
    f("OtherPhone", "Other Phone", T::Phone, 40),
    f("AssistantPhone", "Asst. Phone", T::Phone, 40),
    reference(
        "ReportsToId",
        "Reports To ID",
        O::Contact,
        "ReportsTo",
        true,
        I::None,
    ),
    lookup(with_index(f("Email", "Email", T::Email, 80), I::Hash)),
    f("Title", "Title", T::String, 128),
    f("Department", "Department", T::String, 80),
    f("AssistantName", "Assistant's Name", T::String, 40),
    f("LeadSource", "Lead Source", T::Picklist, 255),
    f("Birthdate", "Birthdate", T::Date, 0),
    f("Description", "Contact Description", T::LongTextArea, 32000),
    reference("OwnerId", "Owner ID", O::User, "Owner", true, I::Hash),
    f("HasOptedOutOfEmail", "Email Opt Out", T::Boolean, 0),
    f("DoNotCall", "Do Not Call", T::Boolean, 0),
    with_index(
        system("CreatedDate", "Created Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "CreatedById",
        "Created By ID",
        O::User,
        "CreatedBy",
        false,
        I::None,
    ),
    with_index(
        system("LastModifiedDate", "Last Modified Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "LastModifiedById",
        "Last Modified By ID",
        O::User,
        "LastModifiedBy",
        false,
        I::None,
    ),
    with_index(
        system("SystemModstamp", "System Modstamp", T::DateTime, 0),
        I::Ordered,
    ),
    system("LastActivityDate", "Last Activity", T::Date, 0),
    system("EmailBouncedReason", "Email Bounced Reason", T::String, 255),
    system("EmailBouncedDate", "Email Bounced Date", T::DateTime, 0),
    system("IsEmailBounced", "Is Email Bounced", T::Boolean, 0),
    f("PhotoUrl", "Photo URL", T::Url, 255),
    // Set only by the UI, which the emulator has not: always null.
    system("LastViewedDate", "Last Viewed Date", T::DateTime, 0),
    system("LastReferencedDate", "Last Referenced Date", T::DateTime, 0),
    FieldDef {
        external_id: true,
        unique: true,
        id_lookup: true,
        index: I::Hash,
        ..f(CONTACTSYNC_KEY, "Contactsync Key", T::String, 64)
    },
    f("Contactsync_Note__c", "Contactsync Note", T::String, 255),
];

static ACCOUNT_FIELDS: [FieldDef; 24] = [
    lookup(with_index(system("Id", "Account ID", T::Id, 18), I::Hash)),
    system("IsDeleted", "Deleted", T::Boolean, 0),
    lookup(required(with_index(
        f("Name", "Account Name", T::String, 255),
        I::Hash,
    ))),
    f("Type", "Account Type", T::Picklist, 255),
    reference(
        "ParentId",
        "Parent Account ID",
        O::Account,
        "Parent",
        true,
        I::None,
    ),
    f("BillingStreet", "Billing Street", T::TextArea, 255),
    f("BillingCity", "Billing City", T::String, 40),
    f("BillingState", "Billing State/Province", T::String, 80),
    f(
        "BillingPostalCode",
        "Billing Zip/Postal Code",
        T::String,
        20,
    ),
    f("BillingCountry", "Billing Country", T::String, 80),
    f("Phone", "Account Phone", T::Phone, 40),
    f("Fax", "Account Fax", T::Phone, 40),
    f("Website", "Website", T::Url, 255),
    f("Industry", "Industry", T::Picklist, 255),
    f("Description", "Account Description", T::LongTextArea, 32000),
    f("Site", "Account Site", T::String, 80),
    reference("OwnerId", "Owner ID", O::User, "Owner", true, I::Hash),
    with_index(
        system("CreatedDate", "Created Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "CreatedById",
        "Created By ID",
        O::User,
        "CreatedBy",
        false,
        I::None,
    ),
    with_index(
        system("LastModifiedDate", "Last Modified Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "LastModifiedById",
        "Last Modified By ID",
        O::User,
        "LastModifiedBy",
        false,
        I::None,
    ),
    with_index(
        system("SystemModstamp", "System Modstamp", T::DateTime, 0),
        I::Ordered,
    ),
    system("LastActivityDate", "Last Activity", T::Date, 0),
    f("AccountNumber", "Account Number", T::String, 40),
];

static USER_FIELDS: [FieldDef; 14] = [
    lookup(with_index(system("Id", "User ID", T::Id, 18), I::Hash)),
    lookup(with_index(
        required(f("Username", "Username", T::String, 80)),
        I::Hash,
    )),
    f("LastName", "Last Name", T::String, 80),
    f("FirstName", "First Name", T::String, 40),
    system("Name", "Full Name", T::String, 121),
    f("Alias", "Alias", T::String, 8),
    f("Email", "Email", T::Email, 128),
    f("IsActive", "Active", T::Boolean, 0),
    f("Title", "Title", T::String, 80),
    with_index(
        system("CreatedDate", "Created Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "CreatedById",
        "Created By ID",
        O::User,
        "CreatedBy",
        false,
        I::None,
    ),
    with_index(
        system("LastModifiedDate", "Last Modified Date", T::DateTime, 0),
        I::Ordered,
    ),
    reference(
        "LastModifiedById",
        "Last Modified By ID",
        O::User,
        "LastModifiedBy",
        false,
        I::None,
    ),
    with_index(
        system("SystemModstamp", "System Modstamp", T::DateTime, 0),
        I::Ordered,
    ),
];

pub static CONTACT: ObjectDef = ObjectDef {
    name: "Contact",
    label: "Contact",
    key_prefix: "003",
    fields: &CONTACT_FIELDS,
    deletable: true,
};

pub static ACCOUNT: ObjectDef = ObjectDef {
    name: "Account",
    label: "Account",
    key_prefix: "001",
    fields: &ACCOUNT_FIELDS,
    deletable: true,
};

pub static USER: ObjectDef = ObjectDef {
    name: "User",
    label: "User",
    key_prefix: "005",
    fields: &USER_FIELDS,
    deletable: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lookup_is_case_insensitive() {
        assert_eq!(
            CONTACT.field_index("lastname"),
            CONTACT.field_index("LastName")
        );
        assert!(
            CONTACT
                .field("contactsync_key__c")
                .is_some_and(|(_, f)| f.external_id)
        );
        assert_eq!(
            CONTACT.relationship("account").map(|(_, f)| f.name),
            Some("AccountId")
        );
    }

    #[test]
    fn every_object_has_the_system_fields() {
        for o in ObjectType::ALL {
            let d = o.def();
            for name in ["Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"] {
                assert!(d.field_index(name).is_some(), "{} lacks {name}", d.name);
            }
        }
    }
}
