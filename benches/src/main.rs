//! `cargo run --release -p benches -- all` runs every wired area against its peer in alternating A/B
//! rounds and writes `bench-report/report.md`, `results.json` and one ratio chart per area.
//!
//! Wired so far: `kv` (common's durable-write path vs RocksDB). The daemon areas still run as their own
//! load binaries (`--bin s3|ebs|dynamodb|cache`) until they are moved in here (issue #10).

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut machine = harness::machine::Machine::describe();
    let progress = ProgressBar::new(areas::kv::steps(cli.rounds));
    progress.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} {msg}")?);
    let mut lines = Vec::new();
    if matches!(cli.area, Area::All | Area::Kv) {
        let opts = areas::kv::KvOptions { threads: 16, writes: 200 };
        lines.extend(areas::kv::run(cli.rounds, &opts, &progress)?);
    }
    progress.finish_and_clear();
    machine.finish();
    let summary = harness::report::write(&cli.out, &machine, cli.rounds, &lines)?;
    println!("{summary}");
    println!("report: {}", cli.out.join("report.md").display());
    Ok(())
}
