//! Durable-write throughput of common's `RocksKv` (group commit: concurrent batches share one synced
//! WAL write) against its peer, RocksDB used directly with one synced write per request.

use std::sync::Arc;
use std::time::Instant;

use common::kv::{KvStore, RocksKv};

use crate::harness::{Line, Round, Workload, ab_rounds};

const VALUE: [u8; 256] = [0x5a; 256];

pub struct KvOptions {
    pub threads: usize,
    pub writes: usize,
}

pub fn run(rounds: usize, opts: &KvOptions, progress: &indicatif::ProgressBar) -> anyhow::Result<Vec<Line>> {
    let mut lines = Vec::new();
    for threads in [1, opts.threads] {
        progress.set_message(format!("kv: durable writes, {threads} writers"));
        let name = format!("durable 256 B writes, {threads} writers");
        let workload = Workload {
            area: "kv",
            name: &name,
            unit: "writes/s",
            higher_is_better: true,
            peer_name: "RocksDB sync/write",
        };
        lines.push(ab_rounds(
            workload,
            rounds,
            || {
                progress.inc(1);
                ours(threads, opts.writes)
            },
            || {
                progress.inc(1);
                peer(threads, opts.writes)
            },
        )?);
    }
    Ok(lines)
}

/// Rounds × sides × workloads, for the progress bar.
pub fn steps(rounds: usize) -> u64 {
    (rounds * 2 * 2) as u64
}

fn ours(threads: usize, writes: usize) -> anyhow::Result<Round> {
    let dir = tempfile::tempdir()?;
    let kv = Arc::new(RocksKv::open(dir.path(), &["bench"])?);
    timed(threads, writes, |t, i| kv.put("bench", format!("{t:04}-{i:08}").as_bytes(), &VALUE).map_err(Into::into))
}

fn peer(threads: usize, writes: usize) -> anyhow::Result<Round> {
    let dir = tempfile::tempdir()?;
    let db = rocksdb::DB::open_default(dir.path())?;
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    timed(threads, writes, |t, i| db.put_opt(format!("{t:04}-{i:08}").as_bytes(), VALUE, &sync).map_err(Into::into))
}

/// Writes/s of `threads` writers doing `writes` acknowledged writes each, with per-write latencies.
fn timed(
    threads: usize,
    writes: usize,
    write: impl Fn(usize, usize) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<Round> {
    let started = Instant::now();
    let latencies: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let write = &write;
                s.spawn(move || -> anyhow::Result<Vec<f64>> {
                    let mut micros = Vec::with_capacity(writes);
                    for i in 0..writes {
                        let one = Instant::now();
                        write(t, i)?;
                        micros.push(one.elapsed().as_secs_f64() * 1e6);
                    }
                    Ok(micros)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer thread")).collect::<anyhow::Result<_>>()
    })?;
    let value = (threads * writes) as f64 / started.elapsed().as_secs_f64();
    Ok(Round { value, latency: crate::harness::Latency::of_micros(latencies.concat()) })
}
