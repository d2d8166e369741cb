//! The table engine: DynamoDB's semantics over the store, independent of the wire format.

pub mod backfill;
pub mod backups;
pub mod batch;
pub mod capacity;
pub mod collections;
pub mod error;
pub mod export;
pub mod expr;
pub mod idempotency;
pub mod indexes;
pub mod items;
mod key_condition;
pub mod keys;
pub mod legacy;
pub mod number;
pub mod partiql;
pub mod query;
pub mod streams;
pub mod tables;
pub mod transact;
pub mod ttl;
pub mod value;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use common::clock::SharedClock;

use crate::store::Store;
use capacity::TableCapacity;
use error::Result;
use tables::{Billing, TableMeta, not_found_table};

/// One table: its description, capacity buckets and running item statistics.
pub struct Table {
    pub meta: RwLock<TableMeta>,
    pub capacity: RwLock<TableCapacity>,
    pub item_count: AtomicI64,
    pub size_bytes: AtomicI64,
    /// Secondary indexes' buckets and statistics, by index name.
    pub indexes: RwLock<HashMap<String, Arc<indexes::IndexState>>>,
}

impl Table {
    fn new(meta: TableMeta, clock: SharedClock) -> Self {
        let capacity = TableCapacity::new(&meta.name, &meta.billing, clock.clone());
        let states = meta
            .indexes
            .iter()
            .map(|i| (i.name.clone(), indexes::IndexState::new(&meta.name, i, clock.clone())))
            .collect();
        Self {
            meta: RwLock::new(meta),
            capacity: RwLock::new(capacity),
            item_count: AtomicI64::new(0),
            size_bytes: AtomicI64::new(0),
            indexes: RwLock::new(states),
        }
    }

    fn apply_billing(&self, billing: &Billing) {
        self.capacity.write().expect("capacity lock").reconfigure(billing);
    }

    pub fn snapshot(&self) -> TableMeta {
        self.meta.read().expect("meta lock").clone()
    }

    /// Keeps ItemCount / TableSizeBytes current after a write replaced `old` by `new` (sizes in bytes).
    pub fn account(&self, old: Option<usize>, new: Option<usize>) {
        let count = i64::from(new.is_some()) - i64::from(old.is_some());
        self.item_count.fetch_add(count, Ordering::Relaxed);
        self.size_bytes.fetch_add(new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64, Ordering::Relaxed);
    }
}

/// Recounts a table's items and bytes after a restart, in the background so that start-up does not
/// wait for a scan of every table. The iterator reads one consistent view; writes after it add their
/// deltas to the same counters, so the totals converge (DynamoDB's ItemCount is approximate too).
fn spawn_statistics(store: Store, table: Arc<Table>) {
    std::thread::spawn(move || {
        let meta = table.snapshot();
        let spaces = std::iter::once((meta.id, None)).chain(meta.indexes.iter().map(|i| (i.id, Some(i.name.clone()))));
        for (id, index) in spaces {
            let prefix = store::keys::table_prefix(id);
            let (mut count, mut size) = (0i64, 0i64);
            let scanned = store.scan_items(
                common::kv::KeyRange::prefix(&prefix),
                common::kv::Direction::Forward,
                |_, item, _| {
                    count += 1;
                    size += value::item_size(&item) as i64;
                    true
                },
            );
            match (scanned, index) {
                (Ok(()), None) => {
                    table.item_count.fetch_add(count, Ordering::Relaxed);
                    table.size_bytes.fetch_add(size, Ordering::Relaxed);
                }
                (Ok(()), Some(name)) => {
                    if let Some(state) = table.index_state(&name) {
                        state.account(count, size);
                    }
                }
                (Err(e), _) => tracing::warn!(error = %e, "recounting a table's items failed"),
            }
        }
    });
}

/// Striped locks serialising read-modify-write of one item (conditions, updates) without a global lock.
const ITEM_LOCKS: usize = 1024;

pub struct Engine {
    store: Store,
    tables: RwLock<HashMap<String, Arc<Table>>>,
    clock: SharedClock,
    next_table_id: AtomicU64,
    item_locks: Arc<Vec<Mutex<()>>>,
    transact_tokens: idempotency::TokenCache,
    /// Numbers stream records (engine-wide) and knows which are still being committed.
    sequencer: Arc<streams::Sequencer>,
    /// Per stream key space: the first sequence number not yet trimmed away.
    stream_horizons: Mutex<HashMap<u64, u64>>,
    /// On-demand backups by id (shared with the threads that copy them).
    backups: Arc<RwLock<std::collections::BTreeMap<String, backups::BackupMeta>>>,
    exports: export::Exports,
    /// The item collection size limit (10 GB; smaller in tests).
    collection_limit: AtomicU64,
    /// Storage keys of items in ongoing transactions.
    transacting: Mutex<std::collections::HashSet<Vec<u8>>>,
    export_sink: RwLock<Option<Arc<dyn export::ExportSink>>>,
}

impl Engine {
    /// Loads every table and recomputes item counts and sizes from the stored items.
    pub fn open(store: Store, clock: SharedClock) -> Result<Self> {
        let (metas, next, dropped) = store.load_tables()?;
        let next = metas
            .iter()
            .flat_map(|m| {
                std::iter::once(m.id).chain(m.indexes.iter().map(|i| i.id)).chain(m.streams.iter().map(|s| s.id))
            })
            .map(|id| id + 1)
            .max()
            .unwrap_or(1)
            .max(next);
        let (largest_seq, horizons) = Self::stream_state(&store, &metas)?;
        let saved_backups = Self::load_backups(&store)?;
        let next = saved_backups.values().map(|b| b.key_space + 1).max().unwrap_or(0).max(next);
        for id in dropped {
            tables::spawn_purge(store.clone(), id);
        }
        let mut tables = HashMap::new();
        let item_locks: Arc<Vec<Mutex<()>>> = Arc::new((0..ITEM_LOCKS).map(|_| Mutex::new(())).collect());
        for meta in metas {
            let table = Arc::new(Table::new(meta, clock.clone()));
            spawn_statistics(store.clone(), table.clone());
            for index in table.snapshot().indexes.iter().filter(|i| i.backfilling) {
                backfill::spawn_backfill(store.clone(), item_locks.clone(), table.clone(), index.id);
            }
            tables.insert(table.snapshot().name.clone(), table);
        }
        let store_for_exports = store.clone();
        let engine = Self {
            store,
            tables: RwLock::new(tables),
            clock,
            next_table_id: AtomicU64::new(next),
            item_locks,
            transact_tokens: Default::default(),
            sequencer: streams::Sequencer::new(largest_seq),
            stream_horizons: Mutex::new(horizons),
            backups: Arc::new(RwLock::new(saved_backups)),
            exports: Arc::new(RwLock::new(Self::load_exports(&store_for_exports)?)),
            export_sink: RwLock::new(None),
            collection_limit: AtomicU64::new(collections::ITEM_COLLECTION_LIMIT),
            transacting: Mutex::new(Default::default()),
        };
        engine.restore_tokens()?;
        engine.resume_restores();
        Ok(engine)
    }

    /// The table called `name`. Data-plane calls report DynamoDB's short not-found message.
    pub fn table_named(&self, name: &str, control_plane: bool) -> Result<Arc<Table>> {
        self.tables.read().expect("tables lock").get(name).cloned().ok_or_else(|| {
            if control_plane {
                not_found_table(name)
            } else {
                error::EngineError::ResourceNotFound("Requested resource not found".into())
            }
        })
    }

    fn lock_stripe(&self, key: &[u8]) -> usize {
        crate::store::keys::stable_hash(key) as usize % ITEM_LOCKS
    }

    fn lock_item(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        self.item_locks[self.lock_stripe(key)].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks several items at once, in stripe order so that concurrent batches cannot deadlock.
    fn lock_items(&self, keys: &[Vec<u8>]) -> Vec<MutexGuard<'_, ()>> {
        lock_stripes(&self.item_locks, keys)
    }
}

/// Locks the stripes of several items at once, in stripe order so that concurrent callers cannot
/// deadlock.
fn lock_stripes<'a>(locks: &'a [Mutex<()>], keys: &[Vec<u8>]) -> Vec<MutexGuard<'a, ()>> {
    let mut stripes: Vec<usize> =
        keys.iter().map(|k| crate::store::keys::stable_hash(k) as usize % locks.len()).collect();
    stripes.sort_unstable();
    stripes.dedup();
    stripes.into_iter().map(|s| locks[s].lock().unwrap_or_else(|e| e.into_inner())).collect()
}

use crate::store;
