//! Taking a snapshot while the volume keeps taking writes.
//!
//! CreateSnapshot freezes the volume's dirty map: the set of blocks changed since the previous snapshot
//! (everything else is already in that snapshot's manifest). A background thread then copies each frozen
//! block into the snapshot store. A write that touches a frozen block the thread has not reached yet
//! first copies the block's old content (copy-on-write), so the snapshot is the volume as it was when
//! CreateSnapshot returned: point-in-time and crash-consistent.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};

use super::blocks::{BLOCK_SIZE, Bitmap, is_zero};
use crate::store::VolumeFile;
use crate::store::snapshots::{BlockHash, SnapshotStore};

/// Lock stripes over block indices.
const STRIPES: u64 = 64;
/// Threads copying one snapshot's blocks.
const COPIERS: usize = 4;

/// Blocks written to the store by work that has not committed its metadata yet (a capture, a
/// PutSnapshotBlock before CompleteSnapshot). Deleting a snapshot never removes a pinned block, even
/// at reference count zero, so a concurrent capture that found the block already stored keeps it.
#[derive(Debug, Default)]
pub struct Pins {
    pinned: Mutex<HashMap<BlockHash, usize>>,
}

impl Pins {
    pub fn pin(&self, hash: BlockHash) {
        *self.pinned.lock().expect("pins lock").entry(hash).or_default() += 1;
    }

    pub fn unpin(&self, hash: &BlockHash) {
        let mut pinned = self.pinned.lock().expect("pins lock");
        if let Some(n) = pinned.get_mut(hash) {
            *n -= 1;
            if *n == 0 {
                pinned.remove(hash);
            }
        }
    }

    pub fn is_pinned(&self, hash: &BlockHash) -> bool {
        self.pinned.lock().expect("pins lock").contains_key(hash)
    }
}

/// What a capture produced: new content of each frozen block (`None`: all zeros) and the bytes it
/// added to the store.
#[derive(Debug, Default)]
pub struct Captured {
    pub hashes: BTreeMap<u64, Option<BlockHash>>,
    pub new_bytes: u64,
}

pub struct Capture {
    pub snapshot_id: String,
    /// Blocks to copy: the dirty map at the snapshot point.
    pub frozen: Bitmap,
    total: u64,
    /// Set once a frozen block is in the store (read without the lock on the write path).
    copied: Bitmap,
    /// A block is copied under its stripe's lock, so the copier threads and writers never copy the
    /// same block twice or let a write overtake its copy.
    stripes: Vec<Mutex<()>>,
    /// Stripes by content hash (taken after a block stripe, never before).
    content: Vec<Mutex<()>>,
    captured: Mutex<Captured>,
    store: Arc<dyn SnapshotStore>,
    pins: Arc<Pins>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").field("snapshot_id", &self.snapshot_id).field("total", &self.total).finish()
    }
}

impl Capture {
    pub fn new(snapshot_id: String, frozen: Bitmap, store: Arc<dyn SnapshotStore>, pins: Arc<Pins>) -> Self {
        let total = frozen.count();
        let copied = Bitmap::new(frozen.len());
        let stripes = (0..STRIPES).map(|_| Mutex::new(())).collect();
        let content = (0..STRIPES).map(|_| Mutex::new(())).collect();
        let captured = Mutex::new(Captured::default());
        Self { snapshot_id, frozen, total, copied, stripes, content, captured, store, pins }
    }

    /// Must a write to block `i` copy it first?
    pub fn needs_copy(&self, i: u64) -> bool {
        self.frozen.get(i) && !self.copied.get(i)
    }

    /// Percent of frozen blocks copied.
    pub fn progress(&self) -> u8 {
        (self.copied.count() * 100).checked_div(self.total).map_or(100, |p| p.min(99) as u8)
    }

    /// Copies frozen block `i` into the store unless it already is (by the copier or a writer).
    pub fn copy_block(&self, file: &VolumeFile, i: u64) -> io::Result<()> {
        if !self.needs_copy(i) {
            return Ok(());
        }
        let _stripe = self.stripes[(i % STRIPES) as usize].lock().expect("stripe lock");
        if self.copied.get(i) {
            return Ok(());
        }
        let mut new_bytes = 0;
        let offset = i * BLOCK_SIZE;
        // A block that is a hole in the file is zeros: no read, nothing stored.
        let hole = file.extents(offset, BLOCK_SIZE, 2)?.first().is_some_and(|e| e.hole && e.length >= BLOCK_SIZE);
        let hash = if hole {
            None
        } else {
            let mut buf = vec![0u8; BLOCK_SIZE as usize];
            file.read_at(&mut buf, offset)?;
            if is_zero(&buf) {
                None
            } else {
                let hash = BlockHash::of(&buf);
                self.pins.pin(hash);
                // Copiers storing the same content take turns, so it is stored (and counted) once.
                let _same = self.content[(u64::from(hash.0[0]) % STRIPES) as usize].lock().expect("content lock");
                if !self.store.has_block(&hash)? {
                    self.store.put_block(&hash, &buf)?;
                    new_bytes = BLOCK_SIZE;
                    metrics::counter!("ebsd_snapshot_stored_bytes").increment(BLOCK_SIZE);
                }
                Some(hash)
            }
        };
        let mut captured = self.captured.lock().expect("capture lock");
        captured.hashes.insert(i, hash);
        captured.new_bytes += new_bytes;
        self.copied.set(i);
        Ok(())
    }

    /// Copies every frozen block (the background copier), then hands back what was captured.
    /// `before` runs first for each block still to copy (a volume still hydrating fetches it: a block
    /// not fetched yet is a hole in the file but not zeros in the volume).
    pub fn run(&self, file: &VolumeFile, before: impl Fn(u64) -> io::Result<()> + Sync) -> io::Result<Captured> {
        // Storing a block is mostly waiting for its fsync: a few copiers keep the disk busy.
        let blocks = self.frozen.ones();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let copier = || -> io::Result<()> {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = blocks.get(n) else { return Ok(()) };
                if self.needs_copy(i) {
                    before(i)?;
                    self.copy_block(file, i)?;
                }
            }
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..COPIERS).map(|_| scope.spawn(copier)).collect();
            workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|_| Err(io::Error::other("copier panicked"))))
        })?;
        Ok(std::mem::take(&mut *self.captured.lock().expect("capture lock")))
    }

    /// Releases the pins of every block this capture stored (after its metadata commit or failure).
    pub fn unpin(&self, captured: &Captured) {
        for hash in captured.hashes.values().flatten() {
            self.pins.unpin(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshots::DirSnapshotStore;

    #[test]
    fn writes_to_frozen_blocks_copy_the_old_content_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = VolumeFile::create(&dir.path().join("v.img"), 8 * BLOCK_SIZE).unwrap();
        let store: Arc<dyn SnapshotStore> = Arc::new(DirSnapshotStore::open(&dir.path().join("store")).unwrap());
        file.write_at(&vec![1u8; BLOCK_SIZE as usize], 0).unwrap();
        file.write_at(&vec![2u8; BLOCK_SIZE as usize], 3 * BLOCK_SIZE).unwrap();
        let frozen = Bitmap::new(8);
        for i in [0, 3, 5] {
            frozen.set(i);
        }
        let pins = Arc::new(Pins::default());
        let capture = Capture::new("snap-1".into(), frozen, store.clone(), pins.clone());
        // A writer reaches block 3 before the copier: the old content goes to the snapshot first.
        assert!(capture.needs_copy(3));
        capture.copy_block(&file, 3).unwrap();
        file.write_at(&vec![9u8; BLOCK_SIZE as usize], 3 * BLOCK_SIZE).unwrap();
        assert!(!capture.needs_copy(3) && !capture.needs_copy(1), "copied, or never frozen");
        let captured = capture.run(&file, |_| Ok(())).unwrap();
        assert_eq!(captured.hashes.len(), 3);
        assert_eq!(captured.hashes[&5], None, "a hole is a zero block");
        let old = captured.hashes[&3].unwrap();
        assert_eq!(store.get_block(&old).unwrap().unwrap(), vec![2u8; BLOCK_SIZE as usize]);
        assert_eq!(captured.new_bytes, 2 * BLOCK_SIZE);
        assert!(pins.is_pinned(&old));
        capture.unpin(&captured);
        assert!(!pins.is_pinned(&old));
        assert_eq!(capture.progress(), 99, "100 % only once committed");
    }
}
