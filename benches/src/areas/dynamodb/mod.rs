//! dynamod vs dynalite (npm, in-memory): YCSB A/B/C/E over 1 KB items with zipfian keys, a GSI Query
//! line, and a PROVISIONED table driven past its rate (admitted rate vs the provisioned rate: dynalite
//! does not throttle, so that line's peer column is the provisioned number itself).

pub mod ycsb;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use benches::client::Endpoint;
use indicatif::ProgressBar;

use crate::harness::multi::ab_rounds_multi;
use crate::harness::{Line, Round, Workload, ab_rounds, binaries};
use ycsb::{Conn, Mix, Request, Rng, Zipf, get_body, put_body, scan_body, timed, update_body};

pub struct DynamoOptions {
    /// Items loaded into each table.
    pub records: u64,
    /// Concurrent clients (one keep-alive connection each).
    pub clients: usize,
    /// Seconds per workload per round.
    pub secs: f64,
}

/// Distinct values of the indexed attribute (the GSI's partitions); a Query reads 10 items of one.
const GSI_GROUPS: u64 = 100;
/// The throttled table's provisioned rate (writes of items < 1 KB, so one WCU each).
const PROVISIONED_WCU: u64 = 100;

const YCSB: [(&str, &str); 4] = [
    ("YCSB A (50 % read / 50 % update)", "a"),
    ("YCSB B (95 % read / 5 % update)", "b"),
    ("YCSB C (read only)", "c"),
    ("YCSB E (95 % Scan of 1-100 items / 5 % insert)", "e"),
];

/// Rounds × sides × (four YCSB workloads, GSI, throttled), for the progress bar.
pub fn steps(rounds: usize) -> u64 {
    (rounds * 2 * (YCSB.len() + 2)) as u64
}

pub fn run(rounds: usize, opts: &DynamoOptions, progress: &ProgressBar) -> anyhow::Result<Vec<Line>> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let daemon = crate::harness::children::start_daemon(&binaries::daemon("dynamod")?, &[], 2);
    let (ak, sk) = daemon.root_credentials();
    let ours = Endpoint { name: "dynamod", addr: daemon.addr("api").to_string(), access_key: ak, secret_key: sk };
    let (_dynalite, peer) = start_dynalite()?;
    progress.set_message("dynamodb: loading tables");
    for t in [&ours, &peer] {
        rt.block_on(load(t, opts))?;
    }
    let mut lines = Vec::new();

    let zipf = Zipf::new(opts.records, 0.99);
    let workloads: Vec<Workload> = YCSB
        .iter()
        .map(|(name, _)| Workload {
            area: "dynamodb",
            name,
            unit: "ops/s",
            higher_is_better: true,
            peer_name: "dynalite",
        })
        .collect();
    let ycsb_all = |target: &Endpoint| -> anyhow::Result<Vec<Round>> {
        let mut out = Vec::new();
        for (name, which) in YCSB {
            progress.set_message(format!("dynamodb: {} {name}", target.name));
            let mix = ycsb_mix(which, zipf.clone(), opts.records);
            out.push(rt.block_on(timed(target, opts.clients, opts.secs, None, mix))?.round);
            progress.inc(1);
        }
        Ok(out)
    };
    lines.extend(ab_rounds_multi(&workloads, rounds, || ycsb_all(&ours), || ycsb_all(&peer))?);

    let gsi = Workload {
        area: "dynamodb",
        name: "GSI Query (10 of one of 100 groups, ALL projection)",
        unit: "ops/s",
        higher_is_better: true,
        peer_name: "dynalite",
    };
    let gsi_run = |target: &Endpoint| -> anyhow::Result<Round> {
        progress.set_message(format!("dynamodb: {} GSI query", target.name));
        let mix: Mix = Arc::new(|_, rng: &mut Rng| Request {
            op: "Query",
            body: format!(
                "{{\"TableName\":\"gsitable\",\"IndexName\":\"by_grp\",\"KeyConditionExpression\":\"grp = :g\",\"ExpressionAttributeValues\":{{\":g\":{{\"S\":\"g{:03}\"}}}},\"Limit\":10}}",
                rng.next() % GSI_GROUPS
            ),
            expect: "\"Items\"",
        });
        let round = rt.block_on(timed(target, opts.clients, opts.secs, None, mix))?.round;
        progress.inc(1);
        Ok(round)
    };
    lines.push(ab_rounds(gsi, rounds, || gsi_run(&ours), || gsi_run(&peer))?);

    lines.push(throttled_line(rounds, opts, &rt, &ours, progress)?);
    println!("dynamodb: {:.0} s", started.elapsed().as_secs_f64());
    Ok(lines)
}

fn ycsb_mix(which: &'static str, zipf: Zipf, records: u64) -> Mix {
    let read_share = match which {
        "a" => 0.5,
        "b" => 0.95,
        _ => 1.0,
    };
    Arc::new(move |_, rng: &mut Rng| {
        let k = zipf.next(rng);
        if which == "e" {
            return if rng.unit() < 0.95 {
                Request { op: "Scan", body: scan_body(k, rng), expect: "\"Items\"" }
            } else {
                // New keys above the loaded ones (YCSB E's inserts).
                let fresh = records + rng.next() % 1_000_000_000;
                Request { op: "PutItem", body: put_body("usertable", fresh, "", rng), expect: "" }
            };
        }
        if rng.unit() < read_share {
            Request { op: "GetItem", body: get_body(k), expect: "\"Item\"" }
        } else {
            Request { op: "UpdateItem", body: update_body(k, rng), expect: "" }
        }
    })
}

/// Admitted writes/s on a PROVISIONED table after its burst allowance is spent; the peer column is
/// the provisioned rate (dynalite accepts ProvisionedThroughput but never throttles).
fn throttled_line(
    rounds: usize,
    opts: &DynamoOptions,
    rt: &tokio::runtime::Runtime,
    ours: &Endpoint,
    progress: &ProgressBar,
) -> anyhow::Result<Line> {
    progress.set_message("dynamodb: throttled table, spending its burst");
    let create = format!(
        r#"{{"TableName":"throttled","KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}],"BillingMode":"PROVISIONED","ProvisionedThroughput":{{"ReadCapacityUnits":{PROVISIONED_WCU},"WriteCapacityUnits":{PROVISIONED_WCU}}}}}"#
    );
    rt.block_on(create_table(ours, "throttled", &create))?;
    // 100-byte items: one WCU each.
    let mix: Mix = Arc::new(|_, rng: &mut Rng| Request {
        op: "PutItem",
        body: format!(
            "{{\"TableName\":\"throttled\",\"Item\":{{\"pk\":{{\"S\":\"{}\"}},\"v\":{{\"S\":\"{}\"}}}}}}",
            ycsb::key(rng.next() % 1_000_000),
            "x".repeat(80)
        ),
        expect: "",
    });
    // A window of its own: at 100 writes/s, whole seconds of refill matter more than in the YCSB runs.
    const THROTTLED_SECS: f64 = 2.0;
    // The table banks up to 300 s of its rate (as DynamoDB does); every round below starts by spending
    // whatever is banked (all of it the first time), so no round measures leftover burst.
    let drain_limit = Duration::from_secs(600);
    let throttled = std::cell::Cell::new(0u64);
    let w = Workload {
        area: "dynamodb",
        name: "PROVISIONED 100 WCU, PutItem flat out",
        unit: "admitted writes/s",
        // The ratio reads as admitted ÷ provisioned (1.00× = throttled exactly at the provisioned rate).
        higher_is_better: true,
        peer_name: "provisioned; dynalite never throttles",
    };
    let mut line = ab_rounds(
        w,
        rounds,
        || {
            rt.block_on(ycsb::drain(ours, opts.clients, drain_limit, mix.clone()))?;
            progress.set_message("dynamodb: throttled table");
            let out = rt.block_on(timed(ours, opts.clients, THROTTLED_SECS, None, mix.clone()))?;
            throttled.set(throttled.get() + out.throttled);
            progress.inc(1);
            Ok(out.round)
        },
        || {
            progress.inc(1);
            Ok((PROVISIONED_WCU as f64).into())
        },
    )?;
    anyhow::ensure!(throttled.get() > 0, "the provisioned table was never throttled");
    line.workload = format!("{} ({} x ProvisionedThroughputExceededException)", line.workload, throttled.get());
    Ok(line)
}

async fn create_table(target: &Endpoint, table: &str, create: &str) -> anyhow::Result<()> {
    let mut conn = Conn::open(target).await?;
    let (status, body) = conn.call("CreateTable", create).await?;
    if status != 200 {
        bail!("{}: CreateTable {table} answered {status}: {}", target.name, String::from_utf8_lossy(body));
    }
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

/// Creates and fills `usertable` and `gsitable` (the same items plus the indexed `grp`).
async fn load(target: &Endpoint, opts: &DynamoOptions) -> anyhow::Result<()> {
    let usertable = r#"{"TableName":"usertable","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"}"#;
    let gsitable = r#"{"TableName":"gsitable","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"grp","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST","GlobalSecondaryIndexes":[{"IndexName":"by_grp","KeySchema":[{"AttributeName":"grp","KeyType":"HASH"}],"Projection":{"ProjectionType":"ALL"}}]}"#;
    create_table(target, "usertable", usertable).await?;
    create_table(target, "gsitable", gsitable).await?;
    let (records, clients) = (opts.records, opts.clients as u64);
    for table in ["usertable", "gsitable"] {
        // Client c writes keys c, c + clients, c + 2·clients, …: every key exactly once.
        let next = Arc::new((0..clients).map(|_| std::sync::atomic::AtomicU64::new(0)).collect::<Vec<_>>());
        let mix: Mix = Arc::new(move |c, rng: &mut Rng| {
            let n = next[c].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let i = (c as u64 + n * clients) % records;
            let grp = if table == "gsitable" {
                format!("\"grp\":{{\"S\":\"g{:03}\"}},", i % GSI_GROUPS)
            } else {
                String::new()
            };
            Request { op: "PutItem", body: put_body(table, i, &grp, rng), expect: "" }
        });
        timed(target, opts.clients, 600.0, Some(records), mix).await.with_context(|| format!("loading {table}"))?;
    }
    Ok(())
}

/// dynalite on a free port below the ephemeral range (installed by `benches/setup-peers.sh`).
struct Dynalite(Child);

impl Drop for Dynalite {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dynalite() -> anyhow::Result<(Dynalite, Endpoint)> {
    let port = (20_000..32_000)
        .map(|p| p + (std::process::id() as u16 % 997))
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .context("no free port for dynalite")?;
    let child = crate::harness::children::die_with_harness(&mut Command::new("dynalite"))
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--createTableMs", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start dynalite (bash benches/setup-peers.sh)")?;
    let proc_ = Dynalite(child);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ycsb_mixes_have_their_proportions() {
        let zipf = Zipf::new(1000, 0.99);
        for (which, reads, op) in
            [("a", 0.5, "GetItem"), ("b", 0.95, "GetItem"), ("c", 1.0, "GetItem"), ("e", 0.95, "Scan")]
        {
            let mix = ycsb_mix(which, zipf.clone(), 1000);
            let mut rng = Rng(99);
            let n = 20_000;
            let got = (0..n).filter(|_| mix(0, &mut rng).op == op).count() as f64 / n as f64;
            assert!((got - reads).abs() < 0.015, "{which}: {got} {op}, expected {reads}");
        }
    }
}
