//! The model's writers: each command executed the way Graph and Salesforce would (ids, Graph's
//! PATCH semantics, upsert by external id, Salesforce's own validation, B14 linking), answering
//! with the `WriteResult` a real writer reports.

use sync_core::account::choose_account;
use sync_core::fields::SalesforceContactFields;
use sync_core::mapping::salesforce_to_canonical;
use sync_core::validate::salesforce_violations;
use sync_core::*;

use super::{MailItem, REJECTED_BY_RULE, SfRecord, World, graph_normalise, sf_normalise};

impl World {
    pub(crate) fn execute(&mut self, d: &Decisions) -> Vec<WriteResult> {
        let mut results = Vec::new();
        for command in &d.exchange {
            results.push(self.exchange_write(command));
        }
        for command in &d.salesforce {
            results.push(self.salesforce_write(command));
        }
        results
    }

    fn exchange_write(&mut self, command: &ExchangeCommand) -> WriteResult {
        if self.exchange_faults > 0 {
            self.exchange_faults -= 1;
            return WriteResult::ExchangeFailed {
                sync_key: command.sync_key().clone(),
                failure: WriteFailure {
                    code: "ErrorInvalidProperty".into(),
                    field: None,
                    message: "The property is invalid.".into(),
                },
            };
        }
        self.next += 1;
        let next = self.next;
        match command {
            ExchangeCommand::Create { sync_key, fields } => {
                let id = self.new_graph_id();
                self.mailbox.insert(
                    id.clone(),
                    MailItem {
                        folder: FolderKind::SyncFolder,
                        categories: vec![SALESFORCE_CATEGORY.to_owned()],
                        stamp: Some(sync_key.clone()),
                        change: next,
                        fields: graph_normalise(fields.clone()),
                    },
                );
                self.ex_changed.insert(id.clone());
                WriteResult::ExchangeCreated {
                    sync_key: sync_key.clone(),
                    id,
                    change_key: Some(format!("ck{next}")),
                }
            }
            ExchangeCommand::Update {
                sync_key,
                id,
                patch,
                categories,
                stamp,
            } => {
                let Some(item) = self.mailbox.get_mut(id) else {
                    return WriteResult::ExchangeFailed {
                        sync_key: sync_key.clone(),
                        failure: WriteFailure {
                            code: "ErrorItemNotFound".into(),
                            field: None,
                            message: "The specified object was not found in the store.".into(),
                        },
                    };
                };
                patch.apply_to(&mut item.fields);
                item.fields = graph_normalise(item.fields.clone());
                if let Some(categories) = categories {
                    item.categories = categories.clone();
                }
                match stamp {
                    Stamp::Keep => {}
                    Stamp::Set(key) => item.stamp = Some(key.clone()),
                    Stamp::Clear => item.stamp = None,
                }
                item.change = next;
                self.ex_changed.insert(id.clone());
                WriteResult::ExchangeUpdated {
                    sync_key: sync_key.clone(),
                    change_key: Some(format!("ck{next}")),
                }
            }
            ExchangeCommand::Delete { sync_key, id } => {
                if self.mailbox.remove(id).is_some() {
                    self.ex_removed.insert(id.clone());
                    self.ex_changed.remove(id);
                }
                WriteResult::ExchangeDeleted {
                    sync_key: sync_key.clone(),
                }
            }
            ExchangeCommand::MoveIntoFolder {
                sync_key,
                id,
                categories,
                patch,
            } => {
                let Some(mut item) = self.mailbox.remove(id) else {
                    return WriteResult::ExchangeFailed {
                        sync_key: sync_key.clone(),
                        failure: WriteFailure {
                            code: "ErrorItemNotFound".into(),
                            field: None,
                            message: "gone".into(),
                        },
                    };
                };
                self.ex_removed.insert(id.clone());
                self.ex_changed.remove(id);
                let new = self.new_graph_id();
                patch.apply_to(&mut item.fields);
                item.fields = graph_normalise(item.fields.clone());
                item.folder = FolderKind::SyncFolder;
                item.categories = categories.clone();
                item.stamp = Some(sync_key.clone());
                item.change = self.next;
                self.mailbox.insert(new.clone(), item);
                self.ex_changed.insert(new.clone());
                WriteResult::ExchangeCreated {
                    sync_key: sync_key.clone(),
                    id: new,
                    change_key: Some(format!("ck{}", self.next)),
                }
            }
        }
    }

    fn sf_failure(key: &SyncKey, code: &str, field: Option<&str>, message: &str) -> WriteResult {
        WriteResult::SalesforceFailed {
            sync_key: key.clone(),
            failure: WriteFailure {
                code: code.to_owned(),
                field: field.map(str::to_owned),
                message: message.to_owned(),
            },
        }
    }

    /// Salesforce's own checks, independent of the core's pre-checks.
    fn sf_rejects(fields: &SalesforceContactFields) -> Option<(String, Option<String>)> {
        let canonical = salesforce_to_canonical(fields);
        if let Some(v) = salesforce_violations(&canonical, &Field::ALL)
            .into_iter()
            .next()
        {
            return Some((v.code.as_str().to_owned(), v.field.map(str::to_owned)));
        }
        (fields.description.as_deref() == Some(REJECTED_BY_RULE))
            .then(|| ("FIELD_CUSTOM_VALIDATION_EXCEPTION".to_owned(), None))
    }

    fn salesforce_write(&mut self, command: &SalesforceCommand) -> WriteResult {
        match command {
            SalesforceCommand::Create {
                sync_key,
                owner_id,
                fields,
                company_name,
            } => {
                if let Some((code, field)) = Self::sf_rejects(fields) {
                    return Self::sf_failure(sync_key, &code, field.as_deref(), "rejected");
                }
                let account = self.link_account(company_name.as_deref());
                let existing = self
                    .sf
                    .iter()
                    .find(|(_, r)| r.key.as_ref() == Some(sync_key))
                    .map(|(id, _)| id.clone());
                let id = existing.unwrap_or_else(|| self.new_sf_id());
                self.sf.insert(
                    id.clone(),
                    SfRecord {
                        owner: owner_id.clone(),
                        key: Some(sync_key.clone()),
                        fields: sf_normalise((**fields).clone()),
                        account: account.clone(),
                    },
                );
                self.sf_changed.insert(id.clone());
                WriteResult::SalesforceCreated {
                    sync_key: sync_key.clone(),
                    id,
                    account_name: account,
                }
            }
            SalesforceCommand::Update {
                sync_key,
                id,
                patch,
                relink,
            } => {
                let Some(record) = self.sf.get(id) else {
                    return Self::sf_failure(
                        sync_key,
                        "ENTITY_IS_DELETED",
                        None,
                        "entity is deleted",
                    );
                };
                let mut json = serde_json::to_value(&record.fields).expect("serialisable");
                for (name, value) in &patch.0 {
                    json[name] = value
                        .clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String);
                }
                let fields: SalesforceContactFields = serde_json::from_value(json).expect("fields");
                if let Some((code, field)) = Self::sf_rejects(&fields) {
                    return Self::sf_failure(sync_key, &code, field.as_deref(), "rejected");
                }
                let account = relink
                    .as_ref()
                    .map(|r| self.link_account(r.company_name.as_deref()));
                let Some(record) = self.sf.get_mut(id) else {
                    return Self::sf_failure(
                        sync_key,
                        "ENTITY_IS_DELETED",
                        None,
                        "entity is deleted",
                    );
                };
                record.fields = sf_normalise(fields);
                if let Some(account) = &account {
                    record.account = account.clone();
                }
                self.sf_changed.insert(id.clone());
                WriteResult::SalesforceUpdated {
                    sync_key: sync_key.clone(),
                    account_name: account,
                }
            }
            SalesforceCommand::Delete { sync_key, id } => {
                if self.sf.remove(id).is_some() {
                    self.sf_deleted.insert(id.clone());
                    self.sf_changed.remove(id);
                }
                WriteResult::SalesforceDeleted {
                    sync_key: sync_key.clone(),
                }
            }
        }
    }

    /// The writer's side of B14: run the chooser over the org's Accounts.
    fn link_account(&self, company: Option<&str>) -> Option<String> {
        let id = choose_account(company?, &self.accounts)?;
        self.accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.name.clone())
    }
}
