//! EBS benchmark: fio (nbd ioengine) 4 KiB random read/write at queue depth 1 and 32 and 1 MiB
//! sequential read/write against ebsd (an io2 volume at 256,000 IOPS, so the performance model is not the
//! limit) and, in the same run, against `qemu-nbd` serving a sparse raw file on the same file system.
//! Prints IOPS and MiB/s of both and the ratio. Then checks that throttled volumes (gp3 at 3,000 IOPS
//! and 125 MiB/s, io1 at 1,000 IOPS) run within ±5 % of their modelled rate.
//!
//! Snapshots: MiB/s of changed data captured by a full and an incremental snapshot, and
//! restore-to-first-byte (CreateVolume from the snapshot, attach, first NBD read) with lazy hydration
//! against an eager restore (nbdcopy of the whole volume into a new one, then the same read).
//!
//! `cargo run --release -p benches --bin ebs -- [--seconds 10] [--region-gib 1] [--no-throttled] [--no-snapshots]`
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
    /// Skip the snapshot benchmarks.
    #[arg(long)]
    no_snapshots: bool,
    /// Only the snapshot benchmarks (no fio comparison with qemu-nbd, no throttled volumes).
    #[arg(long)]
    snapshots_only: bool,
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
    if args.snapshots_only {
        println!("preconditioning {} GiB with sequential 1 MiB writes…", args.region_gib);
        fio(&ebs_uri, "write", "1m", 8, None, args.region_gib)?;
        return snapshots::run(&ebsd.daemon, &ebs_uri, args.region_gib);
    }
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

    if !args.no_snapshots {
        snapshots::run(&ebsd.daemon, &ebs_uri, args.region_gib)?;
    }

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

/// Snapshot throughput and restore-to-first-byte, through the EC2 Query API (signed raw HTTP) and a
/// raw NBD read.
mod snapshots {
    use std::io::{Read, Write};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use anyhow::{Context, bail};
    use benches::client::{Body, Connection, Endpoint};
    use tests::{DaemonProcess, run_with_timeout};

    struct Api {
        endpoint: Endpoint,
        runtime: tokio::runtime::Runtime,
        conn: Connection,
    }

    impl Api {
        fn new(daemon: &DaemonProcess) -> anyhow::Result<Self> {
            let (access_key, secret_key) = daemon.root_credentials();
            let addr = daemon.addr("api").to_string();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let conn = runtime.block_on(Connection::open(&addr))?;
            Ok(Self { endpoint: Endpoint { name: "ebsd", addr, access_key, secret_key }, runtime, conn })
        }

        /// One EC2 Query call; the response XML.
        fn call(&mut self, params: &str) -> anyhow::Result<String> {
            let body = format!("{params}&Version=2016-11-15");
            let head = self.endpoint.signed_head(
                "POST",
                "/",
                &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
                "ec2",
            );
            let conn = &mut self.conn;
            let (status, _) = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(60), conn.exchange(&head, body.as_bytes(), Body::Keep)).await
            })??;
            let text = String::from_utf8_lossy(self.conn.body()).into_owned();
            if status != 200 {
                bail!("{params}: HTTP {status}: {text}");
            }
            Ok(text)
        }
    }

    fn field(xml: &str, name: &str) -> Option<String> {
        let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
        let end = xml[start..].find(&format!("</{name}>"))? + start;
        Some(xml[start..end].to_string())
    }

    /// Takes a snapshot and waits for it; returns its id and the seconds it took.
    fn snapshot(api: &mut Api, volume: &str) -> anyhow::Result<(String, f64)> {
        let started = Instant::now();
        let created = api.call(&format!("Action=CreateSnapshot&VolumeId={volume}"))?;
        let id = field(&created, "snapshotId").context("no snapshotId")?;
        loop {
            let d = api.call(&format!("Action=DescribeSnapshots&SnapshotId.1={id}"))?;
            match field(&d, "status").as_deref() {
                Some("completed") => return Ok((id, started.elapsed().as_secs_f64())),
                Some("pending") if started.elapsed() < Duration::from_secs(600) => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => bail!("snapshot {id} ended {other:?}"),
            }
        }
    }

    /// Creates a volume (from a snapshot when given) of `size_gib` and attaches it.
    fn volume(api: &mut Api, size_gib: u64, snapshot: Option<&str>) -> anyhow::Result<String> {
        let from = snapshot.map(|s| format!("&SnapshotId={s}")).unwrap_or_default();
        let v = api.call(&format!(
            "Action=CreateVolume&AvailabilityZone=us-east-1a&Size={size_gib}&VolumeType=io2&Iops=256000{from}"
        ))?;
        let id = field(&v, "volumeId").context("no volumeId")?;
        api.call(&format!("Action=AttachVolume&VolumeId={id}&InstanceId=i-0123456789abcdef0&Device=%2Fdev%2Fsdg"))?;
        Ok(id)
    }

    /// Fixed-newstyle handshake (NBD_OPT_EXPORT_NAME) and one READ: the first byte a client sees.
    fn nbd_read(addr: std::net::SocketAddr, export: &str, offset: u64) -> anyhow::Result<Vec<u8>> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        s.set_nodelay(true)?;
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello)?;
        s.write_all(&1u32.to_be_bytes())?;
        let mut opt = b"IHAVEOPT".to_vec();
        opt.extend_from_slice(&1u32.to_be_bytes());
        opt.extend_from_slice(&(export.len() as u32).to_be_bytes());
        opt.extend_from_slice(export.as_bytes());
        s.write_all(&opt)?;
        let mut info = [0u8; 8 + 2 + 124];
        s.read_exact(&mut info)?;
        let mut req = 0x2560_9513u32.to_be_bytes().to_vec();
        req.extend_from_slice(&0u16.to_be_bytes());
        req.extend_from_slice(&0u16.to_be_bytes());
        req.extend_from_slice(&1u64.to_be_bytes());
        req.extend_from_slice(&offset.to_be_bytes());
        req.extend_from_slice(&4096u32.to_be_bytes());
        s.write_all(&req)?;
        let mut reply = [0u8; 16];
        s.read_exact(&mut reply)?;
        if reply[4..8] != [0, 0, 0, 0] {
            bail!("NBD read failed: {reply:?}");
        }
        let mut data = vec![0u8; 4096];
        s.read_exact(&mut data)?;
        Ok(data)
    }

    fn fio_write(uri: &str, offset_mib: u64, mib: u64) -> anyhow::Result<()> {
        let mut cmd = Command::new("fio");
        cmd.args(["--name=change", "--ioengine=nbd", "--rw=write", "--bs=1m", "--iodepth=8", "--refill_buffers"])
            .arg(format!("--uri={uri}"))
            .arg(format!("--offset={offset_mib}m"))
            .arg(format!("--size={mib}m"));
        let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(600));
        if !status.success() {
            bail!("fio failed: {err}{out}");
        }
        Ok(())
    }

    pub fn run(daemon: &DaemonProcess, source_uri: &str, region_gib: u64) -> anyhow::Result<()> {
        let mut api = Api::new(daemon)?;
        let source = source_uri.rsplit('/').next().context("volume id")?.to_string();
        let nbd = daemon.addr("nbd");
        println!("\nsnapshots (volume with {region_gib} GiB written):");
        let (_first, secs) = snapshot(&mut api, &source)?;
        let full_mib = (region_gib << 10) as f64;
        println!("{:<44} {:>8.1} MiB in {:>6.2} s = {:>8.1} MiB/s", "full snapshot", full_mib, secs, full_mib / secs);
        let changed = 64;
        fio_write(source_uri, 8, changed)?;
        let (second, secs) = snapshot(&mut api, &source)?;
        println!(
            "{:<44} {:>8.1} MiB in {:>6.2} s = {:>8.1} MiB/s",
            "incremental snapshot (64 MiB changed)",
            changed as f64,
            secs,
            changed as f64 / secs
        );

        // Lazy restore: CreateVolume from the snapshot, attach, first read.
        let started = Instant::now();
        let lazy = volume(&mut api, 512, Some(&second))?;
        let data = nbd_read(nbd, &lazy, 8 << 20)?;
        let lazy_secs = started.elapsed().as_secs_f64();
        // Eager restore: a new volume filled with the whole source by nbdcopy, then the same read.
        let started = Instant::now();
        let eager = volume(&mut api, 512, None)?;
        let mut copy = Command::new("nbdcopy");
        copy.arg(source_uri).arg(format!("nbd://{nbd}/{eager}"));
        let (status, _, err) = run_with_timeout(&mut copy, Duration::from_secs(1200));
        if !status.success() {
            bail!("nbdcopy failed: {err}");
        }
        let eager_data = nbd_read(nbd, &eager, 8 << 20)?;
        let eager_secs = started.elapsed().as_secs_f64();
        if data != eager_data {
            bail!("the restored volume's first block differs from the source's");
        }
        println!(
            "{:<44} lazy {:>8.1} ms   eager (nbdcopy) {:>8.1} ms   ratio {:>6.2}x",
            "restore to first byte",
            lazy_secs * 1e3,
            eager_secs * 1e3,
            eager_secs / lazy_secs
        );
        Ok(())
    }
}
