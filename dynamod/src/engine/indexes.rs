//! Local and global secondary indexes: their definitions, the index entry of an item (its key in the
//! index's own key space and its projection), and staging index changes into the same `ItemBatch` as
//! the base write, so that a table and its indexes never disagree after a commit or a crash.
//!
//! An index entry lives under `index id | hash(index pk) | enc(index pk) | enc(index sk) | enc(table
//! pk) | enc(table sk)`: the table key suffix keeps entries of items sharing index key values apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::clock::SharedClock;
use serde::{Deserialize, Serialize};

use super::Table;
use super::capacity::{Consumed, IndexConsumed, TableCapacity, write_units};
use super::error::{EngineError, Result, invalid};
use super::tables::{Billing, KeyAttr, ScalarType, TableMeta};
use super::value::{AttrValue, Item, item_size};
use crate::store::ItemBatch;
use crate::store::keys::{encode_component, item_key};

pub const MAX_LSI: usize = 5;
pub const MAX_GSI: usize = 20;
pub const MAX_NON_KEY_ATTRIBUTES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    Local,
    Global,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    KeysOnly,
    Include(Vec<String>),
    All,
}

impl Projection {
    pub fn type_name(&self) -> &'static str {
        match self {
            Projection::KeysOnly => "KEYS_ONLY",
            Projection::Include(_) => "INCLUDE",
            Projection::All => "ALL",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    pub kind: IndexKind,
    /// The key space of the entries, allocated from the table id counter (never reused).
    pub id: u64,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub projection: Projection,
    /// A GSI's own (read, write) throughput on a PROVISIONED table.
    pub throughput: Option<(u64, u64)>,
    /// True while a GSI added by UpdateTable is being backfilled (IndexStatus CREATING).
    #[serde(default)]
    pub backfilling: bool,
}

impl IndexMeta {
    pub fn is_global(&self) -> bool {
        self.kind == IndexKind::Global
    }
}

/// An index as CreateTable / UpdateTable ask for it, parsed from the wire.
#[derive(Debug, Clone, Default)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection_type: Option<String>,
    pub non_key_attributes: Option<Vec<String>>,
    pub throughput: Option<(u64, u64)>,
}

/// An index's runtime state: its throughput buckets and approximate statistics.
pub struct IndexState {
    pub capacity: TableCapacity,
    pub item_count: AtomicI64,
    pub size_bytes: AtomicI64,
}

impl IndexState {
    /// `table` names the series its consumption is counted in (the base table's).
    pub fn new(table: &str, index: &IndexMeta, clock: SharedClock) -> Arc<Self> {
        let billing = match index.throughput {
            Some((read, write)) => Billing::Provisioned { read, write },
            None => Billing::PayPerRequest,
        };
        Arc::new(Self {
            capacity: TableCapacity::new(table, &billing, clock),
            item_count: AtomicI64::new(0),
            size_bytes: AtomicI64::new(0),
        })
    }

    pub fn account(&self, count: i64, bytes: i64) {
        self.item_count.fetch_add(count, Ordering::Relaxed);
        self.size_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Builds and validates one index definition against the table's key and attribute definitions.
pub fn parse_index(
    spec: &IndexSpec,
    kind: IndexKind,
    table_hash: &KeyAttr,
    table_range: Option<&KeyAttr>,
    defs: &[KeyAttr],
    billing: &Billing,
) -> Result<IndexMeta> {
    super::tables::validate_table_name(&spec.name, "indexName")?;
    let ks = &spec.key_schema;
    let shape_ok = match ks.as_slice() {
        [(_, h)] => h == "HASH",
        [(_, h), (_, r)] => h == "HASH" && r == "RANGE",
        _ => false,
    };
    if !shape_ok {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Invalid KeySchema for index: {}",
            spec.name
        )));
    }
    let find = |name: &str| -> Result<KeyAttr> {
        defs.iter().find(|d| d.name == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
            invalid(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{name}], AttributeDefinitions: [{}]",
                names.join(", ")
            ))
        })
    };
    let hash = find(&ks[0].0)?;
    let range = ks.get(1).map(|(n, _)| find(n)).transpose()?;
    if kind == IndexKind::Local {
        let Some(table_range) = table_range else {
            return Err(invalid(
                "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
            ));
        };
        if hash.name != table_hash.name {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                spec.name, hash.name, table_hash.name
            )));
        }
        if range.is_none() {
            return Err(invalid(format!(
                "One or more parameter values were invalid: Index KeySchema for index {} must have a range key",
                spec.name
            )));
        }
        let _ = table_range;
    }
    let projection = match (spec.projection_type.as_deref(), &spec.non_key_attributes) {
        (None | Some("ALL"), None) => Projection::All,
        (Some("KEYS_ONLY"), None) => Projection::KeysOnly,
        (Some("INCLUDE"), Some(attrs)) if !attrs.is_empty() => {
            if attrs.len() > MAX_NON_KEY_ATTRIBUTES {
                return Err(EngineError::LimitExceeded(
                    "One or more parameter values were invalid: Number of NonKeyAttributes exceeds the limit of 100"
                        .into(),
                ));
            }
            Projection::Include(attrs.clone())
        }
        (Some("INCLUDE"), _) => {
            return Err(invalid(
                "One or more parameter values were invalid: NonKeyAttributes must not be empty when ProjectionType is INCLUDE",
            ));
        }
        (t @ (None | Some("ALL" | "KEYS_ONLY")), Some(_)) => {
            return Err(invalid(format!(
                "One or more parameter values were invalid: ProjectionType is {}, but NonKeyAttributes is specified",
                t.unwrap_or("ALL")
            )));
        }
        (Some(other), _) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{other}' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]"
            )));
        }
    };
    let throughput = match (kind, billing, spec.throughput) {
        (IndexKind::Local, _, Some(_)) => {
            return Err(invalid(format!(
                "One or more parameter values were invalid: ProvisionedThroughput cannot be specified for a local secondary index: {}",
                spec.name
            )));
        }
        (IndexKind::Local, _, None) => None,
        (IndexKind::Global, Billing::Provisioned { .. }, Some((r, w))) => {
            super::tables::check_throughput(r, w)?;
            Some((r, w))
        }
        (IndexKind::Global, Billing::Provisioned { .. }, None) => {
            return Err(invalid(format!(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                spec.name
            )));
        }
        (IndexKind::Global, Billing::PayPerRequest, Some(_)) => {
            return Err(invalid(format!(
                "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {} when BillingMode is PAY_PER_REQUEST",
                spec.name
            )));
        }
        (IndexKind::Global, Billing::PayPerRequest, None) => None,
    };
    Ok(IndexMeta { name: spec.name.clone(), kind, id: 0, hash, range, projection, throughput, backfilling: false })
}

fn type_matches(v: &AttrValue, ty: ScalarType) -> bool {
    matches!(
        (v, ty),
        (AttrValue::S(_), ScalarType::S) | (AttrValue::N(_), ScalarType::N) | (AttrValue::B(_), ScalarType::B)
    )
}

/// Rejects a new item whose index key attributes have the wrong type or are empty, as DynamoDB does.
pub fn check_index_keys(meta: &TableMeta, item: &Item) -> Result<()> {
    for idx in &meta.indexes {
        for attr in std::iter::once(&idx.hash).chain(idx.range.as_ref()) {
            let Some(v) = item.get(&attr.name) else { continue };
            if !type_matches(v, attr.ty) {
                return Err(invalid(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {}",
                    attr.name,
                    attr.ty.as_str(),
                    v.type_name(),
                    idx.name
                )));
            }
            if matches!(v, AttrValue::S(s) if s.is_empty()) || matches!(v, AttrValue::B(b) if b.is_empty()) {
                return Err(invalid(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {}",
                    if matches!(v, AttrValue::S(_)) { "string" } else { "binary" },
                    idx.name,
                    attr.name
                )));
            }
        }
    }
    Ok(())
}

/// The storage key of `item`'s entry in `idx`, or `None` when the item lacks an index key attribute
/// (or has one of another type): such items are not in the index.
pub fn entry_key(table: &TableMeta, idx: &IndexMeta, item: &Item) -> Option<Vec<u8>> {
    let hash = item.get(&idx.hash.name).filter(|v| type_matches(v, idx.hash.ty))?;
    let range = match &idx.range {
        Some(r) => Some(item.get(&r.name).filter(|v| type_matches(v, r.ty))?),
        None => None,
    };
    let mut key = item_key(idx.id, hash, range);
    encode_component(&mut key, item.get(&table.hash.name)?);
    if let Some(r) = &table.range {
        encode_component(&mut key, item.get(&r.name)?);
    }
    Some(key)
}

/// The names of the attributes every entry of `idx` carries: the table's and the index's keys.
pub fn key_names(table: &TableMeta, idx: &IndexMeta) -> Vec<String> {
    let mut names: Vec<String> = std::iter::once(&table.hash)
        .chain(table.range.as_ref())
        .chain(std::iter::once(&idx.hash))
        .chain(idx.range.as_ref())
        .map(|a| a.name.clone())
        .collect();
    names.dedup();
    names.sort();
    names.dedup();
    names
}

/// Whether `attr` is stored in the entries of `idx`.
pub fn is_projected(table: &TableMeta, idx: &IndexMeta, attr: &str) -> bool {
    match &idx.projection {
        Projection::All => true,
        Projection::KeysOnly => key_names(table, idx).iter().any(|n| n == attr),
        Projection::Include(extra) => {
            extra.iter().any(|n| n == attr) || key_names(table, idx).iter().any(|n| n == attr)
        }
    }
}

/// What `idx` stores of `item`.
pub fn project_entry(table: &TableMeta, idx: &IndexMeta, item: &Item) -> Item {
    match &idx.projection {
        Projection::All => item.clone(),
        _ => item.iter().filter(|(k, _)| is_projected(table, idx, k)).map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// One index's part of a base write: write units (as DynamoDB counts them) and statistics deltas.
#[derive(Debug, Clone)]
pub struct IndexDelta {
    pub name: String,
    pub global: bool,
    pub units: u64,
    pub count: i64,
    pub bytes: i64,
}

/// Adds to `batch` what replacing `old` by `new` changes in each index: nothing when the item is in
/// the index neither before nor after or its entry is unchanged; one write to put or delete an entry;
/// two when the index key changed (delete the old entry, put the new one).
pub fn stage(meta: &TableMeta, old: Option<&Item>, new: Option<&Item>, batch: &mut ItemBatch) -> Vec<IndexDelta> {
    let mut deltas = Vec::new();
    for idx in &meta.indexes {
        let entry =
            |item: Option<&Item>| item.and_then(|i| entry_key(meta, idx, i).map(|k| (k, project_entry(meta, idx, i))));
        let (before, after) = (entry(old), entry(new));
        let (mut units, mut count, mut bytes) = (0, 0i64, 0i64);
        match (&before, &after) {
            (None, None) => continue,
            (Some((k0, e0)), Some((k1, e1))) if k0 == k1 => {
                if e0 == e1 {
                    continue;
                }
                units += write_units(item_size(e0).max(item_size(e1)));
                bytes += item_size(e1) as i64 - item_size(e0) as i64;
                batch.put(k1.clone(), e1);
            }
            _ => {
                if let Some((k0, e0)) = &before {
                    units += write_units(item_size(e0));
                    count -= 1;
                    bytes -= item_size(e0) as i64;
                    batch.delete(k0.clone());
                }
                if let Some((k1, e1)) = &after {
                    units += write_units(item_size(e1));
                    count += 1;
                    bytes += item_size(e1) as i64;
                    batch.put(k1.clone(), e1);
                }
            }
        }
        deltas.push(IndexDelta { name: idx.name.clone(), global: idx.is_global(), units, count, bytes });
    }
    deltas
}

impl Table {
    pub fn index_state(&self, name: &str) -> Option<Arc<IndexState>> {
        self.indexes.read().expect("indexes lock").get(name).cloned()
    }

    /// Refuses a write when a provisioned GSI has no write capacity left (DynamoDB throttles the base
    /// write then, since the index could not keep up).
    pub fn admit_index_writes(&self) -> Result<()> {
        for state in self.indexes.read().expect("indexes lock").values() {
            state.capacity.admit_write()?;
        }
        Ok(())
    }

    /// What [`Table::settle_indexes`] will record for `deltas` in a transaction's consumed capacity,
    /// known before the commit (a transaction's stored client token carries it).
    pub fn index_usage(&self, deltas: &[IndexDelta], factor: u64) -> Vec<IndexConsumed> {
        let states = self.indexes.read().expect("indexes lock");
        deltas
            .iter()
            .filter(|d| states.contains_key(&d.name))
            .map(|d| IndexConsumed {
                name: d.name.clone(),
                global: d.global,
                read: 0.0,
                write: (d.units * factor) as f64,
            })
            .collect()
    }

    /// After a commit: index statistics, and index capacity charged (GSIs to their own buckets, LSIs
    /// to the table's) times `factor` (2 in transactions), recorded in `consumed`.
    pub fn settle_indexes(&self, deltas: &[IndexDelta], factor: u64, consumed: Option<&mut Consumed>) {
        let states = self.indexes.read().expect("indexes lock");
        for d in deltas {
            if let Some(state) = states.get(&d.name) {
                state.account(d.count, d.bytes);
                if consumed.is_some() {
                    let units = d.units * factor;
                    if d.global {
                        state.capacity.charge_write(units);
                    } else {
                        self.capacity.read().expect("capacity lock").charge_write(units);
                    }
                }
            }
        }
        drop(states);
        if let Some(c) = consumed {
            for u in self.index_usage(deltas, factor) {
                c.add_index(u);
            }
        }
    }
}
