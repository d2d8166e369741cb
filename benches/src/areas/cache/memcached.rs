//! A memcached text-protocol get/set mix (90 % get / 10 % set, zipfian keys, 100-byte values) from
//! N blocking connections, against our cache's memcached listener and against memcached itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::areas::dynamodb::ycsb::{Rng, Zipf};
use crate::harness::{Latency, Round};

pub const KEYS: u64 = 100_000;
const VALUE: [u8; 100] = [b'm'; 100];

/// Stores every key once (`noreply` sets, then a `version` round trip as a barrier).
pub fn fill(addr: SocketAddr) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        let mut req = Vec::with_capacity(chunk.len() * 140);
        for k in chunk {
            req.extend_from_slice(format!("set mc:{k:08} 0 0 {} noreply\r\n", VALUE.len()).as_bytes());
            req.extend_from_slice(&VALUE);
            req.extend_from_slice(b"\r\n");
        }
        s.write_all(&req)?;
    }
    s.write_all(b"version\r\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    anyhow::ensure!(line.starts_with("VERSION"), "memcached fill: {line:?}");
    Ok(())
}

/// `connections` clients doing the mix back to back for `secs`: ops/s and latencies.
pub fn mix(addr: SocketAddr, connections: usize, secs: f64) -> anyhow::Result<Round> {
    let zipf = Zipf::new(KEYS, 0.99);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let latencies = std::thread::scope(|s| {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let zipf = zipf.clone();
                s.spawn(move || client(addr, &zipf, c as u64, deadline))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("memcached client")).collect::<anyhow::Result<Vec<_>>>()
    })?;
    let all = latencies.concat();
    Ok(Round { value: all.len() as f64 / started.elapsed().as_secs_f64(), latency: Latency::of_micros(all) })
}

fn client(addr: SocketAddr, zipf: &Zipf, seed: u64, deadline: Instant) -> anyhow::Result<Vec<f64>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut rng = Rng(0xC0FF_EE00 + 977 * seed);
    let (mut lat, mut line, mut req) = (Vec::with_capacity(1 << 16), String::new(), Vec::with_capacity(160));
    while Instant::now() < deadline {
        let k = zipf.next(&mut rng);
        let get = rng.unit() < 0.9;
        req.clear();
        if get {
            req.extend_from_slice(format!("get mc:{k:08}\r\n").as_bytes());
        } else {
            req.extend_from_slice(format!("set mc:{k:08} 0 0 {}\r\n", VALUE.len()).as_bytes());
            req.extend_from_slice(&VALUE);
            req.extend_from_slice(b"\r\n");
        }
        let t = Instant::now();
        writer.write_all(&req)?;
        line.clear();
        reader.read_line(&mut line)?;
        if get {
            // VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n (or a bare END on a miss).
            if let Some(header) = line.strip_prefix("VALUE ") {
                let n: usize = header.split_whitespace().nth(2).and_then(|b| b.parse().ok()).unwrap_or(0);
                let mut data = vec![0; n + 2];
                reader.read_exact(&mut data)?;
                line.clear();
                reader.read_line(&mut line)?;
            }
            if line != "END\r\n" {
                bail!("{addr}: get answered {line:?}");
            }
        } else if line != "STORED\r\n" {
            bail!("{addr}: set answered {line:?}");
        }
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(lat)
}
