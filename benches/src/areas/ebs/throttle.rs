//! Throttled volumes against their performance model (the peer is the model's number), and gp2's
//! burst-credit run: IOPS per second while the credit bucket drains, charted against the model's
//! burst (3,000) and baseline (3 × GiB, at least 100) rates.

use std::path::Path;

use super::api::Api;
use super::fio::{self, Job, Target};
use crate::harness::{Line, Round, Stat, Workload};

pub struct Check {
    pub spec: &'static str,
    pub job: Job,
    pub modelled: f64,
}

pub const CHECKS: [Check; 3] = [
    Check {
        spec: "VolumeType=gp3&Size=100",
        job: Job { name: "gp3 100 GiB, 4 KiB randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
        modelled: 3_000.0,
    },
    Check {
        spec: "VolumeType=gp3&Size=100",
        job: Job { name: "gp3 100 GiB, 1 MiB read qd8", rw: "read", bs: "1m", iodepth: 8 },
        modelled: 125.0,
    },
    Check {
        spec: "VolumeType=io1&Size=100&Iops=1000",
        job: Job { name: "io1 1,000 IOPS, 4 KiB randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
        modelled: 1_000.0,
    },
];

/// gp2's model: burst 3,000 IOPS from a 5.4 M credit bucket, baseline 3 IOPS per GiB (at least 100).
pub const GP2_BURST_IOPS: f64 = 3_000.0;
pub const GP2_CREDITS: f64 = 5_400_000.0;

pub fn gp2_baseline(size_gib: u64) -> f64 {
    (3.0 * size_gib as f64).clamp(100.0, 16_000.0)
}

/// Seconds a full bucket lasts at the burst rate (credits drain at burst − baseline).
pub fn gp2_burst_seconds(size_gib: u64) -> f64 {
    GP2_CREDITS / (GP2_BURST_IOPS - gp2_baseline(size_gib))
}

/// The first second from which the rate stays below the midpoint of burst and baseline (the cliff).
pub fn cliff(points: &[(f64, f64)], burst: f64, baseline: f64) -> Option<f64> {
    let mid = (burst + baseline) / 2.0;
    let start = points.iter().rposition(|p| p.1 >= mid).map_or(0, |i| i + 1);
    // A cliff needs a burst before it and a settled baseline after it.
    (start > 0 && start < points.len()).then(|| points[start].0)
}

/// Reads fio's per-second IOPS log (`time_ms, iops, direction, …` lines) into (seconds, IOPS).
pub fn read_iops_log(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(',').map(str::trim);
            Some((f.next()?.parse::<f64>().ok()? / 1000.0, f.next()?.parse::<f64>().ok()?))
        })
        .collect()
}

/// The gp2 run: a small gp2 volume under 4 KiB random reads at qd32 for `secs`, one IOPS sample per
/// second, charted to `chart`. The line compares the measured per-second IOPS with the model's burst
/// rate; the cliff to the baseline is reported when the run reaches it.
pub fn gp2_burst(api: &mut Api, size_gib: u64, secs: u64, work: &Path, chart: &Path) -> anyhow::Result<Vec<Line>> {
    let id = api.volume(&format!("VolumeType=gp2&Size={size_gib}"))?;
    let job = Job { name: "gp2 burst", rw: "randread", bs: "4k", iodepth: 32 };
    let prefix = work.join("gp2");
    let extra = [format!("--write_iops_log={}", prefix.display()), "--log_avg_msec=1000".to_string()];
    let size_mib = (size_gib << 10).min(1024);
    fio::run(&Target::Nbd(api.uri(&id)), &job, Some(secs), size_mib, &extra)?;
    let log = std::fs::read_to_string(work.join("gp2_iops.1.log"))?;
    let points = read_iops_log(&log);
    anyhow::ensure!(!points.is_empty(), "fio wrote no IOPS samples");
    api.delete_volume(&id)?;
    let (burst, baseline) = (GP2_BURST_IOPS, gp2_baseline(size_gib));
    let cliff_at = cliff(&points, burst, baseline);
    let title = format!("gp2 {size_gib} GiB: 4 KiB randread qd32 IOPS per second (ebsd)");
    crate::harness::series::time_series(
        chart,
        &title,
        "IOPS",
        &points,
        &[("model burst", burst), ("model baseline", baseline)],
    )?;
    let samples: Vec<f64> = points.iter().map(|p| p.1).collect();
    let (during, after): (Vec<f64>, Vec<f64>) = match cliff_at {
        Some(t) => (
            points.iter().filter(|p| p.0 < t).map(|p| p.1).collect(),
            points.iter().filter(|p| p.0 >= t).map(|p| p.1).collect(),
        ),
        None => (samples, Vec::new()),
    };
    let mut lines = vec![line(&format!("gp2 {size_gib} GiB burst IOPS (per-second samples)"), during, burst)];
    match cliff_at {
        Some(t) => {
            println!("ebs: gp2 cliff at {t:.0} s (model: {:.0} s)", gp2_burst_seconds(size_gib));
            lines.push(line(&format!("gp2 {size_gib} GiB baseline IOPS after the cliff"), after, baseline));
        }
        None => println!(
            "ebs: gp2 {size_gib} GiB stayed at burst for the whole {secs} s run: the model's 5.4 M credits last \
             {:.0} s at {burst:.0} IOPS, and ebsd has no setting to start a bucket partly drained",
            gp2_burst_seconds(size_gib)
        ),
    }
    Ok(lines)
}

fn line(name: &str, samples: Vec<f64>, modelled: f64) -> Line {
    let w = Workload { area: "ebs", name, unit: "IOPS", higher_is_better: true, peer_name: "model" };
    let ours: Vec<Round> = samples.into_iter().map(Round::from).collect();
    let mut l = crate::harness::multi::line(&w, &ours, &[Round::from(modelled)]);
    l.peer = Stat::of(vec![modelled]);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gp2_model_numbers() {
        assert_eq!(gp2_baseline(1), 100.0);
        assert_eq!(gp2_baseline(100), 300.0);
        assert_eq!(gp2_baseline(10_000), 16_000.0);
        assert!((gp2_burst_seconds(1) - 1862.07).abs() < 0.01);
    }

    #[test]
    fn cliff_is_where_the_rate_settles_at_the_baseline() {
        let mut points: Vec<(f64, f64)> = (0..10).map(|s| (f64::from(s), 3000.0)).collect();
        points.extend((10..15).map(|s| (f64::from(s), 100.0)));
        assert_eq!(cliff(&points, 3000.0, 100.0), Some(10.0));
        // A dip that recovers is no cliff; neither is a run that never bursts or never drops.
        points[3].1 = 90.0;
        assert_eq!(cliff(&points, 3000.0, 100.0), Some(10.0));
        assert_eq!(cliff(&points[..10], 3000.0, 100.0), None);
        assert_eq!(cliff(&points[10..], 3000.0, 100.0), None);
    }

    #[test]
    fn fio_iops_logs_are_read() {
        let log = "1000, 2990, 0, 4096, 0\n2000, 3004, 0, 4096, 0\ngarbage\n";
        assert_eq!(read_iops_log(log), vec![(1.0, 2990.0), (2.0, 3004.0)]);
    }
}
