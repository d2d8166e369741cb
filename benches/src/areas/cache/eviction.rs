//! Eviction quality (issue #9): a cache-aside client (GET; on a miss, SET) replays a zipfian key trace
//! against a server whose maxmemory holds ~10 % of the keys, once per eviction policy, and the same
//! trace is replayed on an exact LRU simulated here with the capacity in items the server actually
//! kept (DBSIZE at the end). The client pipelines GETs in batches and SETs a batch's misses after
//! it; the simulator replays exactly that order, so the only difference is the eviction policy.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

use super::servers::{command, info_field, integer};
use crate::areas::dynamodb::ycsb::{Rng, Zipf};

/// Requests per pipelined batch of GETs.
pub const BATCH: usize = 100;
const VALUE: [u8; 100] = [b'v'; 100];

/// Every policy our cache offers (Redis's eight minus noeviction, plus SIEVE).
pub const OUR_POLICIES: [&str; 8] = [
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "allkeys-sieve",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// The key trace of one round.
pub fn trace(keys: u64, requests: usize, seed: u64) -> Vec<u64> {
    let zipf = Zipf::new(keys, 0.99);
    let mut rng = Rng(seed | 1);
    (0..requests).map(|_| zipf.next(&mut rng)).collect()
}

/// Exact LRU over `capacity` items: a recency map plus an ordered index of last-use ticks.
pub struct ExactLru {
    capacity: usize,
    tick: u64,
    last_use: HashMap<u64, u64>,
    by_age: BTreeMap<u64, u64>,
}

impl ExactLru {
    pub fn new(capacity: usize) -> Self {
        Self { capacity, tick: 0, last_use: HashMap::new(), by_age: BTreeMap::new() }
    }

    fn touch(&mut self, key: u64) {
        self.tick += 1;
        if let Some(old) = self.last_use.insert(key, self.tick) {
            self.by_age.remove(&old);
        }
        self.by_age.insert(self.tick, key);
    }

    /// A GET: true on a hit (which makes the key most recently used).
    pub fn get(&mut self, key: u64) -> bool {
        let hit = self.last_use.contains_key(&key);
        if hit {
            self.touch(key);
        }
        hit
    }

    /// A SET: stores the key as most recently used, evicting the least recently used beyond capacity.
    pub fn set(&mut self, key: u64) {
        self.touch(key);
        while self.last_use.len() > self.capacity {
            let (_, oldest) = self.by_age.pop_first().expect("non-empty");
            self.last_use.remove(&oldest);
        }
    }
}

/// Hit ratio (percent) of the cache-aside replay of `trace` on an exact LRU of `capacity` items.
pub fn exact_lru_hit_ratio(trace: &[u64], capacity: usize) -> f64 {
    let mut lru = ExactLru::new(capacity);
    let mut hits = 0;
    for batch in trace.chunks(BATCH) {
        let mut misses = Vec::new();
        for &k in batch {
            if lru.get(k) {
                hits += 1;
            } else {
                misses.push(k);
            }
        }
        for k in misses {
            lru.set(k);
        }
    }
    100.0 * hits as f64 / trace.len() as f64
}

/// Hit ratio (percent) and items kept of the cache-aside replay of `trace` on the server at `addr`,
/// configured with `policy` and `budget` bytes above its empty `used_memory`.
pub fn server_hit_ratio(addr: SocketAddr, policy: &str, budget: u64, trace: &[u64]) -> anyhow::Result<(f64, u64)> {
    command(addr, &["CONFIG", "SET", "maxmemory", "0"])?;
    command(addr, &["FLUSHALL"])?;
    std::thread::sleep(Duration::from_millis(200));
    let empty = info_field(addr, "used_memory")?;
    command(addr, &["CONFIG", "SET", "maxmemory-policy", policy])?;
    command(addr, &["CONFIG", "SET", "maxmemory", &(empty + budget).to_string()])?;
    // volatile-* policies only evict keys with a TTL: give every key one longer than the run.
    let ttl = policy.starts_with("volatile");
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut hits = 0usize;
    let mut req = Vec::with_capacity(BATCH * 160);
    let mut line = String::new();
    for batch in trace.chunks(BATCH) {
        req.clear();
        for k in batch {
            req.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$16\r\nkey:{k:012}\r\n").as_bytes());
        }
        writer.write_all(&req)?;
        let mut misses = Vec::new();
        for &k in batch {
            line.clear();
            reader.read_line(&mut line)?;
            if line.starts_with("$-1") || line.starts_with('_') {
                misses.push(k);
            } else if let Some(len) = line.strip_prefix('$') {
                let n: usize = len.trim().parse().with_context(|| format!("bad GET reply {line:?}"))?;
                let mut body = vec![0; n + 2];
                reader.read_exact(&mut body)?;
                hits += 1;
            } else {
                bail!("{policy}: GET answered {line:?}");
            }
        }
        req.clear();
        for k in &misses {
            req.extend_from_slice(
                format!("*{}\r\n$3\r\nSET\r\n$16\r\nkey:{k:012}\r\n$100\r\n", if ttl { 5 } else { 3 }).as_bytes(),
            );
            req.extend_from_slice(&VALUE);
            req.extend_from_slice(if ttl { b"\r\n$2\r\nEX\r\n$4\r\n3600\r\n" } else { b"\r\n" });
        }
        writer.write_all(&req)?;
        for _ in &misses {
            line.clear();
            reader.read_line(&mut line)?;
            if !line.starts_with("+OK") {
                bail!("{policy}: SET answered {line:?}");
            }
        }
    }
    let items = integer(addr, &["DBSIZE"])?;
    command(addr, &["CONFIG", "SET", "maxmemory", "0"])?;
    command(addr, &["FLUSHALL"])?;
    Ok((100.0 * hits as f64 / trace.len() as f64, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_lru_evicts_the_least_recently_used() {
        let mut lru = ExactLru::new(2);
        lru.set(1);
        lru.set(2);
        assert!(lru.get(1), "1 is cached");
        lru.set(3); // evicts 2, the least recently used
        assert!(!lru.get(2));
        assert!(lru.get(1) && lru.get(3));
        assert_eq!(lru.last_use.len(), 2);
    }

    #[test]
    fn hit_ratio_of_a_trace_that_fits_is_all_but_the_cold_misses() {
        let trace: Vec<u64> = (0..1000).map(|i| i % 10).collect();
        // The first batch's SETs come after its GETs, so all of its 100 requests miss; then all hit.
        assert_eq!(exact_lru_hit_ratio(&trace, 10), 90.0);
        // One item: only the key SET last in a batch survives, and hits its 10 requests in the next.
        assert_eq!(exact_lru_hit_ratio(&trace, 1), 9.0);
    }

    #[test]
    fn bigger_caches_hit_more_on_a_zipf_trace() {
        let t = trace(10_000, 50_000, 3);
        let (small, big) = (exact_lru_hit_ratio(&t, 100), exact_lru_hit_ratio(&t, 1000));
        assert!(small < big && big < 100.0, "{small} {big}");
    }
}
