//! The org's data: one table per sObject type with secondary indexes, the delete log, and
//! the custom list views. Deletes go to the Recycle Bin; a purge of the bin takes rows out of
//! every index and listing but keeps their row numbers allocated, so a row number stays valid
//! for the life of the org and query cursors can hold them.

mod write;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};

use crate::ids;
use crate::listviews::ListView;
use crate::schema::{IndexKind, ObjectType};
use crate::value::Value;

pub use write::{Actor, Claims, FieldValues};

static NULL: Value = Value::Null;

/// One record, stored sparsely: only non-null cells, sorted by schema field index (`Id` is
/// field 0). A typical Contact sets a dozen of its ~50 fields, so this keeps 100,000 rows
/// at a fraction of a dense layout's memory.
#[derive(Debug, Clone, Default)]
pub struct Row {
    cells: Vec<(u16, Value)>,
}

impl Row {
    fn from_dense(values: Vec<Value>) -> Row {
        let cells = values
            .into_iter()
            .enumerate()
            .filter(|(_, v)| !v.is_null())
            .map(|(i, v)| (i as u16, v))
            .collect();
        Row { cells }
    }

    pub fn get(&self, field: usize) -> &Value {
        match self
            .cells
            .binary_search_by_key(&(field as u16), |(i, _)| *i)
        {
            Ok(pos) => &self.cells[pos].1,
            Err(_) => &NULL,
        }
    }

    /// Stores `v` and returns the previous value.
    fn set(&mut self, field: usize, v: Value) -> Value {
        let key = field as u16;
        match (
            self.cells.binary_search_by_key(&key, |(i, _)| *i),
            v.is_null(),
        ) {
            (Ok(pos), true) => self.cells.remove(pos).1,
            (Ok(pos), false) => std::mem::replace(&mut self.cells[pos].1, v),
            (Err(pos), false) => {
                self.cells.insert(pos, (key, v));
                Value::Null
            }
            (Err(_), true) => Value::Null,
        }
    }

    /// Every field in schema order, nulls included.
    pub fn to_dense(&self, width: usize) -> Vec<Value> {
        let mut out = vec![Value::Null; width];
        for (i, v) in &self.cells {
            if let Some(slot) = out.get_mut(*i as usize) {
                *slot = v.clone();
            }
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Table {
    pub object: ObjectType,
    rows: Vec<Row>,
    by_id: HashMap<Box<str>, u32>,
    hash: HashMap<usize, HashMap<String, BTreeSet<u32>>>,
    ordered: HashMap<usize, BTreeSet<(DateTime<Utc>, u32)>>,
    next_seq: u64,
    is_deleted: Option<usize>,
    /// Rows purged from the Recycle Bin: in no index, listing or lookup any more.
    purged: std::collections::HashSet<u32>,
}

impl Table {
    fn new(object: ObjectType) -> Table {
        let def = object.def();
        let mut hash = HashMap::new();
        let mut ordered = HashMap::new();
        for (i, f) in def.fields.iter().enumerate() {
            match f.index {
                IndexKind::Hash if f.name != "Id" => {
                    hash.insert(i, HashMap::new());
                }
                IndexKind::Ordered => {
                    ordered.insert(i, BTreeSet::new());
                }
                _ => {}
            }
        }
        Table {
            object,
            rows: Vec::new(),
            by_id: HashMap::new(),
            hash,
            ordered,
            next_seq: 1,
            is_deleted: def.field_index("IsDeleted"),
            purged: std::collections::HashSet::new(),
        }
    }

    /// Rows that still exist (live or in the Recycle Bin).
    pub fn len(&self) -> usize {
        self.rows.len() - self.purged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, r: u32) -> &Row {
        &self.rows[r as usize]
    }

    pub fn get(&self, r: u32, field: usize) -> &Value {
        self.rows[r as usize].get(field)
    }

    pub fn id(&self, r: u32) -> &str {
        self.get(r, 0).as_text().unwrap_or_default()
    }

    pub fn is_deleted(&self, r: u32) -> bool {
        self.is_deleted
            .is_some_and(|i| matches!(self.get(r, i), Value::Bool(true)))
    }

    /// Row of an 18-char id (deleted rows included).
    pub fn find(&self, id18: &str) -> Option<u32> {
        self.by_id.get(id18).copied()
    }

    pub fn has_hash_index(&self, field: usize) -> bool {
        field == 0 || self.hash.contains_key(&field)
    }

    pub fn has_ordered_index(&self, field: usize) -> bool {
        self.ordered.contains_key(&field)
    }

    /// Rows whose indexed text field equals `key` case-insensitively, in id order.
    pub fn lookup(&self, field: usize, key: &str) -> Vec<u32> {
        if field == 0 {
            return ids::normalize(key)
                .and_then(|id| self.find(&id))
                .into_iter()
                .collect();
        }
        self.hash
            .get(&field)
            .and_then(|m| m.get(&crate::value::fold(key)))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Rows whose indexed datetime lies within the bounds, in stamp order.
    pub fn range(
        &self,
        field: usize,
        lower: Bound<DateTime<Utc>>,
        upper: Bound<DateTime<Utc>>,
    ) -> Vec<u32> {
        let Some(set) = self.ordered.get(&field) else {
            return Vec::new();
        };
        let lo = match lower {
            Bound::Included(t) => Bound::Included((t, 0)),
            Bound::Excluded(t) => Bound::Excluded((t, u32::MAX)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let hi = match upper {
            Bound::Included(t) => Bound::Included((t, u32::MAX)),
            Bound::Excluded(t) => Bound::Excluded((t, 0)),
            Bound::Unbounded => Bound::Unbounded,
        };
        set.range((lo, hi)).map(|&(_, r)| r).collect()
    }

    /// Every row number that still exists (live or in the Recycle Bin), in id (creation) order.
    pub fn all(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.rows.len() as u32).filter(|r| !self.purged.contains(r))
    }

    /// Rows in the Recycle Bin (deleted, not yet purged), in id order.
    pub fn recycle_bin(&self) -> impl Iterator<Item = u32> + '_ {
        self.all().filter(|&r| self.is_deleted(r))
    }

    /// Empties a Recycle-Bin row for good: gone from every index, lookup and listing (`queryAll`
    /// included). Its row number stays allocated (query cursors may hold it).
    fn purge(&mut self, r: u32) {
        let Some(row) = self.rows.get(r as usize) else {
            return;
        };
        let values = row.to_dense(self.object.def().fields.len());
        for (field, v) in values.iter().enumerate() {
            self.index_remove(field, v, r);
        }
        if let Some(id) = values.first().and_then(Value::as_text) {
            self.by_id.remove(id);
        }
        self.rows[r as usize] = Row::default();
        self.purged.insert(r);
    }

    fn next_id(&mut self, pod: &str) -> String {
        let id = ids::generate(self.object.def().key_prefix, pod, self.next_seq);
        self.next_seq += 1;
        id
    }

    fn insert(&mut self, values: Vec<Value>) -> u32 {
        let r = self.rows.len() as u32;
        let id: Box<str> = values[0].as_text().unwrap_or_default().into();
        self.by_id.insert(id, r);
        for (field, v) in values.iter().enumerate() {
            self.index_add(field, v, r);
        }
        self.rows.push(Row::from_dense(values));
        r
    }

    fn set(&mut self, r: u32, field: usize, v: Value) {
        self.index_add(field, &v, r);
        let old = self.rows[r as usize].set(field, v);
        // Re-adding the same key above is a no-op; remove the old one only if it differs.
        if old.index_key() != self.rows[r as usize].get(field).index_key()
            || old.as_datetime() != self.rows[r as usize].get(field).as_datetime()
        {
            self.index_remove(field, &old, r);
        }
    }

    fn index_add(&mut self, field: usize, v: &Value, r: u32) {
        if let Some(m) = self.hash.get_mut(&field) {
            if let Some(k) = v.index_key() {
                m.entry(k).or_default().insert(r);
            }
        } else if let Some(s) = self.ordered.get_mut(&field)
            && let Some(t) = v.as_datetime()
        {
            s.insert((t, r));
        }
    }

    fn index_remove(&mut self, field: usize, v: &Value, r: u32) {
        if let Some(m) = self.hash.get_mut(&field) {
            if let Some(k) = v.index_key()
                && let Some(set) = m.get_mut(&k)
            {
                set.remove(&r);
                if set.is_empty() {
                    m.remove(&k);
                }
            }
        } else if let Some(s) = self.ordered.get_mut(&field)
            && let Some(t) = v.as_datetime()
        {
            s.remove(&(t, r));
        }
    }
}

/// A deleted record in the delete log read by Get Deleted.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub object: ObjectType,
    pub id: String,
    pub at: DateTime<Utc>,
}

/// The delete log Get Deleted reads: entries in deletion order, and how far a purge of the log
/// has reached (Salesforce's `earliestDateAvailable`: deletes before it are gone from the log).
#[derive(Debug, Clone, Default)]
pub struct DeleteLog {
    pub entries: Vec<Deletion>,
    /// The deletion time of the newest entry a purge removed, if any.
    pub purged_through: Option<DateTime<Utc>>,
}

impl DeleteLog {
    pub fn push(&mut self, deletion: Deletion) {
        self.entries.push(deletion);
    }

    /// Drops the entries deleted before `before`; returns how many went.
    pub fn purge_before(&mut self, before: DateTime<Utc>) -> usize {
        let newest_purged = self
            .entries
            .iter()
            .filter(|d| d.at < before)
            .map(|d| d.at)
            .max();
        let n = self.entries.len();
        self.entries.retain(|d| d.at >= before);
        if let Some(t) = newest_purged {
            self.purged_through = Some(self.purged_through.map_or(t, |p| p.max(t)));
        }
        n - self.entries.len()
    }
}

/// What happened to a record; drained after each request to trigger Outbound Messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub object: ObjectType,
    pub row: u32,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone)]
pub struct Org {
    tables: [Table; 3],
    pub deletions: DeleteLog,
    pub list_views: Vec<ListView>,
    pub changes: Vec<Change>,
    /// Bumped by every reset so cursors from an earlier org are refused.
    pub generation: u64,
    pod: String,
    list_view_seq: u64,
    /// Fields of the static schema this org does not have (`Contactsync_Key__c` where the
    /// package is not deployed): every API use of one answers as for an unknown field.
    hidden: Vec<(ObjectType, usize)>,
}

impl Org {
    /// Whether this org lacks field `field` of `object`.
    pub fn hides(&self, object: ObjectType, field: usize) -> bool {
        self.hidden.contains(&(object, field))
    }

    /// Removes a field of the static schema from this org.
    pub fn hide(&mut self, object: ObjectType, field: usize) {
        self.hidden.push((object, field));
    }

    pub fn new(pod: &str, generation: u64) -> Org {
        Org {
            tables: ObjectType::ALL.map(Table::new),
            deletions: DeleteLog::default(),
            list_views: crate::listviews::standard_views(pod),
            changes: Vec::new(),
            generation,
            pod: pod.to_string(),
            list_view_seq: 100,
            hidden: Vec::new(),
        }
    }

    pub fn table(&self, o: ObjectType) -> &Table {
        &self.tables[o.slot()]
    }

    fn table_mut(&mut self, o: ObjectType) -> &mut Table {
        &mut self.tables[o.slot()]
    }

    /// Looks a record up by any id form; `None` when malformed or unknown.
    pub fn find(&self, o: ObjectType, id: &str) -> Option<u32> {
        let id18 = ids::normalize(id)?;
        self.table(o).find(&id18)
    }

    /// The User row of a username (case-insensitive, like a login).
    pub fn user_by_username(&self, username: &str) -> Option<u32> {
        let t = self.table(ObjectType::User);
        let f = ObjectType::User.def().must("Username");
        t.lookup(f, username).into_iter().next()
    }

    /// Empties the Recycle Bin of `o` (only rows deleted before `before`, when given): the rows
    /// are gone for good, `queryAll` included; the delete log keeps their deletions. Returns the
    /// purged ids.
    pub fn purge_recycle_bin(
        &mut self,
        o: ObjectType,
        before: Option<DateTime<Utc>>,
    ) -> Vec<String> {
        let stamp = o.def().must("SystemModstamp");
        let table = self.table_mut(o);
        let rows: Vec<u32> = table
            .recycle_bin()
            .filter(|&r| {
                before.is_none_or(|b| table.get(r, stamp).as_datetime().is_some_and(|t| t < b))
            })
            .collect();
        let mut ids = Vec::with_capacity(rows.len());
        for r in rows {
            ids.push(table.id(r).to_string());
            table.purge(r);
        }
        ids
    }

    pub fn next_list_view_id(&mut self) -> String {
        self.list_view_seq += 1;
        ids::generate("00B", &self.pod, self.list_view_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::CONTACT;

    #[test]
    fn hash_index_follows_updates() {
        let mut t = Table::new(ObjectType::Contact);
        let mut values = vec![Value::Null; CONTACT.fields.len()];
        values[0] = Value::text("003gK0000000001AAA");
        let owner = CONTACT.must("OwnerId");
        values[owner] = Value::text("005gK0000000001AAA");
        let r = t.insert(values);
        assert_eq!(t.lookup(owner, "005GK0000000001aaa"), vec![r]);
        t.set(r, owner, Value::text("005gK0000000002AAA"));
        assert!(t.lookup(owner, "005gK0000000001AAA").is_empty());
        assert_eq!(t.lookup(owner, "005gK0000000002AAA"), vec![r]);
    }

    #[test]
    fn sparse_rows_keep_indexes_right_through_case_changes_and_nulls() {
        let mut t = Table::new(ObjectType::Contact);
        let key = CONTACT.must("Contactsync_Key__c");
        let mut values = vec![Value::Null; CONTACT.fields.len()];
        values[0] = Value::text("003gK0000000001AAA");
        values[key] = Value::text("Abc");
        let r = t.insert(values);
        t.set(r, key, Value::text("ABC"));
        assert_eq!(
            t.lookup(key, "abc"),
            vec![r],
            "same folded key: still indexed"
        );
        assert_eq!(t.get(r, key), &Value::text("ABC"));
        t.set(r, key, Value::Null);
        assert!(t.lookup(key, "abc").is_empty());
        assert!(t.get(r, key).is_null());
        let stamp = CONTACT.must("SystemModstamp");
        let now = chrono::Utc::now();
        t.set(r, stamp, Value::DateTime(now));
        t.set(r, stamp, Value::DateTime(now));
        assert_eq!(
            t.range(stamp, Bound::Included(now), Bound::Included(now)),
            vec![r]
        );
        assert_eq!(
            t.row(r).to_dense(CONTACT.fields.len()).len(),
            CONTACT.fields.len()
        );
    }
}
