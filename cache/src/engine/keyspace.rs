//! The sharded keyspace: entries, values, and the locked [`View`] every command runs against.
//!
//! Each database is split into `2^k` shards (sized to the cores), each behind its own mutex, so two
//! cores serve unrelated keys in parallel. A command locks the shards of its keys in slot order (no
//! deadlock); MULTI/EXEC and whole-keyspace commands lock every shard they may touch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indexmap::{IndexMap, IndexSet};
use parking_lot::MutexGuard;

use super::error::{CacheError, CacheResult};
use super::zset::ZSet;
use super::{Engine, eviction};

pub type Blob = Box<[u8]>;
pub type Hasher = foldhash::fast::RandomState;
pub type Map<K, V> = IndexMap<K, V, Hasher>;
pub type Set<K> = IndexSet<K, Hasher>;

#[derive(Clone)]
pub enum Value {
    Str(super::small::SmallBytes),
    Hash(Box<Map<super::small::SmallBytes, super::small::SmallBytes>>),
    List(Box<VecDeque<super::small::SmallBytes>>),
    Set(Box<Set<Blob>>),
    ZSet(Box<ZSet>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }
    /// Hint: start loading the value's heap block, if it has one.
    #[inline]
    pub fn prefetch(&self) {
        match self {
            Value::Str(super::small::SmallBytes::Heap(b)) => super::table::prefetch(&**b),
            Value::Str(_) => {}
            Value::Hash(h) => super::table::prefetch(&**h),
            Value::List(l) => super::table::prefetch(&**l),
            Value::Set(s) => super::table::prefetch(&**s),
            Value::ZSet(z) => super::table::prefetch(&**z),
        }
    }

    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
    /// What OBJECT ENCODING reports (Redis 7's thresholds).
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && super::strings::parse_int(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::Hash(h) if h.len() <= 128 && h.iter().all(|(k, v)| k.len() <= 64 && v.len() <= 64) => "listpack",
            Value::Hash(_) => "hashtable",
            Value::List(_) => "quicklist",
            Value::Set(s) if s.len() <= 512 && s.iter().all(|m| super::strings::parse_int(m).is_some()) => "intset",
            Value::Set(_) => "hashtable",
            Value::ZSet(z) if z.len() <= 128 => "listpack",
            Value::ZSet(_) => "skiplist",
        }
    }
}

pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 = persistent.
    pub expire_at: u64,
    /// LRU clock (ms) or LFU (minutes << 8 | log counter), depending on the policy; the SIEVE bit.
    pub meta: u32,
    pub visited: bool,
}

#[derive(Default)]
pub struct Shard {
    pub map: super::table::Table,
    pub volatile: usize,
    /// WATCHing connections per key: set to true when the key changes.
    pub watchers: HashMap<Blob, Vec<Arc<AtomicBool>>>,
    pub sweep_cursor: usize,
    pub sieve_hand: usize,
    /// Keyspace hits and misses of reads in this shard (summed by INFO; counted under the shard lock
    /// so the hot path touches no shared counter).
    pub hits: u64,
    pub misses: u64,
}

impl Shard {
    pub fn touch_watchers(&mut self, key: &[u8]) {
        if !self.watchers.is_empty()
            && let Some(list) = self.watchers.get(key)
        {
            for flag in list {
                flag.store(true, Ordering::Release);
            }
        }
    }
    pub fn touch_all_watchers(&mut self) {
        for list in self.watchers.values() {
            for flag in list {
                flag.store(true, Ordering::Release);
            }
        }
    }
    pub fn remove_index(&mut self, idx: usize) -> Option<(super::table::Key, Entry)> {
        let (k, e) = self.map.swap_remove_index(idx)?;
        if e.expire_at != 0 {
            self.volatile -= 1;
        }
        self.touch_watchers(&k);
        Some((k, e))
    }
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let idx = self.map.get_index_of(key)?;
        self.remove_index(idx).map(|(_, e)| e)
    }
    pub fn clear(&mut self) {
        self.touch_all_watchers();
        self.map = super::table::Table::default();
        self.volatile = 0;
        self.sweep_cursor = 0;
        self.sieve_hand = 0;
    }
}

/// Locked shards by slot; a single-key command's one guard lives inline (no allocation per command).
pub type Guards<'a> = smallvec::SmallVec<[(usize, MutexGuard<'a, Shard>); 1]>;

/// The shards a command holds, sorted by slot (`db * shards + shard`).
pub struct View<'a> {
    pub eng: &'a Engine,
    guards: Guards<'a>,
    pub db: usize,
    /// Wall time in Unix ms, fixed for the whole command (as Redis does).
    pub now: u64,
    lru_now: u32,
    /// Set when an expired key was removed while reading (the AOF logs a DEL for it).
    pub expired_keys: Vec<(usize, Blob)>,
    /// (address, length, hash) of the key [`Engine::lock_key`] locked: that key outlives the view,
    /// so a key at the same address and length is that key, and its hash is not computed again.
    pub(super) key_hash: Option<(*const u8, usize, u64)>,
}

impl Drop for View<'_> {
    fn drop(&mut self) {
        for (slot, shard) in &self.guards {
            self.eng.note_index_size(*slot, shard.map.index_slots());
        }
    }
}

impl<'a> View<'a> {
    pub(super) fn new(eng: &'a Engine, guards: Guards<'a>, db: usize) -> Self {
        let (now, lru_now) = eng.view_time();
        View { eng, guards, db, now, lru_now, expired_keys: Vec::new(), key_hash: None }
    }

    /// `hash_key(key)`, reusing the hash of the key the view was locked for.
    #[inline]
    fn hash_of(&self, key: &[u8]) -> u64 {
        match self.key_hash {
            Some((p, n, h)) if std::ptr::eq(p, key.as_ptr()) && n == key.len() => h,
            _ => hash_key(key),
        }
    }

    fn shard_at(&mut self, slot: usize) -> &mut Shard {
        let pos = if self.guards.len() == 1 {
            0
        } else {
            match self.guards.binary_search_by_key(&slot, |(s, _)| *s) {
                Ok(p) => p,
                Err(_) => panic!("command touched shard slot {slot} it did not lock"),
            }
        };
        debug_assert_eq!(self.guards[pos].0, slot);
        &mut self.guards[pos].1
    }

    /// The locked shard that holds `key` in the current database.
    pub fn shard(&mut self, key: &[u8]) -> &mut Shard {
        if self.guards.len() == 1 {
            // Single-key commands hold exactly their key's shard: skip re-hashing the key.
            debug_assert_eq!(self.guards[0].0, self.eng.slot(self.db, key));
            return &mut self.guards[0].1;
        }
        let slot = self.eng.slot(self.db, key);
        self.shard_at(slot)
    }

    /// Every locked shard of the current database (whole-db commands lock them all).
    pub fn db_shards(&mut self) -> impl Iterator<Item = &mut Shard> {
        let n = self.eng.shards_per_db;
        let db = self.db;
        self.guards.iter_mut().filter(move |(s, _)| s / n == db).map(|(_, g)| &mut **g)
    }

    pub fn all_shards(&mut self) -> impl Iterator<Item = (usize, &mut Shard)> {
        let n = self.eng.shards_per_db;
        self.guards.iter_mut().map(move |(s, g)| (*s / n, &mut **g))
    }

    /// Drops `key` if its TTL has passed; true if the key is live afterwards.
    fn expire_if_needed(&mut self, key: &[u8]) -> Option<usize> {
        let now = self.now;
        let db = self.db;
        let h = self.hash_of(key);
        let shard = self.shard(key);
        let idx = shard.map.get_index_of_hashed(h, key)?;
        let exp = shard.map[idx].expire_at;
        if exp != 0 && exp <= now {
            shard.remove_index(idx);
            self.eng.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
            self.expired_keys.push((db, key.into()));
            return None;
        }
        Some(idx)
    }

    /// Looks a key up for a read command: lazy expiry, hit/miss statistics, LRU/LFU update.
    pub fn read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let Some(idx) = self.expire_if_needed(key) else {
            self.shard(key).misses += 1;
            return None;
        };
        let (eng, lru) = (self.eng, self.lru_now);
        let shard = self.shard(key);
        shard.hits += 1;
        let e = &mut shard.map[idx];
        e.visited = true;
        e.meta = eviction::on_access(eng, e.meta, lru);
        Some(e)
    }

    /// Looks a key up without touching statistics or the access clock (TYPE, TTL, OBJECT).
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let idx = self.expire_if_needed(key)?;
        Some(&mut self.shard(key).map[idx])
    }

    /// Looks a key up for modification: WATCHers of the key see it as changed.
    pub fn write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let idx = self.expire_if_needed(key)?;
        let lru = self.lru_now;
        let eng = self.eng;
        let shard = self.shard(key);
        shard.touch_watchers(key);
        let e = &mut shard.map[idx];
        e.visited = true;
        e.meta = eviction::on_access(eng, e.meta, lru);
        Some(e)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key).is_some()
    }

    /// Stores `value` under `key`, replacing whatever was there; `expire_at` 0 = persistent.
    pub fn insert(&mut self, key: &[u8], value: Value, expire_at: u64) {
        let meta = eviction::new_meta(self.eng, self.lru_now);
        let h = self.hash_of(key);
        let shard = self.shard(key);
        shard.touch_watchers(key);
        let entry = Entry { value, expire_at, meta, visited: false };
        if expire_at != 0 {
            shard.volatile += 1;
        }
        match shard.map.get_index_of_hashed(h, key) {
            Some(idx) => {
                let old = std::mem::replace(&mut shard.map[idx], entry);
                if old.expire_at != 0 {
                    shard.volatile -= 1;
                }
                drop_value(old.value);
            }
            None => {
                shard.map.insert_new_hashed(h, key, entry);
            }
        }
    }

    /// Replaces the value of an existing key, keeping its TTL (SET KEEPTTL, SETRANGE…); inserts otherwise.
    pub fn replace_value(&mut self, key: &[u8], value: Value) {
        match self.write(key) {
            Some(e) => drop_value(std::mem::replace(&mut e.value, value)),
            None => self.insert(key, value, 0),
        }
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.expire_if_needed(key)?;
        self.shard(key).remove(key)
    }

    /// Sets or clears the TTL of an existing key.
    pub fn set_expire(&mut self, key: &[u8], expire_at: u64) -> bool {
        let Some(idx) = self.expire_if_needed(key) else { return false };
        let shard = self.shard(key);
        shard.touch_watchers(key);
        let e = &mut shard.map[idx];
        let was = e.expire_at != 0;
        e.expire_at = expire_at;
        match (was, expire_at != 0) {
            (false, true) => shard.volatile += 1,
            (true, false) => shard.volatile -= 1,
            _ => {}
        }
        true
    }

    /// Deletes `key` if it holds an empty collection (Redis never keeps empty aggregates).
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        let shard = self.shard(key);
        if let Some(idx) = shard.map.get_index_of(key)
            && shard.map[idx].value.is_empty_collection()
        {
            shard.remove_index(idx);
        }
    }

    /// Typed lookups for the aggregate commands: `Err(WrongType)` if the key holds another type.
    pub fn hash(
        &mut self,
        key: &[u8],
        write: bool,
    ) -> CacheResult<Option<&mut Map<super::small::SmallBytes, super::small::SmallBytes>>> {
        match self.lookup(key, write) {
            None => Ok(None),
            Some(Entry { value: Value::Hash(h), .. }) => Ok(Some(h)),
            Some(_) => Err(CacheError::WrongType),
        }
    }
    pub fn list(&mut self, key: &[u8], write: bool) -> CacheResult<Option<&mut VecDeque<super::small::SmallBytes>>> {
        match self.lookup(key, write) {
            None => Ok(None),
            Some(Entry { value: Value::List(l), .. }) => Ok(Some(l)),
            Some(_) => Err(CacheError::WrongType),
        }
    }
    pub fn set(&mut self, key: &[u8], write: bool) -> CacheResult<Option<&mut Set<Blob>>> {
        match self.lookup(key, write) {
            None => Ok(None),
            Some(Entry { value: Value::Set(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CacheError::WrongType),
        }
    }
    pub fn zset(&mut self, key: &[u8], write: bool) -> CacheResult<Option<&mut ZSet>> {
        match self.lookup(key, write) {
            None => Ok(None),
            Some(Entry { value: Value::ZSet(z), .. }) => Ok(Some(z)),
            Some(_) => Err(CacheError::WrongType),
        }
    }
    pub fn string(&mut self, key: &[u8]) -> CacheResult<Option<&[u8]>> {
        match self.read(key) {
            None => Ok(None),
            Some(Entry { value: Value::Str(s), .. }) => Ok(Some(s)),
            Some(_) => Err(CacheError::WrongType),
        }
    }

    fn lookup(&mut self, key: &[u8], write: bool) -> Option<&mut Entry> {
        if write { self.write(key) } else { self.read(key) }
    }

    /// Creates an empty aggregate at `key` if absent (type checked by the caller afterwards).
    pub fn ensure(&mut self, key: &[u8], make: fn() -> Value) -> CacheResult<()> {
        if !self.exists(key) {
            self.insert(key, make(), 0);
        }
        Ok(())
    }

    pub fn key_count(&mut self) -> usize {
        self.db_shards().map(|s| s.map.len()).sum()
    }
}

/// Large aggregates are freed off the command path by one background thread (Redis's lazyfree), so a
/// DEL of a million-element set does not stall the shard. The queue is bounded: when it is full the
/// value is freed inline.
pub fn drop_value(v: Value) {
    use std::sync::OnceLock;
    use std::sync::mpsc::{SyncSender, sync_channel};
    static LAZYFREE: OnceLock<SyncSender<Value>> = OnceLock::new();
    let big = match &v {
        Value::Str(_) => false,
        Value::Hash(h) => h.len() > 64,
        Value::List(l) => l.len() > 64,
        Value::Set(s) => s.len() > 64,
        Value::ZSet(z) => z.len() > 64,
    };
    if !big {
        return;
    }
    let tx = LAZYFREE.get_or_init(|| {
        let (tx, rx) = sync_channel::<Value>(1024);
        let _ = std::thread::Builder::new().name("cache-lazyfree".into()).spawn(move || {
            for v in rx {
                drop(v)
            }
        });
        tx
    });
    let _ = tx.try_send(v);
}

/// The 64-bit hash of a key (stable for the process lifetime): shard choice and table slot.
pub use super::table::hash_key;
