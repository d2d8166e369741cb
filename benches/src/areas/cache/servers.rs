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

/// Sends one command, returns the raw reply (enough for INFO / CONFIG / FLUSHALL / DBSIZE).
pub fn command(addr: SocketAddr, args: &[&str]) -> anyhow::Result<String> {
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
    if first.starts_with('-') {
        bail!("{addr} {}: {}", args.join(" "), first.trim());
    }
    if let Some(len) = first.strip_prefix('$') {
        let n: usize = len.trim().parse()?;
        let mut body = vec![0; n + 2];
        r.read_exact(&mut body)?;
        return Ok(String::from_utf8_lossy(&body).into_owned());
    }
    Ok(first)
}

/// An integer reply (`:N`).
pub fn integer(addr: SocketAddr, args: &[&str]) -> anyhow::Result<u64> {
    let reply = command(addr, args)?;
    reply.trim().strip_prefix(':').and_then(|n| n.parse().ok()).with_context(|| format!("not an integer: {reply}"))
}

pub fn info_field(addr: SocketAddr, field: &str) -> anyhow::Result<u64> {
    let info = command(addr, &["INFO", "memory"])?;
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {field} in INFO"))
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

/// Runs redis-benchmark and returns requests per second.
pub fn redis_benchmark(addr: SocketAddr, test: &str, pipeline: u32, requests: u64) -> anyhow::Result<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string(), "-q", "-t", test, "-c", "50"])
        .args(["-n", &requests.to_string(), "-P", &pipeline.to_string(), "-r", "100000", "--threads", "2"])
        .stdin(Stdio::null())
        .output()
        .context("cannot run redis-benchmark (bash benches/setup-peers.sh)")?;
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    text.lines()
        .filter(|l| l.contains("requests per second"))
        .filter_map(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
        .with_context(|| format!("no result from redis-benchmark: {text}"))
}
