//! Item collections of tables with local secondary indexes: the items sharing a partition key plus
//! their LSI entries may not exceed 10 GB (ItemCollectionSizeLimitExceededException), and writes
//! report the collection's size (ReturnItemCollectionMetrics = SIZE).
//!
//! The size is measured by reading the partition's key ranges (the table's and each LSI's), stopping
//! once past the limit, so a check costs at most one collection's worth of reading. Two writers to
//! different items of one collection can each pass the check concurrently and overshoot it by at most
//! one item each.

use std::sync::atomic::Ordering;

use common::kv::{Direction, KeyRange};

use super::Engine;
use super::error::{EngineError, Result};
use super::indexes::{entry_key, project_entry};
use super::keys::key_attributes;
use super::tables::TableMeta;
use super::value::{Item, item_size};
use crate::store::keys::partition_prefix;

pub const ITEM_COLLECTION_LIMIT: u64 = 10 * 1024 * 1024 * 1024;

/// ItemCollectionMetrics of a write.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionMetrics {
    /// The partition key attribute.
    pub key: Item,
    pub size_bytes: u64,
}

impl CollectionMetrics {
    /// SizeEstimateRangeGB: the GB interval around the size.
    pub fn range_gb(&self) -> (f64, f64) {
        let gb = (self.size_bytes as f64 / (1024.0 * 1024.0 * 1024.0)).floor();
        (gb, gb + 1.0)
    }
}

/// What one item weighs in its collection: itself and its LSI entries.
fn weight(meta: &TableMeta, item: Option<&Item>) -> u64 {
    let Some(item) = item else { return 0 };
    let lsi: usize = meta
        .indexes
        .iter()
        .filter(|i| !i.is_global() && entry_key(meta, i, item).is_some())
        .map(|i| item_size(&project_entry(meta, i, item)))
        .sum();
    (item_size(item) + lsi) as u64
}

impl Engine {
    pub fn set_item_collection_limit(&self, limit: u64) {
        self.collection_limit.store(limit, Ordering::Relaxed);
    }

    /// The size of `item`'s collection (reading stops past `cap`).
    fn collection_size(&self, meta: &TableMeta, item: &Item, cap: u64) -> Result<u64> {
        let Some(partition) = item.get(&meta.hash.name) else { return Ok(0) };
        let spaces = std::iter::once(meta.id).chain(meta.indexes.iter().filter(|i| !i.is_global()).map(|i| i.id));
        let mut total = 0u64;
        for id in spaces {
            self.store.scan_items(
                KeyRange::prefix(&partition_prefix(id, partition)),
                Direction::Forward,
                |_, i, _| {
                    total += item_size(&i) as u64;
                    total <= cap
                },
            )?;
            if total > cap {
                break;
            }
        }
        Ok(total)
    }

    /// For a table with local secondary indexes: refuses a write that would grow a collection past
    /// the limit, and returns the collection's size after the write.
    pub(super) fn check_collection(
        &self,
        meta: &TableMeta,
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<Option<CollectionMetrics>> {
        if !meta.indexes.iter().any(|i| !i.is_global()) {
            return Ok(None);
        }
        let Some(any) = new.or(old) else { return Ok(None) };
        let limit = self.collection_limit.load(Ordering::Relaxed);
        let (before, after) = (weight(meta, old), weight(meta, new));
        let current = self.collection_size(meta, any, limit.saturating_add(before))?;
        let size = (current + after).saturating_sub(before);
        if after > before && size > limit {
            return Err(EngineError::ItemCollectionSizeLimitExceeded("Collection size exceeded.".into()));
        }
        let mut key = key_attributes(meta, any);
        if let Some(r) = &meta.range {
            key.remove(&r.name);
        }
        Ok(Some(CollectionMetrics { key, size_bytes: size }))
    }
}
