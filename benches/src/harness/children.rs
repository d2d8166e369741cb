//! The daemons and peers a run starts must not outlive it. Drop guards (DaemonProcess, QemuNbd, the peer
//! servers) cover a normal exit, an error and a panic, but not a signal: SIGTERM (or a SIGINT sent to
//! the harness's pid alone) ends the process without unwinding. So:
//! - [`install`] catches SIGINT / SIGTERM / SIGHUP, sends SIGTERM to every live descendant (found in
//!   /proc, so children started by other crates, like `tests::DaemonProcess`, are included), SIGKILLs
//!   what is still up after a grace period, removes the run's temp dir, and exits 128 + signal;
//! - [`die_with_harness`] makes a peer we spawn get SIGTERM from the kernel if the harness dies of
//!   anything, SIGKILL included (PR_SET_PDEATHSIG); [`start_daemon`] does the same for our daemons,
//!   which `tests::DaemonProcess` spawns, by starting them through util-linux's `setpriv --pdeathsig`
//!   (which sets it and execs the daemon: same pid, same stdout);
//! - every temp dir of the run (daemon data dirs, peer files) lives under one directory, so an
//!   interrupted run leaves nothing behind, and a run killed with SIGKILL is swept by the next one.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

const RUN_DIR_PREFIX: &str = "stratus-bench-";
/// How long descendants get to exit on SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Call first in `main`, while the process has one thread: sets TMPDIR to this run's directory and
/// starts the signal thread. Returns the run directory (remove it at a normal exit).
pub fn install() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    sweep_stale_run_dirs(&base);
    let run_dir = base.join(format!("{RUN_DIR_PREFIX}{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).with_context(|| format!("cannot create {}", run_dir.display()))?;
    // SAFETY: no other thread exists yet (this runs before any is spawned), so nothing reads the
    // environment concurrently.
    unsafe { std::env::set_var("TMPDIR", &run_dir) };

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // The handlers are registered here, before returning, so no signal can slip in before they exist.
    let (mut int, mut term, mut hup) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _guard = rt.enter();
        (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?, signal(SignalKind::hangup())?)
    };
    let dir = run_dir.clone();
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let signo = rt.block_on(async {
            tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
                _ = hup.recv() => libc::SIGHUP,
            }
        });
        eprintln!("\nbenches: signal {signo}: stopping the daemons and peers this run started");
        let left = stop_descendants(GRACE);
        if !left.is_empty() {
            eprintln!("benches: still running after SIGKILL: {left:?}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::process::exit(128 + signo);
    })?;
    Ok(run_dir)
}

/// Makes `cmd`'s process receive SIGTERM when the harness dies (even by SIGKILL). The kernel sends it
/// when the spawning thread exits: spawn from the main thread.
pub fn die_with_harness(cmd: &mut Command) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl, getppid and kill are async-signal-safe; nothing here allocates.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The harness may have died between fork and prctl: then nobody will send the signal.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), libc::SIGTERM);
            }
            Ok(())
        })
    }
}

const SETPRIV: &str = "/usr/bin/setpriv";

/// `tests::DaemonProcess::start`, with the daemon set to get SIGTERM if the harness dies (when
/// util-linux's setpriv is there; otherwise only the signal handler of [`install`] covers it). Call
/// from the main thread: the kernel sends the signal when the spawning thread exits.
pub fn start_daemon(bin: &Path, extra: &[&str], listeners: usize) -> ::tests::DaemonProcess {
    if Path::new(SETPRIV).exists() {
        let bin = bin.to_string_lossy();
        ::tests::DaemonProcess::start_sub(SETPRIV, &["--pdeathsig", "TERM", "--", &bin], extra, listeners)
    } else {
        ::tests::DaemonProcess::start(bin, extra, listeners)
    }
}

/// (pid, parent pid, state) of every process in /proc.
fn processes() -> Vec<(i32, i32, char)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| {
            let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
            let mut rest = stat[stat.rfind(')')? + 1..].split_whitespace();
            let state = rest.next()?.chars().next()?;
            Some((pid, rest.next()?.parse().ok()?, state))
        })
        .collect()
}

/// Live (not zombie) descendants of `root`, parents before children.
fn descendants_of(root: i32, procs: &[(i32, i32, char)]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, state) in procs {
            if ppid == parent && !out.contains(&pid) {
                frontier.push(pid);
                if state != 'Z' && state != 'X' {
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// SIGTERM to every descendant, SIGKILL to those alive after `grace`; returns any still alive.
pub fn stop_descendants(grace: Duration) -> Vec<i32> {
    let me = std::process::id() as i32;
    let signal_all = |signo| {
        let pids = descendants_of(me, &processes());
        for &pid in &pids {
            // SAFETY: kill(2) on a process found as our descendant an instant ago.
            unsafe { libc::kill(pid, signo) };
        }
        pids
    };
    signal_all(libc::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if descendants_of(me, &processes()).is_empty() {
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_all(libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(200));
    descendants_of(me, &processes())
}

/// Removes the run directories of earlier runs whose process is gone (killed with SIGKILL).
fn sweep_stale_run_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(RUN_DIR_PREFIX)).and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn descendants_are_found_through_grandchildren_and_skip_zombies() {
        let procs = [(10, 1, 'S'), (11, 10, 'S'), (12, 11, 'S'), (13, 10, 'Z'), (14, 13, 'S'), (20, 1, 'S')];
        let mut found = descendants_of(10, &procs);
        found.sort();
        assert_eq!(found, vec![11, 12, 14]);
        assert!(descendants_of(20, &procs).is_empty());
    }

    #[test]
    fn stopping_descendants_ends_a_child_and_its_grandchild() {
        // A shell that starts a grandchild and ignores SIGTERM itself: SIGKILL after the grace period.
        let mut child =
            Command::new("sh").args(["-c", "trap '' TERM; sleep 300 & wait"]).stdin(Stdio::null()).spawn().unwrap();
        let me = std::process::id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        while descendants_of(me, &processes()).len() < 2 {
            assert!(Instant::now() < deadline, "the grandchild never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = stop_descendants(Duration::from_millis(300));
        assert!(left.is_empty(), "still alive: {left:?}");
        assert!(child.wait().is_ok());
    }

    #[test]
    fn a_peer_started_with_die_with_harness_runs_normally() {
        let out = die_with_harness(Command::new("sh").args(["-c", "echo up"])).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "up");
    }
}
