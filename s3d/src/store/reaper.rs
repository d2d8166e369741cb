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

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Bytes freed per journal commit.
const SLICE: u64 = 4 * 1024 * 1024;
/// Pause between slices: leaves the journal to the requests that are waiting on it.
const PAUSE: Duration = Duration::from_millis(2);
/// How long the reaper sleeps when it has not been woken (trash is also re-listed then).
const IDLE: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// Work was added since the reaper last listed the trash.
    pending: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
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
    pub fn start(trash: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(trash)?;
        let shared = Arc::new(Shared::default());
        shared.state.lock().expect("reaper lock").pending = true;
        let (dir, thread_shared) = (trash.to_path_buf(), shared.clone());
        std::thread::Builder::new().name("s3d-blob-reaper".into()).spawn(move || run(&dir, &thread_shared))?;
        Ok(Self { trash: trash.to_path_buf(), shared })
    }

    /// Moves `file` into the trash; `Ok(false)` if it does not exist. The caller's name for it is gone
    /// when this returns; its space is freed later.
    pub fn discard(&self, file: &Path, name: &str) -> io::Result<bool> {
        match std::fs::rename(file, self.trash.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        self.shared.state.lock().expect("reaper lock").pending = true;
        self.shared.wake.notify_one();
        Ok(true)
    }

    /// Blocks until the trash is empty (tests).
    #[cfg(test)]
    pub fn drain(&self) {
        while std::fs::read_dir(&self.trash).map(|mut d| d.next().is_some()).unwrap_or(false) {
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
            if shared.state.lock().expect("reaper lock").stop {
                return;
            }
            if let Err(e) = free(&file) {
                tracing::warn!(file = %file.display(), error = %e, "cannot free a released blob");
            }
        }
    }
}

/// Frees `file` slice by slice from its end, then unlinks it.
fn free(file: &Path) -> io::Result<()> {
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
        std::thread::sleep(PAUSE);
    }
    drop(f);
    std::fs::remove_file(file)?;
    metrics::counter!("s3d_blobs_reaped_total").increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discarded_files_leave_their_name_at_once_and_the_trash_later() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        let reaper = Reaper::start(&trash).unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![7u8; (SLICE * 3 + 5) as usize]).unwrap();
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
        std::fs::write(trash.join("left-over"), vec![1u8; 100]).unwrap();
        let reaper = Reaper::start(&trash).unwrap();
        reaper.drain();
        assert!(!trash.join("left-over").exists());
    }
}
