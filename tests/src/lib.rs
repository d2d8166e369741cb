//! Test harness: start a real daemon binary on 127.0.0.1 with kernel-chosen free ports, wait until it
//! announces its listeners, then stop it with SIGTERM (or SIGKILL) and restart it on the same data.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a daemon may take to announce every listener.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A daemon process under test. Killed (SIGKILL) on drop if still running.
pub struct DaemonProcess {
    bin: PathBuf,
    /// Arguments before `--data-dir` (a launcher's subcommand).
    prefix: Vec<String>,
    args: Vec<String>,
    root: tempfile::TempDir,
    child: Option<Child>,
    listeners: HashMap<String, SocketAddr>,
    expected: usize,
}

impl DaemonProcess {
    /// Starts `bin` with `--data-dir` in a fresh temp dir, `--listen` and `--metrics-listen` on port 0,
    /// plus `extra` args, and waits for `listeners` announcements (`<name> listening on <addr> [(label)]`).
    pub fn start(bin: impl AsRef<Path>, extra: &[&str], listeners: usize) -> Self {
        Self::start_sub(bin, &[], extra, listeners)
    }

    /// Like [`DaemonProcess::start`], with `prefix` arguments first (`stratus s3d …`).
    pub fn start_sub(bin: impl AsRef<Path>, prefix: &[&str], extra: &[&str], listeners: usize) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let mut args: Vec<String> =
            vec!["--listen".into(), "127.0.0.1:0".into(), "--metrics-listen".into(), "127.0.0.1:0".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let prefix = prefix.iter().map(|s| s.to_string()).collect();
        let mut me = Self {
            bin: bin.as_ref().into(),
            prefix,
            args,
            root,
            child: None,
            listeners: HashMap::new(),
            expected: listeners,
        };
        me.spawn();
        me
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let mut child = Command::new(&self.bin)
            .args(&self.prefix)
            .arg("--data-dir")
            .arg(self.root.path())
            .args(&self.args)
            .env_remove("STRATUS_ACCESS_KEY")
            .env_remove("STRATUS_SECRET_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.listeners.clear();
        let deadline = Instant::now() + START_TIMEOUT;
        while self.listeners.len() < self.expected {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((label, addr)) = parse_announcement(&line) {
                        self.listeners.insert(label, addr);
                    }
                }
                Err(_) => panic!("{} did not announce its listeners; log:\n{}", self.bin.display(), self.log()),
            }
        }
        self.child = Some(child);
    }

    /// The address of a listener: `"api"` for the main one, else its label (`"metrics"`, `"nbd"`, …).
    pub fn addr(&self, label: &str) -> SocketAddr {
        *self.listeners.get(label).unwrap_or_else(|| panic!("no listener {label:?}: {:?}", self.listeners))
    }

    /// `http://127.0.0.1:PORT` of the main listener.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr("api"))
    }

    /// The suite root data directory given to the daemon.
    pub fn data_dir(&self) -> &Path {
        self.root.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("daemon.log")
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Root credentials from the store the daemon created.
    pub fn root_credentials(&self) -> (String, String) {
        let text = std::fs::read_to_string(self.root.path().join("users.toml")).expect("users.toml");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(name).and_then(|r| r.trim().strip_prefix('=')))
                .map(|v| v.trim().trim_matches('"').to_string())
                .expect("field in users.toml")
        };
        (field("access_key"), field("secret_key"))
    }

    /// [`aws_client`] signing with this daemon's root credentials.
    pub fn aws_command(&self, program: &str) -> Command {
        let (key, secret) = self.root_credentials();
        aws_client(program, &key, &secret)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM, then waits (up to 30 s) and returns the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on our own unreaped child.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon did not exit within 30 s of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the daemon again on the same data directory (new ports).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the daemon first");
        self.spawn();
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `s3d listening on 127.0.0.1:9000` → ("api", addr); `… (metrics)` → ("metrics", addr).
pub fn parse_announcement(line: &str) -> Option<(String, SocketAddr)> {
    let (_, rest) = line.split_once(" listening on ")?;
    let mut words = rest.split_whitespace();
    let addr = words.next()?.parse().ok()?;
    let label =
        words.next().map(|l| l.trim_matches(|c| c == '(' || c == ')').to_string()).unwrap_or_else(|| "api".into());
    Some((label, addr))
}

/// Runs a command with a deadline; returns (status, stdout, stderr). Panics on timeout, so that a client
/// that hangs fails the test instead of hanging it.
/// `program` (the aws cli, rclone, python with boto3) set to sign with `key`/`secret` in us-east-1 and
/// to read nothing from the user's own AWS set-up (profiles, config, CA bundle, instance metadata).
pub fn aws_client(program: &str, key: &str, secret: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_CA_BUNDLE");
    cmd
}

pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (ExitStatus, String, String) {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn client");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command {cmd:?} timed out after {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, out_t.join().unwrap(), err_t.join().unwrap())
}

/// A minimal blocking HTTP/1.1 GET (for /metrics), so tests need no HTTP client crate.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read response");
    let status = buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[cfg(test)]
mod unit {
    #[test]
    fn announcements_parse() {
        let (l, a) = super::parse_announcement("s3d listening on 127.0.0.1:9000").unwrap();
        assert_eq!((l.as_str(), a.port()), ("api", 9000));
        let (l, _) = super::parse_announcement("ebsd listening on 127.0.0.1:1 (nbd)").unwrap();
        assert_eq!(l, "nbd");
        assert!(super::parse_announcement("hello").is_none());
    }
}
