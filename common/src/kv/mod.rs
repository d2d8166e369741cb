//! The key-value seam under every daemon's metadata: a narrow trait (get / write batch / range scan /
//! snapshot over named column families) with an in-memory and a RocksDB implementation. A distributed
//! engine will sit behind the same trait later, so nothing RocksDB-specific leaks through it.
//!
//! `write` returns only once the batch is durable (for RocksDB: in a synced WAL). Batches are atomic.

mod group_commit;
mod memory;
mod rocks;

#[cfg(test)]
mod conformance;

pub use group_commit::CommitStats;
pub use memory::MemoryKv;
pub use rocks::RocksKv;

/// Errors of a key-value store.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("unknown column family {0:?}")]
    UnknownColumnFamily(String),
    #[error("storage engine error: {0}")]
    Engine(String),
}

/// One change inside a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put { cf: String, key: Vec<u8>, value: Vec<u8> },
    Delete { cf: String, key: Vec<u8> },
}

/// Changes applied atomically: all or none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn put(&mut self, cf: &str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Put { cf: cf.into(), key: key.into(), value: value.into() });
        self
    }
    pub fn delete(&mut self, cf: &str, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(BatchOp::Delete { cf: cf.into(), key: key.into() });
        self
    }
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// Keys from `start` (inclusive) up to `end` (exclusive; `None` = to the end of the column family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Vec<u8>,
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    pub fn all() -> Self {
        Self { start: Vec::new(), end: None }
    }
    pub fn between(start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) -> Self {
        Self { start: start.into(), end: Some(end.into()) }
    }
    pub fn from(start: impl Into<Vec<u8>>) -> Self {
        Self { start: start.into(), end: None }
    }
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self { start: prefix.to_vec(), end: prefix_successor(prefix) }
    }
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }
}

/// The smallest key greater than every key starting with `prefix`, if there is one.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Reverse,
}

pub type KvPair = (Vec<u8>, Vec<u8>);
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KvPair, KvError>> + 'a>;

/// A consistent, read-only view of the store at one point in time.
pub trait KvSnapshot: Send + Sync {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    fn scan(&self, cf: &str, range: KeyRange, direction: Direction) -> Result<KvIter<'_>, KvError>;
}

/// The store. Reads see every write whose `write` call has returned.
pub trait KvStore: Send + Sync {
    fn get(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, KvError>;
    /// Applies `batch` atomically; returns once it is durable.
    fn write(&self, batch: WriteBatch) -> Result<(), KvError>;
    fn scan(&self, cf: &str, range: KeyRange, direction: Direction) -> Result<KvIter<'_>, KvError>;
    fn snapshot(&self) -> Box<dyn KvSnapshot + '_>;

    fn put(&self, cf: &str, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        let mut batch = WriteBatch::new();
        batch.put(cf, key, value);
        self.write(batch)
    }
    fn delete(&self, cf: &str, key: &[u8]) -> Result<(), KvError> {
        let mut batch = WriteBatch::new();
        batch.delete(cf, key);
        self.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn prefix_range_holds_exactly_the_keys_with_that_prefix(prefix in proptest::collection::vec(any::<u8>(), 0..4), key in proptest::collection::vec(any::<u8>(), 0..6)) {
            prop_assert_eq!(KeyRange::prefix(&prefix).contains(&key), key.starts_with(&prefix));
        }
    }
}
