//! A/B rounds where one run of each side yields several lines (e.g. an S3 run PUTs, GETs, LISTs and
//! DELETEs the same objects; one fio run of ebsd is compared with two peers).

use super::{Line, Round, Stat, Workload};

/// Like [`super::ab_rounds`], but each call of `ours` / `peer` returns one round per workload (in the
/// order of `workloads`). Order alternates AB, BA, AB, … as there.
pub fn ab_rounds_multi(
    workloads: &[Workload<'_>],
    rounds: usize,
    mut ours: impl FnMut() -> anyhow::Result<Vec<Round>>,
    mut peer: impl FnMut() -> anyhow::Result<Vec<Round>>,
) -> anyhow::Result<Vec<Line>> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        if round % 2 == 0 {
            a.push(ours()?);
            b.push(peer()?);
        } else {
            b.push(peer()?);
            a.push(ours()?);
        }
    }
    for side in a.iter().chain(&b) {
        anyhow::ensure!(side.len() == workloads.len(), "{} rounds for {} workloads", side.len(), workloads.len());
    }
    Ok(workloads
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let ours: Vec<Round> = a.iter().map(|r| r[i].clone()).collect();
            let peer: Vec<Round> = b.iter().map(|r| r[i].clone()).collect();
            line(w, &ours, &peer)
        })
        .collect())
}

/// The line of one workload from both sides' rounds (latencies of each side's median round).
pub fn line(w: &Workload<'_>, ours: &[Round], peer: &[Round]) -> Line {
    let median_latency = |rounds: &[Round]| {
        let mut sorted: Vec<&Round> = rounds.iter().collect();
        sorted.sort_by(|x, y| x.value.total_cmp(&y.value));
        sorted.get(sorted.len() / 2).and_then(|r| r.latency)
    };
    Line {
        area: w.area.into(),
        workload: w.name.into(),
        unit: w.unit.into(),
        higher_is_better: w.higher_is_better,
        ours_latency: median_latency(ours),
        peer_latency: median_latency(peer),
        ours: Stat::of(ours.iter().map(|r| r.value).collect()),
        peer_name: w.peer_name.into(),
        peer: Stat::of(peer.iter().map(|r| r.value).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_feeds_its_own_line() {
        let w = |name| Workload { area: "t", name, unit: "x", higher_is_better: true, peer_name: "p" };
        let mut n = 0.0;
        let lines = ab_rounds_multi(
            &[w("a"), w("b")],
            3,
            || {
                n += 1.0;
                Ok(vec![n.into(), (10.0 * n).into()])
            },
            || Ok(vec![1.0.into(), 10.0.into()]),
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].ours.samples, vec![1.0, 2.0, 3.0]);
        assert_eq!(lines[1].ours.samples, vec![10.0, 20.0, 30.0]);
        assert_eq!(lines[1].ratio(), 2.0);
    }

    #[test]
    fn a_side_with_the_wrong_number_of_rounds_is_an_error() {
        let w = Workload { area: "t", name: "a", unit: "x", higher_is_better: true, peer_name: "p" };
        assert!(ab_rounds_multi(&[w], 1, || Ok(vec![]), || Ok(vec![1.0.into()])).is_err());
    }
}
