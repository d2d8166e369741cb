//! Object bodies. A blob is written through a [`BlobWriter`] straight under its id and is fsynced on
//! `commit`; whether it is *used* is decided by the metadata that points at it (the commit point of
//! every write), which only learns the id after `commit`. A write that is dropped removes its file; one
//! cut short by a crash leaves a file no metadata references: an orphan, removed at start-up by the
//! engine. (Writing under a temporary name and renaming on commit cost a second journal commit per
//! PUT: the rename dirtied the directory after the file's fsync. Created under its own name, the
//! file's fsync commits its directory entry too, and the directory sync finds nothing left to do:
//! 1 MiB PUTs went from 127 to 240 a second on one client.)

use std::collections::HashMap;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;

use super::chunked::{ChunkMap, HeadMap};

/// The name of a committed blob: 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    pub fn generate() -> Self {
        Self(format!("{:032x}", uuid::Uuid::new_v4().as_u128()))
    }
    /// Accepts only ids this store could have generated (they become file names).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))).then(|| Self(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A body being read: chunks of bytes in order.
pub type BlobReader = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

#[async_trait::async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, data: Bytes) -> io::Result<()>;
    /// Makes the blob durable and visible under its id.
    async fn commit(self: Box<Self>) -> io::Result<BlobId>;
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Starts a new blob. Dropping the writer without `commit` discards it.
    async fn create(&self) -> io::Result<Box<dyn BlobWriter>>;
    /// Streams `range` of a committed blob (the range must lie inside it).
    async fn read(&self, id: &BlobId, range: Range<u64>) -> io::Result<BlobReader>;
    /// `range` of a committed blob in chunks of exactly `chunk` bytes (the last may be shorter), each
    /// passed through `map` with its offset from `range.start` on the blocking pool, a few ahead of the
    /// consumer, in order (so `chunk` is the memory each chunk in flight costs: the caller sizes it). A
    /// store that can read positionally maps each chunk on the thread that read it.
    async fn read_mapped(&self, id: &BlobId, range: Range<u64>, chunk: usize, map: ChunkMap) -> io::Result<BlobReader> {
        Ok(super::chunked::rechunk(self.read(id, range).await?, chunk, map))
    }
    /// [`BlobStore::read_mapped`] with a map that depends on a few bytes of the blob (an encrypted
    /// stream's header holds the salt its key derives from): reads `head`, builds the map from those
    /// bytes, then reads `range` through it. The file store does all of it with one open, on one trip
    /// to the blocking pool (a read of the head, then a mapped read, took two more: ~70 µs of an SSE
    /// GET of 64 KiB, whose plain GET takes ~250).
    async fn read_mapped_with_head(
        &self,
        id: &BlobId,
        head: Range<u64>,
        range: Range<u64>,
        chunk: usize,
        make_map: HeadMap,
    ) -> io::Result<BlobReader> {
        use futures::StreamExt;
        let mut reader = self.read(id, head).await?;
        let mut bytes = Vec::new();
        while let Some(piece) = reader.next().await {
            bytes.extend_from_slice(&piece?);
        }
        self.read_mapped(id, range, chunk, make_map(&bytes)?).await
    }
    /// Removes a blob; removing a missing blob is not an error.
    async fn delete(&self, id: &BlobId) -> io::Result<()>;
    /// [`BlobStore::delete`] for a caller on the blocking pool: the engine deletes released blobs on
    /// the thread that committed their release, since a second trip to the pool cost a DELETE of a
    /// file-backed object about as much as its metadata commit's own trip.
    fn delete_blocking(&self, id: &BlobId) -> io::Result<()>;
    /// Calls `visit` for every blob, including any a crash cut short (start-up garbage collection).
    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()>;
    /// Deletes temporaries of interrupted writes (data dirs of earlier versions); returns how many.
    fn remove_incomplete(&self) -> io::Result<usize>;
}

/// Bytes read from a file per chunk while streaming a body out.
const READ_CHUNK: usize = 1024 * 1024;
/// Bytes collected before one write(2) goes to the blocking pool.
const WRITE_BUFFER: usize = 256 * 1024;
/// Dirty bytes of a blob after which their write-back is started (not waited for), so that the
/// fsync on commit finds little left to write instead of the whole body (RocksDB's bytes_per_sync).
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Blobs as files: `<root>/<2 hex>/<id>` (`<root>/tmp/` held temporaries in earlier versions), released blobs in
/// `<root>/trash/` until the reaper has freed them.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<PathBuf>,
    reaper: Arc<super::reaper::Reaper>,
}

impl FsBlobStore {
    pub fn open(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        for shard in 0..=255u8 {
            std::fs::create_dir_all(root.join(format!("{shard:02x}")))?;
        }
        let reaper = Arc::new(super::reaper::Reaper::start(&root.join("trash"), Default::default())?);
        Ok(Self { root: Arc::new(root.to_path_buf()), reaper })
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.0[..2]).join(&id.0)
    }
}

struct FsWriter {
    /// The file, unless a write is in flight on the blocking pool (then `inflight` gives it back).
    file: Option<std::fs::File>,
    inflight: Option<tokio::task::JoinHandle<io::Result<std::fs::File>>>,
    target: PathBuf,
    id: BlobId,
    pending: Vec<Bytes>,
    pending_len: usize,
    /// Bytes handed to write(2), and how many of them have had their write-back started.
    written: u64,
    writeback_started: u64,
    committed: bool,
}

impl FsWriter {
    async fn take_file(&mut self) -> io::Result<std::fs::File> {
        if let Some(write) = self.inflight.take() {
            return write.await.map_err(io::Error::other)?;
        }
        self.file.take().ok_or_else(|| io::Error::other("blob writer already failed"))
    }

    /// Starts writing what is pending without waiting for it, so the next chunks arrive from the
    /// network while these go to the disk (at most one write in flight).
    async fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunks = std::mem::take(&mut self.pending);
        self.written += std::mem::take(&mut self.pending_len) as u64;
        let writeback = (self.written - self.writeback_started >= WRITEBACK_STEP)
            .then(|| (self.writeback_started, self.written - self.writeback_started));
        if writeback.is_some() {
            self.writeback_started = self.written;
        }
        let mut file = self.take_file().await?;
        self.inflight = Some(tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
            for chunk in &chunks {
                file.write_all(chunk)?;
            }
            if let Some((offset, len)) = writeback {
                start_writeback(&file, offset, len);
            }
            Ok(file)
        }));
        Ok(())
    }
}

/// Starts writing `len` bytes at `offset` of `file` to the disk without waiting for them. Only an
/// optimisation: the commit's fsync is what makes them durable, so a failure here is ignored.
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor this function borrows for its duration.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[async_trait::async_trait]
impl BlobWriter for FsWriter {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.pending_len += data.len();
        self.pending.push(data);
        if self.pending_len >= WRITE_BUFFER {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<BlobId> {
        self.flush_pending().await?;
        let file = self.take_file().await?;
        let target = self.target.clone();
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            file.sync_all()?;
            drop(file);
            // The name must survive a crash too. On ext4 the file's fsync has committed it already;
            // other file systems may need the directory's own.
            std::fs::File::open(target.parent().expect("blob path has a parent"))?.sync_all()
        })
        .await
        .map_err(io::Error::other)??;
        self.committed = true;
        Ok(self.id.clone())
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.target);
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for FsBlobStore {
    async fn create(&self) -> io::Result<Box<dyn BlobWriter>> {
        self.reaper.touch();
        let id = BlobId::generate();
        let target = self.path(&id);
        let path = target.clone();
        let file = super::blocking(move || std::fs::File::create_new(path)).await?;
        Ok(Box::new(FsWriter {
            file: Some(file),
            inflight: None,
            target,
            id,
            pending: Vec::new(),
            pending_len: 0,
            written: 0,
            writeback_started: 0,
            committed: false,
        }))
    }

    async fn read(&self, id: &BlobId, range: Range<u64>) -> io::Result<BlobReader> {
        self.read_mapped(id, range, READ_CHUNK, super::chunked::unchanged()).await
    }

    async fn read_mapped(&self, id: &BlobId, range: Range<u64>, chunk: usize, map: ChunkMap) -> io::Result<BlobReader> {
        let path = self.path(id);
        let file = super::blocking(move || std::fs::File::open(path)).await?;
        Ok(super::chunked::read_file(file, range, chunk, map))
    }

    async fn read_mapped_with_head(
        &self,
        id: &BlobId,
        head: Range<u64>,
        range: Range<u64>,
        chunk: usize,
        make_map: HeadMap,
    ) -> io::Result<BlobReader> {
        let path = self.path(id);
        let (file, map) = super::blocking(move || {
            let file = std::fs::File::open(path)?;
            let head = super::chunked::read_exact_at(&file, head.start, (head.end - head.start) as usize)?;
            let map = make_map(&head)?;
            Ok((file, map))
        })
        .await?;
        Ok(super::chunked::read_file(file, range, chunk, map))
    }

    async fn delete(&self, id: &BlobId) -> io::Result<()> {
        let (store, id) = (self.clone(), id.clone());
        super::blocking(move || store.delete_blocking(&id)).await
    }

    fn delete_blocking(&self, id: &BlobId) -> io::Result<()> {
        self.reaper.discard(&self.path(id), &id.0).map(|_| ())
    }

    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()> {
        for shard in 0..=255u8 {
            for entry in std::fs::read_dir(self.root.join(format!("{shard:02x}")))? {
                if let Some(id) = entry?.file_name().to_str().and_then(BlobId::parse) {
                    visit(id);
                }
            }
        }
        Ok(())
    }

    fn remove_incomplete(&self) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(self.root.join("tmp"))? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Blobs in memory, for engine unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryBlobStore {
    blobs: Arc<Mutex<HashMap<BlobId, Bytes>>>,
}

struct MemoryWriter {
    store: MemoryBlobStore,
    data: Vec<u8>,
}

#[async_trait::async_trait]
impl BlobWriter for MemoryWriter {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.data.extend_from_slice(&data);
        Ok(())
    }
    async fn commit(self: Box<Self>) -> io::Result<BlobId> {
        let id = BlobId::generate();
        self.store.blobs.lock().expect("blob lock").insert(id.clone(), Bytes::from(self.data));
        Ok(id)
    }
}

#[async_trait::async_trait]
impl BlobStore for MemoryBlobStore {
    async fn create(&self) -> io::Result<Box<dyn BlobWriter>> {
        Ok(Box::new(MemoryWriter { store: self.clone(), data: Vec::new() }))
    }
    async fn read(&self, id: &BlobId, range: Range<u64>) -> io::Result<BlobReader> {
        let data = self
            .blobs
            .lock()
            .expect("blob lock")
            .get(id)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        if range.end > data.len() as u64 || range.start > range.end {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "range outside the blob"));
        }
        let slice = data.slice(range.start as usize..range.end as usize);
        Ok(Box::pin(futures::stream::iter((!slice.is_empty()).then_some(Ok(slice)))))
    }
    async fn delete(&self, id: &BlobId) -> io::Result<()> {
        self.delete_blocking(id)
    }
    fn delete_blocking(&self, id: &BlobId) -> io::Result<()> {
        self.blobs.lock().expect("blob lock").remove(id);
        Ok(())
    }
    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()> {
        let ids: Vec<BlobId> = self.blobs.lock().expect("blob lock").keys().cloned().collect();
        ids.into_iter().for_each(visit);
        Ok(())
    }
    fn remove_incomplete(&self) -> io::Result<usize> {
        Ok(0)
    }
}
