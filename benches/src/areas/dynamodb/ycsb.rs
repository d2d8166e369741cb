//! YCSB pieces shared by the DynamoDB workloads (and the cache's eviction trace): a xorshift generator,
//! YCSB's scrambled zipfian key chooser, 1 KB item bodies, and the one timed client loop every workload
//! runs in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use benches::client::{Body, Connection, Endpoint};

use crate::harness::{Latency, Round};

/// xorshift64: cheap, deterministic per seed (each client has its own stream).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Gray et al.'s zipfian generator as YCSB uses it, with ranks scattered over the key space so that
/// hot keys are not neighbours (YCSB's ScrambledZipfian).
#[derive(Clone)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    /// Keys 0..n with skew `theta` (YCSB: 0.99).
    pub fn new(n: u64, theta: f64) -> Self {
        let zeta = |n: u64| (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let (zetan, zeta2) = (zeta(n), zeta(2));
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Self { n, theta, alpha: 1.0 / (1.0 - theta), zetan, eta }
    }

    /// The popularity rank (0 = hottest) of the next draw.
    pub fn rank(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        let rank = if uz < 1.0 {
            0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            ((self.n as f64) * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64
        };
        rank.min(self.n - 1)
    }

    /// The next key in 0..n.
    pub fn next(&self, rng: &mut Rng) -> u64 {
        (self.rank(rng).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995) % self.n
    }
}

pub fn key(i: u64) -> String {
    format!("user{i:010}")
}

fn field_value(rng: &mut Rng) -> String {
    (0..100).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect()
}

/// Ten 100-byte fields: a 1 KB item, YCSB's default record.
fn fields(rng: &mut Rng) -> String {
    (0..10).map(|f| format!("\"field{f}\":{{\"S\":\"{}\"}}", field_value(rng))).collect::<Vec<_>>().join(",")
}

pub fn put_body(table: &str, i: u64, extra: &str, rng: &mut Rng) -> String {
    format!("{{\"TableName\":\"{table}\",\"Item\":{{\"pk\":{{\"S\":\"{}\"}},{extra}{}}}}}", key(i), fields(rng))
}

pub fn get_body(i: u64) -> String {
    format!("{{\"TableName\":\"usertable\",\"Key\":{{\"pk\":{{\"S\":\"{}\"}}}}}}", key(i))
}

pub fn update_body(i: u64, rng: &mut Rng) -> String {
    let f = rng.next() % 10;
    format!(
        "{{\"TableName\":\"usertable\",\"Key\":{{\"pk\":{{\"S\":\"{}\"}}}},\"UpdateExpression\":\"SET field{f} = :v\",\"ExpressionAttributeValues\":{{\":v\":{{\"S\":\"{}\"}}}}}}",
        key(i),
        field_value(rng)
    )
}

/// YCSB E's short range: a Scan of 1..=100 items starting after a zipfian key.
pub fn scan_body(i: u64, rng: &mut Rng) -> String {
    let limit = 1 + rng.next() % 100;
    format!(
        "{{\"TableName\":\"usertable\",\"ExclusiveStartKey\":{{\"pk\":{{\"S\":\"{}\"}}}},\"Limit\":{limit}}}",
        key(i)
    )
}

/// Signed heads per operation, re-signed once a minute (signatures stay valid for 15 minutes), so
/// neither server's throughput includes client-side hashing.
struct Signer {
    target: Endpoint,
    heads: Vec<(&'static str, String)>,
    signed_at: Instant,
}

impl Signer {
    fn head(&mut self, op: &'static str) -> &str {
        if self.signed_at.elapsed() > Duration::from_secs(60) {
            self.heads.clear();
            self.signed_at = Instant::now();
        }
        if let Some(i) = self.heads.iter().position(|(o, _)| *o == op) {
            return &self.heads[i].1;
        }
        let target = format!("DynamoDB_20120810.{op}");
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target.as_str())];
        let head = self.target.signed_head("POST", "/", &headers, "dynamodb");
        self.heads.push((op, head));
        &self.heads.last().expect("pushed").1
    }
}

/// A keep-alive connection that signs each operation's head once a minute.
pub struct Conn {
    conn: Connection,
    signer: Signer,
}

impl Conn {
    pub async fn open(target: &Endpoint) -> anyhow::Result<Self> {
        let signer = Signer { target: target.clone(), heads: Vec::new(), signed_at: Instant::now() };
        Ok(Self { conn: Connection::open(&target.addr).await?, signer })
    }

    /// Sends one operation; returns (status, response body).
    pub async fn call(&mut self, op: &'static str, json: &str) -> anyhow::Result<(u16, &[u8])> {
        let (status, _) = self.conn.exchange(self.signer.head(op), json.as_bytes(), Body::Keep).await?;
        Ok((status, self.conn.body()))
    }
}

/// One request of a workload and what its answer must look like.
pub struct Request {
    pub op: &'static str,
    pub body: String,
    /// A substring a 200 answer must contain (e.g. `"Item"` for a read of a loaded key).
    pub expect: &'static str,
}

/// Builds client `c`'s next request.
pub type Mix = Arc<dyn Fn(usize, &mut Rng) -> Request + Send + Sync>;

/// How a timed run went: the round (ops/s of admitted requests, their latencies) and the throttled count.
pub struct Outcome {
    pub round: Round,
    pub throttled: u64,
}

/// `clients` connections each sending `mix` requests back to back for `secs`; or, with `ops` set,
/// until `ops` requests in all were admitted (a load phase). A 400 with
/// ProvisionedThroughputExceededException is counted as throttled (not an error, not admitted).
pub async fn timed(
    target: &Endpoint,
    clients: usize,
    secs: f64,
    ops: Option<u64>,
    mix: Mix,
) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let per_client = ops.map(|n| n.div_ceil(clients as u64));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (target, mix) = (target.clone(), mix.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0x9E37_79B9 + 7919 * c as u64 + started.elapsed().as_nanos() as u64);
            let (mut lat, mut throttled) = (Vec::with_capacity(1 << 14), 0u64);
            loop {
                match per_client {
                    Some(n) if lat.len() as u64 >= n => break,
                    None if Instant::now() >= deadline => break,
                    _ => {}
                }
                let req = mix(c, &mut rng);
                let t = Instant::now();
                let (status, resp) = conn.call(req.op, &req.body).await?;
                let text = std::str::from_utf8(resp).unwrap_or("");
                if status == 400 && text.contains("ProvisionedThroughputExceededException") {
                    throttled += 1;
                    continue;
                }
                if status != 200 || !text.contains(req.expect) {
                    bail!("{} {}: status {status}: {text}", target.name, req.op);
                }
                lat.push(t.elapsed().as_secs_f64() * 1e6);
            }
            Ok::<_, anyhow::Error>((lat, throttled))
        }));
    }
    let (mut all, mut throttled) = (Vec::new(), 0);
    for t in tasks {
        let (lat, th) = t.await??;
        all.extend(lat);
        throttled += th;
    }
    let value = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok(Outcome { round: Round { value, latency: Latency::of_micros(all) }, throttled })
}

/// Sends `mix` flat out on `clients` connections until the table throttles one request: its bucket is
/// then empty (burst allowance included), so a timed round started right after measures the steady
/// rate, not what was banked before it. Fails if nothing is throttled within `limit`.
pub async fn drain(target: &Endpoint, clients: usize, limit: Duration, mix: Mix) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (target, mix, drained) = (target.clone(), mix.clone(), drained.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0xD1B5_4A32 + 7919 * c as u64);
            while !drained.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let req = mix(c, &mut rng);
                let (status, resp) = conn.call(req.op, &req.body).await?;
                let text = std::str::from_utf8(resp).unwrap_or("");
                if status == 400 && text.contains("ProvisionedThroughputExceededException") {
                    drained.store(true, std::sync::atomic::Ordering::Relaxed);
                } else if status != 200 || !text.contains(req.expect) {
                    bail!("{} {}: status {status}: {text}", target.name, req.op);
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    anyhow::ensure!(
        drained.load(std::sync::atomic::Ordering::Relaxed),
        "{}: nothing was throttled in {limit:?}",
        target.name
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_stays_in_range_and_is_skewed() {
        let z = Zipf::new(1000, 0.99);
        let mut rng = Rng(42);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            let k = z.next(&mut rng);
            assert!(k < 1000);
            counts[k as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        // Rank 0 of a 1000-key zipf(0.99) draws ~13 %; the 100 hottest keys well over half.
        assert!(counts[0] > 8_000 && counts[0] < 18_000, "hottest key drew {}", counts[0]);
        assert!(counts[..100].iter().sum::<u32>() > 55_000);
    }

    #[test]
    fn unit_is_in_zero_one() {
        let mut rng = Rng(7);
        assert!((0..10_000).map(|_| rng.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}
