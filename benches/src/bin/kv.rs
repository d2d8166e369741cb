//! Durable-write throughput of common's `RocksKv` (group commit: concurrent batches share one synced WAL
//! write) against its peer, RocksDB used directly with one synced write per request, in the same run.
//!
//! `cargo run --release -p benches --bin kv -- [--threads 16] [--writes 200] [--rounds 3]`

use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use common::kv::{KvStore, RocksKv};

#[derive(Parser)]
#[command(about = "RocksKv group commit vs one fsync per write")]
struct Args {
    /// Concurrent writers.
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Writes per writer per round.
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// A/B rounds (medians are reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

const VALUE: [u8; 256] = [0x5a; 256];

fn ours(args: &Args) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let kv = Arc::new(RocksKv::open(dir.path(), &["bench"]).expect("open"));
    timed(args, |t, i| kv.put("bench", format!("{t:04}-{i:08}").as_bytes(), &VALUE).expect("put"))
}

fn peer(args: &Args) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = rocksdb::DB::open_default(dir.path()).expect("open");
    let mut sync = rocksdb::WriteOptions::default();
    sync.set_sync(true);
    timed(args, |t, i| db.put_opt(format!("{t:04}-{i:08}").as_bytes(), VALUE, &sync).expect("put"))
}

/// Writes/s of `threads` writers doing `writes` acknowledged writes each.
fn timed(args: &Args, write: impl Fn(usize, usize) + Sync) -> f64 {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..args.threads {
            let write = &write;
            s.spawn(move || (0..args.writes).for_each(|i| write(t, i)));
        }
    });
    (args.threads * args.writes) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        a.push(ours(&args));
        b.push(peer(&args));
        eprintln!(
            "round {round}/{}: RocksKv {:.0} writes/s, RocksDB sync-per-write {:.0} writes/s",
            args.rounds,
            a[round - 1],
            b[round - 1]
        );
    }
    let (a, b) = (median(a), median(b));
    println!("durable writes, {} writers x {} (median of {} rounds)", args.threads, args.writes, args.rounds);
    println!("  RocksKv (group commit)        {a:>10.0} writes/s");
    println!("  RocksDB (fsync per write)     {b:>10.0} writes/s");
    println!("  ratio                         {:>10.2}x", a / b);
}
