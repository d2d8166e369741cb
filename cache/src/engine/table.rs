//! A shard's key table: entries stored densely in insertion order (random picks and SCAN cursors are
//! array positions), found through an open-addressing index of (32-bit hash, 32-bit position) slots.
//!
//! Why not `IndexMap`: it stores each key's full hash next to the entry, keeps a 64-bit position per
//! index slot and grows its entry array to the index's capacity (up to 1.8x the keys). Here the array
//! grows by a quarter at a time and the index holds 8 bytes per slot.
//!
//! Why not `hashbrown::HashTable<u32>` for the index (the previous design): a lookup there is three
//! dependent cache misses (control bytes, then the position slot, then the entry), and its API gives
//! no way to ask where a key's slot is. With linear probing over slots that carry the hash, the
//! slot's address follows from the hash alone, so a pipelined batch can prefetch the slots of all
//! its keys, then the entries they point at, and overlap those misses (see [`Table::prefetch_slot`]).

use std::hash::BuildHasher;
use std::sync::OnceLock;

use super::keyspace::Entry;

/// The index is grown before more than 13/16 of its slots are used (linear probing degrades fast
/// beyond that).
const MAX_LOAD_NUM: usize = 13;
const MAX_LOAD_DEN: usize = 16;
const MIN_SLOTS: usize = 16;

/// The process-wide key hash: shard selection and the shard's index use the same 64 bits (high bits
/// pick the shard, low 32 bits the slot), so a key is hashed once per lookup. Seeded at random on
/// start so clients cannot aim collisions at one slot.
pub fn hash_key(key: &[u8]) -> u64 {
    static STATE: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
    STATE.get_or_init(|| foldhash::fast::FixedState::with_seed(rand::random())).hash_one(key)
}

/// An index slot: 0 = empty, else the key's 32-bit hash (high half) and its position + 1 (low half).
type Slot = u64;

#[inline]
fn slot_of(hash: u64, pos: usize) -> Slot {
    ((hash as u32 as u64) << 32) | (pos as u64 + 1)
}
#[inline]
fn slot_hash(s: Slot) -> u32 {
    (s >> 32) as u32
}
#[inline]
fn slot_pos(s: Slot) -> usize {
    (s as u32 - 1) as usize
}

#[derive(Default)]
pub struct Table {
    /// Power-of-two length (or empty); linear probing from `hash & mask`.
    slots: Box<[Slot]>,
    entries: Vec<(Key, Entry)>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Slots of the index (0 while the table has never held a key).
    pub fn index_slots(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    pub fn get_index_of(&self, key: &[u8]) -> Option<usize> {
        self.find(hash_key(key), key).map(|(_, pos)| pos)
    }

    /// [`Table::get_index_of`] for a caller that already has `hash_key(key)`.
    #[inline]
    pub fn get_index_of_hashed(&self, hash: u64, key: &[u8]) -> Option<usize> {
        debug_assert_eq!(hash, hash_key(key));
        self.find(hash, key).map(|(_, pos)| pos)
    }

    /// (slot index, entry position) of `key` whose hash is `hash`.
    #[inline]
    fn find(&self, hash: u64, key: &[u8]) -> Option<(usize, usize)> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as u32 as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return None;
            }
            if slot_hash(s) == hash as u32 {
                let pos = slot_pos(s);
                if *self.entries[pos].0 == *key {
                    return Some((i, pos));
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot index that points at entry `pos` (whose key hashes to `hash`).
    fn slot_for_pos(&self, hash: u64, pos: usize) -> usize {
        let mask = self.mask();
        let mut i = hash as u32 as usize & mask;
        while self.slots[i] == 0 || slot_pos(self.slots[i]) != pos {
            debug_assert!(self.slots[i] != 0, "entry {pos} missing from the index");
            i = (i + 1) & mask;
        }
        i
    }

    /// Adds a key that is not present (callers check first).
    pub fn insert_new(&mut self, key: &[u8], entry: Entry) {
        self.insert_new_hashed(hash_key(key), key, entry)
    }

    /// [`Table::insert_new`] for a caller that already has `hash_key(key)`.
    pub fn insert_new_hashed(&mut self, h: u64, key: &[u8], entry: Entry) {
        debug_assert_eq!(h, hash_key(key));
        let key = Key::new(key);
        if self.entries.len() == self.entries.capacity() {
            let grow = (self.entries.capacity() / 4).max(16);
            self.entries.reserve_exact(grow);
        }
        if (self.entries.len() + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.rebuild((self.slots.len() * 2).max(MIN_SLOTS));
        }
        let pos = self.entries.len();
        self.entries.push((key, entry));
        Self::place(&mut self.slots, slot_of(h, pos));
    }

    /// Puts `slot` in the first free place from its home (there always is one: load < 1).
    fn place(slots: &mut [Slot], slot: Slot) {
        let mask = slots.len() - 1;
        let mut i = slot_hash(slot) as usize & mask;
        while slots[i] != 0 {
            i = (i + 1) & mask;
        }
        slots[i] = slot;
    }

    /// Re-lays the index out over `n` slots (a power of two), using the stored hashes.
    fn rebuild(&mut self, n: usize) {
        let mut slots = vec![0 as Slot; n].into_boxed_slice();
        for &s in self.slots.iter().filter(|&&s| s != 0) {
            Self::place(&mut slots, s);
        }
        self.slots = slots;
    }

    /// Removes the entry at `idx`; the last entry moves into its place.
    pub fn swap_remove_index(&mut self, idx: usize) -> Option<(Key, Entry)> {
        if idx >= self.entries.len() {
            return None;
        }
        let last = self.entries.len() - 1;
        let i = self.slot_for_pos(hash_key(&self.entries[idx].0), idx);
        self.remove_slot(i);
        if idx != last {
            let j = self.slot_for_pos(hash_key(&self.entries[last].0), last);
            self.slots[j] = slot_of(slot_hash(self.slots[j]) as u64, idx);
        }
        let removed = self.entries.swap_remove(idx);
        self.maybe_shrink();
        Some(removed)
    }

    /// Empties slot `i` and shifts later members of its probe run back (no tombstones, so lookups
    /// never slow down after many deletes).
    fn remove_slot(&mut self, i: usize) {
        let mask = self.mask();
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slots[j];
            if s == 0 {
                break;
            }
            let home = slot_hash(s) as usize & mask;
            // `s` may fill the hole unless its home lies cyclically within (hole, j].
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = 0;
    }

    /// Gives memory back after mass deletes/evictions (amortised: only when under a quarter full).
    fn maybe_shrink(&mut self) {
        let (len, cap) = (self.entries.len(), self.entries.capacity());
        if cap > 64 && len < cap / 4 {
            self.entries.shrink_to(len + len / 4);
        }
        if self.slots.len() > 4 * MIN_SLOTS && len * MAX_LOAD_DEN < self.slots.len() * MAX_LOAD_NUM / 4 {
            let n = (len * MAX_LOAD_DEN / MAX_LOAD_NUM + 1).next_power_of_two().max(MIN_SLOTS) * 2;
            self.rebuild(n);
        }
    }

    /// Hint: start loading the index slot where a lookup of `hash` begins.
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.slots[hash as u32 as usize & self.mask()]);
        }
    }

    /// Hint: start loading the entry the first matching slot for `hash` points at (call after
    /// [`Table::prefetch_slot`] had time to land).
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let mask = self.mask();
        let mut i = hash as u32 as usize & mask;
        // Only the first few slots of the run: this is a hint, not a lookup.
        for _ in 0..4 {
            let s = self.slots[i];
            if s == 0 {
                return;
            }
            if slot_hash(s) == hash as u32 {
                // An entry is 64 bytes but only 16-byte aligned: it usually spans two lines.
                prefetch_span(&self.entries[slot_pos(s)]);
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// Hint: start loading the heap block of the value the first matching slot for `hash` points at
    /// (a long string, or a collection's header), after [`Table::prefetch_entry`] had time to land.
    #[inline]
    pub fn prefetch_value(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let s = self.slots[hash as u32 as usize & self.mask()];
        if s != 0 && slot_hash(s) == hash as u32 {
            self.entries[slot_pos(s)].1.value.prefetch();
        }
    }

    pub fn get_index(&self, idx: usize) -> Option<(&[u8], &Entry)> {
        self.entries.get(idx).map(|(k, e)| (&**k, e))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.entries.iter().map(|(k, e)| (&**k, e))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut Entry)> {
        self.entries.iter_mut().map(|(k, e)| (&**k, e))
    }
}

/// A cache-line prefetch hint for the line holding the start of `*p`.
#[inline(always)]
pub fn prefetch<T: ?Sized>(p: &T) {
    prefetch_addr(p as *const T as *const i8);
}

/// Prefetches the first and the last line of a value (entries straddle lines).
#[inline(always)]
fn prefetch_span<T>(p: &T) {
    let start = p as *const T as *const i8;
    prefetch_addr(start);
    prefetch_addr(start.wrapping_add(size_of::<T>() - 1));
}

/// No effect on other architectures.
#[inline(always)]
fn prefetch_addr(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and reads nothing into the program; callers pass addresses
    // inside live values anyway.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl std::ops::Index<usize> for Table {
    type Output = Entry;
    fn index(&self, i: usize) -> &Entry {
        &self.entries[i].1
    }
}

impl std::ops::IndexMut<usize> for Table {
    fn index_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.entries[i].1
    }
}

/// Keys are stored inline when short (most are), saving a heap allocation per entry.
pub type Key = super::small::SmallBytes;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Value;

    fn entry(n: u64) -> Entry {
        Entry { value: Value::Str(Default::default()), expire_at: n, meta: 0, visited: false }
    }

    /// Growth, backward-shift deletes and shrinking keep every remaining key findable (and only those).
    #[test]
    fn survives_growth_and_mass_removal() {
        let mut t = Table::default();
        let key = |i: u64| format!("key:{i:012}").into_bytes();
        for i in 0..20_000 {
            t.insert_new(&key(i), entry(i));
        }
        assert_eq!(t.len(), 20_000);
        for i in (0..20_000).filter(|i| i % 10 != 0) {
            let idx = t.get_index_of(&key(i)).expect("present");
            let (k, e) = t.swap_remove_index(idx).unwrap();
            assert_eq!((&*k, e.expire_at), (&key(i)[..], i));
        }
        assert_eq!(t.len(), 2_000);
        assert!(t.slots.len() < 8 * 2_000, "index shrank: {} slots", t.slots.len());
        for i in 0..20_000 {
            let found = t.get_index_of(&key(i)).map(|idx| t[idx].expire_at);
            assert_eq!(found, (i % 10 == 0).then_some(i), "key {i}");
        }
        // The prefetch hints accept any hash, present or not.
        for i in 0..100 {
            t.prefetch_slot(hash_key(&key(i)));
            t.prefetch_entry(hash_key(&key(i)));
        }
    }

    proptest::proptest! {
        /// The table behaves like a map under any mix of inserts and swap-removes.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u16..200, proptest::bool::ANY), 1..600)) {
            let mut t = Table::default();
            let mut model = std::collections::HashMap::new();
            for (k, insert) in ops {
                let key = format!("k{k}").into_bytes();
                match (insert, t.get_index_of(&key)) {
                    (true, None) => {
                        t.insert_new(&key, entry(k as u64));
                        model.insert(key, k as u64);
                    }
                    (false, Some(i)) => {
                        let (rk, re) = t.swap_remove_index(i).unwrap();
                        proptest::prop_assert_eq!(&*rk, &key[..]);
                        proptest::prop_assert_eq!(re.expire_at, k as u64);
                        model.remove(&key);
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(t.len(), model.len());
            }
            for (k, v) in &model {
                let i = t.get_index_of(k).unwrap();
                proptest::prop_assert_eq!(t[i].expire_at, *v);
            }
        }
    }
}
