//! DynamoDB load benchmark (YCSB workloads A and C): 1 KB items (10 fields of 100 B), zipfian keys,
//! N concurrent clients, against dynamod and, in the same run, dynalite (npm). Prints ops/s, p50/p99
//! and the ratio dynamod / dynalite. A third workload queries a global secondary index: a table of
//! the same items spread over `GSI_GROUPS` index partitions, each Query reading 10 of a group's items.
//!
//! `cargo run --release -p benches --bin dynamodb -- [--records 10000] [--clients 32] [--seconds 10]`
//!
//! dynalite is installed with npm under `--dynalite-dir` (default /var/tmp/stratus-dynalite, outside the
//! repo) if it is not there yet. The client is a minimal keep-alive HTTP/1.1 client; requests carry a
//! SigV4 signature over `UNSIGNED-PAYLOAD` computed once per operation and minute (valid SigV4 for our
//! verifier; dynalite checks only that a signature is present), so neither server pays for client-side
//! hashing and both see the same bytes.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use benches::client::{Body, Connection, Endpoint};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "YCSB A/C against dynamod vs dynalite")]
struct Args {
    /// Records loaded before the workloads run.
    #[arg(long, default_value_t = 10_000)]
    records: usize,
    /// Concurrent clients (one keep-alive connection each).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds per workload.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Path of the dynamod binary (default: next to this binary, else $CARGO_TARGET_DIR/release/dynamod).
    #[arg(long)]
    dynamod: Option<PathBuf>,
    /// Where dynalite is (or gets) installed with npm.
    #[arg(long, default_value = "/var/tmp/stratus-dynalite")]
    dynalite_dir: PathBuf,
    /// Skip dynalite (no ratio).
    #[arg(long)]
    no_dynalite: bool,
}

/// Signed heads per operation, re-signed once a minute (signatures stay valid for 15 minutes).
struct Signer {
    target: Endpoint,
    heads: Vec<(&'static str, String)>,
    signed_at: Instant,
}

impl Signer {
    fn new(target: Endpoint) -> Self {
        Self { target, heads: Vec::new(), signed_at: Instant::now() }
    }
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
struct Conn {
    conn: Connection,
    signer: Signer,
}

impl Conn {
    async fn open(target: &Endpoint) -> anyhow::Result<Self> {
        Ok(Self { conn: Connection::open(&target.addr).await?, signer: Signer::new(target.clone()) })
    }

    /// Sends one operation; returns (status, response body).
    async fn call(&mut self, op: &'static str, json: &str) -> anyhow::Result<(u16, &[u8])> {
        let (status, _) = self.conn.exchange(self.signer.head(op), json.as_bytes(), Body::Keep).await?;
        Ok((status, self.conn.body()))
    }
}

// ---- YCSB pieces: xorshift random numbers and the zipfian generator (theta 0.99, scrambled) ----

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Gray et al.'s zipfian generator as YCSB uses it, with item ranks scattered over the key space.
#[derive(Clone)]
struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipf {
    fn new(n: u64) -> Self {
        let theta = 0.99;
        let zeta = |n: u64| (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let (zetan, zeta2) = (zeta(n), zeta(2));
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Self { n, theta, alpha: 1.0 / (1.0 - theta), zetan, eta }
    }
    fn next(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        let rank = if uz < 1.0 {
            0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            ((self.n as f64) * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64
        };
        // Scramble so hot keys are spread over the table (YCSB's ScrambledZipfian).
        let h = (rank.min(self.n - 1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5bd1_e995;
        h % self.n
    }
}

fn key(i: u64) -> String {
    format!("user{i:010}")
}

fn field_value(rng: &mut Rng) -> String {
    (0..100).map(|_| (b'a' + (rng.next() % 26) as u8) as char).collect()
}

fn put_body(i: u64, rng: &mut Rng) -> String {
    let fields: Vec<String> = (0..10).map(|f| format!("\"field{f}\":{{\"S\":\"{}\"}}", field_value(rng))).collect();
    format!("{{\"TableName\":\"usertable\",\"Item\":{{\"pk\":{{\"S\":\"{}\"}},{}}}}}", key(i), fields.join(","))
}

fn get_body(i: u64) -> String {
    format!("{{\"TableName\":\"usertable\",\"Key\":{{\"pk\":{{\"S\":\"{}\"}}}}}}", key(i))
}

fn update_body(i: u64, rng: &mut Rng) -> String {
    let f = rng.next() % 10;
    format!(
        "{{\"TableName\":\"usertable\",\"Key\":{{\"pk\":{{\"S\":\"{}\"}}}},\"UpdateExpression\":\"SET field{f} = :v\",\"ExpressionAttributeValues\":{{\":v\":{{\"S\":\"{}\"}}}}}}",
        key(i),
        field_value(rng)
    )
}

// ---- the GSI-query workload ----

/// Distinct values of the indexed attribute (the GSI's partitions).
const GSI_GROUPS: u64 = 100;
/// Items one GSI Query returns.
const GSI_QUERY_LIMIT: usize = 10;

fn gsi_put_body(i: u64, rng: &mut Rng) -> String {
    let fields: Vec<String> = (0..10).map(|f| format!("\"field{f}\":{{\"S\":\"{}\"}}", field_value(rng))).collect();
    format!(
        "{{\"TableName\":\"gsitable\",\"Item\":{{\"pk\":{{\"S\":\"{}\"}},\"grp\":{{\"S\":\"g{:03}\"}},{}}}}}",
        key(i),
        i % GSI_GROUPS,
        fields.join(",")
    )
}

fn gsi_query_body(group: u64) -> String {
    format!(
        "{{\"TableName\":\"gsitable\",\"IndexName\":\"by_grp\",\"KeyConditionExpression\":\"grp = :g\",\"ExpressionAttributeValues\":{{\":g\":{{\"S\":\"g{group:03}\"}}}},\"Limit\":{GSI_QUERY_LIMIT}}}"
    )
}

async fn wait_active(conn: &mut Conn, target: &Endpoint, table: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = conn.call("DescribeTable", &format!("{{\"TableName\":\"{table}\"}}")).await?;
        let text = String::from_utf8_lossy(body);
        if text.contains("\"ACTIVE\"") && !text.contains("\"CREATING\"") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{}: {table} never became ACTIVE", target.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `gsitable` with the GSI `by_grp` (ALL projection) and loads `records` items.
async fn setup_gsi(target: &Endpoint, records: usize, clients: usize) -> anyhow::Result<()> {
    let mut conn = Conn::open(target).await?;
    let create = r#"{"TableName":"gsitable","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"grp","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST","GlobalSecondaryIndexes":[{"IndexName":"by_grp","KeySchema":[{"AttributeName":"grp","KeyType":"HASH"}],"Projection":{"ProjectionType":"ALL"}}]}"#;
    let (status, body) = conn.call("CreateTable", create).await?;
    if status != 200 {
        bail!("{}: CreateTable gsitable answered {status}: {}", target.name, String::from_utf8_lossy(body));
    }
    wait_active(&mut conn, target, "gsitable").await?;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0x7777_1234 + c as u64);
            for i in (c..records).step_by(clients) {
                let (status, body) = conn.call("PutItem", &gsi_put_body(i as u64, &mut rng)).await?;
                if status != 200 {
                    bail!("{}: GSI load PutItem answered {status}: {}", target.name, String::from_utf8_lossy(body));
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Queries the GSI for a uniformly random group for `seconds`.
async fn gsi_workload(target: &Endpoint, clients: usize, seconds: u64) -> anyhow::Result<Stats> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0x5151_0000 + 31 * c as u64);
            let mut lat = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let group = rng.next() % GSI_GROUPS;
                let t = Instant::now();
                let (status, resp) = conn.call("Query", &gsi_query_body(group)).await?;
                let text = std::str::from_utf8(resp).unwrap_or("");
                if status != 200 || !text.contains("\"Items\"") {
                    bail!("{} GSI Query g{group:03}: status {status}: {text}", target.name);
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(summarize(all, started.elapsed().as_secs_f64()))
}

// ---- phases ----

#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    ops: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Stats {
    fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.secs
    }
}

fn summarize(mut lat: Vec<Duration>, secs: f64) -> Stats {
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Stats { ops: lat.len(), secs, p50_ms: pct(0.50), p99_ms: pct(0.99) }
}

async fn setup(target: &Endpoint, records: usize, clients: usize) -> anyhow::Result<()> {
    let mut conn = Conn::open(target).await?;
    let create = r#"{"TableName":"usertable","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}"#;
    let (status, body) = conn.call("CreateTable", create).await?;
    if status != 200 {
        bail!("{}: CreateTable answered {status}: {}", target.name, String::from_utf8_lossy(body));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = conn.call("DescribeTable", r#"{"TableName":"usertable"}"#).await?;
        if String::from_utf8_lossy(body).contains("\"ACTIVE\"") {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{}: table never became ACTIVE", target.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tasks = Vec::new();
    for c in 0..clients {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0x1234_5678 + c as u64);
            for i in (c..records).step_by(clients) {
                let (status, body) = conn.call("PutItem", &put_body(i as u64, &mut rng)).await?;
                if status != 200 {
                    bail!("{}: load PutItem answered {status}: {}", target.name, String::from_utf8_lossy(body));
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Runs a workload with `read_share` reads (the rest updates) for `seconds`.
async fn workload(
    target: &Endpoint,
    records: usize,
    clients: usize,
    seconds: u64,
    read_share: f64,
) -> anyhow::Result<Stats> {
    let zipf = Zipf::new(records as u64);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (target, zipf) = (target.clone(), zipf.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut rng = Rng(0x9E37_79B9 + 7919 * c as u64);
            let mut lat = Vec::with_capacity(1 << 16);
            while Instant::now() < deadline {
                let k = zipf.next(&mut rng);
                let read = rng.unit() < read_share;
                let (op, body) = if read { ("GetItem", get_body(k)) } else { ("UpdateItem", update_body(k, &mut rng)) };
                let t = Instant::now();
                let (status, resp) = conn.call(op, &body).await?;
                if status != 200 || (read && !resp.starts_with(b"{\"Item\"")) {
                    bail!("{} {op} {}: status {status}: {}", target.name, key(k), String::from_utf8_lossy(resp));
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(summarize(all, started.elapsed().as_secs_f64()))
}

// ---- dynalite ----

struct Dynalite {
    child: Child,
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dynalite(dir: &std::path::Path) -> anyhow::Result<(Dynalite, Endpoint)> {
    let bin = dir.join("node_modules/.bin/dynalite");
    if !bin.exists() {
        std::fs::create_dir_all(dir)?;
        eprintln!("# installing dynalite with npm under {}", dir.display());
        let status = Command::new("npm")
            .arg("install")
            .arg("--prefix")
            .arg(dir)
            .arg("dynalite")
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success() && bin.exists(), "npm install dynalite failed");
    }
    // A port below the ephemeral range that nothing listens on.
    let port = (20_000..32_000)
        .map(|p| p + (std::process::id() as u16 % 997))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .context("no free port for dynalite")?;
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--createTableMs", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start dynalite")?;
    let proc_ = Dynalite { child };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "dynalite did not start listening");
        std::thread::sleep(Duration::from_millis(100));
    }
    let target = Endpoint {
        name: "dynalite",
        addr: format!("127.0.0.1:{port}"),
        access_key: "AKIDBENCH".into(),
        secret_key: "bench".into(),
    };
    Ok((proc_, target))
}

fn print_row(workload: &str, clients: usize, name: &str, s: &Stats, base: Option<&Stats>) {
    let ratio = base.map_or(String::new(), |b| format!("{:>7.2}x", s.ops_per_sec() / b.ops_per_sec()));
    println!(
        "{workload:<11} {clients:>3}c  {name:<9} {:>9.0} ops/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {ratio}",
        s.ops_per_sec(),
        s.p50_ms,
        s.p99_ms
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let bin = args.dynamod.clone().unwrap_or_else(|| {
        let beside = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("dynamod")));
        beside.filter(|p| p.exists()).unwrap_or_else(|| {
            PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release/dynamod")
        })
    });
    anyhow::ensure!(bin.exists(), "{} not found: build it with `cargo build --release -p dynamod`", bin.display());
    let daemon = tests::DaemonProcess::start(&bin, &[], 2);
    let (ak, sk) = daemon.root_credentials();
    let ours = Endpoint { name: "dynamod", addr: daemon.addr("api").to_string(), access_key: ak, secret_key: sk };
    let peer = if args.no_dynalite { None } else { Some(start_dynalite(&args.dynalite_dir)?) };
    println!(
        "# YCSB, {} records of 1 KB, zipfian keys, {} clients, {} s per workload; dynamod {} vs dynalite{}; ratio = dynamod / dynalite",
        args.records,
        args.clients,
        args.seconds,
        bin.display(),
        if peer.is_some() { " (in-memory)" } else { " (skipped)" }
    );
    let mut targets = vec![ours.clone()];
    if let Some((_, t)) = &peer {
        targets.push(t.clone());
    }
    for t in &targets {
        let started = Instant::now();
        setup(t, args.records, args.clients).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "load        {:>3}c  {:<9} {:>9.0} ops/s  ({} PutItem)",
            args.clients,
            t.name,
            args.records as f64 / secs,
            args.records
        );
    }
    for (name, read_share) in [("A (50/50)", 0.5), ("C (100% r)", 1.0)] {
        let mut results = Vec::new();
        for t in &targets {
            results.push(workload(t, args.records, args.clients, args.seconds, read_share).await?);
        }
        print_row(name, args.clients, "dynamod", &results[0], results.get(1));
        if let Some(peer) = results.get(1) {
            print_row(name, args.clients, "dynalite", peer, None);
        }
    }
    // GSI queries: Query IndexName=by_grp, 10 items of one of 100 groups per call.
    let mut results = Vec::new();
    for t in &targets {
        let started = Instant::now();
        setup_gsi(t, args.records, args.clients).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "gsi load    {:>3}c  {:<9} {:>9.0} ops/s  ({} PutItem into a table with a GSI)",
            args.clients,
            t.name,
            args.records as f64 / secs,
            args.records
        );
        results.push(gsi_workload(t, args.clients, args.seconds).await?);
    }
    print_row("GSI query", args.clients, "dynamod", &results[0], results.get(1));
    if let Some(peer) = results.get(1) {
        print_row("GSI query", args.clients, "dynalite", peer, None);
    }
    drop(peer);
    drop(daemon);
    Ok(())
}
