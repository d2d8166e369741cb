//! BatchGetItem (≤ 100 keys, 16 MB of response) and BatchWriteItem (≤ 25 puts/deletes). Work a
//! throttled table cannot take is returned as UnprocessedKeys / UnprocessedItems.

use std::collections::HashMap;

use super::Engine;
use super::capacity::{Consumed, read_half_units, write_units};
use super::error::{EngineError, Result, invalid};
use super::expr::eval::project;
use super::items::{placeholders, projection_paths};
use super::keys::{key_of_item, key_of_key};
use super::value::{Item, MAX_ITEM_SIZE, item_size, validate_value};
use crate::store::ItemBatch;

pub const MAX_BATCH_GET: usize = 100;
pub const MAX_BATCH_WRITE: usize = 25;
pub const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct KeysAndAttributes {
    pub keys: Vec<Item>,
    pub consistent: bool,
    pub projection: Option<String>,
    pub attributes_to_get: Option<Vec<String>>,
    pub names: Option<HashMap<String, String>>,
}

#[derive(Debug, Default)]
pub struct BatchGetOutcome {
    pub responses: Vec<(String, Vec<Item>)>,
    pub unprocessed: Vec<(String, KeysAndAttributes)>,
    pub consumed: Vec<Consumed>,
}

#[derive(Debug, Clone)]
pub enum WriteRequest {
    Put(Item),
    Delete(Item),
}

#[derive(Debug, Default)]
pub struct BatchWriteOutcome {
    pub unprocessed: Vec<(String, Vec<WriteRequest>)>,
    pub consumed: Vec<Consumed>,
}

impl Engine {
    pub fn batch_get(&self, request: Vec<(String, KeysAndAttributes)>) -> Result<BatchGetOutcome> {
        let total: usize = request.iter().map(|(_, k)| k.keys.len()).sum();
        if total > MAX_BATCH_GET {
            return Err(invalid("Too many items requested for the BatchGetItem call"));
        }
        if request.is_empty() {
            return Err(invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        // Validate everything before reading anything; the request's shape before any table lookup.
        if let Some((name, _)) = request.iter().find(|(_, ka)| ka.keys.is_empty()) {
            return Err(invalid(format!(
                "1 validation error detected: Value '[]' at 'requestItems.{name}.member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1"
            )));
        }
        let mut plans = Vec::new();
        for (name, ka) in &request {
            let table = self.table_named(name, false)?;
            let meta = table.snapshot();
            let mut ph = placeholders(&ka.names, &None, &[("ProjectionExpression", ka.projection.is_some())])?;
            let paths = projection_paths(&ka.projection, &ka.attributes_to_get, &mut ph)?;
            ph.check_unused()?;
            let mut keys = Vec::new();
            for k in &ka.keys {
                let key = key_of_key(&meta, k)?;
                if keys.iter().any(|(s, _): &(Vec<u8>, Item)| *s == key.storage) {
                    return Err(invalid("Provided list of item keys contains duplicates"));
                }
                keys.push((key.storage, k.clone()));
            }
            plans.push((name.clone(), table, ka, paths, keys));
        }
        let mut out = BatchGetOutcome::default();
        let mut bytes = 0usize;
        let mut throttled_all = true;
        for (name, table, ka, paths, keys) in plans {
            let capacity = table.capacity.read().expect("capacity lock");
            let mut found = Vec::new();
            let mut unprocessed = Vec::new();
            let mut units = 0;
            for (storage, key) in keys {
                if bytes >= MAX_BATCH_GET_BYTES || capacity.admit_read().is_err() {
                    unprocessed.push(key);
                    continue;
                }
                throttled_all = false;
                let item = self.store.get_item(&storage)?;
                let size = item.as_ref().map(item_size).unwrap_or(0);
                let u = read_half_units(size, ka.consistent);
                capacity.charge_read(u);
                units += u;
                if let Some(item) = item {
                    bytes += size;
                    found.push(match &paths {
                        Some(p) => project(&item, p),
                        None => item,
                    });
                }
            }
            if units > 0 {
                out.consumed.push(Consumed::read(&name, units));
            }
            out.responses.push((name.clone(), found));
            if !unprocessed.is_empty() {
                out.unprocessed.push((name, KeysAndAttributes { keys: unprocessed, ..ka.clone() }));
            }
        }
        if throttled_all {
            return Err(EngineError::Throttled);
        }
        Ok(out)
    }

    pub fn batch_write(&self, request: Vec<(String, Vec<WriteRequest>)>) -> Result<BatchWriteOutcome> {
        let total: usize = request.iter().map(|(_, w)| w.len()).sum();
        // Each table's list holds 1 to 25 requests (an empty one is refused even beside others); only
        // then is the total across tables held to 25.
        if request.iter().any(|(_, w)| w.is_empty() || w.len() > MAX_BATCH_WRITE) {
            return Err(invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
            ));
        }
        if total > MAX_BATCH_WRITE {
            return Err(invalid("Too many items requested for the BatchWriteItem call"));
        }
        if request.is_empty() {
            return Err(invalid(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        let mut plans = Vec::new();
        let mut all_keys: Vec<Vec<u8>> = Vec::new();
        for (name, writes) in &request {
            let table = self.table_named(name, false)?;
            let meta = table.snapshot();
            let mut ops = Vec::new();
            for w in writes {
                let (storage, new) = match w {
                    WriteRequest::Put(item) => {
                        for v in item.values() {
                            validate_value(v, 0)?;
                        }
                        if item_size(item) > MAX_ITEM_SIZE {
                            return Err(invalid("Item size has exceeded the maximum allowed size"));
                        }
                        super::indexes::check_index_keys(&meta, item)?;
                        (key_of_item(&meta, item)?.storage, Some(item.clone()))
                    }
                    WriteRequest::Delete(key) => (key_of_key(&meta, key)?.storage, None),
                };
                if all_keys.contains(&storage) {
                    return Err(invalid("Provided list of item keys contains duplicates"));
                }
                all_keys.push(storage.clone());
                ops.push((storage, new, w.clone()));
            }
            plans.push((name.clone(), table, meta, ops));
        }
        let _guards = self.lock_items(&all_keys);
        let mut batch = ItemBatch::default();
        let mut out = BatchWriteOutcome::default();
        let mut accounting = Vec::new();
        let mut index_deltas = Vec::new();
        let mut throttled_all = true;
        let mut tickets = Vec::new();
        for (name, table, _, ops) in &plans {
            let capacity = table.capacity.read().expect("capacity lock");
            if capacity.admit_write().is_err() || table.admit_index_writes().is_err() {
                out.unprocessed.push((name.clone(), ops.iter().map(|(_, _, w)| w.clone()).collect()));
                continue;
            }
            throttled_all = false;
            let mut units = 0;
            let mut deltas = Vec::new();
            for (storage, new, _) in ops {
                let old = self.store.get_item(storage)?;
                self.check_collection(&table.meta.read().expect("meta lock"), old.as_ref(), new.as_ref())?;
                let (old_size, new_size) = (old.as_ref().map(item_size), new.as_ref().map(item_size));
                units += write_units(old_size.unwrap_or(0).max(new_size.unwrap_or(0)));
                match new {
                    Some(item) => batch.put(storage.clone(), item),
                    None => batch.delete(storage.clone()),
                }
                let meta = table.meta.read().expect("meta lock");
                deltas.extend(super::indexes::stage(&meta, old.as_ref(), new.as_ref(), &mut batch));
                tickets.extend(self.stage_stream(&meta, old.as_ref(), new.as_ref(), false, &mut batch));
                drop(meta);
                accounting.push((table.clone(), old_size, new_size));
            }
            capacity.charge_write(units);
            out.consumed.push(Consumed::write(name, units));
            index_deltas.push((table.clone(), deltas));
        }
        if throttled_all {
            return Err(EngineError::Throttled);
        }
        self.store.commit(batch)?;
        drop(tickets);
        for (table, old, new) in accounting {
            table.account(old, new);
        }
        for ((table, deltas), consumed) in index_deltas.into_iter().zip(out.consumed.iter_mut()) {
            table.settle_indexes(&deltas, 1, Some(consumed));
        }
        Ok(out)
    }
}
