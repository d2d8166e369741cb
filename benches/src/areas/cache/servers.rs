//! The peers (redis-server, memcached) on free ports below the ephemeral range, a one-shot RESP
//! client for INFO/CONFIG/FLUSHALL, and the process CPU time used to report CPU per request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A peer server process, killed on drop.
pub struct Peer {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port below 32768 (the ephemeral range collides with kernel-chosen ports).
fn free_low_port(salt: u16) -> anyhow::Result<u16> {
    let base = 20_000 + (std::process::id() % 5_000) as u16 + salt;
    (base..base + 2_000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .context("no free port below 32768")
}

fn wait_listening(addr: SocketAddr, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "{what} did not start on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

pub fn start_redis(dir: &std::path::Path) -> anyhow::Result<Peer> {
    let port = free_low_port(0)?;
    let child = crate::harness::children::die_with_harness(&mut Command::new("redis-server"))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start redis-server (bash benches/setup-peers.sh)")?;
    let peer = Peer { child, addr: ([127, 0, 0, 1], port).into() };
    wait_listening(peer.addr, "redis-server")?;
    Ok(peer)
}

/// memcached with 2 worker threads (the machine's cores) and 1 GB of memory.
pub fn start_memcached() -> anyhow::Result<Peer> {
    let port = free_low_port(2_500)?;
    // memcached refuses to start as root without -u; as anyone else it ignores -u.
    let user = Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let child = crate::harness::children::die_with_harness(&mut Command::new("memcached"))
        .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0", "-t", "2", "-m", "1024", "-c", "1024"])
        .args(["-u", &user.unwrap_or_else(|_| "root".into())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start memcached (bash benches/setup-peers.sh)")?;
    let peer = Peer { child, addr: ([127, 0, 0, 1], port).into() };
    wait_listening(peer.addr, "memcached")?;
    Ok(peer)
}

/// A RESP connection for the harness's own commands (INFO / CONFIG / FLUSHALL / DBSIZE).
struct Connection {
    addr: SocketAddr,
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(Self { addr, writer: s.try_clone()?, reader: BufReader::new(s) })
    }

    /// Sends one command, returns the raw reply (a bulk string's contents, else the reply's line).
    fn call(&mut self, args: &[&str]) -> anyhow::Result<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer.write_all(req.as_bytes())?;
        let mut first = String::new();
        self.reader.read_line(&mut first)?;
        if first.starts_with('-') {
            bail!("{} {}: {}", self.addr, args.join(" "), first.trim());
        }
        if let Some(len) = first.strip_prefix('$') {
            let n: usize = len.trim().parse()?;
            let mut body = vec![0; n + 2];
            self.reader.read_exact(&mut body)?;
            return Ok(String::from_utf8_lossy(&body).into_owned());
        }
        Ok(first)
    }
}

/// Sends one command on a connection of its own, returns the raw reply.
pub fn command(addr: SocketAddr, args: &[&str]) -> anyhow::Result<String> {
    Connection::open(addr)?.call(args)
}

/// The integer value of `field` in an INFO reply.
fn info_value(info: &str, field: &str) -> Option<u64> {
    info.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().parse().ok())
}

/// An integer reply (`:N`).
pub fn integer(addr: SocketAddr, args: &[&str]) -> anyhow::Result<u64> {
    let reply = command(addr, args)?;
    reply.trim().strip_prefix(':').and_then(|n| n.parse().ok()).with_context(|| format!("not an integer: {reply}"))
}

pub fn info_field(addr: SocketAddr, field: &str) -> anyhow::Result<u64> {
    info_value(&command(addr, &["INFO", "memory"])?, field).with_context(|| format!("no {field} in INFO"))
}

/// CPU seconds (user + system) a process has used, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name (which may contain spaces): utime and stime are
    // fields 14 and 15, i.e. 12 and 13 after the name.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("malformed /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) as f64 / ticks_per_second())
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

/// Writes `n` keys `key:%012d` with 100-byte values, pipelined 1000 at a time.
pub fn fill(addr: SocketAddr, n: u64) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let value = "v".repeat(100);
    let mut reader = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
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

/// Bytes per key of `used_memory` after writing `n` keys into an empty server.
pub fn memory_per_key(addr: SocketAddr, n: u64) -> anyhow::Result<f64> {
    command(addr, &["FLUSHALL"])?;
    std::thread::sleep(Duration::from_millis(300));
    let before = info_field(addr, "used_memory")?;
    fill(addr, n)?;
    std::thread::sleep(Duration::from_millis(300));
    let after = info_field(addr, "used_memory")?;
    command(addr, &["FLUSHALL"])?;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// Runs redis-benchmark and returns requests per second, timed by the server: its
/// `total_commands_processed` is sampled every [`SAMPLE_EVERY`] while the run lasts, and the rate is the
/// requests over the time from the first of them to the last. redis-benchmark's own figure is coarse in
/// its threaded mode: its threads stop on a 250 ms timer, so every run's time is rounded up to a quarter
/// second (a 1.3 s run reports 1.5 s; the figures came out as 100,000 ÷ 1.5 s or ÷ 2.0 s, ratios jumping
/// by 0.16 between rounds).
pub fn redis_benchmark(addr: SocketAddr, test: &str, pipeline: u32, requests: u64) -> anyhow::Result<f64> {
    let done = std::sync::atomic::AtomicBool::new(false);
    let (out, samples) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_commands(addr, &done));
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &addr.port().to_string(), "-q", "-t", test, "-c", "50"])
            .args(["-n", &requests.to_string(), "-P", &pipeline.to_string(), "-r", "100000", "--threads", "2"])
            .stdin(Stdio::null())
            .output();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (out, sampler.join())
    });
    let out = out.context("cannot run redis-benchmark (bash benches/setup-peers.sh)")?;
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    anyhow::ensure!(text.contains("requests per second"), "no result from redis-benchmark: {text}");
    let samples = samples.map_err(|_| anyhow::anyhow!("the command sampler panicked"))??;
    let secs = processing_secs(&samples, requests)
        .with_context(|| format!("the server's command counter never covered {requests} requests: {text}"))?;
    Ok(requests as f64 / secs)
}

/// How often [`redis_benchmark`] reads the server's command counter (±0.4 % of a 1.2 s run).
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// (seconds, total_commands_processed) every [`SAMPLE_EVERY`] until `done`, on one connection. The
/// counter also counts the sampler's own INFO calls: the i-th sample has i of them taken off.
fn sample_commands(addr: SocketAddr, done: &std::sync::atomic::AtomicBool) -> anyhow::Result<Vec<(f64, u64)>> {
    let mut conn = Connection::open(addr)?;
    let started = Instant::now();
    let mut samples = Vec::new();
    loop {
        // Read before sampling: the sample after redis-benchmark ended is still taken, so the last
        // commands are always covered (a run that ended during the sleep was otherwise missed).
        let finished = done.load(std::sync::atomic::Ordering::Relaxed);
        let count = info_value(&conn.call(&["INFO", "stats"])?, "total_commands_processed")
            .context("no total_commands_processed in INFO stats")?;
        samples.push((started.elapsed().as_secs_f64(), count.saturating_sub(samples.len() as u64)));
        if finished {
            return Ok(samples);
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// The seconds between the first sample after the counter left its starting value and the first at
/// which it had grown by `requests`, each taken as the midpoint of its sampling interval. redis-benchmark
/// sends a few commands of its own at start (CONFIG GET): a rise of fewer than [`STARTUP_COMMANDS`] is not
/// the run yet.
fn processing_secs(samples: &[(f64, u64)], requests: u64) -> Option<f64> {
    const STARTUP_COMMANDS: u64 = 8;
    let (_, base) = *samples.first()?;
    let first = samples.iter().position(|&(_, c)| c > base + STARTUP_COMMANDS)?;
    let last = samples.iter().position(|&(_, c)| c >= base + requests)?;
    let mid = |i: usize| if i == 0 { samples[0].0 } else { (samples[i - 1].0 + samples[i].0) / 2.0 };
    let secs = mid(last) - mid(first);
    (secs > 0.0).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::{info_value, processing_secs};

    #[test]
    fn info_fields_are_read_by_their_whole_name() {
        let info = "# Memory\r\nused_memory_rss:900\r\nused_memory:123\r\n";
        assert_eq!(info_value(info, "used_memory"), Some(123));
        assert_eq!(info_value(info, "used_memory_rss"), Some(900));
        assert_eq!(info_value(info, "used"), None);
    }

    #[test]
    fn the_run_is_timed_from_its_first_commands_to_its_last() {
        // Idle at 100 (plus the start-up CONFIG GETs), 1,000 requests from 0.0125 s to 0.1025 s.
        let samples = [(0.000, 100), (0.005, 102), (0.010, 102), (0.015, 300), (0.100, 1_050), (0.105, 1_102)];
        let secs = processing_secs(&samples, 1_000).unwrap();
        assert!((secs - 0.090).abs() < 1e-9, "{secs}");
        assert_eq!(processing_secs(&samples, 5_000), None, "the counter never got there");
        assert_eq!(processing_secs(&samples[..3], 1_000), None, "no run at all");
    }
}
