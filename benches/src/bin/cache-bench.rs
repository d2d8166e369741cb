//! `cache` against a Debian `redis-server` started in the same run: redis-benchmark (50 clients,
//! `--threads 2` so the load generator is not the bottleneck and a multi-core server can show) on
//! SET/GET/INCR/LPUSH/HSET at -P 1 and -P 16, then memory per 1M 100-byte keys.
//!
//! Honesty rules: both servers get exactly the same redis-benchmark flags; the order alternates per line
//! (the machine is shared, so whoever runs second must not always be the one hit by a neighbour's
//! burst); the load average is printed next to every line. Threaded redis-benchmark only stops on a
//! 250 ms timer, so threaded runs need many requests (>= 2,000,000) or the rates quantize.
//!
//! Next to each rate it prints the server's CPU time per request (user + system time of the server
//! process from /proc/<pid>/stat, divided by the requests of that run): throughput on a shared 2-core
//! box depends on who else is running, CPU per request does not, and it shows whether a server spreads
//! its work over both cores (`cpu%`, the server's CPU time over the run's wall time).
//!
//! cargo run --release -p benches --bin cache-bench [-- --requests 1000000 --pipelined-requests 2000000]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Requests per redis-benchmark run at -P 1.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Requests per redis-benchmark run at -P 16.
    #[arg(long, default_value_t = 2_000_000)]
    pipelined_requests: u64,
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// redis-benchmark `--threads` (1 = its classic single-threaded mode).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Only these tests (comma-separated, e.g. `get,lpush`); default all five.
    #[arg(long, value_delimiter = ',', default_value = "set,get,incr,lpush,hset")]
    tests: Vec<String>,
    /// Only these pipeline depths (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pipelines: Vec<u32>,
    /// Skip the memory-per-key comparison.
    #[arg(long)]
    skip_memory: bool,
    /// Keys written for the memory comparison.
    #[arg(long, default_value_t = 1_000_000)]
    memory_keys: u64,
    /// The cache daemon binary. Default: `cache` next to this binary (`cargo build --release -p cache`).
    #[arg(long)]
    cache_bin: Option<String>,
}

struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port below 32768 (the ephemeral range collides with kernel-chosen ports).
fn free_low_port() -> anyhow::Result<u16> {
    let base = 20_000 + (std::process::id() % 5_000) as u16;
    for p in base..base + 2_000 {
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return Ok(p);
        }
    }
    bail!("no free port below 32768")
}

fn start_redis() -> anyhow::Result<RedisServer> {
    let port = free_low_port()?;
    let dir = std::env::temp_dir().join(format!("cache-bench-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start redis-server (apt install redis-server)")?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if command(addr, &["PING"]).map(|r| r.starts_with("+PONG")).unwrap_or(false) {
            return Ok(RedisServer { child, addr });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("redis-server did not start on port {port}")
}

/// Sends one command, returns the raw reply (enough for PING / INFO / FLUSHALL).
fn command(addr: SocketAddr, args: &[&str]) -> anyhow::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut first = String::new();
    r.read_line(&mut first)?;
    if let Some(len) = first.strip_prefix('$') {
        let n: usize = len.trim().parse()?;
        let mut body = vec![0; n + 2];
        r.read_exact(&mut body)?;
        return Ok(String::from_utf8_lossy(&body).into_owned());
    }
    Ok(first)
}

fn info_field(addr: SocketAddr, field: &str) -> anyhow::Result<u64> {
    let info = command(addr, &["INFO", "memory"])?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {field} in INFO"))
}

/// Clock ticks (user + system) a process has used, from /proc/<pid>/stat.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name (which may contain spaces): state is field 3,
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream Linux build).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// One redis-benchmark run against one server.
struct Run {
    rps: f64,
    /// Server CPU (user + system) per request, microseconds.
    cpu_us: f64,
    /// Server CPU time over wall time, percent of one core.
    cpu_pct: f64,
}

/// Runs redis-benchmark against the server `pid` listening on `addr`, measuring its CPU time.
fn measured(addr: SocketAddr, pid: u32, test: &str, pipeline: u32, requests: u64, args: &Args) -> anyhow::Result<Run> {
    let t0 = cpu_ticks(pid)?;
    let start = Instant::now();
    let rps = bench(addr, test, pipeline, requests, args)?;
    let wall = start.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(pid)? - t0) as f64 / ticks_per_second();
    Ok(Run { rps, cpu_us: cpu * 1e6 / requests as f64, cpu_pct: 100.0 * cpu / wall })
}

/// Runs redis-benchmark and returns requests per second.
fn bench(addr: SocketAddr, test: &str, pipeline: u32, requests: u64, args: &Args) -> anyhow::Result<f64> {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args(["-h", "127.0.0.1", "-p", &addr.port().to_string(), "-q", "-t", test])
        .args(["-c", &args.clients.to_string(), "-n", &requests.to_string(), "-P", &pipeline.to_string()])
        .args(["-r", "100000"]);
    if args.threads > 1 {
        cmd.args(["--threads", &args.threads.to_string()]);
    }
    let out = cmd.stdin(Stdio::null()).output().context("cannot run redis-benchmark (apt install redis-tools)")?;
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    text.lines()
        .filter(|l| l.contains("requests per second"))
        .filter_map(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .with_context(|| format!("no result from redis-benchmark: {text}"))
}

/// Writes `n` keys `key:%012d` with 100-byte values, pipelined.
fn fill(addr: SocketAddr, n: u64) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let value = "v".repeat(100);
    let mut reader = BufReader::new(s.try_clone()?);
    let batch = 1000;
    let mut line = String::new();
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let mut req = String::with_capacity(((end - i) * 150) as usize);
        for k in i..end {
            req.push_str(&format!("*3\r\n$3\r\nSET\r\n$16\r\nkey:{k:012}\r\n$100\r\n{value}\r\n"));
        }
        s.write_all(req.as_bytes())?;
        for _ in i..end {
            line.clear();
            reader.read_line(&mut line)?;
            if !line.starts_with("+OK") {
                bail!("SET failed: {line}");
            }
        }
        i = end;
    }
    Ok(())
}

/// Bytes per key of `used_memory` and of RSS after writing `n` keys.
fn memory_per_key(addr: SocketAddr, n: u64) -> anyhow::Result<(f64, f64)> {
    command(addr, &["FLUSHALL"])?;
    std::thread::sleep(Duration::from_millis(300));
    let (u0, r0) = (info_field(addr, "used_memory")?, info_field(addr, "used_memory_rss")?);
    fill(addr, n)?;
    std::thread::sleep(Duration::from_millis(300));
    let (u1, r1) = (info_field(addr, "used_memory")?, info_field(addr, "used_memory_rss")?);
    Ok(((u1.saturating_sub(u0)) as f64 / n as f64, (r1.saturating_sub(r0)) as f64 / n as f64))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ours = start_cache(args.cache_bin.as_deref())?;
    let ours_addr = ours.addr("api");
    let redis = start_redis()?;
    println!("cache at {ours_addr}, redis-server {} at {}", redis_version(), redis.addr);
    println!(
        "redis-benchmark -c {} -r 100000 --threads {}; -n {} at -P 1, {} at -P 16; {} cores",
        args.clients,
        args.threads,
        args.requests,
        args.pipelined_requests,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<6} {:>3} {:>10} {:>10} {:>6}  {:>13} {:>13}  {:>9}  {:<5} loadavg",
        "test", "-P", "cache rps", "redis rps", "ratio", "cache us/req", "redis us/req", "cpu%c/r", "first"
    );
    let (ours_pid, redis_pid) = (ours.pid(), redis.child.id());
    let mut line = 0usize;
    for &pipeline in &args.pipelines {
        let n = if pipeline == 1 { args.requests } else { args.pipelined_requests };
        for test in &args.tests {
            // Alternate who goes first so a neighbour's burst does not always land on the same server.
            let cache_first = line.is_multiple_of(2);
            line += 1;
            let (o, r) = if cache_first {
                let o = measured(ours_addr, ours_pid, test, pipeline, n, &args)?;
                (o, measured(redis.addr, redis_pid, test, pipeline, n, &args)?)
            } else {
                let r = measured(redis.addr, redis_pid, test, pipeline, n, &args)?;
                (measured(ours_addr, ours_pid, test, pipeline, n, &args)?, r)
            };
            println!(
                "{:<6} {:>3} {:>10.0} {:>10.0} {:>5.2}x  {:>13.3} {:>13.3}  {:>4.0}/{:<4.0}  {:<5} {}",
                test.to_uppercase(),
                pipeline,
                o.rps,
                r.rps,
                o.rps / r.rps,
                o.cpu_us,
                r.cpu_us,
                o.cpu_pct,
                r.cpu_pct,
                if cache_first { "cache" } else { "redis" },
                load_average()
            );
        }
    }
    if args.skip_memory {
        return Ok(());
    }
    let (ou, or) = memory_per_key(ours_addr, args.memory_keys)?;
    command(ours_addr, &["FLUSHALL"])?;
    let (ru, rr) = memory_per_key(redis.addr, args.memory_keys)?;
    println!("memory per key ({} x 100-byte values):", args.memory_keys);
    println!("  used_memory: cache {ou:.0} B, redis {ru:.0} B, ratio {:.2}", ou / ru);
    println!("  RSS growth:  cache {or:.0} B, redis {rr:.0} B, ratio {:.2}", or / rr);
    Ok(())
}

fn start_cache(explicit: Option<&str>) -> anyhow::Result<tests::DaemonProcess> {
    let extra = ["--memcached-listen", "127.0.0.1:0", "--save", ""];
    let daemon = match explicit {
        Some(bin) => std::path::PathBuf::from(bin),
        None => std::env::current_exe()?.with_file_name("cache"),
    };
    if !daemon.exists() {
        bail!("no cache daemon at {}: run `cargo build --release -p cache` or pass --cache-bin", daemon.display());
    }
    Ok(tests::DaemonProcess::start(&daemon, &extra, 3))
}

/// The 1/5/15-minute load averages from /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn redis_version() -> String {
    Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().nth(2).unwrap_or("?").to_string())
        .unwrap_or_else(|_| "?".into())
}
