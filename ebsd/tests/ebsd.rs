//! End-to-end tests of the real ebsd binary, driven by the real clients: aws cli for the EC2 API, and
//! libnbd (nbdinfo, python3-libnbd), qemu-io / qemu-img, nbdfuse + losetup + mkfs.ext4 for NBD.
//! Every client call runs under a timeout (libnbd never times out by itself).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tests::{DaemonProcess, run_with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_ebsd");
const TIMEOUT: Duration = Duration::from_secs(120);
const GIB: u64 = 1 << 30;
/// Debian's python3-libnbd is installed for the system interpreter.
const PYTHON: &str = "/usr/bin/python3";

struct Ebs {
    daemon: DaemonProcess,
}

impl Ebs {
    fn start(extra: &[&str]) -> Self {
        let mut args = vec!["--nbd-listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self { daemon: DaemonProcess::start(BIN, &args, 3) }
    }

    /// Runs `aws ec2 …` against the daemon: parsed JSON on success, stderr on failure.
    fn aws_as(&self, key: &str, secret: &str, args: &[&str]) -> Result<Value, String> {
        let mut cmd = tests::aws_client("aws", key, secret);
        cmd.env("AWS_MAX_ATTEMPTS", "1");
        cmd.arg("ec2").args(args).arg("--endpoint-url").arg(self.daemon.endpoint()).arg("--output").arg("json");
        let (status, out, err) = run_with_timeout(&mut cmd, TIMEOUT);
        if !status.success() {
            return Err(err);
        }
        Ok(if out.trim().is_empty() { Value::Null } else { serde_json::from_str(&out).expect("aws prints JSON") })
    }

    fn aws(&self, args: &[&str]) -> Result<Value, String> {
        let (key, secret) = self.daemon.root_credentials();
        self.aws_as(&key, &secret, args)
    }

    fn ok(&self, args: &[&str]) -> Value {
        self.aws(args).unwrap_or_else(|e| panic!("aws ec2 {args:?} failed: {e}\n{}", self.daemon.log()))
    }

    fn err(&self, args: &[&str], code: &str) {
        match self.aws(args) {
            Ok(v) => panic!("aws ec2 {args:?} succeeded: {v}"),
            Err(e) => assert!(e.contains(&format!("({code})")), "expected {code} from {args:?}, got: {e}"),
        }
    }

    fn create(&self, extra: &[&str]) -> String {
        let mut args = vec!["create-volume", "--availability-zone", "us-east-1a"];
        args.extend_from_slice(extra);
        self.ok(&args)["VolumeId"].as_str().expect("VolumeId").to_string()
    }

    fn attach(&self, id: &str) {
        self.ok(&["attach-volume", "--volume-id", id, "--instance-id", "i-0123456789abcdef0", "--device", "/dev/sdf"]);
    }

    fn describe(&self, id: &str) -> Value {
        self.ok(&["describe-volumes", "--volume-ids", id])["Volumes"][0].clone()
    }

    fn uri(&self, id: &str) -> String {
        format!("nbd://{}/{id}", self.daemon.addr("nbd"))
    }
}

/// Runs a command under the timeout and returns stdout; panics with stderr on failure.
fn run(cmd: &mut Command) -> String {
    let (status, out, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(status.success(), "{cmd:?} failed: {err}\n{out}");
    out
}

fn python(script: &str, args: &[&str]) -> String {
    run(Command::new(PYTHON).arg("-c").arg(script).args(args))
}

#[test]
fn aws_cli_drives_the_volume_lifecycle() {
    let ebs = Ebs::start(&[]);
    let created = ebs.ok(&[
        "create-volume",
        "--availability-zone",
        "us-east-1a",
        "--size",
        "10",
        "--volume-type",
        "gp3",
        "--tag-specifications",
        "ResourceType=volume,Tags=[{Key=Name,Value=data},{Key=env,Value=prod}]",
    ]);
    assert_eq!(created["State"], "creating");
    assert_eq!(
        (created["Iops"].as_u64(), created["Throughput"].as_u64(), created["Size"].as_u64()),
        (Some(3000), Some(125), Some(10))
    );
    let id = created["VolumeId"].as_str().unwrap().to_string();
    assert!(id.starts_with("vol-") && id.len() == 21, "{id}");
    let v = ebs.describe(&id);
    assert_eq!(
        (v["State"].as_str(), v["VolumeType"].as_str(), v["Encrypted"].as_bool()),
        (Some("available"), Some("gp3"), Some(false))
    );

    // EC2's validation.
    ebs.err(&["create-volume", "--availability-zone", "us-east-1a", "--size", "20000"], "InvalidParameterValue");
    ebs.err(
        &["create-volume", "--availability-zone", "us-east-1a", "--size", "100", "--volume-type", "st1"],
        "InvalidParameterValue",
    );
    ebs.err(
        &[
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "10",
            "--volume-type",
            "io1",
            "--iops",
            "1000",
        ],
        "InvalidParameterValue",
    );
    ebs.err(
        &["create-volume", "--availability-zone", "us-east-1a", "--size", "10", "--volume-type", "io1"],
        "MissingParameter",
    );
    ebs.err(
        &["create-volume", "--availability-zone", "us-east-1a", "--size", "10", "--iops", "500"],
        "InvalidParameterCombination",
    );
    ebs.err(
        &[
            "create-volume",
            "--availability-zone",
            "us-east-1a",
            "--size",
            "10",
            "--volume-type",
            "gp3",
            "--throughput",
            "2000",
        ],
        "InvalidParameterValue",
    );
    ebs.err(&["create-volume", "--availability-zone", "eu-west-1a", "--size", "10"], "InvalidParameterValue");
    ebs.err(
        &["create-volume", "--availability-zone", "us-east-1a", "--snapshot-id", "snap-0123456789abcdef0"],
        "InvalidSnapshot.NotFound",
    );
    ebs.err(&["describe-volumes", "--volume-ids", "vol-0123456789abcdef0"], "InvalidVolume.NotFound");
    ebs.err(&["describe-volumes", "--volume-ids", "volume-1"], "InvalidVolumeID.Malformed");
    ebs.err(&["describe-volumes", "--filters", "Name=colour,Values=red"], "InvalidParameterValue");
    ebs.err(&["create-volume", "--availability-zone", "us-east-1a", "--size", "1", "--dry-run"], "DryRunOperation");
    assert_eq!(ebs.ok(&["describe-volumes"])["Volumes"].as_array().unwrap().len(), 1, "a dry run creates nothing");
    let io2 = ebs.create(&["--size", "100", "--volume-type", "io2", "--iops", "20000", "--multi-attach-enabled"]);
    assert_eq!(ebs.describe(&io2)["MultiAttachEnabled"], true);

    // Filters and pagination (the CLI follows NextToken by itself with --page-size).
    for _ in 0..6 {
        ebs.create(&["--size", "1"]);
    }
    let gp2 = ebs.ok(&["describe-volumes", "--filters", "Name=volume-type,Values=gp2"]);
    assert_eq!(gp2["Volumes"].as_array().unwrap().len(), 6);
    let all = ebs.ok(&["describe-volumes", "--page-size", "5"]);
    assert_eq!(all["Volumes"].as_array().unwrap().len(), 8);
    let first_page = ebs.ok(&["describe-volumes", "--max-items", "5"]);
    assert_eq!(first_page["Volumes"].as_array().unwrap().len(), 5);
    assert!(first_page["NextToken"].is_string());
    let prod = ebs.ok(&["describe-volumes", "--filters", "Name=tag:env,Values=pr*", "Name=status,Values=available"]);
    assert_eq!(prod["Volumes"][0]["VolumeId"], id.as_str());

    // Tags.
    ebs.ok(&["create-tags", "--resources", &id, "--tags", "Key=team,Value=storage"]);
    ebs.ok(&["delete-tags", "--resources", &id, "--tags", "Key=env"]);
    let tags = ebs.describe(&id)["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Key"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(tags, vec!["Name", "team"]);
    let listed = ebs.ok(&["describe-tags", "--filters", &format!("Name=resource-id,Values={id}")]);
    let pairs: Vec<(String, String, String)> = listed["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
                t["ResourceType"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![("Name".into(), "data".into(), "volume".into()), ("team".into(), "storage".into(), "volume".into())]
    );
    let team = ebs.ok(&["describe-tags", "--filters", "Name=key,Values=team", "Name=resource-type,Values=volume"]);
    assert_eq!(team["Tags"].as_array().unwrap().len(), 1);
    assert_eq!(team["Tags"][0]["ResourceId"], id.as_str());
    let paged = ebs.ok(&["describe-tags", "--page-size", "5"]);
    assert!(paged["Tags"].as_array().unwrap().len() >= 2);
    ebs.err(&["describe-tags", "--filters", "Name=colour,Values=red"], "InvalidParameterValue");
    ebs.err(
        &["create-tags", "--resources", "vol-0123456789abcdef0", "--tags", "Key=a,Value=b"],
        "InvalidVolume.NotFound",
    );

    // Attachments.
    ebs.attach(&id);
    let v = ebs.describe(&id);
    assert_eq!(v["State"], "in-use");
    assert_eq!(v["Attachments"][0]["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(v["Attachments"][0]["State"], "attached");
    ebs.err(
        &["attach-volume", "--volume-id", &id, "--instance-id", "i-0123456789abcdef1", "--device", "/dev/sdg"],
        "VolumeInUse",
    );
    ebs.err(
        &["attach-volume", "--volume-id", &id, "--instance-id", "nope", "--device", "/dev/sdg"],
        "InvalidInstanceID.Malformed",
    );
    ebs.err(&["delete-volume", "--volume-id", &id], "VolumeInUse");
    let in_use = ebs.ok(&["describe-volumes", "--filters", "Name=attachment.instance-id,Values=i-0123456789abcdef0"]);
    assert_eq!(in_use["Volumes"].as_array().unwrap().len(), 1);
    for instance in ["i-0123456789abcdef0", "i-0123456789abcdef1"] {
        ebs.ok(&["attach-volume", "--volume-id", &io2, "--instance-id", instance, "--device", "/dev/sdh"]);
    }
    assert_eq!(ebs.describe(&io2)["Attachments"].as_array().unwrap().len(), 2, "io2 Multi-Attach");

    // Elastic Volumes.
    let m = ebs.ok(&["modify-volume", "--volume-id", &id, "--size", "20", "--iops", "4000", "--throughput", "250"]);
    assert_eq!(m["VolumeModification"]["TargetSize"], 20);
    assert_eq!(m["VolumeModification"]["OriginalSize"], 10);
    ebs.err(&["modify-volume", "--volume-id", &id, "--size", "5"], "InvalidParameterValue");
    let mods = ebs.ok(&["describe-volumes-modifications", "--volume-ids", &id]);
    assert_eq!(mods["VolumesModifications"][0]["ModificationState"], "completed");
    assert_eq!(mods["VolumesModifications"][0]["TargetIops"], 4000);
    let v = ebs.describe(&id);
    assert_eq!((v["Size"].as_u64(), v["Iops"].as_u64(), v["Throughput"].as_u64()), (Some(20), Some(4000), Some(250)));

    // Detach and delete.
    let detached = ebs.ok(&["detach-volume", "--volume-id", &id]);
    assert_eq!(detached["State"], "detaching");
    ebs.err(&["detach-volume", "--volume-id", &id], "IncorrectState");
    ebs.ok(&["delete-volume", "--volume-id", &id]);
    ebs.err(&["describe-volumes", "--volume-ids", &id], "InvalidVolume.NotFound");

    // Authentication.
    let (key, _) = ebs.daemon.root_credentials();
    let bad = ebs.aws_as(&key, "wrong-secret-wrong-secret-wrong-secret00", &["describe-volumes"]).unwrap_err();
    assert!(bad.contains("SignatureDoesNotMatch") || bad.contains("AuthFailure"), "{bad}");
    let unknown = ebs.aws_as("AKIAIOSFODNN7EXAMPLE", "x", &["describe-volumes"]).unwrap_err();
    assert!(unknown.contains("AuthFailure"), "{unknown}");

    // SIGTERM: a clean exit, and everything is still there after a restart.
    let mut ebs = ebs;
    assert!(ebs.daemon.stop().success(), "ebsd exits 0 on SIGTERM");
    ebs.daemon.restart();
    assert_eq!(ebs.describe(&io2)["Attachments"].as_array().unwrap().len(), 2);
}

#[test]
fn libnbd_checks_list_info_map_trim_zero_flush_fua_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nbd.sock");
    let ebs = Ebs::start(&["--nbd-socket", socket.to_str().unwrap()]);
    let id = ebs.create(&["--size", "1"]);
    // Not attached: no export.
    let (status, _, _) = run_with_timeout(Command::new("nbdinfo").arg(ebs.uri(&id)), TIMEOUT);
    assert!(!status.success(), "an unattached volume must not open");
    ebs.attach(&id);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nbd_checks.py");
    assert_eq!(run(Command::new(PYTHON).arg(script).arg(ebs.uri(&id))).trim(), "ok");

    let listed =
        run(Command::new("nbdinfo").args(["--list", "--json"]).arg(format!("nbd://{}", ebs.daemon.addr("nbd"))));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["exports"].as_array().unwrap().len(), 1);
    assert_eq!(listed["exports"][0]["export-name"], id.as_str());
    assert_eq!(listed["exports"][0]["export-size"], GIB);

    // The same checks over the Unix socket, on a second volume.
    let other = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&other);
    let unix_uri = format!("nbd+unix:///{other}?socket={}", socket.display());
    assert_eq!(run(Command::new(PYTHON).arg(script).arg(&unix_uri)).trim(), "ok");
    let map = run(Command::new("nbdinfo").arg("--map").arg(&unix_uri));
    assert!(map.contains("hole,zero") && map.contains("data"), "{map}");

    // Metrics per volume, CloudWatch-named.
    let (_, metrics) = tests::http_get(ebs.daemon.addr("metrics"), "/metrics");
    assert!(metrics.contains(&format!("VolumeWriteOps{{volume_id=\"{id}\"}}")), "{metrics}");
    assert!(metrics.contains(&format!("BurstBalance{{volume_id=\"{id}\"}}")), "gp2 reports BurstBalance");
    // The checks' lone small requests take the inline path (served by the connection's reader).
    assert!(metrics.lines().any(|l| l.starts_with("ebsd_nbd_inline_total ") && !l.ends_with(" 0")), "{metrics}");
}

#[test]
fn qemu_io_patterns_and_qemu_img_convert_round_trip() {
    let ebs = Ebs::start(&[]);
    let id = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&id);
    let uri = ebs.uri(&id);
    // Patterns at many offsets, unaligned ones included, then read back in a separate session.
    let offsets: Vec<u64> = (0..40u64).map(|i| i * 25_165_837 % (GIB - 65_536)).collect();
    let mut write = Command::new("qemu-io");
    write.args(["-f", "raw"]);
    for (i, off) in offsets.iter().enumerate() {
        write.arg("-c").arg(format!("write -P {} {off} 4k", i + 1));
    }
    write.arg("-c").arg("flush").arg(&uri);
    let out = run(&mut write);
    assert!(!out.contains("error"), "{out}");
    let mut read = Command::new("qemu-io");
    read.args(["-f", "raw"]);
    for (i, off) in offsets.iter().enumerate() {
        read.arg("-c").arg(format!("read -P {} {off} 4k", i + 1));
    }
    read.arg(&uri);
    let out = run(&mut read);
    assert!(!out.contains("Pattern verification failed") && !out.contains("error"), "{out}");

    // qemu-img convert in and out, and compare.
    let image_volume = ebs.create(&["--size", "1"]);
    ebs.attach(&image_volume);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.img");
    make_image(&src);
    let target = ebs.uri(&image_volume);
    run(Command::new("qemu-img").args(["convert", "-n", "-f", "raw", "-O", "raw"]).arg(&src).arg(&target));
    run(Command::new("qemu-img").args(["compare", "-f", "raw", "-F", "raw"]).arg(&src).arg(&target));
    let back = dir.path().join("back.img");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "raw"]).arg(&target).arg(&back));
    run(Command::new("qemu-img").args(["compare", "-f", "raw", "-F", "raw"]).arg(&src).arg(&back));
    let map = run(Command::new("qemu-img").args(["map", "--output=json", "-f", "raw"]).arg(&target));
    assert!(map.contains("\"data\": true") && map.contains("\"data\": false"), "thin volume: {map}");

    // nbdcopy opens several connections when the server allows multi-conn; the copy must still match.
    let copied = ebs.create(&["--size", "1"]);
    ebs.attach(&copied);
    run(Command::new("nbdcopy").args(["--connections=4", "--requests=16"]).arg(&src).arg(ebs.uri(&copied)));
    run(Command::new("qemu-img").args(["compare", "-f", "raw", "-F", "raw"]).arg(&src).arg(ebs.uri(&copied)));

    // fio's nbd engine: random writes with checksums from two jobs (two connections), verified on read.
    let fio_volume = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&fio_volume);
    let out = run(Command::new("fio")
        .args(["--name=verify", "--ioengine=nbd", "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=32m"])
        .args([
            "--numjobs=2",
            "--offset_increment=64m",
            "--verify=crc32c",
            "--do_verify=1",
            "--verify_state_save=0",
            "--output-format=terse",
        ])
        .arg(format!("--uri={}", ebs.uri(&fio_volume))));
    assert!(!out.contains("verify: bad"), "{out}");
}

/// A 64 MiB raw image with data, runs of zeros and a hole.
fn make_image(path: &Path) {
    let mut data = vec![0u8; 64 << 20];
    let mut x: u32 = 12345;
    for (i, chunk) in data.chunks_mut(1 << 20).enumerate() {
        if i % 3 == 1 {
            continue;
        }
        for b in chunk.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (x >> 16) as u8;
        }
    }
    std::fs::write(path, &data).unwrap();
}

const WRITE_AND_FLUSH: &str = r#"
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pwrite(b"durable!" * 512, int(sys.argv[2]))
h.flush()
h.shutdown()
"#;

const READ: &str = r#"
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
print(h.get_size())
print(h.pread(4096, int(sys.argv[2])) == b"durable!" * 512)
h.shutdown()
"#;

const HELD_OPEN: &str = r#"
import sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
print(h.get_size(), flush=True)
open(sys.argv[2], "w").close()
time.sleep(3)
print(h.pread(4096, 0) == bytes(4096))
h.shutdown()
"#;

/// Waits (up to 30 s) for a client script to say it is connected.
fn wait_for_file(path: &Path) {
    for _ in 0..600 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the client did not connect");
}

const DETACHED: &str = r#"
import os, sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
open(sys.argv[2], "w").close()
# Read only once the test says DetachVolume returned (a fixed sleep raced a slow aws cli under load).
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[3]) and time.monotonic() < deadline:
    time.sleep(0.05)
try:
    h.pread(4096, 0)
    print("open")
except nbd.Error:
    print("closed")
"#;

#[test]
fn flushed_data_survives_kill9_growth_shows_on_reconnect_and_detach_ends_connections() {
    let mut ebs = Ebs::start(&[]);
    let id = ebs.create(&["--size", "4", "--volume-type", "io1", "--iops", "200"]);
    ebs.attach(&id);
    let offset = (GIB + 12_288).to_string();
    python(WRITE_AND_FLUSH, &[&ebs.uri(&id), &offset]);
    ebs.daemon.kill9();
    ebs.daemon.restart();
    let v = ebs.describe(&id);
    assert_eq!(v["State"], "in-use", "attachments survive a restart");
    let out = python(READ, &[&ebs.uri(&id), &offset]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec![(4 * GIB).to_string().as_str(), "True"]);

    // Grow while attached: an open connection keeps its size, a new one sees the new size.
    let mut held_open = Command::new(PYTHON);
    let opened = ebs.daemon.data_dir().join("opened");
    held_open.arg("-c").arg(HELD_OPEN).arg(ebs.uri(&id)).arg(&opened);
    let child = std::thread::spawn(move || run_with_timeout(&mut held_open, TIMEOUT));
    wait_for_file(&opened);
    ebs.ok(&["modify-volume", "--volume-id", &id, "--size", "8"]);
    let out = run(Command::new("nbdinfo").arg("--size").arg(ebs.uri(&id)));
    assert_eq!(out.trim(), (8 * GIB).to_string());
    let (status, out, err) = child.join().unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec![(4 * GIB).to_string().as_str(), "True"]);
    let out = python(READ, &[&ebs.uri(&id), &offset]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        vec![(8 * GIB).to_string().as_str(), "True"],
        "data kept after growing"
    );

    // Detaching pulls the disk: open connections end, and new ones are refused.
    let mut held_open = Command::new(PYTHON);
    let connected = ebs.daemon.data_dir().join("connected");
    let detached = ebs.daemon.data_dir().join("detached");
    held_open.arg("-c").arg(DETACHED).arg(ebs.uri(&id)).arg(&connected).arg(&detached);
    let child = std::thread::spawn(move || run_with_timeout(&mut held_open, TIMEOUT));
    wait_for_file(&connected);
    ebs.ok(&["detach-volume", "--volume-id", &id]);
    std::fs::write(&detached, b"").unwrap();
    let (status, out, err) = child.join().unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(out.trim(), "closed");
    let (status, _, _) = run_with_timeout(Command::new("nbdinfo").arg(ebs.uri(&id)), TIMEOUT);
    assert!(!status.success(), "a detached volume cannot be opened");
}

/// Tears down nbdfuse, the loop device and the mount even when the test fails halfway.
struct MountGuard {
    fuse_dir: std::path::PathBuf,
    mount_dir: std::path::PathBuf,
    loop_dev: Option<String>,
    nbdfuse: Option<std::process::Child>,
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = run_with_timeout(Command::new("umount").arg(&self.mount_dir), TIMEOUT);
        if let Some(dev) = self.loop_dev.take() {
            let _ = run_with_timeout(Command::new("losetup").arg("-d").arg(dev), TIMEOUT);
        }
        let _ = run_with_timeout(Command::new("fusermount3").arg("-u").arg(&self.fuse_dir), TIMEOUT);
        if let Some(mut child) = self.nbdfuse.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn ext4_through_nbdfuse_and_losetup_mounts_and_remounts() {
    let usable = Path::new("/dev/fuse").exists()
        && Path::new("/dev/loop-control").exists()
        && run_with_timeout(Command::new("losetup").arg("-f"), TIMEOUT).0.success();
    if !usable {
        eprintln!("skipping: this machine has no FUSE or loop devices");
        return;
    }
    let ebs = Ebs::start(&[]);
    let id = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&id);
    let dir = tempfile::tempdir().unwrap();
    let mut guard = MountGuard {
        fuse_dir: dir.path().join("fuse"),
        mount_dir: dir.path().join("mnt"),
        loop_dev: None,
        nbdfuse: None,
    };
    std::fs::create_dir_all(&guard.fuse_dir).unwrap();
    std::fs::create_dir_all(&guard.mount_dir).unwrap();
    let disk = guard.fuse_dir.join("disk");
    guard.nbdfuse = Some(Command::new("nbdfuse").arg(&disk).arg(ebs.uri(&id)).spawn().expect("nbdfuse"));
    for _ in 0..100 {
        if disk.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let dev = run(Command::new("losetup").args(["-f", "--show"]).arg(&disk)).trim().to_string();
    guard.loop_dev = Some(dev.clone());
    run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&dev));
    run(Command::new("mount").arg(&dev).arg(&guard.mount_dir));
    let payload: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(guard.mount_dir.join("hello.txt"), &payload).unwrap();
    std::fs::create_dir(guard.mount_dir.join("sub")).unwrap();
    std::fs::write(guard.mount_dir.join("sub/small"), b"ebs").unwrap();
    run(Command::new("umount").arg(&guard.mount_dir));
    run(Command::new("mount").arg(&dev).arg(&guard.mount_dir));
    assert_eq!(std::fs::read_to_string(guard.mount_dir.join("hello.txt")).unwrap(), payload);
    assert_eq!(std::fs::read(guard.mount_dir.join("sub/small")).unwrap(), b"ebs");
    drop(guard);
    let map = run(Command::new("nbdinfo").arg("--map").arg(ebs.uri(&id)));
    assert!(map.contains("hole,zero"), "ext4 leaves most of a thin volume unallocated: {map}");
}

/// A hand-rolled old-style client: NBD_OPT_EXPORT_NAME and simple replies (what libnbd never does),
/// unknown options and commands, and a write past the end: each gets an error, never a dropped link.
#[test]
fn export_name_and_simple_replies_over_a_raw_socket_without_io_uring() {
    use std::io::{Read, Write};
    // Also the fallback path: positioned I/O on the blocking pool instead of io_uring.
    let ebs = Ebs::start(&["--no-io-uring"]);
    let checked = ebs.create(&["--size", "1"]);
    ebs.attach(&checked);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nbd_checks.py");
    assert_eq!(run(Command::new(PYTHON).arg(script).arg(ebs.uri(&checked))).trim(), "ok");
    assert!(ebs.daemon.log().contains("disabled by --no-io-uring"));
    let id = ebs.create(&["--size", "1"]);
    ebs.attach(&id);
    let mut s = std::net::TcpStream::connect(ebs.daemon.addr("nbd")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(&hello[..8], b"NBDMAGIC");
    assert_eq!(&hello[8..16], b"IHAVEOPT");
    assert_eq!(u16::from_be_bytes([hello[16], hello[17]]) & 1, 1, "fixed newstyle");
    s.write_all(&1u32.to_be_bytes()).unwrap(); // FIXED_NEWSTYLE, zeroes wanted
    let option = |s: &mut std::net::TcpStream, opt: u32, data: &[u8]| {
        let mut m = b"IHAVEOPT".to_vec();
        m.extend_from_slice(&opt.to_be_bytes());
        m.extend_from_slice(&(data.len() as u32).to_be_bytes());
        m.extend_from_slice(data);
        s.write_all(&m).unwrap();
    };
    option(&mut s, 99, b"");
    let mut reply = [0u8; 20];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(u32::from_be_bytes(reply[12..16].try_into().unwrap()), (1 << 31) + 1, "NBD_REP_ERR_UNSUP");
    let len = u32::from_be_bytes(reply[16..20].try_into().unwrap()) as usize;
    s.read_exact(&mut vec![0u8; len]).unwrap();
    option(&mut s, 1, id.as_bytes());
    let mut export = [0u8; 8 + 2 + 124];
    s.read_exact(&mut export).unwrap();
    assert_eq!(u64::from_be_bytes(export[..8].try_into().unwrap()), GIB);
    let flags = u16::from_be_bytes([export[8], export[9]]);
    assert_eq!(flags & (1 << 8), 1 << 8, "NBD_FLAG_CAN_MULTI_CONN");

    let request = |s: &mut std::net::TcpStream, kind: u16, cookie: u64, offset: u64, len: u32, payload: &[u8]| {
        let mut m = 0x2560_9513u32.to_be_bytes().to_vec();
        m.extend_from_slice(&0u16.to_be_bytes());
        m.extend_from_slice(&kind.to_be_bytes());
        m.extend_from_slice(&cookie.to_be_bytes());
        m.extend_from_slice(&offset.to_be_bytes());
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(payload);
        s.write_all(&m).unwrap();
    };
    let simple_reply = |s: &mut std::net::TcpStream| {
        let mut r = [0u8; 16];
        s.read_exact(&mut r).unwrap();
        assert_eq!(u32::from_be_bytes(r[..4].try_into().unwrap()), 0x6744_6698);
        (u32::from_be_bytes(r[4..8].try_into().unwrap()), u64::from_be_bytes(r[8..16].try_into().unwrap()))
    };
    request(&mut s, 1, 7, 4096, 5, b"hello");
    assert_eq!(simple_reply(&mut s), (0, 7));
    request(&mut s, 1, 8, GIB - 2, 5, b"world");
    assert_eq!(simple_reply(&mut s), (28, 8), "ENOSPC past the end, payload consumed");
    request(&mut s, 42, 9, 0, 0, b"");
    assert_eq!(simple_reply(&mut s), (22, 9), "EINVAL for an unknown command");
    request(&mut s, 7, 10, 0, 4096, b"");
    assert_eq!(simple_reply(&mut s), (22, 10), "EINVAL: block status without a meta context");
    request(&mut s, 0, 11, 4096, 5, b"");
    assert_eq!(simple_reply(&mut s), (0, 11));
    let mut data = [0u8; 5];
    s.read_exact(&mut data).unwrap();
    assert_eq!(&data, b"hello");
    request(&mut s, 2, 12, 0, 0, b""); // NBD_CMD_DISC
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closes after DISC");
}

// ---------------------------------------------------------------------------------------------
// Snapshots (#6)
// ---------------------------------------------------------------------------------------------

const MIB: u64 = 1 << 20;

fn helper(name: &str) -> String {
    format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs one of the libnbd helper scripts.
fn nbd_script(name: &str, args: &[&str]) -> String {
    run(Command::new(PYTHON).arg(helper(name)).args(args))
}

impl Ebs {
    fn snapshot(&self, volume: &str, extra: &[&str]) -> String {
        let mut args = vec!["create-snapshot", "--volume-id", volume];
        args.extend_from_slice(extra);
        let s = self.ok(&args);
        assert_eq!(s["State"], "pending", "{s}");
        s["SnapshotId"].as_str().unwrap().to_string()
    }

    fn describe_snapshot(&self, id: &str) -> Value {
        self.ok(&["describe-snapshots", "--snapshot-ids", id])["Snapshots"][0].clone()
    }

    /// Polls DescribeSnapshots until the snapshot completes (the aws cli waiter polls every 15 s).
    fn wait_completed(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let s = self.describe_snapshot(id);
            match s["State"].as_str() {
                Some("completed") => return s,
                Some("pending") if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                _ => panic!("snapshot {id} did not complete: {s}\n{}", self.daemon.log()),
            }
        }
    }

    /// Creates a volume from a snapshot and attaches it; returns its id.
    fn restore(&self, snapshot: &str, extra: &[&str]) -> String {
        let id = self.create(&[&["--snapshot-id", snapshot], extra].concat());
        self.attach(&id);
        id
    }

    fn store_bytes(&self) -> u64 {
        dir_bytes(&self.daemon.data_dir().join("ebsd").join("snapshots").join("blocks"))
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() { dir_bytes(&e.path()) } else { m.len() }
        })
        .sum()
}

fn compare(a: &str, b: &str) {
    run(Command::new("qemu-img").args(["compare", "-f", "raw", "-F", "raw"]).arg(a).arg(b));
}

/// A snapshot taken while a writer hammers the volume is the volume at the snapshot point; a volume
/// restored from it (bigger, another type) reads before hydration ends, and reads zeros where the
/// snapshot had none; the snapshot is in use until hydration finishes.
#[test]
fn snapshot_under_writes_is_point_in_time_and_restores_lazily() {
    let ebs = Ebs::start(&["--hydrate-mib-per-sec", "8"]);
    let source = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&source);
    let uri = ebs.uri(&source);
    // 96 MiB of data, then a hole, so the snapshot has data, zeros and holes.
    nbd_script("fill.py", &[&uri, "0", &(96 * MIB).to_string()]);

    let control = tempfile::tempdir().unwrap();
    let ctl = |name: &str| control.path().join(name);
    let mut writer = Command::new(PYTHON);
    writer.arg(helper("hammer.py")).arg(&uri).arg(control.path()).arg((128 * MIB).to_string());
    let writer = std::thread::spawn(move || run_with_timeout(&mut writer, TIMEOUT));
    wait_for_file(&ctl("started"));
    std::thread::sleep(Duration::from_millis(500));
    // Quiesce, copy the source (the reference), snapshot, and let the writer go on at once: the
    // writes that follow land while the copier runs, and must not show in the snapshot.
    std::fs::write(ctl("pause"), b"").unwrap();
    wait_for_file(&ctl("paused"));
    let reference = control.path().join("reference.raw");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "raw"]).arg(&uri).arg(&reference));
    let snap = ebs.snapshot(
        &source,
        &[
            "--description",
            "under load",
            "--tag-specifications",
            "ResourceType=snapshot,Tags=[{Key=purpose,Value=test}]",
        ],
    );
    std::fs::remove_file(ctl("pause")).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let done = ebs.wait_completed(&snap);
    std::fs::write(ctl("stop"), b"").unwrap();
    let (status, out, err) = writer.join().unwrap();
    assert!(status.success(), "writer failed: {err}");
    assert!(out.trim().parse::<u64>().unwrap() > 0, "the writer wrote: {out}");
    assert_eq!((done["Progress"].as_str(), done["VolumeSize"].as_u64()), (Some("100%"), Some(1)));
    assert_eq!(done["Description"], "under load");
    assert_eq!(done["Tags"][0]["Key"], "purpose");
    assert_eq!(done["VolumeId"], source.as_str());
    let (_, metrics) = tests::http_get(ebs.daemon.addr("metrics"), "/metrics");
    eprintln!(
        "copy-on-write blocks: {:?}",
        metrics.lines().find(|l| l.starts_with("ebsd_snapshot_copy_on_write_blocks"))
    );

    // Describe: by id, by filters, owner self, pagination; errors as EC2.
    let mine = ebs.ok(&["describe-snapshots", "--owner-ids", "self", "--filters", "Name=tag:purpose,Values=test"]);
    assert_eq!(mine["Snapshots"].as_array().unwrap().len(), 1);
    let snap_tags =
        ebs.ok(&["describe-tags", "--filters", "Name=resource-type,Values=snapshot", "Name=key,Values=purpose"]);
    assert_eq!(snap_tags["Tags"][0]["ResourceId"], snap.as_str());
    assert_eq!(snap_tags["Tags"][0]["Value"], "test");
    let none = ebs.ok(&["describe-snapshots", "--owner-ids", "amazon"]);
    assert!(none["Snapshots"].as_array().unwrap().is_empty());
    ebs.err(&["describe-snapshots", "--snapshot-ids", "snap-0123456789abcdef0"], "InvalidSnapshot.NotFound");
    ebs.err(&["describe-snapshots", "--snapshot-ids", "snapshot-1"], "InvalidSnapshotID.Malformed");
    ebs.err(&["create-snapshot", "--volume-id", "vol-0123456789abcdef0"], "InvalidVolume.NotFound");
    ebs.err(&["create-snapshot", "--volume-id", &source, "--dry-run"], "DryRunOperation");
    ebs.err(
        &["create-volume", "--availability-zone", "us-east-1a", "--snapshot-id", &snap, "--size", "0"],
        "InvalidParameterValue",
    );
    let copy = ebs.ok(&["copy-snapshot", "--source-snapshot-id", &snap, "--source-region", "us-east-1"]);
    let copy = copy["SnapshotId"].as_str().unwrap().to_string();
    assert_eq!(ebs.wait_completed(&copy)["VolumeSize"], 1);
    let paged = ebs.ok(&["describe-snapshots", "--owner-ids", "self", "--page-size", "5"]);
    assert_eq!(paged["Snapshots"].as_array().unwrap().len(), 2);

    // Restore into a bigger volume of another type: usable at once, hydrating lazily.
    let restored = ebs.restore(&snap, &["--size", "4", "--volume-type", "io1", "--iops", "200"]);
    let v = ebs.describe(&restored);
    assert_eq!((v["SnapshotId"].as_str(), v["Size"].as_u64()), (Some(snap.as_str()), Some(4)));
    let first_read = nbd_script("read_block.py", &[&ebs.uri(&restored), &(MIB).to_string(), "65536"]);
    assert!(first_read.contains("False"), "data, not zeros: {first_read}");
    ebs.err(&["delete-snapshot", "--snapshot-id", &snap], "InvalidSnapshot.InUse");
    let beyond = nbd_script("read_block.py", &[&ebs.uri(&restored), &(GIB + 5 * MIB).to_string(), "65536"]);
    assert!(beyond.trim().ends_with("True"), "past the snapshot's size: zeros ({beyond})");
    let hole = nbd_script("read_block.py", &[&ebs.uri(&restored), &(900 * MIB).to_string(), "65536"]);
    assert!(hole.trim().ends_with("True"), "blocks the snapshot does not hold read as zeros ({hole})");
    // qemu-img compare: the first GiB equals the reference, the rest must read as zeros.
    compare(reference.to_str().unwrap(), &ebs.uri(&restored));

    // Once hydrated, the snapshot can go; the copy still restores.
    let deadline = std::time::Instant::now() + TIMEOUT;
    while ebs.aws(&["delete-snapshot", "--snapshot-id", &snap]).is_err() {
        assert!(std::time::Instant::now() < deadline, "hydration did not finish");
        std::thread::sleep(Duration::from_millis(500));
    }
    ebs.err(&["describe-snapshots", "--snapshot-ids", &snap], "InvalidSnapshot.NotFound");
    let from_copy = ebs.restore(&copy, &[]);
    compare(reference.to_str().unwrap(), &ebs.uri(&from_copy));
}

/// Incremental: after 10 MiB change, the second snapshot of a 1 GiB volume stores about 10 MiB; the
/// first can be deleted and the second still restores in full, also after a kill -9 mid-hydration.
/// The direct APIs see the changed blocks.
#[test]
fn incremental_snapshots_share_blocks_and_survive_deletion_and_kill9() {
    let mut ebs = Ebs::start(&["--hydrate-mib-per-sec", "64"]);
    let source = ebs.create(&["--size", "1", "--volume-type", "gp3"]);
    ebs.attach(&source);
    let uri = ebs.uri(&source);
    nbd_script("fill.py", &[&uri, "0", &GIB.to_string(), "1"]);
    let before = ebs.store_bytes();
    let first = ebs.snapshot(&source, &[]);
    ebs.wait_completed(&first);
    let full = ebs.store_bytes() - before;
    assert!(full >= GIB - MIB, "the first snapshot holds the whole volume: {full}");

    // Change 10 MiB (block-aligned, 20 blocks of 512 KiB, from block 200).
    let changed_at = 100 * MIB;
    nbd_script("fill.py", &[&uri, &changed_at.to_string(), &(10 * MIB).to_string(), "2"]);
    let before = ebs.store_bytes();
    let second = ebs.snapshot(&source, &[]);
    ebs.wait_completed(&second);
    let added = ebs.store_bytes() - before;
    assert!((10 * MIB..=11 * MIB).contains(&added), "the second snapshot stores ~10 MiB, not {added} bytes");

    // The direct APIs list exactly the changed blocks (boto3 `ebs` client).
    let (key, secret) = ebs.daemon.root_credentials();
    let expected: Vec<String> = (200..220).map(|i: u64| i.to_string()).collect();
    let out = run(Command::new("python3").arg(helper("direct_api.py")).args([
        &ebs.daemon.endpoint(),
        &key,
        &secret,
        &first,
        &second,
        &expected.join(","),
    ]));
    assert_eq!(out.trim(), "ok");

    // A reference copy of the source at the second snapshot (the source is not written again).
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.raw");
    run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "raw"]).arg(&uri).arg(&reference));
    ebs.ok(&["delete-snapshot", "--snapshot-id", &first]);
    assert!(ebs.store_bytes() >= GIB - MIB, "blocks the second snapshot needs stay");

    // Restore, read a little, kill -9 mid-hydration; after the restart it resumes and matches.
    let restored = ebs.restore(&second, &[]);
    let early = nbd_script("read_block.py", &[&ebs.uri(&restored), &changed_at.to_string(), "4096"]);
    assert!(early.contains("False"), "{early}");
    ebs.err(&["delete-snapshot", "--snapshot-id", &second], "InvalidSnapshot.InUse");
    // FUA writes (no FLUSH) to blocks not hydrated yet are as durable as flushed ones: after the crash
    // the hydrator must not fetch them again from the snapshot over the acknowledged data.
    let fua_volume = ebs.restore(&second, &[]);
    let late = (900 * MIB).to_string();
    nbd_script("fill.py", &[&ebs.uri(&fua_volume), &late, &MIB.to_string(), "3", "fua"]);
    let written = nbd_script("read_block.py", &[&ebs.uri(&fua_volume), &late, &MIB.to_string()]);
    ebs.daemon.kill9();
    ebs.daemon.restart();
    assert!(ebs.daemon.log().contains("resuming hydration"), "{}", ebs.daemon.log());
    let after = nbd_script("read_block.py", &[&ebs.uri(&fua_volume), &late, &MIB.to_string()]);
    assert_eq!(after, written, "FUA-written blocks survive kill -9 during hydration");
    compare(reference.to_str().unwrap(), &ebs.uri(&restored));

    // A clean restart keeps dirty maps: an unchanged volume's next snapshot stores nothing new.
    let mut ebs = ebs;
    assert!(ebs.daemon.stop().success());
    ebs.daemon.restart();
    let before = ebs.store_bytes();
    let third = ebs.snapshot(&source, &[]);
    ebs.wait_completed(&third);
    assert_eq!(ebs.store_bytes(), before, "nothing changed since the second snapshot");
}

/// The S3 snapshot store against our own s3d: the store conformance suite, then snapshots, deletion
/// and a restore with everything kept in s3d.
#[test]
fn snapshots_in_s3d() {
    let s3d_bin = Path::new(BIN).with_file_name("s3d");
    if !s3d_bin.exists() {
        eprintln!(
            "skipping: {} is not built (CI builds the whole workspace first; run `cargo build --release -p s3d`)",
            s3d_bin.display()
        );
        return;
    }
    let s3d = DaemonProcess::start(&s3d_bin, &[], 2);
    let (key, secret) = s3d.root_credentials();
    let endpoint = s3d.endpoint();

    // The same conformance suite as the directory store.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store = runtime.block_on(async {
        let client = common::s3client::S3Client::new(&endpoint, &key, &secret, "us-east-1").unwrap();
        ebsd::store::s3::S3SnapshotStore::open(client, "conformance", "p/").await.unwrap()
    });
    let store = std::sync::Arc::new(store);
    runtime.block_on(runtime.spawn_blocking(move || ebsd::store::snapshots::conformance(store.as_ref()))).unwrap();

    let ebs = Ebs::start(&[
        "--snapshot-s3-endpoint",
        &endpoint,
        "--snapshot-s3-bucket",
        "ebs-snapshots",
        "--snapshot-s3-access-key",
        &key,
        "--snapshot-s3-secret-key",
        &secret,
    ]);
    assert!(ebs.daemon.log().contains("store=s3"), "{}", ebs.daemon.log());
    let source = ebs.create(&["--size", "1"]);
    ebs.attach(&source);
    let uri = ebs.uri(&source);
    nbd_script("fill.py", &[&uri, &(3 * MIB).to_string(), &(20 * MIB).to_string(), "7"]);
    let first = ebs.snapshot(&source, &[]);
    ebs.wait_completed(&first);
    nbd_script("fill.py", &[&uri, &(40 * MIB).to_string(), &(2 * MIB).to_string(), "8"]);
    let second = ebs.snapshot(&source, &[]);
    ebs.wait_completed(&second);
    assert_eq!(ebs.store_bytes(), 0, "nothing in the local directory store");
    ebs.ok(&["delete-snapshot", "--snapshot-id", &first]);
    let restored = ebs.restore(&second, &[]);
    compare(&uri, &ebs.uri(&restored));
    // The blocks are objects in s3d.
    let listed = run(tests::aws_client("aws", &key, &secret)
        .args([
            "s3api",
            "list-objects-v2",
            "--bucket",
            "ebs-snapshots",
            "--prefix",
            "blocks/",
            "--query",
            "length(Contents)",
        ])
        .args(["--endpoint-url", &endpoint]));
    let objects: u64 = listed.trim().parse().unwrap_or_else(|_| panic!("KeyCount: {listed}"));
    assert!(objects >= 44, "22 MiB of blocks in s3d, found {objects} objects");
}
