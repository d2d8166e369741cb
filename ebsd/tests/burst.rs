//! `--burst-credits-scale` end to end: a gp2 volume with a tiny credit bucket, read flat out by a real
//! NBD client (python3-libnbd, async, 16 requests in flight), bursts far above its baseline, then falls
//! to exactly the baseline once the credits are spent, and CloudWatch's BurstBalance follows.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tests::{DaemonProcess, run_with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_ebsd");
const TIMEOUT: Duration = Duration::from_secs(60);
/// Debian's python3-libnbd is installed for the system interpreter.
const PYTHON: &str = "/usr/bin/python3";

fn run(cmd: &mut Command) -> String {
    let (status, out, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(status.success(), "{cmd:?} failed: {err}\n{out}");
    out
}

fn aws(daemon: &DaemonProcess, args: &[&str]) -> Value {
    let mut cmd = daemon.aws_command("aws");
    cmd.env("AWS_MAX_ATTEMPTS", "1");
    cmd.arg("ec2").args(args).arg("--endpoint-url").arg(daemon.endpoint()).arg("--output").arg("json");
    let out = run(&mut cmd);
    if out.trim().is_empty() { Value::Null } else { serde_json::from_str(&out).expect("aws prints JSON") }
}

fn burst_balance(daemon: &DaemonProcess, id: &str) -> f64 {
    let (_, metrics) = tests::http_get(daemon.addr("metrics"), "/metrics");
    let prefix = format!("BurstBalance{{volume_id=\"{id}\"}} ");
    let line = metrics.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix}in {metrics}"));
    line[prefix.len()..].trim().parse().expect("a number")
}

#[test]
fn a_scaled_gp2_bucket_bursts_then_falls_to_the_baseline_over_nbd() {
    // 1 GiB gp2: baseline 100 IOPS, burst 3,000; 0.001 × 5.4 M = 5,400 credits, spent in ~1.9 s at
    // 3,000 IOPS (longer if the client is slower, as credits drain at the read rate − 100).
    let daemon = DaemonProcess::start(BIN, &["--nbd-listen", "127.0.0.1:0", "--burst-credits-scale", "0.001"], 3);
    let created = aws(&daemon, &["create-volume", "--availability-zone", "us-east-1a", "--size", "1"]);
    assert_eq!(created["VolumeType"], "gp2");
    let id = created["VolumeId"].as_str().expect("VolumeId").to_string();
    aws(
        &daemon,
        &["attach-volume", "--volume-id", &id, "--instance-id", "i-0123456789abcdef0", "--device", "/dev/sdf"],
    );

    let uri = format!("nbd://{}/{id}", daemon.addr("nbd"));
    let script = format!("{}/tests/burst_rate.py", env!("CARGO_MANIFEST_DIR"));
    let out = run(Command::new(PYTHON).arg(&script).arg(&uri).arg("8"));
    let per_second: Vec<u64> = serde_json::from_str(out.trim()).expect("a JSON list");
    let summary = format!("reads per second: {per_second:?}\n{}", daemon.log());

    // The burst: the first second is well above the 100 IOPS baseline and at most the 3,000 burst rate
    // (+ the 1/50 s the peak bucket may bank).
    assert!((1_000..=3_060).contains(&per_second[0]), "no burst in the first second; {summary}");
    // The cliff: credits spent within 5.4 s even at 1,100 reads/s, then exactly the baseline.
    for (second, &reads) in per_second.iter().enumerate().skip(6) {
        assert!((90..=110).contains(&reads), "second {second} is not at the 100 IOPS baseline; {summary}");
    }
    let burst_reads: u64 = per_second.iter().take(6).sum();
    // Reads in the first six seconds: the 5,400 credits plus 6 s of baseline, + what the peak bucket banks.
    assert!((5_400 + 400..=5_400 + 800).contains(&burst_reads), "credits not as scaled: {burst_reads}; {summary}");
    let balance = burst_balance(&daemon, &id);
    assert!(balance < 5.0, "BurstBalance {balance} after the cliff");
}

#[test]
fn the_scale_is_documented_and_checked() {
    let help = run(Command::new(BIN).arg("--help"));
    assert!(help.contains("--burst-credits-scale <FACTOR>"), "{help}");
    for bad in ["-1", "nan", "x"] {
        let (status, _, err) = run_with_timeout(Command::new(BIN).arg(format!("--burst-credits-scale={bad}")), TIMEOUT);
        assert!(!status.success(), "{bad} accepted");
        assert!(err.contains("must be a number between 0 and 1000"), "{bad}: {err}");
    }
}
