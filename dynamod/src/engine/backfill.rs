//! UpdateTable's GlobalSecondaryIndexUpdates: adding a GSI (CREATING and `Backfilling` while a
//! background thread indexes the existing items, then ACTIVE), changing its throughput, deleting it.
//!
//! Writes maintain a new index from the moment it is published; the backfill re-reads each item under
//! its item lock before indexing it, so it never overwrites a newer entry with an older one.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::kv::{Direction, KeyRange, prefix_successor};

use super::error::{EngineError, Result, invalid};
use super::indexes::{IndexKind, IndexSpec, IndexState, MAX_GSI, entry_key, parse_index, project_entry};
use super::tables::{Billing, KeyAttr, ScalarType, check_throughput, spawn_purge};
use super::value::item_size;
use super::{Engine, Table, lock_stripes};
use crate::store::keys::table_prefix;
use crate::store::{ItemBatch, Store};

/// Items indexed per locked chunk: small, so writers to those items wait only briefly.
const BACKFILL_CHUNK: usize = 100;

#[derive(Debug, Clone)]
pub enum GsiUpdate {
    Create(IndexSpec),
    Update(String, (u64, u64)),
    Delete(String),
}

fn one_at_a_time() -> EngineError {
    EngineError::LimitExceeded(
        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table".into(),
    )
}

impl Engine {
    pub(super) fn update_indexes(&self, name: &str, defs: &[(String, String)], updates: Vec<GsiUpdate>) -> Result<()> {
        if updates.len() > 1 {
            return Err(one_at_a_time());
        }
        let table = self.table_named(name, true)?;
        // Held until the new description is published (see `update_table`).
        let mut current = table.meta.write().expect("meta lock");
        let mut meta = current.clone();
        match updates.into_iter().next().expect("one update") {
            GsiUpdate::Create(spec) => {
                if meta.indexes.iter().any(|i| i.backfilling) {
                    return Err(one_at_a_time());
                }
                if meta.index(&spec.name).is_some() {
                    return Err(invalid(
                        "One or more parameter values were invalid: Attempting to create an index which already exists",
                    ));
                }
                if meta.indexes.iter().filter(|i| i.is_global()).count() >= MAX_GSI {
                    return Err(EngineError::LimitExceeded(format!(
                        "One or more parameter values were invalid: A table may have at most {MAX_GSI} global secondary indexes"
                    )));
                }
                let mut all_defs = meta.attribute_definitions.clone();
                for (attr, ty) in defs {
                    let ty = ScalarType::parse(ty).ok_or_else(|| {
                        invalid(format!(
                            "1 validation error detected: Value '{ty}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
                        ))
                    })?;
                    match all_defs.iter().find(|d| d.name == *attr) {
                        Some(d) if d.ty != ty => {
                            return Err(invalid(format!(
                                "One or more parameter values were invalid: Cannot change the type of attribute {attr}"
                            )));
                        }
                        Some(_) => {}
                        None => all_defs.push(KeyAttr { name: attr.clone(), ty }),
                    }
                }
                let mut index =
                    parse_index(&spec, IndexKind::Global, &meta.hash, meta.range.as_ref(), &all_defs, &meta.billing)?;
                index.id = self.next_table_id.fetch_add(1, Ordering::SeqCst);
                index.backfilling = true;
                meta.attribute_definitions = all_defs;
                meta.indexes.push(index.clone());
                self.store.put_table(&meta, Some(index.id + 1))?;
                table
                    .indexes
                    .write()
                    .expect("indexes lock")
                    .insert(index.name.clone(), IndexState::new(name, &index, self.clock.clone()));
                *current = meta;
                drop(current);
                spawn_backfill(self.store.clone(), self.item_locks.clone(), table, index.id);
            }
            GsiUpdate::Update(index_name, (read, write)) => {
                let not_found = || {
                    EngineError::ResourceNotFound(format!(
                        "Requested resource not found: Index: {index_name} not found"
                    ))
                };
                let index =
                    meta.indexes.iter_mut().find(|i| i.name == index_name && i.is_global()).ok_or_else(not_found)?;
                if meta.billing == Billing::PayPerRequest {
                    return Err(invalid(format!(
                        "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {index_name} when BillingMode is PAY_PER_REQUEST"
                    )));
                }
                check_throughput(read, write)?;
                index.throughput = Some((read, write));
                let fresh = IndexState::new(name, index, self.clock.clone());
                self.store.put_table(&meta, None)?;
                let mut states = table.indexes.write().expect("indexes lock");
                if let Some(old) = states.get(&index_name) {
                    fresh.account(old.item_count.load(Ordering::Relaxed), old.size_bytes.load(Ordering::Relaxed));
                }
                states.insert(index_name, fresh);
                *current = meta;
            }
            GsiUpdate::Delete(index_name) => {
                let pos = meta.indexes.iter().position(|i| i.name == index_name && i.is_global()).ok_or_else(|| {
                    EngineError::ResourceNotFound(format!(
                        "Requested resource not found: Index: {index_name} not found"
                    ))
                })?;
                let index = meta.indexes.remove(pos);
                self.store.drop_index(&meta, index.id)?;
                *current = meta;
                table.indexes.write().expect("indexes lock").remove(&index_name);
                spawn_purge(self.store.clone(), index.id);
            }
        }
        Ok(())
    }
}

/// Indexes every existing item of `table` into the index `index_id` in the background (resumed after
/// a restart, since the index stays `backfilling` until done); then marks the index ACTIVE.
pub(super) fn spawn_backfill(store: Store, locks: Arc<Vec<Mutex<()>>>, table: Arc<Table>, index_id: u64) {
    std::thread::spawn(move || {
        if let Err(e) = backfill(&store, &locks, &table, index_id) {
            tracing::warn!(index_id, error = %e, "backfilling a global secondary index failed");
        }
    });
}

fn backfill(store: &Store, locks: &[Mutex<()>], table: &Table, index_id: u64) -> Result<()> {
    let prefix = table_prefix(table.snapshot().id);
    let end = prefix_successor(&prefix);
    let mut start = prefix.clone();
    loop {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        store.scan_items(KeyRange { start: start.clone(), end: end.clone() }, Direction::Forward, |k, _, _| {
            keys.push(k.to_vec());
            keys.len() < BACKFILL_CHUNK
        })?;
        let Some(last) = keys.last().cloned() else { break };
        {
            let _guards = lock_stripes(locks, &keys);
            let meta = table.snapshot();
            let Some(index) = meta.indexes.iter().find(|i| i.id == index_id) else { return Ok(()) };
            let (mut batch, mut count, mut bytes) = (ItemBatch::default(), 0i64, 0i64);
            for key in &keys {
                let Some(item) = store.get_item(key)? else { continue };
                let Some(entry_key) = entry_key(&meta, index, &item) else { continue };
                if store.get_item(&entry_key)?.is_some() {
                    continue; // written by a base write since the index was published
                }
                let entry = project_entry(&meta, index, &item);
                count += 1;
                bytes += item_size(&entry) as i64;
                batch.put(entry_key, &entry);
            }
            if !batch.is_empty() {
                store.commit(batch)?;
            }
            if let Some(state) = table.index_state(&index.name) {
                state.account(count, bytes);
            }
            metrics::counter!("dynamodb_index_backfilled_items_total").increment(count as u64);
        }
        start = last;
        start.push(0);
    }
    let mut meta = table.meta.write().expect("meta lock");
    if let Some(index) = meta.indexes.iter_mut().find(|i| i.id == index_id) {
        index.backfilling = false;
        store.put_table(&meta, None)?;
        tracing::info!(table = %meta.name, "global secondary index backfilled");
    }
    Ok(())
}
