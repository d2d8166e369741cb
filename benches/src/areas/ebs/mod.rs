//! ebs: fio over NBD against ebsd (an io2 volume at 256,000 IOPS, so the model is not the limit) and,
//! in the same rounds, against qemu-nbd in both its modes (writeback, and cache=none + io_uring; the
//! peer value of a round is the better of the two, and the line says which won) and against raw fio
//! (io_uring, O_DIRECT, on a file of the same file system: the disk's ceiling). Then throttled volumes
//! against their model, gp2's burst run (time-series chart), and the snapshot lines.

mod api;
mod fio;
mod gp2;
mod snapshots;
mod throttle;

use std::path::PathBuf;
use std::time::Instant;

use fio::{Job, QemuNbd, Target};

use crate::harness::multi::ab_rounds_multi;
use crate::harness::{Line, Round, Workload, ab_rounds};

pub struct EbsOptions {
    /// Seconds per fio run.
    pub secs: u64,
    /// GiB of each disk the workloads touch (written once first, so reads hit data).
    pub region_gib: u64,
    /// The report directory (the gp2 time-series chart goes there).
    pub out: PathBuf,
}

const JOBS: [Job; 6] = [
    Job { name: "4 KiB randread qd1", rw: "randread", bs: "4k", iodepth: 1 },
    Job { name: "4 KiB randwrite qd1", rw: "randwrite", bs: "4k", iodepth: 1 },
    Job { name: "4 KiB randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
    Job { name: "4 KiB randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
    Job { name: "1 MiB seq read qd8", rw: "read", bs: "1m", iodepth: 8 },
    Job { name: "1 MiB seq write qd8", rw: "write", bs: "1m", iodepth: 8 },
];
/// Rounds × sides × (fio jobs + throttled checks + snapshots) + rounds × gp2 runs, for the progress bar.
pub fn steps(rounds: usize) -> u64 {
    (rounds * 2 * (JOBS.len() + throttle::CHECKS.len() + 1) + rounds * gp2::JOBS.len()) as u64
}

pub fn run(rounds: usize, opts: &EbsOptions, progress: &indicatif::ProgressBar) -> anyhow::Result<Vec<Line>> {
    let started = Instant::now();
    let bin = crate::harness::binaries::daemon("ebsd")?;
    let scale = gp2::CREDIT_SCALE.to_string();
    let daemon = crate::harness::children::start_daemon(
        &bin,
        &["--nbd-listen", "127.0.0.1:0", "--burst-credits-scale", &scale],
        3,
    );
    let mut api = api::Api::new(&daemon)?;
    let work = daemon.data_dir().join("bench");
    std::fs::create_dir_all(&work)?;
    let region_mib = opts.region_gib << 10;

    progress.set_message("ebs: preconditioning the disks");
    let volume = api.volume("VolumeType=io2&Size=512&Iops=256000")?;
    let ours = Target::Nbd(api.uri(&volume));
    // qemu-nbd's backing files and fio's raw file: same size, same file system as ebsd's volumes.
    let mut qemu = Vec::new();
    for (i, (mode, flags)) in fio::QEMU_MODES.iter().enumerate() {
        let file = work.join(format!("qemu-{i}.raw"));
        std::fs::File::create(&file)?.set_len(512 << 30)?;
        qemu.push(QemuNbd::start(&file, mode, flags)?);
    }
    let raw = Target::File(work.join("fio-raw.file"));
    let fill = Job { name: "precondition", rw: "write", bs: "1m", iodepth: 8 };
    for target in [&ours, &raw].into_iter().chain(&qemu.iter().map(|q| Target::Nbd(q.uri.clone())).collect::<Vec<_>>())
    {
        fio::run(target, &fill, None, region_mib, &[])?;
    }

    let mut lines = Vec::new();
    for job in &JOBS {
        progress.set_message(format!("ebs: {}", job.name));
        let qemu_name = "qemu-nbd, best of writeback / cache=none+io_uring";
        let workloads = [
            Workload { area: "ebs", name: job.name, unit: job.unit(), higher_is_better: true, peer_name: qemu_name },
            Workload {
                area: "ebs",
                name: job.name,
                unit: job.unit(),
                higher_is_better: true,
                peer_name: "ceiling: raw fio io_uring direct=1 on a file",
            },
        ];
        let mut wins = vec![0usize; qemu.len()];
        let ours_side = || {
            progress.inc(1);
            let r = fio::run(&ours, job, Some(opts.secs), region_mib, &[])?;
            Ok(vec![r.clone(), r])
        };
        let peer_side = || {
            progress.inc(1);
            let mut modes = Vec::new();
            for q in &qemu {
                modes.push(fio::run(&Target::Nbd(q.uri.clone()), job, Some(opts.secs), region_mib, &[])?);
            }
            let (winner, best) = fio::best_of(modes).expect("two modes");
            wins[winner] += 1;
            Ok(vec![best, fio::run(&raw, job, Some(opts.secs), region_mib, &[])?])
        };
        let mut ran = ab_rounds_multi(&workloads, rounds, ours_side, peer_side)?;
        let won: Vec<String> = qemu
            .iter()
            .zip(&wins)
            .filter(|(_, n)| **n > 0)
            .map(|(q, n)| format!("{} won {n}/{rounds}", q.mode))
            .collect();
        ran[0].peer_name = format!("qemu-nbd best mode: {}", won.join(", "));
        lines.extend(ran);
    }
    drop(qemu);

    for check in &throttle::CHECKS {
        progress.set_message(format!("ebs: {}", check.job.name));
        let w = Workload {
            area: "ebs",
            name: check.job.name,
            unit: check.job.unit(),
            higher_is_better: true,
            peer_name: "the volume's model",
        };
        // A fresh volume per round: each starts from the same full bucket, none from what the last left.
        lines.push(ab_rounds(
            w,
            rounds,
            || {
                progress.inc(1);
                let volume = api.volume(check.spec)?;
                let r = fio::run(&Target::Nbd(api.uri(&volume)), &check.job, Some(opts.secs), region_mib, &[]);
                api.delete_volume(&volume)?;
                r
            },
            || {
                progress.inc(1);
                Ok(Round::from(check.modelled))
            },
        )?);
    }

    std::fs::create_dir_all(&opts.out)?;
    let mut charts = Vec::new();
    let gp2_rounds = rounds.max(1);
    progress.set_message(format!("ebs: gp2 burst credits, {gp2_rounds} rounds at once"));
    let runs = gp2::run_rounds(&mut api, &work, gp2_rounds)?;
    progress.inc((gp2_rounds * gp2::JOBS.len()) as u64);
    for (job, series) in gp2::JOBS.iter().zip(&runs) {
        let chart = opts.out.join(format!("ebs-gp2-burst-{}.png", job.rw));
        lines.extend(gp2::lines(job, series, &chart)?);
        charts.push(chart.display().to_string());
    }

    progress.set_message("ebs: snapshots");
    // The same API connection serves both sides; a RefCell lets both closures use it.
    let api = std::cell::RefCell::new(api);
    lines.extend(ab_rounds_multi(
        &snapshots::workloads(),
        rounds,
        || {
            progress.inc(1);
            snapshots::ours(&mut api.borrow_mut(), region_mib)
        },
        || {
            progress.inc(1);
            snapshots::peer(&mut api.borrow_mut(), region_mib, &work)
        },
    )?);
    println!("ebs: {:.0} s; gp2 charts: {}", started.elapsed().as_secs_f64(), charts.join(", "));
    Ok(lines)
}
