//! An open volume as the NBD server uses it: positioned I/O on the volume's file, paced by its
//! performance model, counted in CloudWatch-style per-volume metrics.
//!
//! Every change to a volume's data (write, write-zeroes, trim) passes through this handle: it is where
//! the persistent dirty-block map that incremental snapshots need will be marked.
//!
//! Every connection of a volume shares one handle, so writes completed on any connection are visible to
//! all and a flush on one covers them all (what NBD_FLAG_CAN_MULTI_CONN promises).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge};
use tokio_util::sync::CancellationToken;

use super::perf::PerfModel;
use super::volume::VolumeSpec;
use crate::store::{Extent, Uring, VolumeFile};

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
}

/// A request counted in VolumeQueueLength until dropped.
pub struct Queued<'a> {
    gauge: &'a Gauge,
}

impl Drop for Queued<'_> {
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
    ) -> Self {
        let metrics = VolumeMetrics::new(&id);
        let handle = Self {
            size: AtomicU64::new(spec.size_bytes()),
            file,
            model,
            session: Mutex::new(CancellationToken::new()),
            metrics,
            uring,
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

    /// Counts a request in the volume's queue length and operation metrics, then waits as long as the
    /// performance model says a request of `len` bytes must. The request stays in the queue length
    /// until the returned guard is dropped (after its I/O).
    pub async fn throttle(&self, kind: IoKind, len: u64) -> Queued<'_> {
        self.metrics.queue_length.increment(1.0);
        let queued = Queued { gauge: &self.metrics.queue_length };
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
        if let Some(ring) = &self.uring {
            ring.write(self.file.shared(), data, offset).await?;
            return if fua { ring.sync_data(self.file.shared()).await } else { Ok(()) };
        }
        let me = self.clone();
        blocking(move || me.write(&data, offset, fua)).await
    }

    /// Makes every completed write of every connection durable.
    pub async fn flush_async(self: &Arc<Self>) -> io::Result<()> {
        if let Some(ring) = &self.uring {
            return ring.sync_data(self.file.shared()).await;
        }
        let me = self.clone();
        blocking(move || me.flush()).await
    }

    pub fn read(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_at(buf, offset)
    }

    pub fn write(&self, data: &[u8], offset: u64, fua: bool) -> io::Result<()> {
        self.file.write_at(data, offset)?;
        if fua { self.file.sync_data() } else { Ok(()) }
    }

    pub fn trim(&self, offset: u64, length: u64, fua: bool) -> io::Result<()> {
        self.file.punch_hole(offset, length)?;
        if fua { self.file.sync_data() } else { Ok(()) }
    }

    /// Zeroes a range: a hole unless the client insists on allocation (NO_HOLE).
    pub fn write_zeroes(&self, offset: u64, length: u64, may_trim: bool, fua: bool) -> io::Result<()> {
        if may_trim {
            self.file.punch_hole(offset, length)?
        } else {
            self.file.zero_allocated(offset, length)?
        }
        if fua { self.file.sync_data() } else { Ok(()) }
    }

    pub fn flush(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    pub fn prefetch(&self, offset: u64, length: u64) -> io::Result<()> {
        self.file.prefetch(offset, length)
    }

    pub fn extents(&self, offset: u64, length: u64, max: usize) -> io::Result<Vec<Extent>> {
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
