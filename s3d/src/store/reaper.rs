//! Deferred, paced freeing of released blob files.
//!
//! On file systems mounted with online discard (ext4 `-o discard`, usual on cloud VMs, and the case on
//! the machines Stratus is developed on), unlinking a large file issues its TRIMs inside the journal
//! commit. Removing 64 MiB files from 32 DELETEs at once took up to 1.4 s per unlink and stalled every
//! fsync queued behind that commit, RocksDB's WAL included: DELETE and PUT latencies collapsed (26
//! deletes/s of 64 MiB objects). So a released blob is only renamed into `trash/` (metadata, no
//! discard), and one reaper thread frees trash files a slice at a time from their end, syncing each
//! slice on its own so that no commit has more than [`SLICE`] bytes to discard, the way RocksDB's
//! `DeleteScheduler` truncates files in chunks. Trash left by a crash is reaped after the next start.
//!
//! Even one small unlink costs its discard in the next commit, which the next request's fsync waits
//! for: 1 MiB DELETEs ran at a tenth of the rate of inline ones. So the reaper also waits until the
//! blob store has been quiet for [`ReapPolicy::quiet`] (no blob written or released), as SeaweedFS
//! reclaims deleted space in a later vacuum rather than on DELETE; past
//! [`ReapPolicy::high_water`] bytes of trash it reaps anyway, paced, so the trash stays bounded
//! under a load that never pauses.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bytes freed per journal commit.
const SLICE: u64 = 4 * 1024 * 1024;
/// Pause between slices: leaves the journal to the requests that are waiting on it.
const PAUSE: Duration = Duration::from_millis(2);
/// How long the reaper sleeps when it has not been woken (trash is also re-listed then).
const IDLE: Duration = Duration::from_secs(30);

/// When the reaper may free trash.
#[derive(Debug, Clone, Copy)]
pub struct ReapPolicy {
    /// How long the blob store must have been idle before trash is freed.
    pub quiet: Duration,
    /// Trash bytes above which it is freed even under load.
    pub high_water: u64,
}

impl Default for ReapPolicy {
    fn default() -> Self {
        Self { quiet: Duration::from_millis(250), high_water: 2 << 30 }
    }
}

#[derive(Default)]
struct State {
    /// Work was added since the reaper last listed the trash.
    pending: bool,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    policy: ReapPolicy,
    started: Instant,
    /// Milliseconds after `started` of the last blob written or released.
    last_activity_ms: AtomicU64,
    /// Bytes in the trash not yet freed (as measured when they arrived).
    trash_bytes: AtomicU64,
}

impl Shared {
    fn since_activity(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_activity_ms.load(Ordering::Relaxed)))
    }

    fn add_trash(&self, bytes: u64) {
        self.trash_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub_trash(&self, bytes: u64) {
        let _ = self.trash_bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_sub(bytes)));
    }

    /// Sets the gauge from the counter. Only the reaper thread calls this (and `start` before it
    /// runs), each time it waits: gauge writes from several threads could land out of order and leave
    /// a stale value, and the reaper waits at most [`ReapPolicy::quiet`] while trash is pending (a
    /// discard into an idle reaper wakes it), so the gauge trails the counter by no more than that.
    fn publish(&self) {
        metrics::gauge!("s3d_blob_trash_bytes").set(self.trash_bytes.load(Ordering::Relaxed) as f64);
    }

    /// Waits until freeing is allowed; `false` when the reaper is stopping.
    fn wait_reapable(&self) -> bool {
        let mut state = self.state.lock().expect("reaper lock");
        loop {
            self.publish();
            if state.stop {
                return false;
            }
            let idle = self.since_activity();
            if idle >= self.policy.quiet || self.trash_bytes.load(Ordering::Relaxed) > self.policy.high_water {
                return true;
            }
            state = self.wake.wait_timeout(state, self.policy.quiet - idle).expect("reaper lock").0;
        }
    }
}

/// The reaper of one trash directory; the thread ends when this is dropped.
pub struct Reaper {
    trash: PathBuf,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").field("trash", &self.trash).finish()
    }
}

impl Reaper {
    /// Starts reaping `trash` (created if missing), beginning with what is already there.
    pub fn start(trash: &Path, policy: ReapPolicy) -> io::Result<Self> {
        std::fs::create_dir_all(trash)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State { pending: true, stop: false }),
            wake: Condvar::new(),
            policy,
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            trash_bytes: AtomicU64::new(0),
        });
        let left_over: u64 = std::fs::read_dir(trash)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
        shared.add_trash(left_over);
        shared.publish();
        let (dir, thread_shared) = (trash.to_path_buf(), shared.clone());
        std::thread::Builder::new().name("s3d-blob-reaper".into()).spawn(move || run(&dir, &thread_shared))?;
        Ok(Self { trash: trash.to_path_buf(), shared })
    }

    /// Moves `file` into the trash; `Ok(false)` if it does not exist. The caller's name for it is gone
    /// when this returns; its space is freed later.
    pub fn discard(&self, file: &Path, name: &str) -> io::Result<bool> {
        self.touch();
        let len = match std::fs::metadata(file) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        // Counted before the file can be seen in the trash: the reaper may free it at once (past
        // the high-water mark), and a count added after its subtraction would never come off.
        self.shared.add_trash(len);
        if let Err(e) = std::fs::rename(file, self.trash.join(name)) {
            self.shared.sub_trash(len);
            return if e.kind() == io::ErrorKind::NotFound { Ok(false) } else { Err(e) };
        }
        // Woken only when it may be idle (no pass pending) or must free at once: during a burst of
        // DELETEs a wake-up per discard made the reaper switch in just to see the store was busy.
        let was_pending = std::mem::replace(&mut self.shared.state.lock().expect("reaper lock").pending, true);
        if !was_pending || self.shared.trash_bytes.load(Ordering::Relaxed) > self.shared.policy.high_water {
            self.shared.wake.notify_one();
        }
        Ok(true)
    }

    /// Records blob-store activity (a blob written): freeing waits for a quiet spell after it.
    pub fn touch(&self) {
        let now = self.shared.started.elapsed().as_millis() as u64;
        self.shared.last_activity_ms.store(now.max(1), Ordering::Relaxed);
    }

    /// Bytes in the trash not freed yet.
    pub fn trash_bytes(&self) -> u64 {
        self.shared.trash_bytes.load(Ordering::Relaxed)
    }

    /// Blocks until the trash is empty and accounted for (tests).
    #[cfg(test)]
    pub fn drain(&self) {
        while std::fs::read_dir(&self.trash).map(|mut d| d.next().is_some()).unwrap_or(false) || self.trash_bytes() > 0
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.shared.state.lock().expect("reaper lock").stop = true;
        self.shared.wake.notify_one();
    }
}

fn run(trash: &Path, shared: &Shared) {
    loop {
        {
            let mut state = shared.state.lock().expect("reaper lock");
            shared.publish();
            if !state.pending && !state.stop {
                state = shared.wake.wait_timeout(state, IDLE).expect("reaper lock").0;
            }
            if state.stop {
                return;
            }
            state.pending = false;
        }
        let files = match std::fs::read_dir(trash) {
            Ok(dir) => dir.filter_map(|e| e.ok().map(|e| e.path())).collect::<Vec<_>>(),
            Err(e) => {
                tracing::warn!(dir = %trash.display(), error = %e, "cannot list blob trash");
                Vec::new()
            }
        };
        for file in files {
            if !shared.wait_reapable() {
                return;
            }
            if let Err(e) = free(&file, shared) {
                tracing::warn!(file = %file.display(), error = %e, "cannot free a released blob");
            }
        }
    }
}

/// Frees `file` slice by slice from its end, then unlinks it.
fn free(file: &Path, shared: &Shared) -> io::Result<()> {
    let f = match std::fs::OpenOptions::new().write(true).open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut len = f.metadata()?.len();
    while len > SLICE {
        len -= SLICE;
        f.set_len(len)?;
        // Commits this slice's freed blocks (and their discard) now, not with the next one.
        f.sync_all()?;
        shared.sub_trash(SLICE);
        std::thread::sleep(PAUSE);
        if !shared.wait_reapable() {
            return Ok(());
        }
    }
    drop(f);
    std::fs::remove_file(file)?;
    shared.sub_trash(len);
    metrics::counter!("s3d_blobs_reaped_total").increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: ReapPolicy = ReapPolicy { quiet: Duration::ZERO, high_water: u64::MAX };

    fn write(path: &Path, len: u64) {
        std::fs::write(path, vec![7u8; len as usize]).unwrap();
    }

    fn trash_count(trash: &Path) -> usize {
        std::fs::read_dir(trash).unwrap().count()
    }

    #[test]
    fn trash_waits_for_a_quiet_spell() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        // Long enough that a loaded test machine never stretches the touches below apart by that much.
        let policy = ReapPolicy { quiet: Duration::from_secs(2), high_water: u64::MAX };
        let reaper = Reaper::start(&trash, policy).unwrap();
        for i in 0..3 {
            let f = dir.path().join(format!("b{i}"));
            write(&f, SLICE + 1);
            assert!(reaper.discard(&f, &format!("b{i}")).unwrap());
        }
        assert_eq!(reaper.trash_bytes(), 3 * (SLICE + 1));
        // Activity every 20 ms: never quiet for 2 s, so nothing is freed.
        for _ in 0..50 {
            reaper.touch();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(trash_count(&trash), 3, "freed while the store was busy");
        reaper.drain();
        assert_eq!(reaper.trash_bytes(), 0);
    }

    #[test]
    fn trash_past_the_high_water_mark_is_freed_under_load() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        let policy = ReapPolicy { quiet: Duration::from_secs(3600), high_water: SLICE };
        let reaper = Reaper::start(&trash, policy).unwrap();
        for i in 0..3 {
            let f = dir.path().join(format!("b{i}"));
            write(&f, SLICE);
            assert!(reaper.discard(&f, &format!("b{i}")).unwrap());
        }
        // Freed down to the mark while "busy" for an hour; what is left waits.
        let deadline = Instant::now() + Duration::from_secs(10);
        while reaper.trash_bytes() > SLICE && Instant::now() < deadline {
            reaper.touch();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(reaper.trash_bytes() <= SLICE);
        assert!(trash_count(&trash) >= 1);
    }

    #[test]
    fn discarded_files_leave_their_name_at_once_and_the_trash_later() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        let reaper = Reaper::start(&trash, NOW).unwrap();
        let big = dir.path().join("big");
        write(&big, SLICE * 3 + 5);
        assert!(reaper.discard(&big, "big").unwrap());
        assert!(!big.exists(), "the name is gone when discard returns");
        assert!(!reaper.discard(&big, "big").unwrap(), "discarding twice is not an error");
        reaper.drain();
        assert_eq!(std::fs::read_dir(&trash).unwrap().count(), 0);
    }

    #[test]
    fn trash_left_by_a_previous_run_is_reaped_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        std::fs::create_dir_all(&trash).unwrap();
        write(&trash.join("left-over"), 100);
        let reaper = Reaper::start(&trash, NOW).unwrap();
        reaper.drain();
        assert!(!trash.join("left-over").exists());
    }
}
