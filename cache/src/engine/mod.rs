//! The cache's semantics: a sharded in-memory keyspace of 16 databases, typed values, expiry, eviction,
//! blocking-pop wake-ups and pub/sub. Knows nothing about RESP or memcached framing.

pub mod blocking;
pub mod config;
pub mod error;
pub mod eviction;
pub mod expire;
pub mod glob;
pub mod keyspace;
pub mod memcache;
pub mod pubsub;
pub mod scan;
pub mod small;
pub mod strings;
pub mod table;
pub mod zset;

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use common::clock::SharedClock;
use parking_lot::Mutex;

pub use config::{EngineConfig, Policy};
pub use error::{CacheError, CacheResult};
pub use keyspace::{Blob, Entry, Shard, Value, View};

/// Most keys one [`Engine::prefetch`] call looks at (a pipelined batch).
pub const PREFETCH_MAX: usize = 32;
/// Index slots below which a shard's table is not worth prefetching (2 KiB of index, ~200 entries).
const PREFETCH_MIN_INDEX: u32 = 256;

/// Databases Redis clients can SELECT.
pub const DATABASES: usize = 16;
/// memcached's items live in one more, hidden database, so they share memory accounting, eviction
/// and expiry with the Redis keyspace.
pub const MEMCACHED_DB: usize = DATABASES;
pub const ALL_DATABASES: usize = DATABASES + 1;

#[derive(Default)]
pub struct Stats {
    pub expired_keys: AtomicU64,
    pub evicted_keys: AtomicU64,
    pub commands: AtomicU64,
    pub connections_received: AtomicU64,
    pub connected_clients: AtomicUsize,
    pub rejected_oom: AtomicU64,
    pub dirty: AtomicU64,
}

pub struct Engine {
    /// `DATABASES * shards_per_db` shards; slot = db * shards_per_db + shard.
    shards: Box<[Padded<Mutex<Shard>>]>,
    /// Index slots of each shard's table as last seen under its lock (see [`Engine::note_index_size`]).
    index_sizes: Box<[AtomicU32]>,
    pub shards_per_db: usize,
    pub clock: SharedClock,
    pub config: EngineConfig,
    pub stats: Stats,
    pub blocking: blocking::Registry,
    pub pubsub: pubsub::PubSub,
    pub(crate) evict_state: Mutex<eviction::Pool>,
    pub started_ms: u64,
}

impl Engine {
    /// An engine with `shards_per_db` rounded up to a power of two.
    pub fn new(clock: SharedClock, shards_per_db: usize, config: EngineConfig) -> Self {
        let n = shards_per_db.max(1).next_power_of_two();
        let shards = (0..ALL_DATABASES * n).map(|_| Padded(Mutex::new(Shard::default()))).collect();
        let index_sizes = (0..ALL_DATABASES * n).map(|_| AtomicU32::new(0)).collect();
        let started_ms = wall_ms(&clock);
        Engine {
            shards,
            index_sizes,
            shards_per_db: n,
            clock,
            config,
            stats: Stats::default(),
            blocking: blocking::Registry::default(),
            pubsub: pubsub::PubSub::default(),
            evict_state: Mutex::new(eviction::Pool::default()),
            started_ms,
        }
    }

    /// Shards sized to the machine: 16 per core keeps lock collisions rare.
    pub fn default_shards() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) * 16
    }

    pub fn slot(&self, db: usize, key: &[u8]) -> usize {
        self.slot_of_hash(db, keyspace::hash_key(key))
    }

    /// The shard of a key hash: its high bits (the table inside the shard uses the low 32).
    #[inline]
    fn slot_of_hash(&self, db: usize, hash: u64) -> usize {
        // shards_per_db is a power of two.
        db * self.shards_per_db + ((hash >> 40) as usize & (self.shards_per_db - 1))
    }

    pub fn now_ms(&self) -> u64 {
        wall_ms(&self.clock)
    }

    /// Pins this thread's notion of "now" for a run of pipelined commands, so each command does not
    /// read two clocks (they were ~5 % of a GET's CPU). Views created while the guard lives use the
    /// pinned time; the connection re-pins after slow commands and every few commands. The guard is
    /// `!Send`, so the compiler refuses to keep it across an `.await` (another task on this thread
    /// would otherwise see a stale time).
    pub fn pin_time(&self) -> PinnedTime {
        PINNED.set(Some((self as *const Engine as usize, self.now_ms(), self.lru_clock())));
        PinnedTime { _not_send: PhantomData }
    }

    /// Wall ms and LRU clock for a new view: the pinned pair if this engine pinned one.
    fn view_time(&self) -> (u64, u32) {
        match PINNED.get() {
            Some((eng, now, lru)) if eng == self as *const Engine as usize => (now, lru),
            _ => (self.now_ms(), self.lru_clock()),
        }
    }

    pub fn lru_clock(&self) -> u32 {
        (self.clock.monotonic_nanos() / 1_000_000) as u32
    }

    /// Hint that `keys` of database `db` are about to be looked up (the next commands of a pipelined
    /// batch): loads their index slots, then the entries those point at, then the values' heap
    /// blocks, so the batch's cache misses overlap instead of being paid one after another.
    ///
    /// The shards are try-locked up front and held for the three passes: a locked instruction waits
    /// for every earlier load, so locking per key between the passes would serialise the very misses
    /// this overlaps. Shards another thread holds are skipped (this is only a hint).
    pub fn prefetch<'k>(&self, db: usize, keys: impl Iterator<Item = &'k [u8]>) {
        // Pass 0: the shards' lock words. The other connection thread locks the same shards, so
        // their lines are usually in its core's cache; fetched one try_lock at a time (a locked
        // instruction waits for the loads before it), those transfers were most of this function's
        // time. Requested together first, they overlap like the passes below.
        let mut wanted = [(0u64, 0usize); PREFETCH_MAX];
        let mut m = 0;
        for key in keys.take(PREFETCH_MAX) {
            let h = keyspace::hash_key(key);
            // A pipeline hammering one key (LPUSH mylist …) gains nothing and would only add lock
            // traffic on that key's shard.
            if m > 0 && wanted[m - 1].0 == h {
                continue;
            }
            let slot = self.slot_of_hash(db, h);
            table::prefetch(&*self.shards[slot]);
            wanted[m] = (h, slot);
            m += 1;
        }
        let mut hashes = [(0u64, 0usize); PREFETCH_MAX];
        let mut n = 0;
        let mut guards: smallvec::SmallVec<[(usize, parking_lot::MutexGuard<'_, Shard>); PREFETCH_MAX]> =
            smallvec::SmallVec::new();
        for &(h, slot) in &wanted[..m] {
            // A small table stays in cache on its own; locking its shard for a hint would cost more
            // than it saves (an all-miss GET run on an empty keyspace spent 5 % here).
            if self.index_sizes[slot].load(Ordering::Relaxed) < PREFETCH_MIN_INDEX {
                continue;
            }
            let g = match guards.iter().position(|(s, _)| *s == slot) {
                Some(g) => g,
                None => match self.shards[slot].try_lock() {
                    Some(guard) => {
                        guards.push((slot, guard));
                        guards.len() - 1
                    }
                    None => continue,
                },
            };
            hashes[n] = (h, g);
            n += 1;
        }
        if n < 2 {
            return;
        }
        let batch = &hashes[..n];
        for &(h, g) in batch {
            guards[g].1.map.prefetch_slot(h);
        }
        for &(h, g) in batch {
            guards[g].1.map.prefetch_entry(h);
        }
        for &(h, g) in batch {
            guards[g].1.map.prefetch_value(h);
        }
    }

    /// Records the index size of the table at `slot` (called under its lock when a view ends). Only
    /// [`Engine::prefetch`] reads it, as a hint: a stale value merely skips or wastes one prefetch.
    #[inline]
    pub(crate) fn note_index_size(&self, slot: usize, slots: usize) {
        let n = slots.min(u32::MAX as usize) as u32;
        let a = &self.index_sizes[slot];
        if a.load(Ordering::Relaxed) != n {
            a.store(n, Ordering::Relaxed);
        }
    }

    /// Locks the shard of one key (the common single-key command). The key is hashed once here and
    /// the view reuses that hash for its lookups of the same key; borrowing `key` for as long as the
    /// view lives is what lets the view recognise it by address.
    pub fn lock_key<'a>(&'a self, db: usize, key: &'a [u8]) -> View<'a> {
        let hash = keyspace::hash_key(key);
        let slot = self.slot_of_hash(db, hash);
        let mut v = View::new(self, smallvec::smallvec![(slot, self.shards[slot].lock())], db);
        v.key_hash = Some((key.as_ptr(), key.len(), hash));
        v
    }

    /// Locks the shards holding `keys` in database `db` (in slot order, so never deadlocks).
    pub fn lock_keys<'a, K: AsRef<[u8]>>(&'a self, db: usize, keys: impl IntoIterator<Item = K>) -> View<'a> {
        let mut keys = keys.into_iter();
        let first = keys.next();
        let second = keys.next();
        if let (Some(k), None) = (&first, &second) {
            // The common single-key command: one lock, no sorting.
            let slot = self.slot(db, k.as_ref());
            return View::new(self, smallvec::smallvec![(slot, self.shards[slot].lock())], db);
        }
        let mut slots: Vec<usize> =
            first.into_iter().chain(second).chain(keys).map(|k| self.slot(db, k.as_ref())).collect();
        slots.sort_unstable();
        slots.dedup();
        self.lock_slots(slots, db)
    }

    /// Locks every shard of one database.
    pub fn lock_db(&self, db: usize) -> View<'_> {
        let n = self.shards_per_db;
        self.lock_slots((db * n..(db + 1) * n).collect(), db)
    }

    /// Locks the whole keyspace (MULTI/EXEC, FLUSHALL, snapshots).
    pub fn lock_all(&self, db: usize) -> View<'_> {
        self.lock_slots((0..self.shards.len()).collect(), db)
    }

    fn lock_slots(&self, slots: Vec<usize>, db: usize) -> View<'_> {
        let guards = slots.into_iter().map(|s| (s, self.shards[s].lock())).collect();
        View::new(self, guards, db)
    }

    /// Locks one shard by slot (background cycles walk shards one at a time).
    pub fn lock_slot(&self, slot: usize) -> parking_lot::MutexGuard<'_, Shard> {
        self.shards[slot].lock()
    }

    pub fn slot_count(&self) -> usize {
        self.shards.len()
    }

    /// Keys and keys-with-TTL of each database (INFO keyspace), without locking more than one shard
    /// at a time.
    pub fn keyspace_sizes(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); ALL_DATABASES];
        for (slot, shard) in self.shards.iter().enumerate() {
            let g = shard.lock();
            let db = slot / self.shards_per_db;
            out[db].0 += g.map.len();
            out[db].1 += g.volatile;
        }
        out
    }

    /// Keyspace hits and misses summed over the shards.
    pub fn hits_misses(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(h, m), s| {
            let g = s.lock();
            (h + g.hits, m + g.misses)
        })
    }

    pub fn reset_hits_misses(&self) {
        for s in self.shards.iter() {
            let mut g = s.lock();
            g.hits = 0;
            g.misses = 0;
        }
    }

    pub fn used_memory(&self) -> usize {
        crate::alloc::allocated_bytes()
    }

    /// Makes room before a write that may grow memory: evicts per the policy until `used_memory` is
    /// under `maxmemory`, or refuses with OOM (noeviction, or nothing left to evict).
    pub fn ensure_memory(&self) -> CacheResult<()> {
        let max = self.config.maxmemory.load(Ordering::Relaxed);
        if max == 0 || (self.used_memory() as u64) <= max {
            return Ok(());
        }
        eviction::evict_until_under(self, max).inspect_err(|_| {
            self.stats.rejected_oom.fetch_add(1, Ordering::Relaxed);
        })
    }
}

/// A shard (its lock word and the hit/miss counters written under it) on cache lines of its own.
/// Unpadded (136 bytes), neighbouring shards shared lines, so two threads working on keys of
/// different shards could still bounce one line between their cores on every lock; the lock's CAS
/// is already the costliest instruction of a pipelined GET. 128 bytes because x86 fetches lines in
/// pairs.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

thread_local! {
    /// (engine address, wall ms, LRU clock) pinned by [`Engine::pin_time`].
    static PINNED: Cell<Option<(usize, u64, u32)>> = const { Cell::new(None) };
}

/// Guard of [`Engine::pin_time`]; unpins on drop.
pub struct PinnedTime {
    _not_send: PhantomData<*const ()>,
}

impl Drop for PinnedTime {
    fn drop(&mut self) {
        PINNED.set(None);
    }
}

pub fn wall_ms(clock: &SharedClock) -> u64 {
    (clock.wall().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}
