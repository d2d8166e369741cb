//! cache vs redis-server (redis-benchmark SET/GET/INCR/LPUSH/HSET/ZADD at -P 1 and -P 16, with the
//! server CPU time per request from /proc), memory per key vs redis, a memcached get/set mix vs
//! memcached, and the eviction hit-ratio run of every policy vs an exact LRU (issue #9).

pub mod eviction;
pub mod memcached;
pub mod servers;

use std::net::SocketAddr;
use std::time::Instant;

use indicatif::ProgressBar;

use crate::harness::multi::{ab_rounds_multi, line};
use crate::harness::{Line, Round, Stat, Workload, ab_rounds, binaries};
use servers::{command, cpu_seconds, memory_per_key, redis_benchmark};

pub struct CacheOptions {
    /// redis-benchmark requests per run at -P 1 and at -P 16.
    pub requests: u64,
    pub pipelined_requests: u64,
    /// Keys (100-byte values) written for the memory-per-key line.
    pub memory_keys: u64,
    /// memcached mix: connections and seconds per round.
    pub mc_connections: usize,
    pub mc_secs: f64,
    /// Eviction run: distinct keys of the zipfian trace and requests per replay.
    pub eviction_keys: u64,
    pub eviction_requests: usize,
    /// The report directory (the hit-ratio chart goes there).
    pub out: std::path::PathBuf,
}

const TESTS: [&str; 6] = ["set", "get", "incr", "lpush", "hset", "zadd"];
const PIPELINES: [u32; 2] = [1, 16];

/// Rounds × (sides × (redis-benchmark lines, memory, memcached) + eviction replays), for the bar.
pub fn steps(rounds: usize) -> u64 {
    (rounds * (2 * (TESTS.len() * PIPELINES.len() + 2) + eviction::OUR_POLICIES.len() + 1)) as u64
}

struct Side {
    name: &'static str,
    addr: SocketAddr,
    pid: u32,
}

pub fn run(rounds: usize, opts: &CacheOptions, progress: &ProgressBar) -> anyhow::Result<Vec<Line>> {
    let started = Instant::now();
    let redis_dir = tempfile::tempdir()?;
    let daemon = crate::harness::children::start_daemon(
        &binaries::daemon("cache")?,
        &["--memcached-listen", "127.0.0.1:0", "--save", "", "--appendonly", "no"],
        3,
    );
    let redis = servers::start_redis(redis_dir.path())?;
    let ours = Side { name: "cache", addr: daemon.addr("api"), pid: daemon.pid() };
    let peer = Side { name: "redis-server", addr: redis.addr, pid: redis.child.id() };
    let mut lines = Vec::new();

    for pipeline in PIPELINES {
        for test in TESTS {
            let n = if pipeline == 1 { opts.requests } else { opts.pipelined_requests };
            let rps_name =
                format!("redis-benchmark {} -P {pipeline} (-c 50, --threads 2; server-timed)", test.to_uppercase());
            let cpu_name = format!("  server CPU per request, {} -P {pipeline}", test.to_uppercase());
            let workloads = [
                Workload {
                    area: "cache",
                    name: &rps_name,
                    unit: "req/s",
                    higher_is_better: true,
                    peer_name: "redis-server",
                },
                Workload {
                    area: "cache",
                    name: &cpu_name,
                    unit: "CPU µs/req",
                    higher_is_better: false,
                    peer_name: "redis-server",
                },
            ];
            let measure = |side: &Side| -> anyhow::Result<Vec<Round>> {
                progress.set_message(format!("cache: {} {test} -P {pipeline}", side.name));
                command(side.addr, &["FLUSHALL"])?;
                let cpu0 = cpu_seconds(side.pid)?;
                let rps = redis_benchmark(side.addr, test, pipeline, n)?;
                let cpu_us = (cpu_seconds(side.pid)? - cpu0) * 1e6 / n as f64;
                progress.inc(1);
                Ok(vec![rps.into(), cpu_us.into()])
            };
            lines.extend(ab_rounds_multi(&workloads, rounds, || measure(&ours), || measure(&peer))?);
        }
    }

    let memory_name = format!("memory per key ({} keys, 16 B names, 100 B values; used_memory)", opts.memory_keys);
    let memory = Workload {
        area: "cache",
        name: &memory_name,
        unit: "B/key",
        higher_is_better: false,
        peer_name: "redis-server",
    };
    let per_key = |side: &Side| -> anyhow::Result<Round> {
        progress.set_message(format!("cache: {} memory per key", side.name));
        let bytes = memory_per_key(side.addr, opts.memory_keys)?;
        progress.inc(1);
        Ok(bytes.into())
    };
    let memory_line = ab_rounds(memory, rounds, || per_key(&ours), || per_key(&peer))?;
    let (ours_per_key, redis_per_key) = (memory_line.ours.median, memory_line.peer.median);
    lines.push(memory_line);

    let mc = servers::start_memcached()?;
    let ours_mc = daemon.addr("memcached");
    memcached::fill(ours_mc)?;
    memcached::fill(mc.addr)?;
    let mc_name = format!(
        "memcached text protocol, 90 % get / 10 % set, zipfian over {} keys, {} connections",
        memcached::KEYS,
        opts.mc_connections
    );
    let mc_w =
        Workload { area: "cache", name: &mc_name, unit: "ops/s", higher_is_better: true, peer_name: "memcached" };
    let mc_run = |addr: SocketAddr, who: &str| -> anyhow::Result<Round> {
        progress.set_message(format!("cache: {who} memcached mix"));
        let round = memcached::mix(addr, opts.mc_connections, opts.mc_secs)?;
        progress.inc(1);
        Ok(round)
    };
    lines.push(ab_rounds(mc_w, rounds, || mc_run(ours_mc, "cache"), || mc_run(mc.addr, "memcached"))?);
    drop(mc);

    lines.extend(eviction_lines(rounds, opts, &ours, &peer, (ours_per_key, redis_per_key), progress)?);
    println!("cache: {:.0} s", started.elapsed().as_secs_f64());
    Ok(lines)
}

/// One line per policy (ours vs exact LRU on the same trace and item capacity), and our allkeys-lru
/// vs redis-server's. Budgets are 10 % of the keys at each server's measured bytes per key.
fn eviction_lines(
    rounds: usize,
    opts: &CacheOptions,
    ours: &Side,
    peer: &Side,
    (ours_per_key, redis_per_key): (f64, f64),
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Line>> {
    let items = opts.eviction_keys / 10;
    let (ours_budget, redis_budget) = ((ours_per_key * items as f64) as u64, (redis_per_key * items as f64) as u64);
    let policies = eviction::OUR_POLICIES;
    // [policy][round] of (hit %, exact LRU hit % at the items kept)
    let mut ours_hits = vec![Vec::new(); policies.len()];
    let mut exact = vec![Vec::new(); policies.len()];
    let (mut redis_hits, mut redis_exact, mut kept) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        let trace = eviction::trace(opts.eviction_keys, opts.eviction_requests, 0xE71C_7000 + round as u64);
        for (i, policy) in policies.iter().enumerate() {
            progress.set_message(format!("cache: eviction {policy}"));
            let (hit, items_kept) = eviction::server_hit_ratio(ours.addr, policy, ours_budget, &trace)?;
            ours_hits[i].push(Round::from(hit));
            exact[i].push(Round::from(eviction::exact_lru_hit_ratio(&trace, items_kept as usize)));
            kept.push(items_kept);
            progress.inc(1);
        }
        progress.set_message("cache: eviction redis-server allkeys-lru");
        let (hit, items_kept) = eviction::server_hit_ratio(peer.addr, "allkeys-lru", redis_budget, &trace)?;
        redis_hits.push(Round::from(hit));
        redis_exact.push(Round::from(eviction::exact_lru_hit_ratio(&trace, items_kept as usize)));
        progress.inc(1);
    }
    kept.sort_unstable();
    // The trace and sizes are in the report's notes via this header; keep it short for the chart.
    let header = format!(
        "hit ratio, zipf 0.99 over {}k keys, {}-{} items fit",
        opts.eviction_keys / 1000,
        kept.first().unwrap_or(&0),
        kept.last().unwrap_or(&0)
    );
    let mut lines = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        let name = format!("{header}: {policy}");
        let w = Workload {
            area: "cache",
            name: &name,
            unit: "% hits",
            higher_is_better: true,
            peer_name: "exact LRU, same items",
        };
        let mut l = line(&w, &ours_hits[i], &exact[i]);
        l.workload = format!("{name} ({:+.2} pts vs exact LRU)", l.ours.median - l.peer.median);
        lines.push(l);
    }
    let redis_vs_exact = Stat::of(redis_hits.iter().map(|r| r.value).collect()).median
        - Stat::of(redis_exact.iter().map(|r| r.value).collect()).median;
    let name = format!("{header}: allkeys-lru vs redis (redis {redis_vs_exact:+.2} pts vs exact LRU)");
    let w = Workload {
        area: "cache",
        name: &name,
        unit: "% hits",
        higher_is_better: true,
        peer_name: "redis-server allkeys-lru",
    };
    lines.push(line(&w, &ours_hits[0], &redis_hits));
    hit_ratio_chart(opts, &lines, redis_hits.iter().map(|r| r.value).collect())?;
    Ok(lines)
}

/// `cache-hit-ratios.png`: each policy's median hit ratio, redis-server's allkeys-lru, and exact LRU
/// (at our allkeys-lru's item count).
fn hit_ratio_chart(opts: &CacheOptions, lines: &[Line], redis: Vec<f64>) -> anyhow::Result<()> {
    let mut bars: Vec<(String, f64, bool)> = Vec::new();
    for (policy, l) in eviction::OUR_POLICIES.iter().zip(lines) {
        bars.push((format!("cache {policy}"), l.ours.median, false));
    }
    bars.push(("redis-server allkeys-lru".into(), Stat::of(redis).median, false));
    bars.push(("exact LRU (simulated)".into(), lines[0].peer.median, true));
    std::fs::create_dir_all(&opts.out)?;
    let title = format!("cache-aside hit ratio, zipf 0.99 over {} keys, cache ~10 % of keys", opts.eviction_keys);
    crate::harness::bars::value_chart(&opts.out.join("cache-hit-ratios.png"), &title, "% hits", &bars)
}
