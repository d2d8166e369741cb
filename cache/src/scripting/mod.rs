//! Redis scripting (EVAL and friends) on Lua 5.1, as redis-server 7.0 runs it.
//!
//! A script runs with every shard locked, the way EXEC runs a transaction, so it is atomic; its
//! `redis.call`s go through the dispatcher's `execute` with that view, and the write commands it ran
//! are logged to the AOF wrapped in MULTI/EXEC (Redis 7's effects replication), never the EVAL.
//!
//! Where scripts run: connection threads each serve many connections, so a script must not run on
//! one (a `while true do end` would freeze its neighbours, and the SCRIPT KILL meant to stop it
//! might be among them). A top-level EVAL is handed to one dedicated Lua thread and its connection
//! awaits the reply. Inside EXEC (whose thread already holds every shard) and while loading the AOF,
//! a script runs in place, on a VM of that thread's own.
//!
//! While a script runs (or waits for the shards), connections hold their next command back without
//! blocking their thread ([`Scripts::must_wait`], [`Scripts::wait_turn`]): SCRIPT KILL still gets
//! through, and once the script has run for `busy-reply-threshold` ms every other command gets
//! `-BUSY` instead, as in Redis.

pub mod convert;
pub mod libs;
pub mod vm;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use parking_lot::Mutex;
use sha1::{Digest, Sha1};

use crate::engine::View;
use crate::protocol::conn::Client;
use crate::protocol::resp::Out;
use crate::protocol::{ClientInfo, Server};

/// Redis's `busy-reply-threshold` (alias `lua-time-limit`) default, in ms.
pub const DEFAULT_BUSY_THRESHOLD_MS: u64 = 5000;

/// Scripts EVAL adds to the cache beyond which the oldest of them are dropped (Redis 7.4 bounds the
/// cache this way; SCRIPT LOAD's scripts are kept until SCRIPT FLUSH).
pub const MAX_EVAL_SCRIPTS: usize = 500;

pub const BUSY: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const NOSCRIPT_ERR: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// One script to run: what EVAL/EVALSHA parsed.
#[derive(Debug, Clone)]
pub struct Call {
    /// Lowercase hex SHA1 of the body.
    pub sha: String,
    pub body: Bytes,
    pub keys: Vec<Bytes>,
    pub argv: Vec<Bytes>,
    /// EVAL_RO / EVALSHA_RO, or a `no-writes` shebang: write commands are refused.
    pub read_only: bool,
    /// A shebang's `allow-oom`: write commands run even above `maxmemory`.
    pub allow_oom: bool,
    /// The script has a shebang (Redis 7's non-compatibility mode): it is refused as a whole when
    /// `maxmemory` is exceeded, unless it cannot write or allows OOM.
    pub shebang: bool,
}

/// What a script's `#!lua flags=…` first line says (Redis 7.0's `evalExtractShebangFlags`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shebang {
    /// The line's length (its newline excluded): the compiled body starts after it, so the
    /// script's line numbers stay the same.
    pub len: usize,
    pub present: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
}

/// Parses a script's shebang line, with Redis's errors.
pub fn shebang(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang::default());
    }
    let Some(len) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..len]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut out = Shebang { len, present: true, ..Shebang::default() };
    for part in parts {
        let Some(flags) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => out.no_writes = true,
                "allow-oom" => out.allow_oom = true,
                // Meaningful to replicas and clusters only.
                "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => return Err(format!("ERR Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok(out)
}

/// A top-level script for the Lua thread (see the module doc).
pub struct Job {
    pub call: Call,
    pub db: usize,
    pub resp3: bool,
    pub info: Arc<ClientInfo>,
    /// CLIENT REPLY OFF/SKIP was in force: the reply is dropped.
    pub quiet: bool,
}

/// What a connection sends the Lua thread: the script and where its reply goes.
type Request = (Arc<Server>, Job, tokio::sync::oneshot::Sender<Bytes>);

struct Cached {
    body: Bytes,
    /// Added by SCRIPT LOAD (kept) rather than EVAL (may be dropped).
    loaded: bool,
}

#[derive(Default)]
struct Cache {
    scripts: IndexMap<String, Cached>,
    from_eval: usize,
}

/// The server's scripting state: the script cache and the running script.
pub struct Scripts {
    cache: Mutex<Cache>,
    /// Bumped by SCRIPT FLUSH: every VM built for an older generation is replaced.
    generation: AtomicU64,
    /// Scripts running or about to take the shards (see [`Scripts::must_wait`]).
    pending: AtomicUsize,
    /// When the running script got the shards (ms since `epoch`, at least 1), 0 when none.
    started: AtomicU64,
    epoch: Instant,
    /// SCRIPT KILL's request to the running script (a fresh flag per run).
    kill: Mutex<Arc<AtomicBool>>,
    /// The running script has executed a write (it can no longer be killed).
    wrote: AtomicBool,
    pub busy_threshold_ms: AtomicU64,
    idle: tokio::sync::Notify,
    runner: OnceLock<Mutex<mpsc::Sender<Request>>>,
    /// The Lua thread's VM size after its last script (INFO's used_memory_lua).
    pub lua_memory: AtomicUsize,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            cache: Mutex::new(Cache::default()),
            generation: AtomicU64::new(1),
            pending: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            epoch: Instant::now(),
            kill: Mutex::new(Arc::new(AtomicBool::new(false))),
            wrote: AtomicBool::new(false),
            busy_threshold_ms: AtomicU64::new(DEFAULT_BUSY_THRESHOLD_MS),
            idle: tokio::sync::Notify::new(),
            runner: OnceLock::new(),
            lua_memory: AtomicUsize::new(0),
        }
    }
}

pub fn sha1_hex(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Scripts {
    pub fn get(&self, sha: &str) -> Option<Bytes> {
        self.cache.lock().scripts.get(sha).map(|c| c.body.clone())
    }

    pub fn exists(&self, sha: &str) -> bool {
        self.cache.lock().scripts.contains_key(sha)
    }

    pub fn count(&self) -> usize {
        self.cache.lock().scripts.len()
    }

    /// Adds a compiled script to the cache (SCRIPT LOAD's are never dropped; EVAL's are, oldest
    /// first, beyond [`MAX_EVAL_SCRIPTS`]).
    pub fn remember(&self, sha: &str, body: &Bytes, loaded: bool) {
        let mut c = self.cache.lock();
        if let Some(entry) = c.scripts.get_mut(sha) {
            if loaded && !entry.loaded {
                entry.loaded = true;
                c.from_eval -= 1;
            }
            return;
        }
        c.scripts.insert(sha.to_string(), Cached { body: body.clone(), loaded });
        if !loaded {
            c.from_eval += 1;
            if c.from_eval > MAX_EVAL_SCRIPTS
                && let Some(i) = c.scripts.values().position(|s| !s.loaded)
            {
                c.scripts.shift_remove_index(i);
                c.from_eval -= 1;
            }
        }
    }

    /// SCRIPT FLUSH: forgets every script and resets the Lua VMs (as Redis recreates its own).
    pub fn flush(&self) {
        let mut c = self.cache.lock();
        c.scripts.clear();
        c.from_eval = 0;
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// A script has run for `busy-reply-threshold` or longer: other commands get `-BUSY`.
    pub fn busy(&self) -> bool {
        let started = self.started.load(Ordering::Acquire);
        started != 0 && self.now_ms().saturating_sub(started) >= self.busy_threshold_ms.load(Ordering::Relaxed)
    }

    /// Whether a connection must hold the command named `name` (first argument `sub`) back until
    /// [`Scripts::wait_turn`]: a script is running or about to, and has not yet passed the busy
    /// threshold. SCRIPT KILL never waits. One atomic load when no script runs.
    pub fn must_wait(&self, name: &[u8], sub: Option<&[u8]>) -> bool {
        if self.pending.load(Ordering::SeqCst) == 0 {
            return false;
        }
        !allowed_while_busy(name, sub) && !self.busy()
    }

    /// A script is running or about to.
    pub fn pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst) != 0
    }

    /// Waits until no script is pending, or the running one has passed the busy threshold.
    pub async fn wait_turn(&self) {
        self.wait(true).await
    }

    /// Waits until no script is pending (memcached has no BUSY reply).
    pub async fn wait_idle(&self) {
        self.wait(false).await
    }

    async fn wait(&self, until_busy: bool) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.pending() || (until_busy && self.busy()) {
                return;
            }
            let started = self.started.load(Ordering::Acquire);
            let wait = if started == 0 || !until_busy {
                // Still waiting for the shards: look again shortly.
                Duration::from_millis(5)
            } else {
                let until = started + self.busy_threshold_ms.load(Ordering::Relaxed);
                Duration::from_millis(until.saturating_sub(self.now_ms()).max(1))
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// SCRIPT KILL.
    pub fn kill(&self) -> Result<(), &'static str> {
        if self.started.load(Ordering::Acquire) == 0 {
            return Err("NOTBUSY No scripts in execution right now.");
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        self.kill.lock().store(true, Ordering::Release);
        Ok(())
    }

    /// Hands a top-level script to the Lua thread (started on first use); resolves to its reply.
    pub async fn run_on_lua_thread(srv: &Arc<Server>, job: Job) -> Bytes {
        let runner = srv.scripts.runner.get_or_init(|| {
            let (tx, rx) = mpsc::channel();
            let spawned = std::thread::Builder::new().name("cache-lua".into()).spawn(move || lua_thread(rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the Lua thread");
            }
            Mutex::new(tx)
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        if runner.lock().send((srv.clone(), job, tx)).is_err() {
            return Bytes::from_static(b"-ERR the script runner is not available\r\n");
        }
        rx.await.unwrap_or_else(|_| Bytes::from_static(b"-ERR the script runner failed\r\n"))
    }
}

/// What may run while a script is busy (Redis's `allow-busy` commands we have).
fn allowed_while_busy(name: &[u8], sub: Option<&[u8]>) -> bool {
    let is = |w: &str| name.eq_ignore_ascii_case(w.as_bytes());
    (is("script") && sub.is_some_and(|s| s.eq_ignore_ascii_case(b"kill"))) || is("auth") || is("hello") || is("quit")
}

/// Whether a command must get `-BUSY` (see [`Scripts::busy`]).
pub fn refused_while_busy(srv: &Server, args: &[Bytes]) -> bool {
    srv.scripts.pending.load(Ordering::SeqCst) != 0
        && srv.scripts.busy()
        && !allowed_while_busy(&args[0], args.get(1).map(|a| &a[..]))
}

/// Marks a script pending from before it takes the shards until it is done.
struct Pending<'a>(&'a Scripts);

impl<'a> Pending<'a> {
    fn new(s: &'a Scripts) -> Self {
        s.pending.fetch_add(1, Ordering::SeqCst);
        Pending(s)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Marks the script holding the shards as running (for SCRIPT KILL and BUSY).
struct Running<'a>(&'a Scripts);

impl<'a> Running<'a> {
    fn new(s: &'a Scripts) -> (Self, Arc<AtomicBool>) {
        let kill = Arc::new(AtomicBool::new(false));
        *s.kill.lock() = kill.clone();
        s.wrote.store(false, Ordering::Release);
        s.started.store(s.now_ms(), Ordering::Release);
        (Running(s), kill)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.started.store(0, Ordering::Release);
    }
}

thread_local! {
    /// This thread's Lua VM (the Lua thread's, or a connection thread's for scripts inside EXEC).
    static VM: RefCell<Option<vm::Vm>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's VM, (re)built if missing or older than the last SCRIPT FLUSH.
pub fn with_vm<R>(scripts: &Scripts, f: impl FnOnce(&mut vm::Vm) -> R) -> Result<R, String> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = scripts.generation.load(Ordering::Acquire);
        if slot.as_ref().is_none_or(|vm| vm.generation != generation) {
            *slot = None;
            *slot = Some(vm::Vm::new(generation).map_err(|e| format!("ERR cannot create the Lua VM: {e}"))?);
        }
        Ok(f(slot.as_mut().expect("just built")))
    })
}

/// Runs `call` as `client`'s script into `out`: within `view` (inside EXEC) or taking every shard
/// itself. The script gets a client of its own (its SELECTs stay its own, its writes are collected
/// for the AOF and logged as one MULTI/EXEC while the shards are still held).
pub fn run_script(srv: &Server, caller: &mut Client, out: &mut Out, call: &Call, view: Option<&mut View<'_>>) {
    let (mut client, _rx) = Client::new(caller.info.clone(), true);
    client.db = caller.db;
    client.loading = caller.loading;
    client.script_effects = Some(Vec::new());
    // Eviction locks shards: decide about OOM before taking them (Redis checks once, at the start).
    let oom =
        !call.read_only && !call.allow_oom && view.is_none() && !caller.loading && srv.engine.ensure_memory().is_err();
    if oom && call.shebang {
        return out.error("OOM command not allowed when used memory > 'maxmemory'.");
    }
    let pending = Pending::new(&srv.scripts);
    match view {
        Some(v) => run_locked(srv, &mut client, out, call, v, oom),
        None => run_locked(srv, &mut client, out, call, &mut srv.engine.lock_all(caller.db), oom),
    }
    drop(pending);
    caller.dirty += client.dirty;
    caller.info.db.store(caller.db, Ordering::Relaxed);
}

fn run_locked(srv: &Server, client: &mut Client, out: &mut Out, call: &Call, view: &mut View<'_>, oom: bool) {
    let (running, kill) = Running::new(&srv.scripts);
    let exec = vm::Exec { srv, client, view, oom, kill };
    let on_lua_thread = std::thread::current().name() == Some("cache-lua");
    let ran = with_vm(&srv.scripts, |vm| {
        vm.run(call, exec, out);
        if on_lua_thread {
            srv.scripts.lua_memory.store(vm.used_memory(), Ordering::Relaxed);
        }
    });
    if let Err(e) = ran {
        out.error(&e);
    }
    // Logged while the shards are still held, so the log order matches the execution order.
    let effects = client.script_effects.take().unwrap_or_default();
    if !effects.is_empty() {
        srv.persistence.append_transaction(&effects);
    }
    drop(running);
}

/// Tracks writes of the running script (SCRIPT KILL refuses to stop a script that wrote).
pub fn note_write(srv: &Server) {
    srv.scripts.wrote.store(true, Ordering::Release);
}

fn lua_thread(rx: mpsc::Receiver<Request>) {
    while let Ok((srv, job, reply)) = rx.recv() {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut out = Out::new(job.resp3);
            let (mut caller, _rx) = Client::new(job.info.clone(), true);
            caller.db = job.db;
            run_script(&srv, &mut caller, &mut out, &job.call, None);
            srv.engine.stats.dirty.fetch_add(caller.dirty, Ordering::Relaxed);
            out.take()
        }));
        let bytes = ran.unwrap_or_else(|_| Bytes::from_static(b"-ERR the script failed unexpectedly\r\n"));
        let _ = reply.send(bytes);
    }
}

/// EVAL's `numkeys`: the keys and the other arguments, or Redis's errors.
pub fn split_keys(args: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), &'static str> {
    let n = crate::engine::strings::parse_int(&args[2]).ok_or("ERR value is not an integer or out of range")?;
    if n < 0 {
        return Err("ERR Number of keys can't be negative");
    }
    let rest = &args[3..];
    if n as u64 > rest.len() as u64 {
        return Err("ERR Number of keys can't be greater than number of args");
    }
    let (keys, argv) = rest.split_at(n as usize);
    Ok((keys.to_vec(), argv.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Bytes> {
        a.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn numkeys_is_checked_like_redis() {
        let (k, v) = split_keys(&args(&["eval", "s", "2", "a", "b", "c"])).unwrap();
        assert_eq!((k.len(), v.len()), (2, 1));
        let (k, v) = split_keys(&args(&["eval", "s", "0"])).unwrap();
        assert!(k.is_empty() && v.is_empty());
        assert_eq!(split_keys(&args(&["eval", "s", "-1"])).unwrap_err(), "ERR Number of keys can't be negative");
        assert_eq!(
            split_keys(&args(&["eval", "s", "3", "a"])).unwrap_err(),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(split_keys(&args(&["eval", "s", "x"])).unwrap_err(), "ERR value is not an integer or out of range");
    }

    #[test]
    fn shebang_flags_like_redis() {
        assert_eq!(shebang(b"return 1").unwrap(), Shebang::default());
        let s = shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1").unwrap();
        assert!(s.present && s.no_writes && s.allow_oom && s.len == 31);
        assert!(shebang(b"#!lua\nreturn 1").unwrap().present);
        assert_eq!(shebang(b"#!lua").unwrap_err(), "ERR Invalid script shebang");
        assert_eq!(shebang(b"#!js\n").unwrap_err(), "ERR Unexpected engine in script shebang: #!js");
        assert_eq!(shebang(b"#!lua flags=bogus\n").unwrap_err(), "ERR Unexpected flag in script shebang: bogus");
        assert_eq!(shebang(b"#!lua name=x\n").unwrap_err(), "ERR Unknown lua shebang option: name=x");
    }

    #[test]
    fn sha1_of_empty_script() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn eval_cache_is_bounded_but_loaded_scripts_stay() {
        let s = Scripts::default();
        s.remember("loaded", &Bytes::from_static(b"return 1"), true);
        for i in 0..MAX_EVAL_SCRIPTS + 10 {
            s.remember(&format!("e{i}"), &Bytes::from_static(b"return 2"), false);
        }
        assert_eq!(s.count(), MAX_EVAL_SCRIPTS + 1);
        assert!(s.exists("loaded"));
        assert!(!s.exists("e0"));
        assert!(s.exists(&format!("e{}", MAX_EVAL_SCRIPTS + 9)));
        s.flush();
        assert_eq!(s.count(), 0);
    }
}
