//! EBS benchmark: fio (nbd ioengine) 4 KiB random read/write at queue depth 1 and 32 and 1 MiB
//! sequential read/write against ebsd (an io2 volume at 256,000 IOPS, so the performance model is not the
//! limit) and, in the same run, against `qemu-nbd` serving a sparse raw file on the same file system.
//! Prints IOPS and MiB/s of both and the ratio. Then checks that throttled volumes (gp3 at 3,000 IOPS
//! and 125 MiB/s, io1 at 1,000 IOPS) run within ±5 % of their modelled rate.
//!
//! `cargo run --release -p benches --bin ebs -- [--seconds 10] [--region-gib 1] [--no-throttled]`
//!
//! Needs fio, qemu-nbd and the aws cli on PATH.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tests::{DaemonProcess, run_with_timeout};

#[derive(Parser, Debug)]
#[command(about = "fio over NBD: ebsd vs qemu-nbd, and throttled volumes vs their model")]
struct Args {
    /// Seconds per fio workload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// GiB of the volume the workloads touch (written once first, so reads hit data).
    #[arg(long, default_value_t = 1)]
    region_gib: u64,
    /// The ebsd binary (default: $CARGO_TARGET_DIR/release/ebsd).
    #[arg(long)]
    ebsd: Option<PathBuf>,
    /// Skip the throttled-volume accuracy checks.
    #[arg(long)]
    no_throttled: bool,
}

/// One fio workload.
struct Workload {
    name: &'static str,
    rw: &'static str,
    bs: &'static str,
    iodepth: u32,
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "4k randread qd1", rw: "randread", bs: "4k", iodepth: 1 },
    Workload { name: "4k randwrite qd1", rw: "randwrite", bs: "4k", iodepth: 1 },
    Workload { name: "4k randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
    Workload { name: "4k randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
    Workload { name: "1M read qd8", rw: "read", bs: "1m", iodepth: 8 },
    Workload { name: "1M write qd8", rw: "write", bs: "1m", iodepth: 8 },
];

/// A throttled volume and the rate its model allows (IOPS, or MiB/s when `by_iops` is false).
struct ThrottleCheck {
    spec: &'static [&'static str],
    workload: Workload,
    modelled: f64,
    by_iops: bool,
}

const THROTTLED: &[ThrottleCheck] = &[
    ThrottleCheck {
        spec: &["--size", "100", "--volume-type", "gp3"],
        workload: Workload { name: "gp3 3,000 IOPS, 4k randread qd32", rw: "randread", bs: "4k", iodepth: 32 },
        modelled: 3_000.0,
        by_iops: true,
    },
    ThrottleCheck {
        spec: &["--size", "100", "--volume-type", "gp3"],
        workload: Workload { name: "gp3 125 MiB/s, 1M read qd8", rw: "read", bs: "1m", iodepth: 8 },
        modelled: 125.0,
        by_iops: false,
    },
    ThrottleCheck {
        spec: &["--size", "100", "--volume-type", "io1", "--iops", "1000"],
        workload: Workload { name: "io1 1,000 IOPS, 4k randwrite qd32", rw: "randwrite", bs: "4k", iodepth: 32 },
        modelled: 1_000.0,
        by_iops: true,
    },
    ThrottleCheck {
        spec: &["--size", "100"],
        workload: Workload {
            name: "gp2 100 GiB burst 3,000 IOPS, 4k randread qd32",
            rw: "randread",
            bs: "4k",
            iodepth: 32,
        },
        modelled: 3_000.0,
        by_iops: true,
    },
];

#[derive(Debug, Clone, Copy, Default)]
struct Result {
    iops: f64,
    mib_s: f64,
}

/// Runs fio against `uri` and reads IOPS and bandwidth from its terse (v3) output.
fn fio(uri: &str, rw: &str, bs: &str, iodepth: u32, seconds: Option<u64>, region_gib: u64) -> anyhow::Result<Result> {
    let mut cmd = Command::new("fio");
    cmd.args(["--name=bench", "--ioengine=nbd", "--output-format=terse", "--terse-version=3", "--group_reporting"])
        .arg(format!("--uri={uri}"))
        .arg(format!("--rw={rw}"))
        .arg(format!("--bs={bs}"))
        .arg(format!("--iodepth={iodepth}"))
        .arg(format!("--size={region_gib}g"))
        .arg("--randrepeat=0");
    if let Some(s) = seconds {
        cmd.arg(format!("--runtime={s}")).arg("--time_based");
    }
    let timeout = Duration::from_secs(seconds.unwrap_or(600) + 120);
    let (status, out, err) = run_with_timeout(&mut cmd, timeout);
    if !status.success() {
        bail!("fio {rw} {bs} qd{iodepth} on {uri} failed: {err}{out}");
    }
    let line = out.lines().find(|l| l.starts_with("3;")).context("no terse line in fio output")?;
    let f: Vec<&str> = line.split(';').collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Terse v3 (0-based): read bw KiB/s at 6, read IOPS at 7; write bw at 47, write IOPS at 48.
    let (bw, iops) = if rw.contains("write") { (num(47), num(48)) } else { (num(6), num(7)) };
    Ok(Result { iops, mib_s: bw / 1024.0 })
}

/// A loopback port below 32768 that is free now (qemu-nbd needs a fixed port).
fn free_low_port() -> anyhow::Result<u16> {
    for port in 20_000..32_000 {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port below 32768")
}

struct QemuNbd {
    child: Child,
    uri: String,
}

impl QemuNbd {
    fn start(file: &Path) -> anyhow::Result<Self> {
        let port = free_low_port()?;
        let child = Command::new("qemu-nbd")
            .args(["-f", "raw", "-x", "vol0", "-b", "127.0.0.1", "-p", &port.to_string(), "--persistent", "--shared=8"])
            .args(["--cache=none", "--aio=io_uring", "--discard=unmap"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start qemu-nbd")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("qemu-nbd did not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, uri: format!("nbd://127.0.0.1:{port}/vol0") })
    }
}

impl Drop for QemuNbd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Ebsd {
    daemon: DaemonProcess,
}

impl Ebsd {
    fn aws(&self, args: &[&str]) -> anyhow::Result<String> {
        let (key, secret) = self.daemon.root_credentials();
        let mut cmd = Command::new("aws");
        cmd.arg("ec2").args(args).args(["--endpoint-url", &self.daemon.endpoint(), "--output", "text"]);
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_CA_BUNDLE");
        let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(60));
        if !status.success() {
            bail!("aws ec2 {args:?}: {err}");
        }
        Ok(out.trim().to_string())
    }

    /// Creates and attaches a volume; returns its NBD URI.
    fn volume(&self, spec: &[&str]) -> anyhow::Result<String> {
        let mut args = vec!["create-volume", "--availability-zone", "us-east-1a", "--query", "VolumeId"];
        args.extend_from_slice(spec);
        let id = self.aws(&args)?;
        self.aws(&[
            "attach-volume",
            "--volume-id",
            &id,
            "--instance-id",
            "i-0123456789abcdef0",
            "--device",
            "/dev/sdf",
        ])?;
        Ok(format!("nbd://{}/{id}", self.daemon.addr("nbd")))
    }
}

fn ebsd_binary(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        Path::new(&target).join("release").join("ebsd")
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = ebsd_binary(args.ebsd.clone());
    if !bin.exists() {
        bail!("{} not found: build it with `cargo build --release -p ebsd` or pass --ebsd", bin.display());
    }
    let ebsd = Ebsd { daemon: DaemonProcess::start(&bin, &["--nbd-listen", "127.0.0.1:0"], 3) };
    // io2 at 256,000 IOPS needs 512 GiB (500 IOPS per GiB); its 4,000 MiB/s is above what loopback does.
    let ebs_uri = ebsd.volume(&["--size", "512", "--volume-type", "io2", "--iops", "256000"])?;
    // qemu-nbd's backing file: sparse, same size, on the same file system as ebsd's volumes.
    let peer_file = ebsd.daemon.data_dir().join("qemu-nbd.raw");
    std::fs::File::create(&peer_file)?.set_len(512 << 30)?;
    let peer = QemuNbd::start(&peer_file)?;

    println!("preconditioning {} GiB of each disk with sequential 1 MiB writes…", args.region_gib);
    fio(&ebs_uri, "write", "1m", 8, None, args.region_gib)?;
    fio(&peer.uri, "write", "1m", 8, None, args.region_gib)?;

    println!(
        "\n{:<20} {:>12} {:>10} {:>14} {:>10} {:>8}",
        "workload", "ebsd IOPS", "MiB/s", "qemu-nbd IOPS", "MiB/s", "ratio"
    );
    for w in WORKLOADS {
        let ours = fio(&ebs_uri, w.rw, w.bs, w.iodepth, Some(args.seconds), args.region_gib)?;
        let theirs = fio(&peer.uri, w.rw, w.bs, w.iodepth, Some(args.seconds), args.region_gib)?;
        let ratio = if theirs.iops > 0.0 { ours.iops / theirs.iops } else { f64::NAN };
        println!(
            "{:<20} {:>12.0} {:>10.1} {:>14.0} {:>10.1} {:>7.2}x",
            w.name, ours.iops, ours.mib_s, theirs.iops, theirs.mib_s, ratio
        );
    }
    drop(peer);

    if !args.no_throttled {
        println!("\nthrottled volumes (modelled rate vs measured, target ±5 %):");
        for c in THROTTLED {
            let uri = ebsd.volume(c.spec)?;
            let r = fio(&uri, c.workload.rw, c.workload.bs, c.workload.iodepth, Some(args.seconds), args.region_gib)?;
            let (name, modelled) = (c.workload.name, c.modelled);
            let measured = if c.by_iops { r.iops } else { r.mib_s };
            let deviation = (measured - modelled) / modelled * 100.0;
            let verdict = if deviation.abs() <= 5.0 { "ok" } else { "OUTSIDE ±5 %" };
            println!("{name:<48} modelled {modelled:>8.0}  measured {measured:>8.1}  ({deviation:+.1} %) {verdict}");
        }
    }
    Ok(())
}
