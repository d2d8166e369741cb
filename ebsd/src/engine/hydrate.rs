//! Lazy hydration of a volume created from a snapshot. The volume is usable at once: a read (or a
//! partial write) of a block not yet in the volume file fetches it from the snapshot store first, and
//! a background thread fetches the rest. Blocks the snapshot does not have are zeros, which the sparse
//! file already reads as.
//!
//! Progress is persisted after an fdatasync of the volume file (at every NBD FLUSH and every few
//! blocks of the background thread), so after a crash hydration resumes where durable data ends: a
//! block fetched again after a crash only overwrites writes that were never flushed.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::kv::WriteBatch;

use super::blocks::{BLOCK_SIZE, Bitmap, Manifest};
use super::handle::VolumeHandle;
use crate::store::snapshots::{BlockHash, SnapshotStore};
use crate::store::{MetaStore, VolumeFile};

/// Background progress is made durable every this many blocks.
const PERSIST_EVERY: u64 = 64;

pub struct Hydration {
    pub snapshot_id: String,
    manifest: Manifest,
    /// Blocks already in the volume file (or zeros in the snapshot).
    pub done: Bitmap,
    fetch: std::sync::Mutex<()>,
    store: Arc<dyn SnapshotStore>,
    /// `done.count()` when progress was last persisted.
    persisted: AtomicU64,
    cancelled: AtomicBool,
    /// Background fetch rate in bytes per second (0: as fast as the store answers).
    rate: u64,
}

impl std::fmt::Debug for Hydration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydration").field("snapshot_id", &self.snapshot_id).finish()
    }
}

impl Hydration {
    /// `done`: the persisted progress, or `None` for a new volume (then every block the snapshot does
    /// not hold is done already).
    pub fn new(
        snapshot_id: String,
        manifest: Manifest,
        blocks: u64,
        done: Option<Bitmap>,
        store: Arc<dyn SnapshotStore>,
        rate: u64,
    ) -> Self {
        let done = match done {
            Some(d) => d.resized(blocks),
            None => {
                let out = Bitmap::new(blocks);
                for i in (0..blocks).filter(|i| !manifest.blocks.contains_key(i)) {
                    out.set(i);
                }
                out
            }
        };
        let persisted = AtomicU64::new(done.count());
        Self {
            snapshot_id,
            manifest,
            done,
            fetch: std::sync::Mutex::new(()),
            store,
            persisted,
            cancelled: AtomicBool::new(false),
            rate,
        }
    }

    pub fn remaining(&self) -> u64 {
        self.done.len() - self.done.count()
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// Makes sure block `i` is in the volume file.
    pub fn ensure(&self, file: &VolumeFile, i: u64) -> io::Result<()> {
        if self.done.get(i) || i >= self.done.len() {
            return Ok(());
        }
        let _guard = self.fetch.lock().expect("hydration lock");
        if self.done.get(i) {
            return Ok(());
        }
        if let Some(hash) = self.manifest.blocks.get(&i) {
            let data = self.store.get_block(hash)?.ok_or_else(|| {
                io::Error::other(format!("block {} of {} is missing from the store", hash.to_hex(), self.snapshot_id))
            })?;
            if BlockHash::of(&data) != *hash {
                return Err(io::Error::other(format!("block {} of {} is corrupt", hash.to_hex(), self.snapshot_id)));
            }
            file.write_at(&data, i * BLOCK_SIZE)?;
            metrics::counter!("ebsd_hydrated_bytes").increment(BLOCK_SIZE);
        }
        self.done.set(i);
        Ok(())
    }

    /// Persists progress if it moved (the caller has just made the volume file durable).
    pub fn persist(&self, meta: &MetaStore, volume: &str) -> io::Result<()> {
        let count = self.done.count();
        if self.persisted.swap(count, Ordering::AcqRel) == count {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        meta.put_hydration_in(&mut batch, volume, &self.snapshot_id, &self.done);
        meta.write(batch).map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Fetches every block not yet hydrated, then records the volume as fully hydrated (which releases
/// the snapshot for DeleteSnapshot).
pub fn spawn_hydrator(handle: Arc<VolumeHandle>, hydration: Arc<Hydration>, meta: MetaStore) {
    let name = format!("hydrate-{}", handle.id);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        if let Err(e) = hydrate_all(&handle, &hydration, &meta) {
            tracing::error!(volume = %handle.id, error = %e, "hydration stopped; reads fetch blocks on demand");
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the hydration thread; reads fetch blocks on demand");
    }
}

fn hydrate_all(handle: &VolumeHandle, h: &Hydration, meta: &MetaStore) -> io::Result<()> {
    let started = Instant::now();
    let mut fetched: u64 = 0;
    for (n, &i) in h.manifest.blocks.keys().enumerate() {
        if h.cancelled.load(Ordering::Acquire) {
            return Ok(());
        }
        if h.done.get(i) {
            continue;
        }
        h.ensure(handle.file(), i)?;
        fetched += BLOCK_SIZE;
        if h.rate > 0 {
            // Pace the background fetches: the volume's own I/O comes first.
            let due = Duration::from_secs_f64(fetched as f64 / h.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if (n as u64 + 1).is_multiple_of(PERSIST_EVERY) {
            handle.file().sync_data()?;
            h.persist(meta, &handle.id)?;
        }
    }
    if h.cancelled.load(Ordering::Acquire) {
        return Ok(());
    }
    handle.file().sync_data()?;
    let mut batch = WriteBatch::new();
    meta.delete_hydration_in(&mut batch, &handle.id);
    meta.write(batch).map_err(|e| io::Error::other(e.to_string()))?;
    handle.finish_hydration();
    tracing::info!(volume = %handle.id, snapshot = %h.snapshot_id, seconds = started.elapsed().as_secs_f64(), "volume fully hydrated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::snapshots::DirSnapshotStore;

    #[test]
    fn blocks_arrive_on_demand_and_zeros_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn SnapshotStore> = Arc::new(DirSnapshotStore::open(&dir.path().join("s")).unwrap());
        let data = vec![7u8; BLOCK_SIZE as usize];
        let hash = BlockHash::of(&data);
        store.put_block(&hash, &data).unwrap();
        let manifest = Manifest { volume_size_gib: 1, blocks: [(2, hash)].into() };
        let h = Hydration::new("snap-1".into(), manifest, 8, None, store, 0);
        assert_eq!(h.remaining(), 1, "only the block the snapshot holds must be fetched");
        let file = VolumeFile::create(&dir.path().join("v.img"), 8 * BLOCK_SIZE).unwrap();
        h.ensure(&file, 0).unwrap();
        h.ensure(&file, 2).unwrap();
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        file.read_at(&mut buf, 2 * BLOCK_SIZE).unwrap();
        assert_eq!(buf, data);
        assert_eq!(h.remaining(), 0);
    }
}
