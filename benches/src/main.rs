//! `cargo run --release -p benches -- all` runs every wired area against its peer in alternating A/B
//! rounds and writes `bench-report/report.md`, `results.json` and one ratio chart per area.
//!
//! Wired so far: `kv` (common's durable-write path vs RocksDB), `s3`, `ebs`, `dynamodb`, `cache`.

mod areas;
mod harness;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(about = "Stratus benchmarks against real peers, with a report")]
struct Cli {
    #[command(subcommand)]
    area: Area,
    /// A/B rounds per workload (medians reported; at least 3 for a meaningful spread).
    #[arg(long, global = true, default_value_t = 3)]
    rounds: usize,
    /// Where the report goes.
    #[arg(long, global = true, default_value = "bench-report")]
    out: PathBuf,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Area {
    /// Every wired area.
    All,
    /// Durable key-value writes: RocksKv group commit vs RocksDB with one fsync per write.
    Kv,
    /// s3d vs SeaweedFS's S3 gateway and the raw disk: PUT/GET/LIST/DELETE, multipart, SSE-S3.
    S3,
    /// ebsd vs qemu-nbd (best of two modes) and raw io_uring fio; throttled volumes vs their model.
    Ebs,
    /// dynamod vs dynalite: YCSB A/B/C/E, GSI Query, a throttled PROVISIONED table.
    Dynamodb,
    /// cache vs redis-server and memcached: redis-benchmark, memory per key, memcached mix, eviction.
    Cache,
}

impl Area {
    /// Whether running `self` runs `area`'s workloads.
    fn selects(self, area: Area) -> bool {
        self == Area::All || self == area
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // First, while this is the only thread: a signal must stop the daemons and peers the run starts.
    let run_dir = harness::children::install()?;
    let mut machine = harness::machine::Machine::describe();
    // The bar's length is the sum of the selected areas' steps.
    let mut steps = 0;
    if cli.area.selects(Area::Kv) {
        steps += areas::kv::steps(cli.rounds);
    }
    if cli.area.selects(Area::S3) {
        steps += areas::s3::steps(cli.rounds);
    }
    if cli.area.selects(Area::Ebs) {
        steps += areas::ebs::steps(cli.rounds);
    }
    if cli.area.selects(Area::Dynamodb) {
        steps += areas::dynamodb::steps(cli.rounds);
    }
    if cli.area.selects(Area::Cache) {
        steps += areas::cache::steps(cli.rounds);
    }
    // Before anything is timed: the daemons are built (one cargo run, so a fresh clone links them in
    // parallel) while the missing peers are installed (idempotent; network and dpkg, little CPU).
    let starts_daemons = [Area::S3, Area::Ebs, Area::Dynamodb, Area::Cache].into_iter().any(|a| cli.area.selects(a));
    if starts_daemons {
        let peers = std::thread::spawn(harness::binaries::setup_peers);
        let built = harness::binaries::build();
        peers.join().map_err(|_| anyhow::anyhow!("the peer set-up panicked"))??;
        built?;
    }
    let progress = ProgressBar::new(steps);
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} {msg}")?);
    let mut lines = Vec::new();
    // A failing area is reported and skipped: the others' results still make the report.
    let mut failed = Vec::new();
    if cli.area.selects(Area::Kv) {
        let opts = areas::kv::KvOptions { threads: 16, writes: 200 };
        keep("kv", areas::kv::run(cli.rounds, &opts, &progress), &mut lines, &mut failed);
    }
    if cli.area.selects(Area::S3) {
        let opts = areas::s3::S3Options { secs: 1.0 };
        keep("s3", areas::s3::run(cli.rounds, &opts, &progress), &mut lines, &mut failed);
    }
    if cli.area.selects(Area::Ebs) {
        let opts = areas::ebs::EbsOptions { secs: 1, region_gib: 1, out: cli.out.clone() };
        keep("ebs", areas::ebs::run(cli.rounds, &opts, &progress), &mut lines, &mut failed);
    }
    if cli.area.selects(Area::Dynamodb) {
        let opts = areas::dynamodb::DynamoOptions { records: 10_000, clients: 16, secs: 1.0 };
        keep("dynamodb", areas::dynamodb::run(cli.rounds, &opts, &progress), &mut lines, &mut failed);
    }
    if cli.area.selects(Area::Cache) {
        let opts = areas::cache::CacheOptions {
            requests: 50_000,
            pipelined_requests: 1_000_000,
            memory_keys: 300_000,
            mc_connections: 8,
            mc_secs: 2.0,
            eviction_keys: 200_000,
            eviction_requests: 600_000,
            out: cli.out.clone(),
        };
        keep("cache", areas::cache::run(cli.rounds, &opts, &progress), &mut lines, &mut failed);
    }
    progress.finish_and_clear();
    machine.finish();
    let summary = harness::report::write(&cli.out, &machine, cli.rounds, &lines)?;
    println!("{summary}");
    println!("report: {}", cli.out.join("report.md").display());
    // Every temp dir in it was dropped with its owner; this removes the directory itself.
    let _ = std::fs::remove_dir_all(&run_dir);
    anyhow::ensure!(failed.is_empty(), "these areas failed (see above): {}", failed.join(", "));
    Ok(())
}

/// Adds an area's lines, or prints its error and remembers that it failed.
fn keep<L>(area: &'static str, result: anyhow::Result<Vec<L>>, lines: &mut Vec<L>, failed: &mut Vec<&'static str>) {
    match result {
        Ok(more) => lines.extend(more),
        Err(e) => {
            eprintln!("{area}: failed: {e:#}");
            failed.push(area);
        }
    }
}
