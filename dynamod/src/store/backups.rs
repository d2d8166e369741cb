//! Backups and exports on disk. Their descriptions live in the `tables` column family under
//! prefixes no table name can have; a backup's items are a key space of their own in `items`,
//! copied from a snapshot of the table.

use common::kv::{Direction, KeyRange, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::table_prefix;
use super::{ITEMS, Store, TABLES, dropped_key};
use crate::engine::error::{EngineError, Result};
use crate::engine::value::Item;

pub const BACKUP_PREFIX: &[u8] = b"\x02backup-";
pub const EXPORT_PREFIX: &[u8] = b"\x03export-";
/// TransactWriteItems ClientRequestTokens within their ten minutes (see `engine::idempotency`).
pub const TOKEN_PREFIX: &[u8] = b"\x04token-";
/// Items copied per write batch.
const COPY_BATCH: usize = 500;

fn internal(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(e.to_string())
}

impl Store {
    pub fn put_record<T: Serialize>(&self, prefix: &[u8], id: &str, record: &T) -> Result<()> {
        let json = serde_json::to_vec(record).map_err(internal)?;
        Ok(self.kv.put(TABLES, &[prefix, id.as_bytes()].concat(), &json)?)
    }

    /// Deletes the records `ids` under `prefix` in one write.
    pub fn delete_records(&self, prefix: &[u8], ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for id in ids {
            batch.delete(TABLES, [prefix, id.as_bytes()].concat());
        }
        Ok(self.kv.write(batch)?)
    }

    pub fn load_records<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for entry in self.kv.scan(TABLES, KeyRange::prefix(prefix), Direction::Forward)? {
            let (_, v) = entry?;
            out.push(serde_json::from_slice(&v).map_err(internal)?);
        }
        Ok(out)
    }

    /// Deletes a backup's record and marks its key space for purging (resumed after a restart).
    pub fn delete_backup(&self, id: &str, key_space: u64) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(TABLES, [BACKUP_PREFIX, id.as_bytes()].concat());
        batch.put(TABLES, dropped_key(key_space), Vec::new());
        Ok(self.kv.write(batch)?)
    }

    /// Calls `f` with every item of key space `from` as of one consistent snapshot; `taken` runs as
    /// soon as the snapshot exists (the caller's point in time), before the items are read.
    pub fn snapshot_items(
        &self,
        from: u64,
        taken: impl FnOnce(),
        mut f: impl FnMut(&[u8], Item) -> Result<()>,
    ) -> Result<()> {
        let snapshot = self.kv.snapshot();
        taken();
        for entry in snapshot.scan(ITEMS, KeyRange::prefix(&table_prefix(from)), Direction::Forward)? {
            let (k, v) = entry?;
            let item = super::codec::decode_item(&v).map_err(|_| internal("corrupt item record"))?;
            f(&k, item)?;
        }
        Ok(())
    }

    /// Copies key space `from` as of a snapshot into key space `to` (same key suffixes); returns the
    /// number of items and their size as DynamoDB counts it.
    pub fn copy_snapshot(&self, from: u64, to: u64) -> Result<(u64, u64)> {
        let mut batch = WriteBatch::new();
        let mut copied = (0, 0);
        self.snapshot_items(
            from,
            || {},
            |k, item| {
                let key = [&to.to_be_bytes()[..], &k[8..]].concat();
                batch.put(ITEMS, key, super::codec::encode_item(&item));
                copied.0 += 1;
                copied.1 += crate::engine::value::item_size(&item) as u64;
                if batch.len() >= COPY_BATCH {
                    self.kv.write(std::mem::take(&mut batch))?;
                }
                Ok(())
            },
        )?;
        if !batch.is_empty() {
            self.kv.write(batch)?;
        }
        Ok(copied)
    }
}
