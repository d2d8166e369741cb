//! The benchmark harness: runs ours and a peer in alternating A/B rounds (these machines are noisy, so
//! both see the same noise), keeps every sample, and reports medians with min–max, ratios, and latency
//! percentiles where a workload measures them.

pub mod bars;
pub mod binaries;
pub mod chart;
pub mod children;
pub mod machine;
pub mod multi;
pub mod report;
pub mod series;

use serde::Serialize;

/// Median and spread of one side's samples.
#[derive(Debug, Clone, Serialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Stat {
    pub fn of(samples: Vec<f64>) -> Self {
        assert!(!samples.is_empty(), "a statistic needs at least one sample");
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Self { median, min: sorted[0], max: sorted[n - 1], samples }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

impl Latency {
    /// Percentiles of raw latencies (any order).
    pub fn of_micros(mut micros: Vec<f64>) -> Option<Self> {
        if micros.is_empty() {
            return None;
        }
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() as f64 * q).ceil() as usize).clamp(1, micros.len()) - 1];
        Some(Self { p50_us: at(0.50), p99_us: at(0.99), p999_us: at(0.999) })
    }
}

/// One measured round of one side: the headline value and, optionally, its latencies.
#[derive(Debug, Clone)]
pub struct Round {
    pub value: f64,
    pub latency: Option<Latency>,
}

impl From<f64> for Round {
    fn from(value: f64) -> Self {
        Self { value, latency: None }
    }
}

/// One line of the report: a workload measured on ours and on the peer.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub area: String,
    pub workload: String,
    pub unit: String,
    pub higher_is_better: bool,
    pub ours: Stat,
    pub peer_name: String,
    pub peer: Stat,
    /// Latencies of the median round of each side.
    pub ours_latency: Option<Latency>,
    pub peer_latency: Option<Latency>,
}

impl Line {
    /// How much better ours is than the peer (> 1 is better, whatever the unit's direction).
    pub fn ratio(&self) -> f64 {
        if self.higher_is_better { self.ours.median / self.peer.median } else { self.peer.median / self.ours.median }
    }
}

/// What a workload is, for the report.
pub struct Workload<'a> {
    pub area: &'a str,
    pub name: &'a str,
    pub unit: &'a str,
    pub higher_is_better: bool,
    pub peer_name: &'a str,
}

/// Runs `rounds` rounds alternating the order (AB, BA, AB, …) so that drift hits both sides alike.
pub fn ab_rounds(
    workload: Workload<'_>,
    rounds: usize,
    mut ours: impl FnMut() -> anyhow::Result<Round>,
    mut peer: impl FnMut() -> anyhow::Result<Round>,
) -> anyhow::Result<Line> {
    let mut lines =
        multi::ab_rounds_multi(std::slice::from_ref(&workload), rounds, || Ok(vec![ours()?]), || Ok(vec![peer()?]))?;
    Ok(lines.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Stat::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of(vec![1.0, 4.0]).median, 2.5);
    }

    #[test]
    fn percentiles_pick_the_right_rank() {
        let l = Latency::of_micros((1..=1000).map(f64::from).collect()).unwrap();
        assert_eq!((l.p50_us, l.p99_us, l.p999_us), (500.0, 990.0, 999.0));
    }

    #[test]
    fn rounds_alternate_and_ratio_follows_direction() {
        let order = std::cell::RefCell::new(String::new());
        let w = Workload { area: "t", name: "w", unit: "ms", higher_is_better: false, peer_name: "p" };
        let line = ab_rounds(
            w,
            3,
            || {
                order.borrow_mut().push('A');
                Ok(1.0.into())
            },
            || {
                order.borrow_mut().push('B');
                Ok(2.0.into())
            },
        )
        .unwrap();
        assert_eq!(order.into_inner(), "ABBAAB");
        assert_eq!(line.ratio(), 2.0, "half the latency is twice as good");
    }
}
