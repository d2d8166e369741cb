//! Persistence of tables and items on the `KvStore` seam: table descriptions in the `tables` column
//! family (JSON), items in `items` under the order-preserving keys of [`keys`], values in [`codec`]'s
//! binary form. Every change is one atomic, durable `WriteBatch`.

pub mod backups;
pub mod codec;
pub mod keys;
pub mod streams;

use std::path::Path;
use std::sync::Arc;

use common::kv::{Direction, KeyRange, KvStore, RocksKv, WriteBatch};
use serde::Serialize;

use crate::engine::error::{EngineError, Result};
use crate::engine::tables::TableMeta;
use crate::engine::value::Item;

const TABLES: &str = "tables";
const ITEMS: &str = "items";
/// Stream records, keyed `stream id (8 B) | sequence number (8 B)`.
const STREAMS: &str = "streams";
/// Table names are `[a-zA-Z0-9_.-]+`, so these keys never collide with one.
const NEXT_ID_KEY: &[u8] = b"\x00next-table-id";
const DROPPED_PREFIX: &[u8] = b"\x01dropped-";

fn dropped_key(id: u64) -> Vec<u8> {
    [DROPPED_PREFIX, &id.to_be_bytes()].concat()
}

#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn KvStore>,
}

/// Changes to items of one request, committed together.
#[derive(Default)]
pub struct ItemBatch {
    batch: WriteBatch,
}

impl ItemBatch {
    pub fn put(&mut self, key: Vec<u8>, item: &Item) {
        self.batch.put(ITEMS, key, codec::encode_item(item));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.batch.delete(ITEMS, key);
    }
    /// A stream record, committed atomically with the item change it describes.
    pub fn stream_record(&mut self, stream_id: u64, seq: u64, record: &crate::engine::streams::StreamRecord) {
        self.batch.put(STREAMS, streams::record_key(stream_id, seq), streams::encode_record(record));
    }
    /// A record (as [`Store::put_record`] writes it) committed with the item changes.
    pub fn record<T: Serialize>(&mut self, prefix: &[u8], id: &str, record: &T) -> Result<()> {
        let json = serde_json::to_vec(record).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.batch.put(TABLES, [prefix, id.as_bytes()].concat(), json);
        Ok(())
    }
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

fn corrupt(_: codec::Corrupt) -> EngineError {
    EngineError::Internal("corrupt item record".into())
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self> {
        let kv = RocksKv::open(dir, &[TABLES, ITEMS, STREAMS])?;
        Ok(Self { kv: Arc::new(kv) })
    }

    #[cfg(test)]
    pub fn memory() -> Self {
        Self { kv: Arc::new(common::kv::MemoryKv::new(&[TABLES, ITEMS, STREAMS])) }
    }

    /// Every table, the next unused table id, and the ids of dropped tables whose items may remain.
    pub fn load_tables(&self) -> Result<(Vec<TableMeta>, u64, Vec<u64>)> {
        let (mut tables, mut next_id, mut dropped) = (Vec::new(), 1, Vec::new());
        for entry in self.kv.scan(TABLES, KeyRange::all(), Direction::Forward)? {
            let (k, v) = entry?;
            if k == NEXT_ID_KEY {
                next_id = u64::from_be_bytes(
                    v.as_slice().try_into().map_err(|_| EngineError::Internal("corrupt table id counter".into()))?,
                );
            } else if k.starts_with(backups::BACKUP_PREFIX)
                || k.starts_with(backups::EXPORT_PREFIX)
                || k.starts_with(backups::TOKEN_PREFIX)
            {
                continue;
            } else if let Some(id) = k.strip_prefix(DROPPED_PREFIX) {
                dropped.push(u64::from_be_bytes(
                    id.try_into().map_err(|_| EngineError::Internal("corrupt dropped-table record".into()))?,
                ));
            } else {
                tables.push(
                    serde_json::from_slice(&v)
                        .map_err(|e| EngineError::Internal(format!("corrupt table record: {e}")))?,
                );
            }
        }
        Ok((tables, next_id, dropped))
    }

    /// Stores a table's description; `next_id` (when a table is created) is persisted with it, so a
    /// table id is never reused, even after a crash.
    pub fn put_table(&self, meta: &TableMeta, next_id: Option<u64>) -> Result<()> {
        let json = serde_json::to_vec(meta).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(TABLES, meta.name.as_bytes(), json);
        if let Some(next) = next_id {
            batch.put(TABLES, NEXT_ID_KEY, next.to_be_bytes());
        }
        Ok(self.kv.write(batch)?)
    }

    /// Persists the table id counter after ids were allocated for something other than a table.
    pub fn put_next_id(&self, next: u64) -> Result<()> {
        Ok(self.kv.put(TABLES, NEXT_ID_KEY, &next.to_be_bytes())?)
    }

    /// Drops a table's description and records that its items are to be purged (resumed on restart).
    /// `ids` are the table's key space and its indexes'.
    pub fn delete_table(&self, name: &str, ids: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(TABLES, name.as_bytes());
        for id in ids {
            batch.put(TABLES, dropped_key(*id), Vec::new());
        }
        Ok(self.kv.write(batch)?)
    }

    /// Stores a table's description without one of its indexes and records that the index's
    /// entries are to be purged.
    pub fn drop_index(&self, meta: &TableMeta, index_id: u64) -> Result<()> {
        let json = serde_json::to_vec(meta).map_err(|e| EngineError::Internal(e.to_string()))?;
        let mut batch = WriteBatch::new();
        batch.put(TABLES, meta.name.as_bytes(), json);
        batch.put(TABLES, dropped_key(index_id), Vec::new());
        Ok(self.kv.write(batch)?)
    }

    pub fn get_item(&self, key: &[u8]) -> Result<Option<Item>> {
        match self.kv.get(ITEMS, key)? {
            Some(v) => Ok(Some(codec::decode_item(&v).map_err(corrupt)?)),
            None => Ok(None),
        }
    }

    pub fn commit(&self, batch: ItemBatch) -> Result<()> {
        Ok(self.kv.write(batch.batch)?)
    }

    /// Calls `f` with each item in `range` (in `direction`) until it returns false.
    pub fn scan_items(
        &self,
        range: KeyRange,
        direction: Direction,
        mut f: impl FnMut(&[u8], Item, usize) -> bool,
    ) -> Result<()> {
        for entry in self.kv.scan(ITEMS, range, direction)? {
            let (k, v) = entry?;
            let item = codec::decode_item(&v).map_err(corrupt)?;
            if !f(&k, item, v.len()) {
                break;
            }
        }
        Ok(())
    }

    /// Deletes every item (or stream record) of a dropped key space, in bounded batches.
    pub fn purge_table(&self, table_id: u64) -> Result<()> {
        let range = KeyRange::prefix(&keys::table_prefix(table_id));
        for cf in [ITEMS, STREAMS] {
            loop {
                let mut batch = WriteBatch::new();
                for entry in self.kv.scan(cf, range.clone(), Direction::Forward)?.take(1000) {
                    batch.delete(cf, entry?.0);
                }
                if batch.is_empty() {
                    break;
                }
                self.kv.write(batch)?;
            }
        }
        Ok(self.kv.delete(TABLES, &dropped_key(table_id))?)
    }
}
