//! `bench-report/report.md` (summary table first, then each area with medians, min–max and latencies),
//! `bench-report/results.json` (every sample) and one ratio chart per area.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::machine::Machine;
use super::{Line, Stat, chart};

#[derive(Serialize)]
struct Results<'a> {
    machine: &'a Machine,
    rounds: usize,
    lines: &'a [Line],
}

/// Writes the report, the JSON and the charts under `dir`; returns the summary table (markdown).
pub fn write(dir: &Path, machine: &Machine, rounds: usize, lines: &[Line]) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(&Results { machine, rounds, lines })?;
    std::fs::write(dir.join("results.json"), json)?;

    let summary = summary_table(lines);
    let mut md = String::new();
    writeln!(md, "# Stratus benchmark report\n")?;
    writeln!(
        md,
        "Machine: {} cores ({}), {:.1} GiB, Linux {}. Load average before: {}; after: {}. \
         Medians of {rounds} alternating A/B rounds, min–max in brackets.\n",
        machine.cores,
        machine.cpu,
        machine.memory_gib,
        machine.kernel,
        machine.load_before,
        machine.load_after.as_deref().unwrap_or("n/a"),
    )?;
    writeln!(md, "## Summary\n\n{summary}")?;
    let mut areas: Vec<&str> = lines.iter().map(|l| l.area.as_str()).collect();
    areas.dedup();
    for area in areas {
        let area_lines: Vec<&Line> = lines.iter().filter(|l| l.area == area).collect();
        let png = format!("{area}.png");
        chart::ratio_chart(&dir.join(&png), area, &area_lines)?;
        writeln!(md, "## {area}\n\n![{area}: ratio to the peer]({png})\n")?;
        writeln!(md, "| workload | ours | peer | ratio | latency p50 / p99 / p999 (µs), ours vs peer |")?;
        writeln!(md, "|---|---|---|---|---|")?;
        for l in area_lines {
            let latency = match (l.ours_latency, l.peer_latency) {
                (Some(a), Some(b)) => format!(
                    "{:.0} / {:.0} / {:.0} vs {:.0} / {:.0} / {:.0}",
                    a.p50_us, a.p99_us, a.p999_us, b.p50_us, b.p99_us, b.p999_us
                ),
                _ => String::new(),
            };
            writeln!(
                md,
                "| {} | {} {} | {} ({}) | {:.2}× | {latency} |",
                l.workload,
                spread(&l.ours),
                l.unit,
                spread(&l.peer),
                l.peer_name,
                l.ratio()
            )?;
        }
        writeln!(md)?;
    }
    std::fs::write(dir.join("report.md"), md)?;
    Ok(summary)
}

/// One line per workload: ours, the peer, the ratio.
pub fn summary_table(lines: &[Line]) -> String {
    let mut t = String::from("| area | workload | ours | peer | ratio |\n|---|---|---|---|---|\n");
    for l in lines {
        let _ = writeln!(
            t,
            "| {} | {} | {} {} | {} {} ({}) | {:.2}× |",
            l.area,
            l.workload,
            fmt_num(l.ours.median),
            l.unit,
            fmt_num(l.peer.median),
            l.unit,
            l.peer_name,
            l.ratio()
        );
    }
    t
}

fn spread(s: &Stat) -> String {
    format!("{} [{}–{}]", fmt_num(s.median), fmt_num(s.min), fmt_num(s.max))
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_are_written_with_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = Line {
            area: "kv".into(),
            workload: "durable writes".into(),
            unit: "writes/s".into(),
            higher_is_better: true,
            ours: Stat::of(vec![200.0, 210.0, 190.0]),
            peer_name: "RocksDB".into(),
            peer: Stat::of(vec![100.0, 100.0, 100.0]),
            ours_latency: None,
            peer_latency: None,
        };
        let mut machine = Machine::describe();
        machine.finish();
        let summary = write(dir.path(), &machine, 3, &[line]).unwrap();
        assert!(
            summary.contains("| kv | durable writes | 200 writes/s | 100 writes/s (RocksDB) | 2.00× |"),
            "{summary}"
        );
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(md.contains("200 [190–210]"), "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap()).unwrap();
        assert_eq!(json["lines"][0]["ours"]["samples"].as_array().unwrap().len(), 3);
        assert!(std::fs::metadata(dir.path().join("kv.png")).unwrap().len() > 1000, "chart rendered");
    }
}
