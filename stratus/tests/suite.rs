//! The launcher and the conventions every daemon shares: listeners announced, `/metrics` served, one
//! clear line for a taken port, exit 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tests::{DaemonProcess, http_get};

const BIN: &str = env!("CARGO_BIN_EXE_stratus");

/// (subcommand, listeners it announces, a listener to poke besides the API)
const DAEMONS: [(&str, usize, &[&str]); 4] = [
    ("s3d", 2, &[]),
    ("ebsd", 3, &["--nbd-listen", "127.0.0.1:0"]),
    ("dynamod", 2, &[]),
    ("cache", 3, &["--memcached-listen", "127.0.0.1:0"]),
];

#[test]
fn every_daemon_listens_serves_metrics_and_exits_zero_on_sigterm() {
    for (name, listeners, extra) in DAEMONS {
        let mut d = DaemonProcess::start_sub(BIN, &[name], extra, listeners);
        // One request to the API, so that the access log and request counter have something to show.
        let _ = std::net::TcpStream::connect(d.addr("api")).map(|mut s| {
            use std::io::Write;
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let _ = std::io::Read::read(&mut s, &mut [0u8; 512]);
        });
        let (status, body) = http_get(d.addr("metrics"), "/metrics");
        assert_eq!(status, 200, "{name} /metrics");
        if name != "cache" {
            assert!(body.contains("http_requests_total"), "{name} metrics: {body}");
        }
        let exit = d.stop();
        assert!(exit.success(), "{name} exited with {exit}; log:\n{}", d.log());
        assert!(d.log().contains("shutting down"), "{name} log:\n{}", d.log());
        let users = std::fs::metadata(d.data_dir().join("users.toml")).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&users.permissions()) & 0o777, 0o600);
        assert!(d.data_dir().join(name).is_dir(), "{name} keeps its state in <data-dir>/{name}");
    }
}

#[test]
fn port_in_use_is_one_clear_line_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["dynamod", "--data-dir"])
        .arg(dir.path())
        .args(["--metrics-listen", "127.0.0.1:0", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("dynamod: port {port} is already in use (change it with --listen)");
    assert!(stderr.lines().any(|l| l == expected), "stderr: {stderr}");
}

#[test]
fn stratus_up_starts_all_four_prints_credentials_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stratus.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\nnbd_listen = \"127.0.0.1:0\"\nmemcached_listen = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !banner.iter().any(|l: &String| l.contains("Press Ctrl-C")) {
        let left = deadline.saturating_duration_since(Instant::now());
        banner.push(rx.recv_timeout(left).expect("stratus up did not finish starting"));
    }
    let text = banner.join("\n");
    for name in ["s3d", "ebsd", "dynamod", "cache"] {
        assert!(text.contains(&format!("{name} listening on 127.0.0.1:")), "{text}");
    }
    assert!(text.contains("(nbd)") && text.contains("(memcached)"), "{text}");
    let users = std::fs::read_to_string(dir.path().join("data/users.toml")).unwrap();
    let key_line = banner.iter().find(|l| l.contains("AWS_ACCESS_KEY_ID=")).expect("access key printed");
    let key = key_line.split('=').nth(1).unwrap();
    assert!(users.contains(key), "printed key is the stored root key");
    assert!(banner.iter().any(|l| l.contains("AWS_SECRET_ACCESS_KEY=")));

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "stratus up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "stratus up exited with {status}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l == "stratus stopped"), "{rest:?}");
}

#[test]
fn self_signed_tls_serves_the_api() {
    let mut d = DaemonProcess::start_sub(BIN, &["dynamod"], &["--tls-self-signed"], 2);
    let cert = d.data_dir().join("dynamod/tls/cert.pem");
    assert!(cert.exists(), "the generated certificate is written for clients to trust");
    let script = format!(
        "import ssl, urllib.request, urllib.error\n\
         ctx = ssl.create_default_context(cafile='{}')\n\
         try:\n    urllib.request.urlopen('https://127.0.0.1:{}/', data=b'{{}}', context=ctx, timeout=10)\n\
         except urllib.error.HTTPError as e:\n    print(e.code, e.read().decode())\n",
        cert.display(),
        d.addr("api").port()
    );
    let (status, out, err) =
        tests::run_with_timeout(Command::new("python3").args(["-c", &script]), Duration::from_secs(30));
    assert!(status.success(), "{err}");
    assert!(out.starts_with("400 ") && out.contains("__type"), "a DynamoDB-shaped error over TLS: {out}");
    assert!(d.stop().success());
}

/// common's S3 client (ebsd's snapshot store and dynamod's exports use it) against our own s3d.
#[test]
fn s3_client_round_trips_against_s3d() {
    use bytes::Bytes;
    use common::s3client::S3Client;

    let d = DaemonProcess::start_sub(BIN, &["s3d"], &[], 2);
    let (access, secret) = d.root_credentials();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = S3Client::new(&d.endpoint(), &access, &secret, "us-east-1").unwrap();
        client.create_bucket("client-test").await.unwrap();
        client.create_bucket("client-test").await.unwrap(); // already ours: still fine
        let keys = ["a/one", "a/two words+plus", "a/ünï", "b/other"];
        for (i, key) in keys.iter().enumerate() {
            let etag = client.put_object("client-test", key, Bytes::from(vec![i as u8; 1000 + i])).await.unwrap();
            assert_eq!(etag.len(), 32, "{etag}");
        }
        let body = client.get_object("client-test", "a/two words+plus", None, 1 << 20).await.unwrap().unwrap();
        assert_eq!(body, Bytes::from(vec![1u8; 1001]));
        let part = client.get_object("client-test", "a/ünï", Some((10, 19)), 1 << 20).await.unwrap().unwrap();
        assert_eq!(part, Bytes::from(vec![2u8; 10]));
        let too_big = client.get_object("client-test", "a/one", None, 100).await;
        assert!(matches!(too_big, Err(common::s3client::S3ClientError::BodyTooLarge(100))), "{too_big:?}");
        assert_eq!(client.head_object("client-test", "b/other").await.unwrap().unwrap().size, 1003);
        assert_eq!(client.head_object("client-test", "missing").await.unwrap(), None);
        assert_eq!(client.get_object("client-test", "missing", None, 10).await.unwrap(), None);

        let mut listed = Vec::new();
        let mut token = None;
        loop {
            let page = client.list_objects_v2("client-test", "a/", token.as_deref(), 2).await.unwrap();
            listed.extend(page.objects.into_iter().map(|o| o.key));
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(listed, ["a/one", "a/two words+plus", "a/ünï"]);

        client.delete_object("client-test", "a/one").await.unwrap();
        client.delete_object("client-test", "a/one").await.unwrap(); // absent: still succeeds
        assert_eq!(client.head_object("client-test", "a/one").await.unwrap(), None);
        let err = client.put_object("no-such-bucket", "k", Bytes::new()).await.unwrap_err();
        assert_eq!(err.code(), Some("NoSuchBucket"), "{err}");
        let wrong = S3Client::new(&d.endpoint(), &access, "wrong-secret", "us-east-1").unwrap();
        let err = wrong.head_object("client-test", "b/other").await.unwrap_err();
        assert!(matches!(err, common::s3client::S3ClientError::Service { status, .. } if status == 403), "{err}");
    });
}
