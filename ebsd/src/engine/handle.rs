//! An open volume as the NBD server uses it: positioned I/O on the volume's file, paced by its
//! performance model, counted in CloudWatch-style per-volume metrics.
//!
//! Every change to a volume's data (write, write-zeroes, trim) passes through this handle: it marks the
//! block in the volume's dirty map (one atomic OR, in memory; the map is saved at clean shutdown and
//! taken as all-dirty after a crash), copies a block a running snapshot still needs first
//! (`capture`), and fetches a block of a volume still hydrating from a snapshot (`hydrate`).
//!
//! Every connection of a volume shares one handle, so writes completed on any connection are visible to
//! all and a flush on one covers them all (what NBD_FLAG_CAN_MULTI_CONN promises).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use metrics::{Counter, Gauge};
use tokio_util::sync::CancellationToken;

use super::blocks::{Bitmap, block_count, blocks_of};
use super::capture::Capture;
use super::hydrate::Hydration;
use super::perf::PerfModel;
use super::volume::VolumeSpec;
use crate::store::{Extent, MetaStore, Uring, VolumeFile};

/// Per-volume metrics named after EBS's CloudWatch metrics.
struct VolumeMetrics {
    read_ops: Counter,
    write_ops: Counter,
    read_bytes: Counter,
    write_bytes: Counter,
    queue_length: Gauge,
    burst_balance: Gauge,
}

impl VolumeMetrics {
    fn new(id: &str) -> Self {
        Self {
            read_ops: metrics::counter!("VolumeReadOps", "volume_id" => id.to_string()),
            write_ops: metrics::counter!("VolumeWriteOps", "volume_id" => id.to_string()),
            read_bytes: metrics::counter!("VolumeReadBytes", "volume_id" => id.to_string()),
            write_bytes: metrics::counter!("VolumeWriteBytes", "volume_id" => id.to_string()),
            queue_length: metrics::gauge!("VolumeQueueLength", "volume_id" => id.to_string()),
            burst_balance: metrics::gauge!("BurstBalance", "volume_id" => id.to_string()),
        }
    }
}

impl std::fmt::Debug for VolumeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeHandle").field("id", &self.id).field("size", &self.size()).finish()
    }
}

pub struct VolumeHandle {
    pub id: String,
    file: VolumeFile,
    model: PerfModel,
    size: AtomicU64,
    /// Cancelled when the volume's last attachment goes away: its NBD connections end.
    session: Mutex<CancellationToken>,
    metrics: VolumeMetrics,
    /// Reads, writes and syncs go through io_uring when the kernel offers it.
    uring: Option<Arc<Uring>>,
    meta: MetaStore,
    /// Blocks changed since the volume's last snapshot.
    dirty: RwLock<Bitmap>,
    /// The snapshot being taken, if any; `capturing` lets the write path skip the lock otherwise.
    capture: RwLock<Option<Arc<Capture>>>,
    capturing: AtomicBool,
    /// The snapshot this volume is still hydrating from, if any.
    hydration: RwLock<Option<Arc<Hydration>>>,
    hydrating: AtomicBool,
}

/// A request counted in VolumeQueueLength until dropped.
pub struct Queued {
    gauge: Gauge,
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.gauge.decrement(1.0);
    }
}

/// Whether a request is a read or a write, for accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    Read,
    Write,
}

impl VolumeHandle {
    pub(super) fn new(
        id: String,
        file: VolumeFile,
        spec: &VolumeSpec,
        model: PerfModel,
        uring: Option<Arc<Uring>>,
        meta: MetaStore,
        dirty: Bitmap,
    ) -> Self {
        let metrics = VolumeMetrics::new(&id);
        let handle = Self {
            size: AtomicU64::new(spec.size_bytes()),
            file,
            model,
            session: Mutex::new(CancellationToken::new()),
            metrics,
            uring,
            meta,
            dirty: RwLock::new(dirty.resized(block_count(spec.size_bytes()))),
            capture: RwLock::new(None),
            capturing: AtomicBool::new(false),
            hydration: RwLock::new(None),
            hydrating: AtomicBool::new(false),
            id,
        };
        handle.publish_burst_balance();
        handle
    }

    /// The volume's size in bytes now (ModifyVolume may grow it; clients see it on reconnect).
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub(super) fn resize(&self, spec: &VolumeSpec) -> io::Result<()> {
        self.file.grow(spec.size_bytes())?;
        {
            let mut dirty = self.dirty.write().expect("dirty lock");
            *dirty = dirty.resized(block_count(spec.size_bytes()));
        }
        self.size.store(spec.size_bytes(), Ordering::Release);
        self.model.reconfigure(spec);
        self.publish_burst_balance();
        Ok(())
    }

    /// The token NBD connections watch: cancelled on detach.
    pub(super) fn session(&self) -> CancellationToken {
        self.session.lock().expect("session lock").clone()
    }

    pub(super) fn end_session(&self) {
        let mut session = self.session.lock().expect("session lock");
        session.cancel();
        *session = CancellationToken::new();
    }

    /// Counts a request in the volume's queue length and operation metrics and charges it to the
    /// performance model; returns how long it must wait before its I/O. The request stays in the queue
    /// length until the returned guard is dropped (after its I/O).
    pub fn admit(&self, kind: IoKind, len: u64) -> (Queued, Duration) {
        self.metrics.queue_length.increment(1.0);
        let queued = Queued { gauge: self.metrics.queue_length.clone() };
        match kind {
            IoKind::Read => {
                self.metrics.read_ops.increment(1);
                self.metrics.read_bytes.increment(len);
            }
            IoKind::Write => {
                self.metrics.write_ops.increment(1);
                self.metrics.write_bytes.increment(len);
            }
        }
        let (wait, balance) = self.model.charge(len);
        if let Some(balance) = balance {
            self.metrics.burst_balance.set(balance);
        }
        (queued, wait)
    }

    /// `admit`, then wait as long as the model says.
    pub async fn throttle(&self, kind: IoKind, len: u64) -> Queued {
        let (queued, wait) = self.admit(kind, len);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        queued
    }

    fn publish_burst_balance(&self) {
        if let Some(balance) = self.model.burst_balance() {
            self.metrics.burst_balance.set(balance);
        }
    }

    /// HDD-backed types (st1, sc1) tell NBD clients the disk is rotational.
    pub fn rotational(&self) -> bool {
        self.model.limits().op_size >= super::volume::MIB
    }

    /// Reads `len` bytes at `offset` (io_uring, else the blocking pool).
    pub async fn read_async(self: &Arc<Self>, len: usize, offset: u64) -> io::Result<Vec<u8>> {
        if self.needs_hydration(offset, len as u64) {
            let me = self.clone();
            blocking(move || me.hydrate_range(offset, len as u64)).await?;
        }
        if let Some(ring) = &self.uring {
            return ring.read(self.file.shared(), len, offset).await;
        }
        let me = self.clone();
        blocking(move || {
            let mut buf = vec![0u8; len];
            me.read(&mut buf, offset).map(|()| buf)
        })
        .await
    }

    /// Writes `data` at `offset`; with `fua`, durable before it returns.
    pub async fn write_async(self: &Arc<Self>, data: Vec<u8>, offset: u64, fua: bool) -> io::Result<()> {
        let len = data.len() as u64;
        if self.on_slow_path() {
            let me = self.clone();
            blocking(move || me.prepare_change(offset, len)).await?;
        }
        if let Some(ring) = &self.uring {
            ring.write(self.file.shared(), data, offset).await?;
            self.mark_dirty(offset, len);
            if fua && self.hydrating.load(Ordering::Acquire) {
                // The hydration progress must be durable with the write (see `flush`).
                let me = self.clone();
                return blocking(move || me.flush()).await;
            }
            return if fua { ring.sync_data(self.file.shared()).await } else { Ok(()) };
        }
        let me = self.clone();
        blocking(move || me.write(&data, offset, fua)).await
    }

    /// Makes every completed write of every connection durable.
    pub async fn flush_async(self: &Arc<Self>) -> io::Result<()> {
        if let Some(ring) = &self.uring
            && !self.hydrating.load(Ordering::Acquire)
        {
            return ring.sync_data(self.file.shared()).await;
        }
        let me = self.clone();
        blocking(move || me.flush()).await
    }

    pub fn read(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.hydrate_range(offset, buf.len() as u64)?;
        self.file.read_at(buf, offset)
    }

    /// Reads `buf` at `offset` only if that cannot block: the page cache holds all of it and no block
    /// of it still has to be fetched from a snapshot. `false`: take the queued path.
    pub fn read_cached(&self, buf: &mut [u8], offset: u64) -> io::Result<bool> {
        if self.hydrating.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.file.read_cached(buf, offset)
    }

    /// A small non-FUA write done by the caller's thread: one buffered pwrite and a dirty bit, when no
    /// snapshot capture or hydration needs the write path to look at blocks first (then `None`).
    pub fn write_inline(&self, data: &[u8], offset: u64) -> Option<io::Result<()>> {
        if self.on_slow_path() {
            return None;
        }
        Some(self.file.write_at(data, offset).map(|()| self.mark_dirty(offset, data.len() as u64)))
    }

    pub fn write(&self, data: &[u8], offset: u64, fua: bool) -> io::Result<()> {
        self.prepare_change(offset, data.len() as u64)?;
        self.file.write_at(data, offset)?;
        self.mark_dirty(offset, data.len() as u64);
        if fua { self.flush() } else { Ok(()) }
    }

    pub fn trim(&self, offset: u64, length: u64, fua: bool) -> io::Result<()> {
        self.prepare_change(offset, length)?;
        self.file.punch_hole(offset, length)?;
        self.mark_dirty(offset, length);
        if fua { self.flush() } else { Ok(()) }
    }

    /// Zeroes a range: a hole unless the client insists on allocation (NO_HOLE).
    pub fn write_zeroes(&self, offset: u64, length: u64, may_trim: bool, fua: bool) -> io::Result<()> {
        self.prepare_change(offset, length)?;
        if may_trim {
            self.file.punch_hole(offset, length)?
        } else {
            self.file.zero_allocated(offset, length)?
        }
        self.mark_dirty(offset, length);
        if fua { self.flush() } else { Ok(()) }
    }

    /// fdatasync, then (while hydrating) the hydration progress that data now backs. FUA writes take
    /// this path too: a block written before it was hydrated must be recorded as hydrated, or after a
    /// crash the hydrator fetches it again from the snapshot over the acknowledged data.
    pub fn flush(&self) -> io::Result<()> {
        self.file.sync_data()?;
        if let Some(h) = self.hydration() {
            h.persist(&self.meta, &self.id)?;
        }
        Ok(())
    }

    /// Is a snapshot being taken or a hydration running (the write path must look at blocks first)?
    fn on_slow_path(&self) -> bool {
        self.capturing.load(Ordering::Acquire) || self.hydrating.load(Ordering::Acquire)
    }

    /// Does a block of the range still have to be fetched from the snapshot?
    fn needs_hydration(&self, offset: u64, length: u64) -> bool {
        self.hydrating.load(Ordering::Acquire)
            && self.hydration().is_some_and(|h| blocks_of(offset, length).any(|i| !h.done.get(i)))
    }

    /// Before a change of `[offset, offset + length)`: fetch blocks still hydrating (a partial write
    /// must land on the block's real content), and copy blocks a running snapshot still needs.
    fn prepare_change(&self, offset: u64, length: u64) -> io::Result<()> {
        self.hydrate_range(offset, length)?;
        if self.capturing.load(Ordering::Acquire)
            && let Some(capture) = self.capture.read().expect("capture lock").clone()
        {
            for i in blocks_of(offset, length) {
                if capture.needs_copy(i) {
                    capture.copy_block(&self.file, i)?;
                    metrics::counter!("ebsd_snapshot_copy_on_write_blocks").increment(1);
                }
            }
        }
        Ok(())
    }

    /// After a change: the blocks are dirty (the next snapshot copies them).
    fn mark_dirty(&self, offset: u64, length: u64) {
        let dirty = self.dirty.read().expect("dirty lock");
        for i in blocks_of(offset, length) {
            dirty.set(i);
        }
    }

    pub(super) fn hydrate_range(&self, offset: u64, length: u64) -> io::Result<()> {
        if !self.hydrating.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some(h) = self.hydration() {
            for i in blocks_of(offset, length) {
                h.ensure(&self.file, i)?;
            }
        }
        Ok(())
    }

    pub fn hydration(&self) -> Option<Arc<Hydration>> {
        self.hydration.read().expect("hydration lock").clone()
    }

    pub(super) fn start_hydration(&self, h: Arc<Hydration>) {
        *self.hydration.write().expect("hydration lock") = Some(h);
        self.hydrating.store(true, Ordering::Release);
    }

    /// Every block is in the file: reads and writes stop looking at the snapshot.
    pub(super) fn finish_hydration(&self) {
        self.hydrating.store(false, Ordering::Release);
        *self.hydration.write().expect("hydration lock") = None;
    }

    /// Freezes the dirty map into a new capture; the live map starts empty.
    pub(super) fn begin_capture(&self, make: impl FnOnce(Bitmap) -> Capture) -> Option<Arc<Capture>> {
        let mut slot = self.capture.write().expect("capture lock");
        if slot.is_some() {
            return None;
        }
        let frozen = self.dirty.read().expect("dirty lock").take();
        let capture = Arc::new(make(frozen));
        *slot = Some(capture.clone());
        self.capturing.store(true, Ordering::Release);
        Some(capture)
    }

    /// Ends the running capture; if it failed, its blocks go back into the dirty map so the next
    /// snapshot copies them.
    pub(super) fn end_capture(&self, failed: bool) {
        let mut slot = self.capture.write().expect("capture lock");
        if let Some(capture) = slot.take()
            && failed
        {
            self.dirty.read().expect("dirty lock").merge(&capture.frozen);
        }
        self.capturing.store(false, Ordering::Release);
    }

    pub fn capture(&self) -> Option<Arc<Capture>> {
        self.capture.read().expect("capture lock").clone()
    }

    /// The dirty map to save at shutdown: the live map plus the blocks of a capture that will not
    /// finish.
    pub(super) fn dirty_for_shutdown(&self) -> Bitmap {
        let dirty = self.dirty.read().expect("dirty lock");
        let out = dirty.resized(dirty.len());
        if let Some(c) = self.capture() {
            out.merge(&c.frozen);
        }
        out
    }

    pub fn dirty_blocks(&self) -> u64 {
        self.dirty.read().expect("dirty lock").count()
    }

    pub fn file(&self) -> &VolumeFile {
        &self.file
    }

    pub fn prefetch(&self, offset: u64, length: u64) -> io::Result<()> {
        self.file.prefetch(offset, length)
    }

    pub fn extents(&self, offset: u64, length: u64, max: usize) -> io::Result<Vec<Extent>> {
        if self.hydrating.load(Ordering::Acquire) {
            // Blocks not fetched yet are holes in the file but data in the volume.
            return Ok(vec![Extent { offset, length, hole: false }]);
        }
        self.file.extents(offset, length, max)
    }

    pub fn allocated_bytes(&self) -> io::Result<u64> {
        self.file.allocated_bytes()
    }

    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }
}

/// Runs blocking file work on tokio's blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(io::Error::other(e)))
}
