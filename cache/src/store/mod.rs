//! Persistence: snapshots (SAVE/BGSAVE, loaded at start) and the append-only file.
//!
//! AOF ordering: commands are appended to an in-memory buffer while the command still holds its
//! shards' locks (so the log order matches execution order per key); each connection then commits
//! the buffer before sending its replies: the committer holds the file lock, writes everything
//! pending and, with `appendfsync always`, fsyncs before anyone's reply goes out (group commit).
//! With `everysec`, data reaches the OS before the reply and a background thread fsyncs every second.

pub mod aof;
pub mod snapshot;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;

use crate::engine::Engine;

pub const SNAPSHOT_FILE: &str = "dump.snap";
pub const AOF_FILE: &str = "appendonly.aof";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FsyncPolicy {
    Always = 0,
    EverySec = 1,
    No = 2,
}

impl FsyncPolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Self::Always),
            "everysec" => Some(Self::EverySec),
            "no" => Some(Self::No),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::EverySec => "everysec",
            Self::No => "no",
        }
    }
}

struct Pending {
    data: Vec<u8>,
    db: usize,
}

pub struct Persistence {
    dir: PathBuf,
    aof_on: AtomicBool,
    pending: Mutex<Pending>,
    file: Mutex<Option<File>>,
    fsync: AtomicU8,
    last_save: AtomicU64,
    last_save_ok: AtomicBool,
    dirty_at_save: AtomicU64,
    bgsave_running: Arc<AtomicBool>,
    save_rules: Mutex<Vec<(u64, u64)>>,
    bg_result: Mutex<Option<Arc<AtomicU64>>>,
}

impl Persistence {
    pub fn new(dir: &Path, fsync: FsyncPolicy) -> Self {
        Persistence {
            dir: dir.to_path_buf(),
            aof_on: AtomicBool::new(false),
            pending: Mutex::new(Pending { data: Vec::new(), db: usize::MAX }),
            file: Mutex::new(None),
            fsync: AtomicU8::new(fsync as u8),
            last_save: AtomicU64::new(0),
            last_save_ok: AtomicBool::new(true),
            dirty_at_save: AtomicU64::new(0),
            bgsave_running: Arc::new(AtomicBool::new(false)),
            save_rules: Mutex::new(Vec::new()),
            bg_result: Mutex::new(None),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }
    pub fn aof_path(&self) -> PathBuf {
        self.dir.join(AOF_FILE)
    }

    pub fn aof_enabled(&self) -> bool {
        self.aof_on.load(Ordering::Relaxed)
    }
    pub fn fsync_policy(&self) -> FsyncPolicy {
        match self.fsync.load(Ordering::Relaxed) {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }
    pub fn set_fsync_policy(&self, p: FsyncPolicy) {
        self.fsync.store(p as u8, Ordering::Relaxed);
    }

    /// Opens the existing AOF for appending (after it was replayed at start).
    pub fn open_aof(&self) -> std::io::Result<()> {
        let f = std::fs::OpenOptions::new().create(true).append(true).open(self.aof_path())?;
        *self.file.lock() = Some(f);
        self.pending.lock().db = usize::MAX;
        self.aof_on.store(true, Ordering::Release);
        Ok(())
    }

    /// CONFIG SET appendonly yes: writes the current dataset as the AOF's base, then appends.
    pub fn enable_aof(&self, eng: &Engine) -> std::io::Result<()> {
        if self.aof_enabled() {
            return Ok(());
        }
        self.rewrite_aof_inner(eng, true)
    }

    pub fn disable_aof(&self) {
        self.commit_aof();
        self.aof_on.store(false, Ordering::Release);
        *self.file.lock() = None;
    }

    /// Appends one command (called while the command holds its shards).
    pub fn append(&self, db: usize, args: &[Bytes]) {
        let mut p = self.pending.lock();
        if p.db != db {
            let sel = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
            aof::encode_command(&mut p.data, &sel);
            p.db = db;
        }
        aof::encode_command(&mut p.data, args);
    }

    /// Appends a script's writes (called while it holds every shard): wrapped in MULTI/EXEC when
    /// there are several, so a replay applies all of them or, if the file was cut short, none.
    pub fn append_transaction(&self, cmds: &[(usize, Vec<Bytes>)]) {
        let mut p = self.pending.lock();
        let wrap = cmds.len() > 1;
        if wrap {
            aof::encode_command(&mut p.data, &[Bytes::from_static(b"MULTI")]);
        }
        for (db, args) in cmds {
            if p.db != *db {
                let sel = [Bytes::from_static(b"SELECT"), Bytes::from(db.to_string())];
                aof::encode_command(&mut p.data, &sel);
                p.db = *db;
            }
            aof::encode_command(&mut p.data, args);
        }
        if wrap {
            aof::encode_command(&mut p.data, &[Bytes::from_static(b"EXEC")]);
        }
    }

    /// Writes pending commands to the file (and fsyncs under `always`). Called before replies go out.
    pub fn commit_aof(&self) {
        if !self.aof_enabled() {
            return;
        }
        let mut file = self.file.lock();
        let data = std::mem::take(&mut self.pending.lock().data);
        if data.is_empty() {
            return;
        }
        let Some(f) = file.as_mut() else { return };
        if let Err(e) = f.write_all(&data) {
            tracing::error!(error = %e, "cannot write the append-only file");
            return;
        }
        if self.fsync_policy() == FsyncPolicy::Always
            && let Err(e) = f.sync_data()
        {
            tracing::error!(error = %e, "cannot fsync the append-only file");
        }
    }

    /// The `everysec` fsync, run by a background thread.
    pub fn fsync_tick(&self) {
        if !self.aof_enabled() || self.fsync_policy() != FsyncPolicy::EverySec {
            return;
        }
        self.commit_aof();
        if let Some(f) = self.file.lock().as_ref() {
            let _ = f.sync_data();
        }
    }

    /// BGREWRITEAOF: the dataset as commands in a new file, swapped in atomically.
    pub fn rewrite_aof(&self, eng: &Engine) -> std::io::Result<()> {
        if !self.aof_enabled() {
            return Err(std::io::Error::other("append only file is not enabled"));
        }
        self.rewrite_aof_inner(eng, false)
    }

    fn rewrite_aof_inner(&self, eng: &Engine, enable: bool) -> std::io::Result<()> {
        let mut file = self.file.lock();
        // Holding every shard: nothing executes (or appends) while the base is taken.
        let mut view = eng.lock_all(0);
        let data = aof::dataset_as_commands(&mut view);
        snapshot::write_atomic(&self.aof_path(), &data)?;
        {
            let mut p = self.pending.lock();
            p.data.clear();
            p.db = usize::MAX;
        }
        *file = Some(std::fs::OpenOptions::new().append(true).open(self.aof_path())?);
        if enable {
            self.aof_on.store(true, Ordering::Release);
        }
        drop(view);
        Ok(())
    }

    /// LASTSAVE before any save is the start time, as in Redis.
    pub fn set_start_time(&self, unix_secs: u64) {
        let _ = self.last_save.compare_exchange(0, unix_secs, Ordering::Relaxed, Ordering::Relaxed);
    }

    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }
    pub fn last_save_ok(&self) -> bool {
        self.last_save_ok.load(Ordering::Relaxed)
    }
    pub fn dirty_at_save(&self) -> u64 {
        self.dirty_at_save.load(Ordering::Relaxed)
    }
    pub fn bgsave_running(&self) -> bool {
        self.bgsave_running.load(Ordering::Relaxed)
    }

    /// SAVE: a snapshot, written atomically.
    pub fn save(&self, eng: &Engine) -> std::io::Result<()> {
        let dirty = eng.stats.dirty.load(Ordering::Relaxed);
        let data = snapshot::encode(eng);
        let r = snapshot::write_atomic(&self.snapshot_path(), &data);
        self.last_save_ok.store(r.is_ok(), Ordering::Relaxed);
        if r.is_ok() {
            self.last_save.store(eng.now_ms() / 1000, Ordering::Relaxed);
            self.dirty_at_save.store(dirty, Ordering::Relaxed);
        }
        r
    }

    /// BGSAVE: the same on a background thread; false if one is already running. LASTSAVE picks up
    /// the result on the next [`Persistence::tick`].
    pub fn bgsave(&self, eng: Arc<Engine>) -> bool {
        if self.bgsave_running.swap(true, Ordering::AcqRel) {
            return false;
        }
        let running = self.bgsave_running.clone();
        let path = self.snapshot_path();
        let result = Arc::new(AtomicU64::new(0));
        *self.bg_result.lock() = Some(result.clone());
        let spawned = std::thread::Builder::new().name("cache-bgsave".into()).spawn(move || {
            let data = snapshot::encode(&eng);
            match snapshot::write_atomic(&path, &data) {
                Ok(()) => result.store(eng.now_ms() / 1000, Ordering::Relaxed),
                Err(e) => tracing::error!(error = %e, "background save failed"),
            }
            running.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.bgsave_running.store(false, Ordering::Release);
            return false;
        }
        true
    }

    /// Loads the snapshot if present; returns how many keys.
    pub fn load_snapshot(&self, eng: &Engine) -> anyhow::Result<usize> {
        let path = self.snapshot_path();
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let n = snapshot::load_into(eng, &data).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        self.last_save.store(eng.now_ms() / 1000, Ordering::Relaxed);
        Ok(n)
    }

    pub fn save_rules(&self) -> String {
        self.save_rules.lock().iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(" ")
    }

    /// `save "3600 1 300 100"`: snapshot when at least `changes` writes happened within `secs`.
    pub fn set_save_rules(&self, spec: &str) -> Result<(), String> {
        let nums: Result<Vec<u64>, _> = spec.split_whitespace().map(|n| n.parse::<u64>()).collect();
        let nums = nums.map_err(|_| "Invalid save parameters".to_string())?;
        if nums.len() % 2 != 0 {
            return Err("Invalid save parameters".into());
        }
        *self.save_rules.lock() = nums.chunks(2).map(|c| (c[0], c[1])).collect();
        Ok(())
    }

    /// Periodic housekeeping: everysec fsync, finished BGSAVEs, save rules.
    pub fn tick(&self, eng: &Arc<Engine>) {
        self.fsync_tick();
        if let Some(r) = self.bg_result.lock().as_ref() {
            let t = r.load(Ordering::Relaxed);
            if t != 0 {
                self.last_save.store(t, Ordering::Relaxed);
            }
        }
        let dirty = eng.stats.dirty.load(Ordering::Relaxed).saturating_sub(self.dirty_at_save());
        let since = (eng.now_ms() / 1000).saturating_sub(self.last_save());
        let due = self.save_rules.lock().iter().any(|&(secs, changes)| dirty >= changes.max(1) && since >= secs);
        if due && !self.bgsave_running() {
            self.dirty_at_save.store(eng.stats.dirty.load(Ordering::Relaxed), Ordering::Relaxed);
            self.bgsave(eng.clone());
        }
    }
}

/// Runs [`Persistence::tick`] every second until `stop`.
pub fn spawn_ticker(
    p: Arc<crate::protocol::Server>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("cache-persist".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1000));
            p.persistence.tick(&p.engine);
        }
    })
}
