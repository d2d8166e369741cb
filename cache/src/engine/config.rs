//! Runtime-tunable settings (CONFIG GET/SET), held in atomics so the hot path reads them lock-free.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    NoEviction = 0,
    AllkeysLru,
    VolatileLru,
    AllkeysLfu,
    VolatileLfu,
    AllkeysRandom,
    VolatileRandom,
    VolatileTtl,
    /// Not in Redis: SIEVE-style eviction (visited bit, a hand sweeping from oldest to newest).
    AllkeysSieve,
}

pub const POLICIES: [(&str, Policy); 9] = [
    ("noeviction", Policy::NoEviction),
    ("allkeys-lru", Policy::AllkeysLru),
    ("volatile-lru", Policy::VolatileLru),
    ("allkeys-lfu", Policy::AllkeysLfu),
    ("volatile-lfu", Policy::VolatileLfu),
    ("allkeys-random", Policy::AllkeysRandom),
    ("volatile-random", Policy::VolatileRandom),
    ("volatile-ttl", Policy::VolatileTtl),
    ("allkeys-sieve", Policy::AllkeysSieve),
];

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        POLICIES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)).map(|(_, p)| *p)
    }
    pub fn name(self) -> &'static str {
        POLICIES.iter().find(|(_, p)| *p == self).map(|(n, _)| *n).unwrap_or("noeviction")
    }
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }
    pub fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }
}

pub struct EngineConfig {
    pub maxmemory: AtomicU64,
    policy: AtomicU8,
    pub samples: AtomicU32,
    pub lfu_log_factor: AtomicU32,
    pub lfu_decay_time: AtomicU32,
    /// Active expiry cycles per second.
    pub hz: AtomicU32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU8::new(Policy::NoEviction as u8),
            samples: AtomicU32::new(5),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            hz: AtomicU32::new(10),
        }
    }
}

impl EngineConfig {
    #[inline]
    pub fn policy(&self) -> Policy {
        match self.policy.load(Ordering::Relaxed) {
            1 => Policy::AllkeysLru,
            2 => Policy::VolatileLru,
            3 => Policy::AllkeysLfu,
            4 => Policy::VolatileLfu,
            5 => Policy::AllkeysRandom,
            6 => Policy::VolatileRandom,
            7 => Policy::VolatileTtl,
            8 => Policy::AllkeysSieve,
            _ => Policy::NoEviction,
        }
    }
    pub fn set_policy(&self, p: Policy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }
}

/// Parses a memory size the way redis.conf does: `100`, `1k`, `1kb`, `64mb`, `2gb` (k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_units() {
        assert_eq!(super::parse_memory("100"), Some(100));
        assert_eq!(super::parse_memory("1kb"), Some(1024));
        assert_eq!(super::parse_memory("2MB"), Some(2 * 1024 * 1024));
        assert_eq!(super::parse_memory("1k"), Some(1000));
        assert_eq!(super::parse_memory("x"), None);
    }
}
