//! fio runs (JSON output) against an NBD export or a file, and the qemu-nbd peer in its two modes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ::tests::run_with_timeout;
use anyhow::{Context, bail};

use crate::harness::{Latency, Round};

/// One fio workload.
#[derive(Clone, Copy)]
pub struct Job {
    pub name: &'static str,
    pub rw: &'static str,
    pub bs: &'static str,
    pub iodepth: u32,
}

impl Job {
    /// 4 KiB jobs count IOPS, larger ones MiB/s.
    pub fn unit(&self) -> &'static str {
        if self.bs == "4k" { "IOPS" } else { "MiB/s" }
    }
}

/// What fio drives: an NBD export (fio's nbd engine) or a file (io_uring, O_DIRECT: the disk's ceiling).
pub enum Target {
    Nbd(String),
    File(PathBuf),
}

/// fio's command for `job` on `target` over the first `size_mib` MiB.
fn command(target: &Target, job: &Job, size_mib: u64) -> Command {
    let mut cmd = Command::new("fio");
    cmd.args(["--name=bench", "--output-format=json", "--group_reporting", "--randrepeat=0"])
        .arg(format!("--rw={}", job.rw))
        .arg(format!("--bs={}", job.bs))
        .arg(format!("--iodepth={}", job.iodepth))
        .arg(format!("--size={size_mib}m"));
    match target {
        Target::Nbd(uri) => cmd.args(["--ioengine=nbd", &format!("--uri={uri}")]),
        Target::File(path) => {
            cmd.args(["--ioengine=io_uring", "--direct=1", &format!("--filename={}", path.display())])
        }
    };
    cmd
}

/// Runs `job` for `secs` (time based; None = once over the region) and returns IOPS or MiB/s (by the
/// job's unit) with completion-latency percentiles. `extra` adds fio options (e.g. an IOPS log).
pub fn run(target: &Target, job: &Job, secs: Option<u64>, size_mib: u64, extra: &[String]) -> anyhow::Result<Round> {
    let mut cmd = command(target, job, size_mib);
    if let Some(s) = secs {
        cmd.arg(format!("--runtime={s}")).arg("--time_based");
    }
    cmd.args(extra);
    let timeout = Duration::from_secs(secs.unwrap_or(600) + 120);
    let (status, out, err) = run_with_timeout(&mut cmd, timeout);
    if !status.success() {
        bail!("fio {} failed: {err}{out}", job.name);
    }
    parse(&out, job)
}

/// Reads the measured side (read or write) of fio's JSON report.
pub fn parse(out: &str, job: &Job) -> anyhow::Result<Round> {
    // fio may print notices before the JSON document.
    let json: serde_json::Value = serde_json::from_str(&out[out.find('{').context("no JSON from fio")?..])?;
    let side = &json["jobs"][0][if job.rw.contains("write") { "write" } else { "read" }];
    let iops = side["iops"].as_f64().context("no iops in fio's report")?;
    let mib_s = side["bw"].as_f64().context("no bw in fio's report")? / 1024.0;
    let pct = &side["clat_ns"]["percentile"];
    let at = |q: &str| pct[q].as_f64().map(|ns| ns / 1e3);
    let latency = match (at("50.000000"), at("99.000000"), at("99.900000")) {
        (Some(p50_us), Some(p99_us), Some(p999_us)) => Some(Latency { p50_us, p99_us, p999_us }),
        _ => None,
    };
    Ok(Round { value: if job.unit() == "IOPS" { iops } else { mib_s }, latency })
}

/// A loopback port below 32768 that is free now (qemu-nbd needs a fixed port).
fn free_low_port() -> anyhow::Result<u16> {
    (20_000..32_000).find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok()).context("no free port below 32768")
}

/// qemu-nbd serving a raw file in one cache mode.
pub struct QemuNbd {
    child: Child,
    pub uri: String,
    pub mode: &'static str,
}

/// qemu-nbd's two modes: the kernel's page cache, or O_DIRECT with io_uring.
pub const QEMU_MODES: [(&str, &[&str]); 2] = [
    ("writeback", &["--cache=writeback", "--aio=threads"]),
    ("cache=none+io_uring", &["--cache=none", "--aio=io_uring"]),
];

impl QemuNbd {
    pub fn start(file: &Path, mode: &'static str, flags: &[&str]) -> anyhow::Result<Self> {
        let port = free_low_port()?;
        let child = crate::harness::children::die_with_harness(&mut Command::new("qemu-nbd"))
            .args(["-f", "raw", "-x", "vol0", "-b", "127.0.0.1", "-p", &port.to_string(), "--persistent", "--shared=8"])
            .args(flags)
            .arg("--discard=unmap")
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start qemu-nbd")?;
        let server = Self { child, uri: format!("nbd://127.0.0.1:{port}/vol0"), mode };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("qemu-nbd did not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The better of qemu-nbd's modes in one round (higher value wins): (index of the winner, its round).
pub fn best_of(rounds: Vec<Round>) -> Option<(usize, Round)> {
    rounds.into_iter().enumerate().max_by(|a, b| a.1.value.total_cmp(&b.1.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: Job = Job { name: "t", rw: "randwrite", bs: "4k", iodepth: 1 };

    #[test]
    fn the_better_mode_wins() {
        let (i, r) = best_of(vec![Round::from(10.0), Round::from(30.0), Round::from(20.0)]).unwrap();
        assert_eq!((i, r.value), (1, 30.0));
        assert!(best_of(vec![]).is_none());
    }

    #[test]
    fn fio_json_is_read_on_the_measured_side() {
        let out = r#"note: something
{"jobs":[{"read":{"iops":1.0,"bw":1024},"write":{"iops":2500.5,"bw":10002,
 "clat_ns":{"percentile":{"50.000000":12000,"99.000000":50000,"99.900000":90000}}}}]}"#;
        let r = parse(out, &JOB).unwrap();
        assert_eq!(r.value, 2500.5);
        let l = r.latency.unwrap();
        assert_eq!((l.p50_us, l.p99_us, l.p999_us), (12.0, 50.0, 90.0));
        let seq = Job { rw: "read", bs: "1m", ..JOB };
        assert_eq!(parse(out, &seq).unwrap().value, 1.0, "MiB/s from KiB/s");
    }
}
