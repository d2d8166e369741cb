//! Integration tests: the real `cache` binary driven by real clients (redis-py, pymemcache,
//! redis-cli), including kill -9 crash tests for the AOF and snapshots.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tests::{DaemonProcess, run_with_timeout};

const BIN: &str = env!("CARGO_BIN_EXE_cache");

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(name)
}

fn start(extra: &[&str]) -> DaemonProcess {
    let mut args = vec!["--memcached-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    DaemonProcess::start(BIN, &args, 3)
}

fn python(d: &DaemonProcess, name: &str, port: u16, args: &[&str], timeout: Duration) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(script(name)).arg(port.to_string()).args(args);
    let (status, out, err) = run_with_timeout(&mut cmd, timeout);
    assert!(status.success(), "{name} {args:?} failed\nstdout:\n{out}\nstderr:\n{err}\ndaemon log:\n{}", d.log());
    out
}

fn redis_port(d: &DaemonProcess) -> u16 {
    d.addr("api").port()
}

#[test]
fn redis_py_covers_every_command_family() {
    let d = start(&[]);
    let out = python(&d, "redis_commands.py", redis_port(&d), &[], Duration::from_secs(180));
    assert!(out.contains("ALL OK"), "{out}");
}

#[test]
fn redis_py_lua_scripting() {
    let d = start(&[]);
    let out = python(&d, "scripting.py", redis_port(&d), &[], Duration::from_secs(180));
    assert!(out.contains("ALL OK"), "{out}");
}

#[test]
fn eviction_policies_keep_the_right_keys() {
    let d = start(&[]);
    let out = python(&d, "eviction.py", redis_port(&d), &[], Duration::from_secs(300));
    assert!(out.contains("ALL OK"), "{out}");
}

#[test]
fn pymemcache_operations_and_meta_commands() {
    let d = start(&[]);
    let out = python(&d, "memcached_client.py", d.addr("memcached").port(), &[], Duration::from_secs(60));
    assert!(out.contains("ALL OK"), "{out}");
}

#[test]
fn redis_cli_works() {
    let d = start(&[]);
    let port = redis_port(&d).to_string();
    let cli = |args: &[&str]| {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &port]).args(args);
        let (status, out, err) = run_with_timeout(&mut cmd, Duration::from_secs(20));
        assert!(status.success(), "redis-cli {args:?}: {err}");
        out
    };
    assert_eq!(cli(&["ping"]).trim(), "PONG");
    assert_eq!(cli(&["set", "greeting", "hello world"]).trim(), "OK");
    assert_eq!(cli(&["get", "greeting"]).trim(), "hello world");
    assert_eq!(cli(&["--no-raw", "incr", "visits"]).trim(), "(integer) 1");
    assert!(cli(&["get"]).contains("ERR wrong number of arguments for 'get' command"));
    // Interactive use: commands on stdin, one per line.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("printf 'RPUSH q a b\\nLRANGE q 0 -1\\nDBSIZE\\n' | redis-cli -p {port}"));
    let (status, out, _) = run_with_timeout(&mut cmd, Duration::from_secs(20));
    assert!(status.success());
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["2", "a", "b", "3"]);
}

fn crash_and_verify(extra: &[&str], between: impl FnOnce(&DaemonProcess)) {
    let mut d = start(extra);
    python(&d, "persistence.py", redis_port(&d), &["write"], Duration::from_secs(120));
    d.kill9();
    between(&d);
    d.restart();
    python(&d, "persistence.py", redis_port(&d), &["verify"], Duration::from_secs(60));
}

#[test]
fn aof_always_loses_nothing_on_kill9() {
    crash_and_verify(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""], |_| {});
}

#[test]
fn aof_everysec_survives_kill9() {
    crash_and_verify(&["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""], |_| {});
}

#[test]
fn aof_with_a_torn_last_command_still_loads() {
    crash_and_verify(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""], |d| {
        use std::io::Write;
        let path = d.data_dir().join("cache").join("appendonly.aof");
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf").unwrap();
    });
}

#[test]
fn aof_keeps_script_writes_on_kill9() {
    let mut d = start(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    python(&d, "scripting.py", redis_port(&d), &["aof-write"], Duration::from_secs(60));
    d.kill9();
    // The writes are logged as their effects (MULTI, the commands, EXEC), never as the EVAL.
    let aof = std::fs::read(d.data_dir().join("cache").join("appendonly.aof")).unwrap();
    let text = String::from_utf8_lossy(&aof).to_ascii_lowercase();
    assert!(text.contains("multi") && text.contains("exec") && !text.contains("eval"), "{text}");
    d.restart();
    python(&d, "scripting.py", redis_port(&d), &["aof-verify"], Duration::from_secs(60));
}

#[test]
fn aof_rewrite_keeps_data() {
    let mut d = start(&["--appendonly", "yes", "--appendfsync", "always", "--save", ""]);
    python(&d, "persistence.py", redis_port(&d), &["rewrite"], Duration::from_secs(120));
    d.kill9();
    d.restart();
    python(&d, "persistence.py", redis_port(&d), &["verify-rewrite"], Duration::from_secs(60));
}

#[test]
fn snapshot_save_restores_after_kill9() {
    let mut d = start(&["--save", ""]);
    python(&d, "persistence.py", redis_port(&d), &["save"], Duration::from_secs(120));
    // Wait for the BGSAVE to land before crashing.
    std::thread::sleep(Duration::from_millis(500));
    d.kill9();
    d.restart();
    python(&d, "persistence.py", redis_port(&d), &["verify-saved"], Duration::from_secs(60));
}

#[test]
fn sigterm_exits_zero_and_metrics_are_served() {
    let mut d = start(&[]);
    let (status, body) = tests::http_get(d.addr("metrics"), "/metrics");
    assert_eq!(status, 200, "{body}");
    assert!(d.stop().success(), "{}", d.log());
}
