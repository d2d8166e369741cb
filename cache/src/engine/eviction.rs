//! Eviction under `maxmemory`: Redis's policies (approximated LRU/LFU by sampling into a pool of the
//! best 16 candidates, random, volatile-ttl) and a SIEVE-style policy.
//!
//! LRU: `meta` is a millisecond clock of the last access. LFU: `meta` is `minutes << 8 | counter`, the
//! counter grows logarithmically (`lfu-log-factor`) and decays by one per `lfu-decay-time` minutes.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use super::config::Policy;
use super::keyspace::{Blob, Entry};
use super::{ALL_DATABASES, CacheError, CacheResult, Engine};

const POOL_SIZE: usize = 16;
pub const LFU_INIT_VAL: u8 = 5;

/// The eviction pool: best candidates seen by sampling, highest score (most evictable) last.
#[derive(Default)]
pub struct Pool {
    candidates: Vec<(u64, usize, Blob)>,
    next_slot: usize,
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let t =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let addr = &t as *const u64 as u64;
    (t ^ addr.rotate_left(32)) | 1
}

/// xorshift64*: cheap randomness for sampling (not security relevant).
pub fn fast_rand() -> u64 {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn minutes(lru_now: u32) -> u32 {
    (lru_now / 60_000) & 0xFFFF
}

/// The LFU counter after decay, without updating it (OBJECT FREQ, scoring).
pub fn lfu_decayed(eng: &Engine, meta: u32, lru_now: u32) -> u8 {
    let ldt = meta >> 8;
    let counter = (meta & 0xFF) as u8;
    let now = minutes(lru_now);
    let elapsed = if now >= ldt { now - ldt } else { 65535 - ldt + now };
    let decay = eng.config.lfu_decay_time.load(Ordering::Relaxed);
    let periods = elapsed.checked_div(decay).unwrap_or(0);
    counter.saturating_sub(periods.min(255) as u8)
}

fn lfu_incr(eng: &Engine, counter: u8) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let factor = eng.config.lfu_log_factor.load(Ordering::Relaxed) as f64;
    let p = 1.0 / (base * factor + 1.0);
    let r = (fast_rand() >> 11) as f64 / (1u64 << 53) as f64;
    if r < p { counter + 1 } else { counter }
}

/// New `meta` after an access.
#[inline]
pub fn on_access(eng: &Engine, meta: u32, lru_now: u32) -> u32 {
    if eng.config.policy().is_lfu() {
        let c = lfu_incr(eng, lfu_decayed(eng, meta, lru_now));
        (minutes(lru_now) << 8) | c as u32
    } else {
        lru_now
    }
}

pub fn new_meta(eng: &Engine, lru_now: u32) -> u32 {
    if eng.config.policy().is_lfu() { (minutes(lru_now) << 8) | LFU_INIT_VAL as u32 } else { lru_now }
}

/// Idle milliseconds (OBJECT IDLETIME is this / 1000).
pub fn idle_ms(meta: u32, lru_now: u32) -> u32 {
    lru_now.wrapping_sub(meta)
}

fn score(eng: &Engine, policy: Policy, e: &Entry, lru_now: u32) -> u64 {
    match policy {
        Policy::AllkeysLfu | Policy::VolatileLfu => 255 - lfu_decayed(eng, e.meta, lru_now) as u64,
        Policy::VolatileTtl => u64::MAX - e.expire_at,
        _ => idle_ms(e.meta, lru_now) as u64,
    }
}

/// Evicts until `used_memory <= max`; OOM if the policy forbids it or nothing is evictable.
pub fn evict_until_under(eng: &Engine, max: u64) -> CacheResult<()> {
    let policy = eng.config.policy();
    if policy == Policy::NoEviction {
        return Err(CacheError::OutOfMemory);
    }
    let mut pool = eng.evict_state.lock();
    loop {
        crate::alloc::flush_local();
        if eng.used_memory() as u64 <= max {
            return Ok(());
        }
        if !evict_one_with(eng, policy, &mut pool) {
            return Err(CacheError::OutOfMemory);
        }
    }
}

/// Evicts one key under the current policy; false if nothing can be evicted.
pub fn evict_one(eng: &Engine) -> bool {
    let policy = eng.config.policy();
    if policy == Policy::NoEviction {
        return false;
    }
    let mut pool = eng.evict_state.lock();
    evict_one_with(eng, policy, &mut pool)
}

fn evict_one_with(eng: &Engine, policy: Policy, pool: &mut Pool) -> bool {
    let evicted = match policy {
        Policy::NoEviction => false,
        Policy::AllkeysRandom | Policy::VolatileRandom => evict_random(eng, policy.volatile_only()),
        Policy::AllkeysSieve => evict_sieve(eng, pool),
        _ => evict_from_pool(eng, policy, pool),
    };
    if evicted {
        eng.stats.evicted_keys.fetch_add(1, Ordering::Relaxed);
    }
    evicted
}

/// A uniformly random slot holding candidates (keys, or keys with a TTL): random probes first, then a
/// scan from a random start.
fn random_candidate_slot(eng: &Engine, volatile: bool) -> Option<usize> {
    let n = eng.slot_count();
    let ok = |s: usize| {
        let shard = eng.lock_slot(s);
        if volatile { shard.volatile > 0 } else { !shard.map.is_empty() }
    };
    for _ in 0..32 {
        let s = fast_rand() as usize % n;
        if ok(s) {
            return Some(s);
        }
    }
    let start = fast_rand() as usize % n;
    (0..n).map(|i| (start + i) % n).find(|&s| ok(s))
}

fn evict_random(eng: &Engine, volatile: bool) -> bool {
    let Some(slot) = random_candidate_slot(eng, volatile) else { return false };
    let mut shard = eng.lock_slot(slot);
    let len = shard.map.len();
    if len == 0 {
        return false;
    }
    let start = fast_rand() as usize % len;
    for i in 0..len {
        let idx = (start + i) % len;
        if !volatile || shard.map[idx].expire_at != 0 {
            shard.remove_index(idx);
            return true;
        }
    }
    false
}

fn evict_sieve(eng: &Engine, pool: &mut Pool) -> bool {
    let n = eng.slot_count();
    for step in 0..n {
        let slot = (pool.next_slot + step) % n;
        let mut shard = eng.lock_slot(slot);
        let len = shard.map.len();
        if len == 0 {
            continue;
        }
        pool.next_slot = slot + 1;
        let mut hand = shard.sieve_hand % len;
        for _ in 0..=len {
            if shard.map[hand].visited {
                shard.map[hand].visited = false;
                hand = (hand + 1) % len;
            } else {
                break;
            }
        }
        shard.remove_index(hand);
        // The newest key was swapped into `hand`: step past it so it gets a full sweep to be visited.
        shard.sieve_hand = hand + 1;
        return true;
    }
    false
}

/// Samples `maxmemory-samples` keys from a random shard of each database into the pool, then evicts
/// the best candidate that still exists.
fn evict_from_pool(eng: &Engine, policy: Policy, pool: &mut Pool) -> bool {
    let volatile = policy.volatile_only();
    let samples = eng.config.samples.load(Ordering::Relaxed).clamp(1, 64) as usize;
    let lru_now = eng.lru_clock();
    for _attempt in 0..4 {
        let mut sampled_any = false;
        for db in 0..ALL_DATABASES {
            let base = db * eng.shards_per_db;
            // A few probes to find a non-empty shard of this database.
            for _ in 0..4 {
                let slot = base + fast_rand() as usize % eng.shards_per_db;
                let shard = eng.lock_slot(slot);
                let len = shard.map.len();
                if len == 0 || (volatile && shard.volatile == 0) {
                    continue;
                }
                sampled_any = true;
                let mut taken = 0;
                let mut probes = 0;
                while taken < samples && probes < samples * 8 {
                    probes += 1;
                    let idx = fast_rand() as usize % len;
                    let (k, e) = shard.map.get_index(idx).expect("index in range");
                    if volatile && e.expire_at == 0 {
                        continue;
                    }
                    taken += 1;
                    pool_insert(pool, score(eng, policy, e, lru_now), slot, k);
                }
                break;
            }
        }
        while let Some((_, slot, key)) = pool.candidates.pop() {
            let mut shard = eng.lock_slot(slot);
            if let Some(idx) = shard.map.get_index_of(&key[..])
                && (!volatile || shard.map[idx].expire_at != 0)
            {
                shard.remove_index(idx);
                return true;
            }
        }
        if !sampled_any && !any_candidate(eng, volatile) {
            return false;
        }
    }
    evict_random(eng, volatile)
}

fn any_candidate(eng: &Engine, volatile: bool) -> bool {
    (0..eng.slot_count()).any(|s| {
        let shard = eng.lock_slot(s);
        if volatile { shard.volatile > 0 } else { !shard.map.is_empty() }
    })
}

fn pool_insert(pool: &mut Pool, score: u64, slot: usize, key: &[u8]) {
    if pool.candidates.iter().any(|(_, s, k)| *s == slot && &k[..] == key) {
        return;
    }
    if pool.candidates.len() >= POOL_SIZE {
        if score <= pool.candidates[0].0 {
            return;
        }
        pool.candidates.remove(0);
    }
    let pos = pool.candidates.partition_point(|(s, _, _)| *s <= score);
    pool.candidates.insert(pos, (score, slot, key.into()));
}

#[cfg(test)]
mod tests;
