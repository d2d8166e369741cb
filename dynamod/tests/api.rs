//! dynamod driven by boto3 (the real client): the API suite (incl. secondary indexes), a 10,000-item
//! partition, throttling, TTL sweeping and transaction tokens with the fake clock, GSI backfill of a
//! 50,000-item table under writes, kill -9 durability, clean shutdown and metrics. The checks live in
//! `boto3_suite.py`; those of #8's streams, PartiQL, backups/exports, item collections and concurrency
//! in `features_suite.py`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{DaemonProcess, http_get, run_with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_dynamod");
const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_suite.py");
const FEATURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/features_suite.py");

fn suite_command(d: &DaemonProcess, mode: &str) -> Command {
    script_command(SUITE, d, mode)
}

fn script_command(script: &str, d: &DaemonProcess, mode: &str) -> Command {
    let (ak, sk) = d.root_credentials();
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(d.endpoint()).arg(ak).arg(sk).arg(mode);
    cmd.env("AWS_EC2_METADATA_DISABLED", "true").env_remove("AWS_PROFILE");
    cmd
}

fn run_suite(d: &DaemonProcess, mode: &str, extra: &[&str], timeout: Duration) -> String {
    run_script(SUITE, d, mode, extra, timeout)
}

fn run_features(d: &DaemonProcess, mode: &str, extra: &[&str], timeout: Duration) -> String {
    run_script(FEATURES, d, mode, extra, timeout)
}

fn run_script(script: &str, d: &DaemonProcess, mode: &str, extra: &[&str], timeout: Duration) -> String {
    let mut cmd = script_command(script, d, mode);
    cmd.args(extra);
    let (status, out, err) = run_with_timeout(&mut cmd, timeout);
    assert!(status.success(), "boto3 {mode} failed:\n{out}\n{err}\ndaemon log:\n{}", tail(&d.log()));
    out
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[test]
fn boto3_api_suite() {
    let mut d = DaemonProcess::start(BIN, &[], 2);
    let out = run_suite(&d, "suite", &[], Duration::from_secs(300));
    for name in [
        "control_plane",
        "values_and_keys",
        "writes_and_conditions",
        "expression_errors",
        "query_and_scan",
        "batches_and_legacy",
        "transactions",
        "auth",
        "secondary_indexes",
        "dynalite_differences",
    ] {
        assert!(out.contains(&format!("ok test_{name}")), "{name} did not run:\n{out}");
    }
    let (status, metrics) = http_get(d.addr("metrics"), "/metrics");
    assert_eq!(status, 200);
    for m in [
        "dynamodb_consumed_read_capacity_units",
        "dynamodb_consumed_write_capacity_units_total",
        "dynamodb_conditional_check_failed_requests_total",
    ] {
        assert!(metrics.contains(m), "metric {m} missing");
    }
    assert!(d.stop().success(), "dynamod must exit 0 on SIGTERM");
}

#[test]
fn boto3_pages_a_10000_item_partition() {
    let d = DaemonProcess::start(BIN, &[], 2);
    let out = run_suite(&d, "pagination", &[], Duration::from_secs(300));
    assert!(out.contains("ok pagination"), "{out}");
}

#[test]
fn gsi_backfill_of_a_50000_item_table_while_writes_continue() {
    let d = DaemonProcess::start(BIN, &[], 2);
    let out = run_suite(&d, "backfill", &[], Duration::from_secs(400));
    assert!(out.contains("ok backfill"), "{out}");
}

#[test]
fn provisioned_capacity_throttles_with_the_fake_clock() {
    let d = DaemonProcess::start(BIN, &["--fake-clock"], 2);
    let out = run_suite(&d, "throttle", &[], Duration::from_secs(300));
    assert!(out.contains("ok throttle"), "{out}");
    let (_, metrics) = http_get(d.addr("metrics"), "/metrics");
    assert!(
        metrics.contains("dynamodb_throttled_requests_total{table=\"thr\"}"),
        "ThrottledRequests metric missing:\n{metrics}"
    );
}

#[test]
fn ttl_sweeper_and_transaction_tokens_with_the_fake_clock() {
    let d = DaemonProcess::start(BIN, &["--fake-clock", "--ttl-sweep-seconds", "0.2"], 2);
    let out = run_suite(&d, "ttl", &[], Duration::from_secs(120));
    assert!(out.contains("ok ttl") && out.contains("ok idempotency"), "{out}");
    let (_, metrics) = http_get(d.addr("metrics"), "/metrics");
    assert!(metrics.contains("dynamodb_time_to_live_deleted_item_count_total"), "TTL metric missing");
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let mut d = DaemonProcess::start(BIN, &[], 2);
    let mut writer =
        suite_command(&d, "durability-write").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("python3");
    let stdout = writer.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(key) = line.strip_prefix("ACK ") {
                let _ = tx.send(key.to_string());
            }
        }
    });
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.len() < 500 {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(k) => acked.push(k),
            Err(_) => {
                let _ = writer.kill();
                panic!("writer acknowledged only {} writes; log:\n{}", acked.len(), tail(&d.log()));
            }
        }
    }
    d.kill9();
    // Writes acknowledged between our count and the kill are on the channel too: collect them.
    std::thread::sleep(Duration::from_millis(200));
    acked.extend(rx.try_iter());
    let _ = writer.kill();
    let _ = writer.wait();
    d.restart();
    let list = d.data_dir().join("acked.txt");
    std::fs::write(&list, acked.join("\n")).unwrap();
    let out = run_suite(&d, "durability-check", &[list.to_str().unwrap()], Duration::from_secs(120));
    assert!(out.contains("ok durability"), "{out}");
}

#[test]
fn boto3_streams_see_every_write_exactly_once_in_order() {
    let d = DaemonProcess::start(BIN, &[], 2);
    let out = run_features(&d, "streams", &[], Duration::from_secs(300));
    assert!(out.contains("ok test_stream_completeness") && out.contains("ok test_stream_view_types"), "{out}");
}

#[test]
fn stream_records_of_ttl_deletions_and_24_hour_retention_with_the_fake_clock() {
    let d = DaemonProcess::start(BIN, &["--fake-clock", "--ttl-sweep-seconds", "0.2"], 2);
    let out = run_features(&d, "streams-ttl", &[], Duration::from_secs(120));
    assert!(out.contains("ok streams-ttl"), "{out}");
}

#[test]
fn boto3_partiql_backups_and_racing_transactions() {
    let d = DaemonProcess::start(BIN, &[], 2);
    let out = run_features(&d, "partiql", &[], Duration::from_secs(120));
    assert!(out.contains("ok partiql"), "{out}");
    let out = run_features(&d, "backups", &[], Duration::from_secs(300));
    assert!(out.contains("ok backups"), "{out}");
    let out = run_features(&d, "concurrency", &[], Duration::from_secs(300));
    assert!(out.contains("ok concurrency"), "{out}");
}

#[test]
fn lsi_item_collection_limit_and_metrics() {
    let d = DaemonProcess::start(BIN, &["--item-collection-limit", "20000"], 2);
    let out = run_features(&d, "collections", &[], Duration::from_secs(120));
    assert!(out.contains("ok collections"), "{out}");
}

/// The export writes to our own s3d, built next to dynamod (CI builds the whole workspace first).
#[test]
fn export_to_s3d_as_dynamodb_json() {
    let s3d = std::path::Path::new(BIN).with_file_name("s3d");
    assert!(s3d.exists(), "{} is missing: build the workspace (cargo build --release --workspace)", s3d.display());
    let s3 = DaemonProcess::start(&s3d, &[], 2);
    let (s3_ak, s3_sk) = s3.root_credentials();
    let endpoint = s3.endpoint();
    let d = DaemonProcess::start(
        BIN,
        &["--export-s3-endpoint", &endpoint, "--export-s3-access-key", &s3_ak, "--export-s3-secret-key", &s3_sk],
        2,
    );
    let out = run_features(&d, "export", &[&endpoint, &s3_ak, &s3_sk], Duration::from_secs(180));
    assert!(out.contains("ok export"), "{out}\ns3d log:\n{}", tail(&s3.log()));
}

#[test]
fn stream_records_and_backups_survive_kill_9() {
    let mut d = DaemonProcess::start(BIN, &[], 2);
    let out = run_features(&d, "restart-write", &[], Duration::from_secs(120));
    let arns: Vec<&str> =
        out.lines().find_map(|l| l.strip_prefix("ARN ")).expect("ARN line").split_whitespace().collect();
    d.kill9();
    d.restart();
    let out = run_features(&d, "restart-check", &arns, Duration::from_secs(120));
    assert!(out.contains("ok restart-check"), "{out}");
}
