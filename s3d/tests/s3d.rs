//! s3d end to end: the real daemon binary driven by the real clients named in issue #3 (boto3, the aws
//! cli, rclone, curl), plus kill -9 durability. Python helpers live next to this file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{DaemonProcess, run_with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_s3d");

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

fn start() -> DaemonProcess {
    DaemonProcess::start(BIN, &[], 2)
}

/// A client command with the daemon's root credentials and nothing from the user's own AWS setup.
fn client(program: &str, d: &DaemonProcess) -> Command {
    d.aws_command(program)
}

fn ok(cmd: &mut Command, timeout: Duration) -> String {
    let (status, out, err) = run_with_timeout(cmd, timeout);
    assert!(status.success(), "{cmd:?} failed ({status}):\nstdout:\n{out}\nstderr:\n{err}");
    out
}

fn aws(d: &DaemonProcess, args: &[&str]) -> String {
    let mut cmd = client("aws", d);
    cmd.arg("--endpoint-url").arg(d.endpoint()).args(args);
    ok(&mut cmd, Duration::from_secs(300))
}

fn write_file(path: &Path, len: usize, seed: u8) {
    let mut f = std::fs::File::create(path).unwrap();
    let block: Vec<u8> = (0..1024 * 1024).map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len());
        f.write_all(&block[..n]).unwrap();
        left -= n;
    }
}

#[test]
fn boto3_suite_covers_every_operation_and_error() {
    let mut d = start();
    let bob = common::credentials::CredentialStore::add_user(d.data_dir(), "bob").unwrap();
    d.stop();
    d.restart();
    let mut cmd = client("python3", &d);
    cmd.arg(script("boto3_suite.py"))
        .arg(d.endpoint())
        .env("BOB_ACCESS_KEY", &bob.access_key)
        .env("BOB_SECRET_KEY", bob.secret_key.expose());
    let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(600));
    assert!(status.success(), "boto3 suite failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 60));
    assert!(out.contains("checks ok"), "{out}");
    assert!(out.contains("versioning: ok"), "{out}");
    println!("{out}");
    assert!(d.stop().success(), "s3d exits 0 on SIGTERM");
}

/// ACLs and S3 Object Ownership through boto3 (second user bob for READ grants), then the aws cli's
/// put-object-acl / get-object-acl / bucket ownership controls.
#[test]
fn acls_and_object_ownership_through_boto3_and_the_aws_cli() {
    let mut d = start();
    let bob = common::credentials::CredentialStore::add_user(d.data_dir(), "bob").unwrap();
    d.stop();
    d.restart();
    let mut cmd = client("python3", &d);
    cmd.arg(script("acl_suite.py"))
        .arg(d.endpoint())
        .env("BOB_ACCESS_KEY", &bob.access_key)
        .env("BOB_SECRET_KEY", bob.secret_key.expose());
    let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(600));
    assert!(status.success(), "acl suite failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 60));
    assert!(out.contains("acl suite: ok"), "{out}");
    println!("{out}");

    aws(&d, &["s3api", "create-bucket", "--bucket", "cli-acl", "--object-ownership", "ObjectWriter"]);
    let controls = aws(&d, &["s3api", "get-bucket-ownership-controls", "--bucket", "cli-acl"]);
    assert!(controls.contains("\"ObjectWriter\""), "{controls}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"cli acl").unwrap();
    aws(&d, &["s3api", "put-object", "--bucket", "cli-acl", "--key", "f", "--body", file.to_str().unwrap()]);
    let before = aws(&d, &["s3api", "get-object-acl", "--bucket", "cli-acl", "--key", "f"]);
    assert!(before.contains("FULL_CONTROL") && !before.contains("AllUsers"), "{before}");
    aws(&d, &["s3api", "put-object-acl", "--bucket", "cli-acl", "--key", "f", "--acl", "public-read"]);
    let after = aws(&d, &["s3api", "get-object-acl", "--bucket", "cli-acl", "--key", "f"]);
    assert!(after.contains("http://acs.amazonaws.com/groups/global/AllUsers") && after.contains("\"READ\""), "{after}");
    // The ListBuckets owner is the ACL owner.
    let owner_id = aws(&d, &["s3api", "list-buckets", "--query", "Owner.ID", "--output", "text"]);
    assert!(after.contains(owner_id.trim()), "{after} / {owner_id}");
    aws(&d, &["s3api", "delete-bucket-ownership-controls", "--bucket", "cli-acl"]);
    let mut missing = client("aws", &d);
    missing.arg("--endpoint-url").arg(d.endpoint()).args([
        "s3api",
        "get-bucket-ownership-controls",
        "--bucket",
        "cli-acl",
    ]);
    let (status, _, err) = run_with_timeout(&mut missing, Duration::from_secs(120));
    assert!(!status.success() && err.contains("OwnershipControlsNotFoundError"), "{err}");
}

#[test]
fn boto3_over_https_sends_chunked_bodies_with_checksum_trailers() {
    let d = DaemonProcess::start(BIN, &["--tls-self-signed"], 2);
    let mut cmd = client("python3", &d);
    cmd.arg(script("tls_roundtrip.py")).arg(format!("https://{}", d.addr("api")));
    let out = ok(&mut cmd, Duration::from_secs(300));
    assert!(out.contains("tls ok"), "{out}");
}

#[test]
fn aws_cli_copies_syncs_lists_removes_and_goes_multipart() {
    let d = start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    write_file(&src.join("big.bin"), 20 * 1024 * 1024 + 5, 1); // > 8 MiB: the cli uploads in parts
    write_file(&src.join("small.txt"), 1000, 2);
    write_file(&src.join("sub/nested.bin"), 300 * 1024, 3);

    aws(&d, &["s3", "mb", "s3://cli"]);
    assert!(aws(&d, &["s3", "ls"]).contains("cli"));
    aws(&d, &["s3", "cp", src.join("big.bin").to_str().unwrap(), "s3://cli/big.bin"]);
    let head = aws(&d, &["s3api", "head-object", "--bucket", "cli", "--key", "big.bin"]);
    assert!(head.contains("-3\\\""), "a 20 MiB upload is a 3-part multipart object: {head}");
    let back = dir.path().join("back.bin");
    aws(&d, &["s3", "cp", "s3://cli/big.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(src.join("big.bin")).unwrap());

    aws(&d, &["s3", "sync", src.to_str().unwrap(), "s3://cli/tree"]);
    let listing = aws(&d, &["s3", "ls", "--recursive", "s3://cli/tree/"]);
    for name in ["tree/big.bin", "tree/small.txt", "tree/sub/nested.bin"] {
        assert!(listing.contains(name), "{name} missing from:\n{listing}");
    }
    let again = aws(&d, &["s3", "sync", src.to_str().unwrap(), "s3://cli/tree"]);
    assert!(again.trim().is_empty(), "a second sync uploads nothing: {again}");
    let down = dir.path().join("down");
    aws(&d, &["s3", "sync", "s3://cli/tree", down.to_str().unwrap()]);
    assert_eq!(std::fs::read(down.join("sub/nested.bin")).unwrap(), std::fs::read(src.join("sub/nested.bin")).unwrap());

    let v2 = aws(&d, &["s3api", "list-objects-v2", "--bucket", "cli", "--prefix", "tree/", "--delimiter", "/"]);
    assert!(v2.contains("tree/sub/"), "{v2}");
    aws(
        &d,
        &[
            "s3api",
            "put-object-tagging",
            "--bucket",
            "cli",
            "--key",
            "big.bin",
            "--tagging",
            "TagSet=[{Key=k,Value=v}]",
        ],
    );
    assert!(
        aws(&d, &["s3api", "get-object-tagging", "--bucket", "cli", "--key", "big.bin"]).contains("\"Value\": \"v\"")
    );
    aws(&d, &["s3api", "put-bucket-tagging", "--bucket", "cli", "--tagging", "TagSet=[{Key=env,Value=test}]"]);
    assert!(aws(&d, &["s3api", "get-bucket-tagging", "--bucket", "cli"]).contains("\"Value\": \"test\""));
    aws(&d, &["s3api", "delete-bucket-tagging", "--bucket", "cli"]);
    let cors = r#"{"CORSRules":[{"AllowedOrigins":["https://app.test"],"AllowedMethods":["GET","PUT"]}]}"#;
    aws(&d, &["s3api", "put-bucket-cors", "--bucket", "cli", "--cors-configuration", cors]);
    assert!(aws(&d, &["s3api", "get-bucket-cors", "--bucket", "cli"]).contains("https://app.test"));
    aws(&d, &["s3api", "delete-bucket-cors", "--bucket", "cli"]);
    aws(&d, &["s3api", "copy-object", "--bucket", "cli", "--key", "copy.txt", "--copy-source", "cli/tree/small.txt"]);

    let url = aws(&d, &["s3", "presign", "s3://cli/tree/small.txt", "--expires-in", "300"]);
    let mut curl = Command::new("curl");
    curl.args(["-sf", "--max-time", "30", "-o"]).arg(dir.path().join("presigned.txt")).arg(url.trim());
    ok(&mut curl, Duration::from_secs(60));
    assert_eq!(std::fs::read(dir.path().join("presigned.txt")).unwrap(), std::fs::read(src.join("small.txt")).unwrap());

    aws(&d, &["s3", "rm", "--recursive", "s3://cli/"]);
    assert!(aws(&d, &["s3", "ls", "--recursive", "s3://cli/"]).trim().is_empty());
    aws(&d, &["s3", "rb", "s3://cli"]);

    // Versioning through the cli: two uploads are two versions; `s3 rm` leaves a delete marker.
    aws(&d, &["s3", "mb", "s3://cliv"]);
    let cfg = ["s3api", "put-bucket-versioning", "--bucket", "cliv", "--versioning-configuration", "Status=Enabled"];
    aws(&d, &cfg);
    assert!(aws(&d, &["s3api", "get-bucket-versioning", "--bucket", "cliv"]).contains("\"Enabled\""));
    for _ in 0..2 {
        aws(&d, &["s3", "cp", src.join("small.txt").to_str().unwrap(), "s3://cliv/f"]);
    }
    aws(&d, &["s3", "rm", "s3://cliv/f"]);
    assert!(aws(&d, &["s3", "ls", "s3://cliv/"]).trim().is_empty(), "a deleted key is not listed");
    let counts = aws(
        &d,
        &["s3api", "list-object-versions", "--bucket", "cliv", "--query", "[length(Versions), length(DeleteMarkers)]"],
    );
    let counts: Vec<String> = counts.split_whitespace().map(|s| s.trim_matches([',', '[', ']']).to_string()).collect();
    assert_eq!(counts.iter().filter(|s| !s.is_empty()).cloned().collect::<Vec<_>>(), vec!["2", "1"]);
}

#[test]
fn rclone_copy_check_sync_and_delete_with_a_200_mib_file() {
    let d = start();
    let (ak, sk) = d.root_credentials();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("docs/deeper")).unwrap();
    write_file(&src.join("huge.bin"), 200 * 1024 * 1024, 9);
    for i in 0..20 {
        write_file(&src.join(format!("docs/file-{i}.txt")), 100 + i * 997, i as u8);
    }
    write_file(&src.join("docs/deeper/a b+c.dat"), 70_000, 7);
    let rclone = |args: &[&str]| {
        let mut cmd = Command::new("rclone");
        cmd.env("RCLONE_CONFIG_S3_TYPE", "s3")
            .env("RCLONE_CONFIG_S3_PROVIDER", "Other")
            .env("RCLONE_CONFIG_S3_ENDPOINT", d.endpoint())
            .env("RCLONE_CONFIG_S3_ACCESS_KEY_ID", &ak)
            .env("RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", &sk)
            .env("RCLONE_CONFIG_S3_REGION", "us-east-1")
            .env("RCLONE_CONFIG", "/nonexistent")
            .env_remove("AWS_CA_BUNDLE")
            // Parts of 16 MiB above 100 MiB: the 200 MiB file goes multipart.
            .args([
                "--s3-upload-cutoff",
                "100M",
                "--s3-chunk-size",
                "16M",
                "--low-level-retries",
                "1",
                "--retries",
                "1",
            ])
            .args(args);
        ok(&mut cmd, Duration::from_secs(600))
    };
    let s = src.to_str().unwrap();
    rclone(&["mkdir", "s3:rclone-test"]);
    rclone(&["copy", s, "s3:rclone-test/tree"]);
    rclone(&["check", s, "s3:rclone-test/tree"]);
    let json = rclone(&["lsjson", "-R", "s3:rclone-test/tree"]);
    assert!(json.contains("\"Path\":\"huge.bin\"") && json.contains("\"Size\":209715200"), "{json}");
    assert!(json.contains("a b+c.dat"), "{json}");

    std::fs::remove_file(src.join("docs/file-3.txt")).unwrap();
    write_file(&src.join("docs/file-4.txt"), 5000, 42);
    rclone(&["sync", s, "s3:rclone-test/tree"]);
    rclone(&["check", s, "s3:rclone-test/tree"]);
    let back = dir.path().join("back");
    rclone(&["copy", "s3:rclone-test/tree", back.to_str().unwrap()]);
    rclone(&["check", s, back.to_str().unwrap()]);
    rclone(&["delete", "s3:rclone-test/tree/docs"]);
    let left = rclone(&["lsjson", "-R", "s3:rclone-test/tree"]);
    assert!(!left.contains("file-"), "{left}");
}

/// Issue #3: bodies are streamed, never buffered; a 5 GiB PUT and GET leave s3d's memory flat.
#[test]
fn a_5_gib_object_streams_through_in_flat_memory() {
    let d = start();
    let mut cmd = client("python3", &d);
    cmd.arg(script("big_object.py")).arg(d.endpoint()).arg(d.pid().to_string());
    let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(900));
    assert!(status.success(), "big object failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 30));
    assert!(out.contains("big object: ok"), "{out}");
    println!("{out}");
}

#[test]
fn acknowledged_puts_survive_kill_9_and_restart_leaves_no_garbage() {
    let mut d = start();
    let mut writer = client("python3", &d)
        .arg(script("crash_writer.py"))
        .arg(d.endpoint())
        .arg("crash")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines {
        let line = line.unwrap();
        if line.starts_with("DEL ") {
            acked.push(line);
        } else if line.starts_with("ACK ") {
            acked.push(line);
            if acked.iter().filter(|l| l.starts_with("ACK ")).count() == 200 {
                d.kill9(); // mid-stream: the writer is in the middle of its next PUT
                break;
            }
        }
        assert!(Instant::now() < deadline, "writer too slow: {} acks", acked.len());
    }
    let _ = writer.kill();
    let _ = writer.wait();
    assert_eq!(acked.iter().filter(|l| l.starts_with("ACK ")).count(), 200);
    d.restart();
    let tmp = d.data_dir().join("s3d/blobs/tmp");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "start-up removed temporary files");
    let mut verify = client("python3", &d);
    verify
        .arg(script("verify_objects.py"))
        .arg(d.endpoint())
        .arg("crash")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = verify.spawn().unwrap();
    child.stdin.take().unwrap().write_all(acked.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Every remaining blob file belongs to a listed version (100 KiB bodies are blobs, 1 KiB are inline):
    // overwritten versions keep theirs, permanently deleted ones do not.
    let mut blobs = 0;
    for shard in std::fs::read_dir(d.data_dir().join("s3d/blobs")).unwrap() {
        let shard = shard.unwrap().path();
        if shard.file_name().unwrap() != "tmp" {
            blobs += std::fs::read_dir(shard).unwrap().count();
        }
    }
    let listed = aws(
        &d,
        &["s3api", "list-object-versions", "--bucket", "crash", "--query", "length(Versions[?Size > `16384`])"],
    );
    assert_eq!(blobs.to_string(), listed.trim(), "no orphan blob survives a restart");
}

/// Issue #4's tiers and lifecycle through boto3 with a 0.15 s day: storage classes, the cold tier and
/// restores, lifecycle configurations (valid and refused), then the course's two scenarios, killed
/// with SIGKILL mid-way and finished after a restart.
#[test]
fn lifecycle_scenarios_restores_and_a_restart_mid_way() {
    const DAY: &str = "0.15";
    let flags = [
        "--lifecycle-day-seconds",
        DAY,
        "--restore-expedited-seconds",
        "0.2",
        "--restore-standard-seconds",
        "0.5",
        "--restore-bulk-seconds",
        "1",
    ];
    let mut d = DaemonProcess::start(BIN, &flags, 2);
    let state = tempfile::NamedTempFile::new().unwrap();
    let run = |d: &DaemonProcess, phase: &str| {
        let mut cmd = client("python3", d);
        cmd.arg(script("lifecycle_suite.py")).arg(d.endpoint()).arg(DAY).arg(phase).env("STATE_FILE", state.path());
        let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(400));
        assert!(status.success(), "{phase} failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 40));
        assert!(out.contains("checks ok"), "{out}");
        println!("{out}");
    };
    run(&d, "basics");
    run(&d, "setup");
    std::thread::sleep(Duration::from_millis(1500));
    d.kill9();
    d.restart();
    run(&d, "verify");
    // The aws cli sees the same.
    let lc = aws(&d, &["s3api", "get-bucket-lifecycle-configuration", "--bucket", "photos"]);
    assert!(lc.contains("\"ID\": \"thumbnails\"") && lc.contains("ONEZONE_IA"), "{lc}");
    let head = aws(&d, &["s3api", "head-object", "--bucket", "photos", "--key", "images/0.png"]);
    assert!(head.contains("\"StorageClass\": \"GLACIER\""), "{head}");
    let restore = "Days=1000,GlacierJobParameters={Tier=Bulk}";
    aws(&d, &["s3api", "restore-object", "--bucket", "photos", "--key", "images/2.png", "--restore-request", restore]);
    let head = aws(&d, &["s3api", "head-object", "--bucket", "photos", "--key", "images/2.png"]);
    assert!(head.contains("\"Restore\": \"ongoing-request="), "{head}");
    let bad = r#"{"Rules":[{"ID":"r","Filter":{},"Status":"Enabled","Transitions":[{"Days":7,"StorageClass":"ONEZONE_IA"}]}]}"#;
    let mut cmd = client("aws", &d);
    cmd.arg("--endpoint-url").arg(d.endpoint()).args([
        "s3api",
        "put-bucket-lifecycle-configuration",
        "--bucket",
        "photos",
        "--lifecycle-configuration",
        bad,
    ]);
    let (status, _, err) = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(!status.success() && err.contains("InvalidArgument"), "{err}");
    let packs = d.data_dir().join("s3d/cold/packs");
    let pack_bytes: u64 = std::fs::read_dir(&packs).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(pack_bytes > 0, "archived bodies live in the cold tier's packs");
    let (status, metrics) = tests::http_get(d.addr("metrics"), "/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("s3d_bucket_objects{bucket=\"photos\",storage_class=\"GLACIER\"} 4"), "{metrics}");
    // The encrypted multipart image is archived like the others: nothing is left unarchivable.
    assert!(metrics.contains("s3d_objects_unarchivable_total 0"), "{metrics}");
    assert_eq!(d.log().matches("object cannot be archived").count(), 0);
    assert!(d.stop().success(), "s3d exits 0 on SIGTERM");
}

/// Encrypted (SSE-S3, SSE-KMS, SSE-C) multipart objects archived as written and by lifecycle
/// transitions, restored, and read back whole, by ranges across part boundaries and by part.
#[test]
fn encrypted_multipart_objects_archive_and_restore() {
    const DAY: &str = "0.2";
    let flags = [
        "--allow-sse-c-over-http",
        "--lifecycle-day-seconds",
        DAY,
        "--restore-expedited-seconds",
        "0.2",
        "--restore-standard-seconds",
        "0.3",
    ];
    let mut d = DaemonProcess::start(BIN, &flags, 2);
    let metrics = format!("http://{}/metrics", d.addr("metrics"));
    let mut cmd = client("python3", &d);
    cmd.arg(script("sse_archive_suite.py")).arg(d.endpoint()).arg(&metrics).arg(d.data_dir()).arg(DAY);
    let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(400));
    assert!(status.success(), "suite failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 40));
    assert!(out.contains("checks ok"), "{out}");
    println!("{out}");
    assert_eq!(d.log().matches("object cannot be archived").count(), 0);
    assert!(d.stop().success(), "s3d exits 0 on SIGTERM");
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// The files under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(dir, &mut files);
    files
        .into_iter()
        .filter(|f| std::fs::read(f).map(|bytes| bytes.windows(needle.len()).any(|w| w == needle)).unwrap_or(false))
        .collect()
}

#[test]
fn sse_encrypts_at_rest_with_kms_sse_c_and_defaults_and_survives_restart_and_rotation() {
    let mut d = DaemonProcess::start(BIN, &["--allow-sse-c-over-http"], 2);
    let dir = tempfile::tempdir().unwrap();

    // The local KMS through the aws cli's own `kms` commands.
    let key =
        aws(&d, &["kms", "create-key", "--description", "cli key", "--query", "KeyMetadata.KeyId", "--output", "text"]);
    let key = key.trim().to_string();
    aws(&d, &["kms", "create-alias", "--alias-name", "alias/cli", "--target-key-id", &key]);
    assert!(aws(&d, &["kms", "list-keys"]).contains(&key));
    assert!(aws(&d, &["kms", "list-aliases"]).contains("alias/cli"));
    assert!(aws(&d, &["kms", "describe-key", "--key-id", "alias/cli"]).contains("\"KeyState\": \"Enabled\""));
    let generated = aws(
        &d,
        &[
            "kms",
            "generate-data-key",
            "--key-id",
            "alias/cli",
            "--key-spec",
            "AES_256",
            "--query",
            "[Plaintext, CiphertextBlob]",
            "--output",
            "text",
        ],
    );
    let (plain, blob) = generated.trim().split_once('\t').expect("two columns");
    use base64::Engine as _;
    let blob_file = dir.path().join("blob");
    std::fs::write(&blob_file, base64::engine::general_purpose::STANDARD.decode(blob).unwrap()).unwrap();
    let blob_arg = format!("fileb://{}", blob_file.display());
    let decrypted =
        aws(&d, &["kms", "decrypt", "--ciphertext-blob", &blob_arg, "--query", "Plaintext", "--output", "text"]);
    assert_eq!(decrypted.trim(), plain, "KMS decrypt returns the data key");

    // aws s3 cp with SSE-KMS (a multipart upload) and SSE-C; a disabled key stops reads.
    let src = dir.path().join("big.bin");
    write_file(&src, 20 * 1024 * 1024 + 3, 5);
    aws(&d, &["s3", "mb", "s3://cli-sse"]);
    aws(
        &d,
        &[
            "s3",
            "cp",
            src.to_str().unwrap(),
            "s3://cli-sse/kms.bin",
            "--sse",
            "aws:kms",
            "--sse-kms-key-id",
            "alias/cli",
        ],
    );
    let head = aws(&d, &["s3api", "head-object", "--bucket", "cli-sse", "--key", "kms.bin"]);
    assert!(head.contains("\"ServerSideEncryption\": \"aws:kms\"") && head.contains(&key), "{head}");
    let back = dir.path().join("back.bin");
    aws(&d, &["s3", "cp", "s3://cli-sse/kms.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap());
    aws(&d, &["kms", "disable-key", "--key-id", &key]);
    assert!(aws(&d, &["kms", "describe-key", "--key-id", &key]).contains("\"Enabled\": false"));
    let mut denied = client("aws", &d);
    denied.arg("--endpoint-url").arg(d.endpoint()).args(["s3", "cp", "s3://cli-sse/kms.bin", back.to_str().unwrap()]);
    let (status, out, err) = run_with_timeout(&mut denied, Duration::from_secs(120));
    assert!(!status.success() && (err.contains("KMS.DisabledException") || err.contains("400")), "{out}\n{err}");
    aws(&d, &["kms", "enable-key", "--key-id", &key]);
    aws(&d, &["s3", "cp", "s3://cli-sse/kms.bin", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap(), "re-enabled key reads again");
    let ssec = ["--sse-c", "AES256", "--sse-c-key", "0123456789abcdef0123456789abcdef"];
    let mut put = vec!["s3", "cp", src.to_str().unwrap(), "s3://cli-sse/c.bin"];
    put.extend(ssec);
    aws(&d, &put);
    let mut get = vec!["s3", "cp", "s3://cli-sse/c.bin", back.to_str().unwrap()];
    get.extend(ssec);
    std::fs::remove_file(&back).unwrap();
    aws(&d, &get);
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(&src).unwrap(), "SSE-C multipart through the cli");

    // boto3: every SSE mode, errors, multipart, copies, defaults.
    let suite = |d: &DaemonProcess, phase: &str| {
        let mut cmd = client("python3", d);
        cmd.arg(script("sse_suite.py")).arg(d.endpoint()).arg(phase);
        let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(600));
        assert!(status.success(), "sse suite {phase} failed:\n{out}\n{err}\ndaemon log tail:\n{}", tail(&d.log(), 40));
        assert!(out.contains("checks ok"), "{out}");
        println!("{out}");
    };
    suite(&d, "write");

    // At rest: no plaintext anywhere under the data dir (blobs, RocksDB WAL/SSTs, inline bodies), while
    // the unencrypted control object's marker is found (the scan does see object bytes).
    let data = d.data_dir().to_path_buf();
    assert!(!files_containing(&data, b"PLAIN-CONTROL-MARKER").is_empty(), "the scan finds unencrypted bodies");
    let leaks = files_containing(&data, b"ZEBRA-QUARTZ-CANARY");
    assert!(leaks.is_empty(), "plaintext found at rest in {leaks:?}");
    let keyring = data.join("s3d/sse/master.keys");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&keyring).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(data.join("s3d/sse/kms.json")).unwrap().permissions().mode() & 0o777, 0o600);

    // Restart after rotating the master key (a new last line in the keyring): old objects stay readable.
    assert!(d.stop().success());
    let mut ring = std::fs::OpenOptions::new().append(true).open(&keyring).unwrap();
    writeln!(ring, "mk-rotated {}", base64::engine::general_purpose::STANDARD.encode([0x5au8; 32])).unwrap();
    drop(ring);
    d.restart();
    suite(&d, "verify");
    assert!(files_containing(&data, b"ZEBRA-QUARTZ-CANARY").is_empty(), "still no plaintext at rest");
}
