//! The active expiry cycle: lazy expiry alone would leave keys nobody reads in memory forever. Each
//! cycle walks the shards that hold keys with a TTL, examining a slice of entries from a per-shard
//! cursor and deleting the expired ones; a shard whose slice was more than 10 % expired is examined
//! again (Redis's adaptive rule). A time budget per cycle bounds the CPU spent (25 % of the period).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Engine;

/// Entries examined per shard per pass.
const SLICE: usize = 64;

/// Runs one cycle; returns how many keys it expired.
pub fn run_cycle(eng: &Engine, budget: Duration) -> usize {
    let started = Instant::now();
    let now = eng.now_ms();
    let mut expired = 0;
    for slot in 0..eng.slot_count() {
        loop {
            let mut shard = eng.lock_slot(slot);
            if shard.volatile == 0 {
                break;
            }
            let len = shard.map.len();
            let mut cursor = shard.sweep_cursor.min(len);
            let mut examined = 0;
            let mut hit = 0;
            while examined < SLICE.min(len) {
                if cursor >= shard.map.len() {
                    cursor = 0;
                    if shard.map.is_empty() {
                        break;
                    }
                }
                examined += 1;
                let exp = shard.map[cursor].expire_at;
                if exp != 0 && exp <= now {
                    // The last entry moves into `cursor`: examine the same index again.
                    shard.remove_index(cursor);
                    hit += 1;
                } else {
                    cursor += 1;
                }
            }
            shard.sweep_cursor = cursor;
            drop(shard);
            expired += hit;
            if hit * 10 <= examined || started.elapsed() >= budget {
                break;
            }
        }
        if started.elapsed() >= budget {
            break;
        }
    }
    eng.stats.expired_keys.fetch_add(expired as u64, Ordering::Relaxed);
    expired
}

/// The background thread: `hz` cycles per second until `stop` is set.
pub fn spawn(
    eng: std::sync::Arc<Engine>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("cache-expire".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let hz = eng.config.hz.load(Ordering::Relaxed).clamp(1, 500);
            let period = Duration::from_millis(1000 / hz as u64);
            run_cycle(&eng, period / 4);
            std::thread::sleep(period);
        }
    })
}
