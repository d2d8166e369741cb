//! gp2's burst-credit cliff. ebsd runs with `--burst-credits-scale` ([`CREDIT_SCALE`]), which shrinks the
//! credit bucket (never the rates), so a 1 GiB gp2 volume spends its credits in seconds instead of half
//! an hour. fio drives 4 KiB random reads, then writes, at qd32 on a fresh volume (a full bucket) each
//! round, logging IOPS once a second; the series is charted (burst plateau, cliff, baseline) and three
//! lines compare it with AWS's model, scaled the same way: burst IOPS vs 3,000, time to the cliff vs
//! credits ÷ (3,000 − baseline), baseline IOPS vs 3 IOPS/GiB (at least 100). There is no other peer.

use std::path::Path;

use super::api::Api;
use super::fio::{self, Job, Target};
use crate::harness::multi::line;
use crate::harness::{Line, Round, Workload};

/// ebsd's `--burst-credits-scale` for the ebs area: 27,000 credits, ~9.3 s of burst on 1 GiB. Only gp2,
/// st1 and sc1 have credit buckets; the other lines use gp3 / io1 / io2 volumes, which it leaves alone.
pub const CREDIT_SCALE: f64 = 0.005;
/// The smallest gp2 volume: baseline 100 IOPS, the deepest cliff.
pub const SIZE_GIB: u64 = 1;
/// Long enough for the burst and ~9 s of baseline.
pub const SECS: u64 = 18;
pub const JOBS: [Job; 2] = [
    Job { name: "gp2 4 KiB randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
    Job { name: "gp2 4 KiB randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
];

/// AWS's gp2 numbers (per the EBS volume types page), with the bucket scaled as ebsd's is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub burst: f64,
    pub baseline: f64,
    pub credits: f64,
}

impl Model {
    pub fn gp2(size_gib: u64, credit_scale: f64) -> Self {
        Self {
            burst: 3_000.0,
            baseline: (3.0 * size_gib as f64).clamp(100.0, 16_000.0),
            credits: 5_400_000.0 * credit_scale,
        }
    }

    /// Seconds a full bucket lasts at the burst rate (credits drain at burst − baseline).
    pub fn cliff_seconds(&self) -> f64 {
        self.cliff_seconds_at(self.burst)
    }

    /// Seconds a full bucket lasts when drained at `iops` (a client slower than the burst rate).
    pub fn cliff_seconds_at(&self, iops: f64) -> f64 {
        self.credits / (iops.min(self.burst) - self.baseline)
    }
}

/// The index of the first sample from which the rate stays below the midpoint of `burst` and
/// `baseline`, if there is a burst before it and a settled rate after it.
pub fn cliff(points: &[(f64, f64)], burst: f64, baseline: f64) -> Option<usize> {
    let mid = (burst + baseline) / 2.0;
    let start = points.iter().rposition(|p| p.1 >= mid).map_or(0, |i| i + 1);
    (start > 0 && start < points.len()).then_some(start)
}

/// What one run shows: the burst plateau, when it ended, the rate after, and the mean rate before the
/// cliff (what the bucket actually drained at, when the client could not keep up with the burst rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub burst: f64,
    pub cliff_s: f64,
    pub baseline: f64,
    pub mean_before: f64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v[v.len() / 2])
}

/// Reads the shape of a per-second series. The sample that straddles the cliff is a blend of both
/// rates; where in its second the cliff fell is interpolated from it, so the time is not rounded up to
/// whole seconds. None when the series has no cliff (or nothing settled after it).
pub fn shape(points: &[(f64, f64)], model: &Model) -> Option<Shape> {
    let at = cliff(points, model.burst, model.baseline)?;
    // The first sample also holds fio's ramp-up: the plateau is the samples after it.
    let burst = median(points[..at].iter().skip(usize::from(at > 1)).map(|p| p.1).collect())?;
    let baseline = median(points[at + 1..].iter().map(|p| p.1).collect())?;
    let (end, blend) = points[at];
    let start = if at > 0 { points[at - 1].0 } else { 0.0 };
    let fraction = if burst > baseline { ((blend - baseline) / (burst - baseline)).clamp(0.0, 1.0) } else { 0.0 };
    let cliff_s = start + fraction * (end - start);
    // I/Os before the cliff: whole samples (rate × their span), then the burst part of the blended one.
    let mut ops = 0.0;
    let mut prev = 0.0;
    for &(t, v) in &points[..at] {
        ops += v * (t - prev);
        prev = t;
    }
    ops += burst * (cliff_s - start);
    let mean_before = if cliff_s > 0.0 { ops / cliff_s } else { burst };
    Some(Shape { burst, cliff_s, baseline, mean_before })
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

/// A per-second IOPS series: (seconds since the start, IOPS).
pub type Series = Vec<(f64, f64)>;

/// Every round of every job of [`JOBS`] at once, each on a fresh volume of its own (its own full
/// bucket). The model is the only peer, so there are no A/B sides to alternate; at 3,000 IOPS apiece the
/// runs together use a fraction of what the machine does at qd32 (~60,000 IOPS), so running them at
/// once changes no number and takes one run's time instead of one per round and job. Returns
/// `[job][round]` per-second series, in [`JOBS`] order.
pub fn run_rounds(api: &mut Api, work: &Path, rounds: usize) -> anyhow::Result<Vec<Vec<Series>>> {
    // (index in JOBS, round), job by job.
    let runs: Vec<(usize, usize)> =
        (0..JOBS.len()).flat_map(|job| (0..rounds).map(move |round| (job, round))).collect();
    let mut volumes = Vec::new();
    for _ in &runs {
        volumes.push(api.volume(&format!("VolumeType=gp2&Size={SIZE_GIB}"))?);
    }
    let uris: Vec<String> = volumes.iter().map(|v| api.uri(v)).collect();
    let results: Vec<anyhow::Result<Series>> = std::thread::scope(|scope| {
        let threads: Vec<_> = runs
            .iter()
            .zip(&uris)
            .map(|(&(job, round), uri)| scope.spawn(move || run_job(&JOBS[job], round, uri, work)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a gp2 fio run panicked"))))
            .collect()
    });
    for v in &volumes {
        api.delete_volume(v)?;
    }
    let mut series = vec![Vec::new(); JOBS.len()];
    for (&(job, _), points) in runs.iter().zip(results) {
        series[job].push(points?);
    }
    Ok(series)
}

/// `job` on the volume at `uri`: its per-second series.
fn run_job(job: &Job, round: usize, uri: &str, work: &Path) -> anyhow::Result<Series> {
    let prefix = work.join(format!("gp2-{}-{round}", job.rw));
    let extra = [format!("--write_iops_log={}", prefix.display()), "--log_avg_msec=1000".to_string()];
    fio::run(&Target::Nbd(uri.to_string()), job, Some(SECS), SIZE_GIB << 10, &extra)?;
    let log_path = work.join(format!("gp2-{}-{round}_iops.1.log", job.rw));
    let points = read_iops_log(&std::fs::read_to_string(&log_path)?);
    std::fs::remove_file(&log_path)?;
    anyhow::ensure!(!points.is_empty(), "fio wrote no IOPS samples for {}", job.name);
    Ok(points)
}

/// The lines of `job` from each round's series (rounds without a cliff are reported and left out),
/// and the chart of every round.
pub fn lines(job: &Job, runs: &[Vec<(f64, f64)>], chart: &Path) -> anyhow::Result<Vec<Line>> {
    let model = Model::gp2(SIZE_GIB, CREDIT_SCALE);
    let mut shapes = Vec::new();
    for (round, points) in runs.iter().enumerate() {
        match shape(points, &model) {
            // A client slowed by other load drains the bucket slower and reaches the cliff later; the
            // model at the rate it achieved says whether the bucket was still the right size.
            Some(s) => println!(
                "ebs: {} round {}: burst {:.0} IOPS (mean {:.0} before the cliff), cliff at {:.2} s (model: {:.2} s \
                 at 3,000 IOPS, {:.2} s at the measured mean), baseline {:.0} IOPS",
                job.name,
                round + 1,
                s.burst,
                s.mean_before,
                s.cliff_s,
                model.cliff_seconds(),
                model.cliff_seconds_at(s.mean_before),
                s.baseline
            ),
            None => println!("ebs: {} round {}: no cliff in {SECS} s: {points:?}", job.name, round + 1),
        }
        shapes.extend(shape(points, &model));
    }
    if !runs.is_empty() {
        let series: Vec<(String, Vec<(f64, f64)>)> =
            runs.iter().enumerate().map(|(i, p)| (format!("round {}", i + 1), p.clone())).collect();
        let title = format!(
            "gp2 {SIZE_GIB} GiB, credits x{CREDIT_SCALE}: {} IOPS per second (ebsd; model cliff at {:.1} s)",
            job.rw,
            model.cliff_seconds()
        );
        crate::harness::series::time_series(
            chart,
            &title,
            "IOPS",
            &series,
            &[("model burst", model.burst), ("model baseline", model.baseline)],
            &[("model cliff", model.cliff_seconds())],
        )?;
    }
    if shapes.is_empty() {
        return Ok(Vec::new());
    }
    let name = |what: &str| format!("{} (credits x{CREDIT_SCALE}): {what}", job.name);
    let metric = |what: &str, unit: &'static str, pick: fn(&Shape) -> f64, modelled: f64| {
        let name = name(what);
        let w = Workload { area: "ebs", name: &name, unit, higher_is_better: true, peer_name: "AWS's gp2 model" };
        let ours: Vec<Round> = shapes.iter().map(|s| Round::from(pick(s))).collect();
        line(&w, &ours, &[Round::from(modelled)])
    };
    Ok(vec![
        metric("burst", "IOPS", |s| s.burst, model.burst),
        metric("time to the cliff", "s", |s| s.cliff_s, model.cliff_seconds()),
        metric("baseline after the cliff", "IOPS", |s| s.baseline, model.baseline),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gp2_model_numbers() {
        let aws = Model::gp2(1, 1.0);
        assert_eq!((aws.burst, aws.baseline), (3_000.0, 100.0));
        assert!((aws.cliff_seconds() - 1862.07).abs() < 0.01);
        assert_eq!(Model::gp2(100, 1.0).baseline, 300.0);
        assert_eq!(Model::gp2(10_000, 1.0).baseline, 16_000.0);
        assert!((Model::gp2(1, CREDIT_SCALE).cliff_seconds() - 9.31).abs() < 0.01);
    }

    #[test]
    fn cliff_is_where_the_rate_settles_at_the_baseline() {
        let mut points: Vec<(f64, f64)> = (1..=10).map(|s| (f64::from(s), 3000.0)).collect();
        points.extend((11..=15).map(|s| (f64::from(s), 100.0)));
        assert_eq!(cliff(&points, 3000.0, 100.0), Some(10));
        // A dip that recovers is no cliff; neither is a run that never bursts or never drops.
        points[3].1 = 90.0;
        assert_eq!(cliff(&points, 3000.0, 100.0), Some(10));
        assert_eq!(cliff(&points[..10], 3000.0, 100.0), None);
        assert_eq!(cliff(&points[10..], 3000.0, 100.0), None);
    }

    #[test]
    fn the_cliff_time_is_interpolated_within_its_second() {
        let model = Model::gp2(1, CREDIT_SCALE);
        // 9.31 s of 2,980 IOPS, then 101: the 10th second blends 0.31 s of burst and 0.69 s of baseline.
        let mut points: Vec<(f64, f64)> = vec![(1.0, 2_500.0)];
        points.extend((2..=9).map(|s| (f64::from(s), 2_980.0)));
        points.push((10.0, 0.31 * 2_980.0 + 0.69 * 101.0));
        points.extend((11..=24).map(|s| (f64::from(s), 101.0)));
        let s = shape(&points, &model).unwrap();
        assert_eq!((s.burst, s.baseline), (2_980.0, 101.0), "ramp-up sample left out of the plateau");
        assert!((s.cliff_s - 9.31).abs() < 0.001, "{}", s.cliff_s);
        // 2,500 + 8 × 2,980 + 0.31 × 2,980 I/Os in 9.31 s.
        assert!((s.mean_before - 2_928.4).abs() < 0.1, "{}", s.mean_before);
        assert!((model.cliff_seconds_at(s.mean_before) - 27_000.0 / 2_828.4).abs() < 0.01);
        // No cliff: no shape.
        assert_eq!(shape(&points[..9], &model), None);
    }

    #[test]
    fn fio_iops_logs_are_read() {
        let log = "1000, 2990, 0, 4096, 0\n2000, 3004, 0, 4096, 0\ngarbage\n";
        assert_eq!(read_iops_log(log), vec![(1.0, 2990.0), (2.0, 3004.0)]);
    }
}
