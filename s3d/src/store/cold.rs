//! The cold tier: where GLACIER and DEEP_ARCHIVE bodies live once archived. [`ColdTier`] is the seam
//! (a remote S3 endpoint can implement it later); [`LocalColdTier`] keeps bodies zstd-compressed in
//! append-only pack files under their own directory, several bodies per pack, with an index in its
//! own small key-value store:
//!
//! | cf | key | value |
//! |---|---|---|
//! | `entries` | cold id | [`Entry`]: pack, offset, stored and raw length |
//! | `bypack` | pack (u64 BE) + cold id | empty: which entries a pack holds (for compaction) |
//!
//! A body is appended as one zstd frame and fsynced before its index entry is written: a crash leaves
//! at most dead bytes at a pack's end. Deleting drops the index entry; [`LocalColdTier::compact_one`]
//! later rewrites a mostly-dead sealed pack's live frames into the current pack and removes it, and a
//! sealed pack with nothing live is removed outright — so deleted space comes back.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::kv::{Direction, KeyRange, KvStore, MemoryKv, RocksKv, WriteBatch};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::blob::{BlobId, BlobReader};
use super::zstd_stream::{Compressor, Decompressor};

/// A pack is sealed (no more appends) once it reaches this size.
pub const PACK_TARGET: u64 = 64 * 1024 * 1024;
/// A sealed pack is rewritten once less than this fraction of it is live.
const COMPACT_BELOW_LIVE: f64 = 0.5;
/// zstd level: the cold tier trades CPU for space, but archiving must keep up with a lifecycle pass.
const ZSTD_LEVEL: i32 = 3;
/// Chunks between the async side and the blocking file I/O (bounded: memory stays flat).
const CHANNEL_DEPTH: usize = 4;
const READ_CHUNK: usize = 1024 * 1024;

const CF_ENTRIES: &str = "entries";
const CF_BYPACK: &str = "bypack";

/// Space used by the cold tier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ColdUsage {
    pub objects: u64,
    /// Uncompressed bytes of the live bodies.
    pub raw_bytes: u64,
    /// Compressed bytes of the live bodies.
    pub stored_bytes: u64,
    /// Bytes of all pack files (live + dead, until compaction).
    pub pack_bytes: u64,
    pub packs: u64,
}

#[async_trait::async_trait]
pub trait ColdTier: Send + Sync {
    /// Stores `body` under `id`; durable when this returns. Returns the stored (compressed) size.
    async fn put(&self, id: &BlobId, body: BlobReader) -> io::Result<u64>;
    /// Streams the whole body back, decompressed.
    async fn read(&self, id: &BlobId) -> io::Result<BlobReader>;
    /// Forgets a body; a missing id is not an error. Space comes back with [`ColdTier::compact_one`].
    async fn delete(&self, id: &BlobId) -> io::Result<()>;
    /// Calls `visit` for every stored body (start-up garbage collection).
    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()>;
    /// Reclaims some dead space (bounded work); returns whether anything was done.
    async fn compact_one(&self) -> io::Result<bool>;
    fn usage(&self) -> ColdUsage;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    pack: u64,
    offset: u64,
    stored: u64,
    raw: u64,
}

#[derive(Debug, Default)]
struct Packs {
    /// The pack appends go to.
    current: u64,
    /// pack → (file size, live stored bytes, live entries).
    sizes: BTreeMap<u64, (u64, u64, u64)>,
    raw_live: u64,
}

pub struct LocalColdTier {
    dir: Arc<PathBuf>,
    index: Arc<dyn KvStore>,
    packs: Arc<Mutex<Packs>>,
    /// One append (or compaction) at a time.
    writer: tokio::sync::Mutex<()>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn pack_key(pack: u64, id: &BlobId) -> Vec<u8> {
    [&pack.to_be_bytes()[..], id.as_str().as_bytes()].concat()
}

impl LocalColdTier {
    /// Opens the tier under `dir` (packs in `dir/packs`, index in `dir/index`).
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("packs"))?;
        let index = RocksKv::open(&dir.join("index"), &[CF_ENTRIES, CF_BYPACK]).map_err(io_err)?;
        Self::with_index(dir, Arc::new(index))
    }

    /// A tier whose index lives in memory (tests).
    pub fn open_with_memory_index(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("packs"))?;
        Self::with_index(dir, Arc::new(MemoryKv::new(&[CF_ENTRIES, CF_BYPACK])))
    }

    fn with_index(dir: &Path, index: Arc<dyn KvStore>) -> io::Result<Self> {
        let mut packs = Packs::default();
        for item in std::fs::read_dir(dir.join("packs"))? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".pack").and_then(|h| u64::from_str_radix(h, 16).ok()) {
                packs.sizes.insert(n, (item.metadata()?.len(), 0, 0));
            }
        }
        for item in index.scan(CF_ENTRIES, KeyRange::all(), Direction::Forward).map_err(io_err)? {
            let (_, v) = item.map_err(io_err)?;
            let e: Entry = serde_json::from_slice(&v).map_err(io_err)?;
            let s = packs.sizes.entry(e.pack).or_insert((0, 0, 0));
            s.1 += e.stored;
            s.2 += 1;
            packs.raw_live += e.raw;
        }
        packs.current = packs.sizes.keys().next_back().copied().unwrap_or(1);
        packs.sizes.entry(packs.current).or_insert((0, 0, 0));
        let tier = Self {
            dir: Arc::new(dir.to_path_buf()),
            index,
            packs: Arc::new(Mutex::new(packs)),
            writer: tokio::sync::Mutex::new(()),
        };
        // Packs a crash left with nothing live (e.g. after a compaction's index switch) go now.
        let dead: Vec<u64> = {
            let p = tier.packs.lock().expect("packs lock");
            p.sizes.iter().filter(|(n, s)| **n != p.current && s.2 == 0).map(|(n, _)| *n).collect()
        };
        for n in dead {
            tier.remove_pack(n)?;
        }
        Ok(tier)
    }

    fn pack_path(&self, pack: u64) -> PathBuf {
        pack_path(&self.dir, pack)
    }

    fn remove_pack(&self, pack: u64) -> io::Result<()> {
        match std::fs::remove_file(self.pack_path(pack)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.packs.lock().expect("packs lock").sizes.remove(&pack);
        Ok(())
    }

    fn entry(&self, id: &BlobId) -> io::Result<Option<Entry>> {
        let Some(v) = self.index.get(CF_ENTRIES, id.as_str().as_bytes()).map_err(io_err)? else { return Ok(None) };
        Ok(Some(serde_json::from_slice(&v).map_err(io_err)?))
    }

    /// The pack to append to, starting a new one when the current is full.
    fn append_target(&self) -> u64 {
        let mut p = self.packs.lock().expect("packs lock");
        let current = p.current;
        if p.sizes.get(&current).is_some_and(|s| s.0 >= PACK_TARGET) {
            p.current = current + 1;
            let next = p.current;
            p.sizes.insert(next, (0, 0, 0));
        }
        p.current
    }

    async fn write_index(&self, batch: WriteBatch) -> io::Result<()> {
        let index = self.index.clone();
        super::blocking(move || index.write(batch).map_err(io_err)).await
    }
}

fn pack_path(dir: &Path, pack: u64) -> PathBuf {
    dir.join("packs").join(format!("{pack:016x}.pack"))
}

/// Appends one compressed frame fed from `rx` to `path`; fsynced. Returns (offset, stored, raw).
fn append_frame(path: &Path, mut rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>) -> io::Result<(u64, u64, u64)> {
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let offset = file.seek(SeekFrom::End(0))?;
    let result = (|| {
        let mut enc = Compressor::new(ZSTD_LEVEL)?;
        let mut out = io::BufWriter::with_capacity(256 * 1024, &mut file);
        let mut raw = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            let chunk = chunk?;
            raw += chunk.len() as u64;
            enc.write(&chunk, &mut out)?;
        }
        enc.finish(&mut out)?;
        out.flush()?;
        Ok(raw)
    })();
    match result {
        Ok(raw) => {
            file.sync_data()?;
            let end = file.seek(SeekFrom::End(0))?;
            if offset == 0
                && let Some(parent) = path.parent()
            {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok((offset, end - offset, raw))
        }
        Err(e) => {
            let _ = file.set_len(offset);
            Err(e)
        }
    }
}

/// Streams the decompressed frame at `entry` through a bounded channel.
fn read_frame(path: PathBuf, entry: Entry) -> BlobReader {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(CHANNEL_DEPTH);
    tokio::task::spawn_blocking(move || {
        let run = || -> io::Result<()> {
            let mut file = std::fs::File::open(&path)?;
            file.seek(SeekFrom::Start(entry.offset))?;
            let mut packed = file.take(entry.stored);
            let mut dec = Decompressor::new()?;
            let mut input = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            let mut pending = Vec::with_capacity(READ_CHUNK);
            loop {
                let n = packed.read(&mut input)?;
                if n > 0 {
                    dec.write(&input[..n], &mut pending)?;
                }
                if pending.len() >= READ_CHUNK || (n == 0 && !pending.is_empty()) {
                    total += pending.len() as u64;
                    let chunk = Bytes::from(std::mem::replace(&mut pending, Vec::with_capacity(READ_CHUNK)));
                    if tx.blocking_send(Ok(chunk)).is_err() {
                        return Ok(()); // the reader went away
                    }
                }
                if n == 0 {
                    break;
                }
            }
            if total != entry.raw {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "cold body has the wrong length"));
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

#[async_trait::async_trait]
impl ColdTier for LocalColdTier {
    async fn put(&self, id: &BlobId, mut body: BlobReader) -> io::Result<u64> {
        let _writer = self.writer.lock().await;
        let pack = self.append_target();
        let path = self.pack_path(pack);
        let (tx, rx) = tokio::sync::mpsc::channel(CHANNEL_DEPTH);
        let write = tokio::task::spawn_blocking(move || append_frame(&path, rx));
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
        drop(tx);
        let (offset, stored, raw) = write.await.map_err(io_err)??;
        let entry = Entry { pack, offset, stored, raw };
        let mut batch = WriteBatch::new();
        batch.put(CF_ENTRIES, id.as_str().as_bytes(), serde_json::to_vec(&entry).map_err(io_err)?);
        batch.put(CF_BYPACK, pack_key(pack, id), Vec::new());
        {
            // The frame's bytes count towards the pack's size even if the index write fails below.
            let mut p = self.packs.lock().expect("packs lock");
            let s = p.sizes.entry(pack).or_insert((0, 0, 0));
            s.0 = offset + stored;
        }
        self.write_index(batch).await?;
        let mut p = self.packs.lock().expect("packs lock");
        let s = p.sizes.entry(pack).or_insert((0, 0, 0));
        s.1 += stored;
        s.2 += 1;
        p.raw_live += raw;
        metrics::counter!("s3d_cold_bytes_archived_total").increment(raw);
        Ok(stored)
    }

    async fn read(&self, id: &BlobId) -> io::Result<BlobReader> {
        // A compaction may move the entry between the lookup and the open: look again once.
        for _ in 0..2 {
            let entry = self.entry(id)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such cold body"))?;
            let path = self.pack_path(entry.pack);
            if path.exists() {
                return Ok(read_frame(path, entry));
            }
        }
        Err(io::Error::new(io::ErrorKind::NotFound, "cold pack is gone"))
    }

    async fn delete(&self, id: &BlobId) -> io::Result<()> {
        // Most ids released by the engine are hot blobs: answer those without waiting for a writer.
        if self.entry(id)?.is_none() {
            return Ok(());
        }
        let _writer = self.writer.lock().await;
        let Some(entry) = self.entry(id)? else { return Ok(()) };
        let mut batch = WriteBatch::new();
        batch.delete(CF_ENTRIES, id.as_str().as_bytes());
        batch.delete(CF_BYPACK, pack_key(entry.pack, id));
        self.write_index(batch).await?;
        let empty_sealed = {
            let mut p = self.packs.lock().expect("packs lock");
            p.raw_live = p.raw_live.saturating_sub(entry.raw);
            let current = p.current;
            let s = p.sizes.entry(entry.pack).or_insert((0, 0, 0));
            s.1 = s.1.saturating_sub(entry.stored);
            s.2 = s.2.saturating_sub(1);
            s.2 == 0 && entry.pack != current
        };
        if empty_sealed {
            self.remove_pack(entry.pack)?;
        }
        Ok(())
    }

    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()> {
        for item in self.index.scan(CF_ENTRIES, KeyRange::all(), Direction::Forward).map_err(io_err)? {
            let (k, _) = item.map_err(io_err)?;
            if let Some(id) = BlobId::parse(&String::from_utf8_lossy(&k)) {
                visit(id);
            }
        }
        Ok(())
    }

    async fn compact_one(&self) -> io::Result<bool> {
        let _writer = self.writer.lock().await;
        let victim = {
            let p = self.packs.lock().expect("packs lock");
            p.sizes
                .iter()
                .find(|(n, s)| **n != p.current && s.0 > 0 && (s.1 as f64) < s.0 as f64 * COMPACT_BELOW_LIVE)
                .map(|(n, _)| *n)
        };
        let Some(victim) = victim else { return Ok(false) };
        let target = {
            let mut p = self.packs.lock().expect("packs lock");
            if p.sizes.get(&p.current).is_some_and(|s| s.0 >= PACK_TARGET) {
                p.current += 1;
                let next = p.current;
                p.sizes.insert(next, (0, 0, 0));
            }
            p.current
        };
        let index = self.index.clone();
        let dir = self.dir.clone();
        let (batch, moved_stored, new_len) = super::blocking(move || {
            let prefix = victim.to_be_bytes();
            let mut ids = Vec::new();
            for item in index.scan(CF_BYPACK, KeyRange::prefix(&prefix), Direction::Forward).map_err(io_err)? {
                let (k, _) = item.map_err(io_err)?;
                ids.push(String::from_utf8_lossy(&k[8..]).into_owned());
            }
            let mut src = std::fs::File::open(pack_path(&dir, victim))?;
            let mut dst = std::fs::OpenOptions::new().create(true).append(true).open(pack_path(&dir, target))?;
            let mut offset = dst.seek(SeekFrom::End(0))?;
            let mut batch = WriteBatch::new();
            let mut moved = 0u64;
            for id in ids {
                let Some(v) = index.get(CF_ENTRIES, id.as_bytes()).map_err(io_err)? else { continue };
                let mut e: Entry = serde_json::from_slice(&v).map_err(io_err)?;
                src.seek(SeekFrom::Start(e.offset))?;
                let copied = io::copy(&mut (&mut src).take(e.stored), &mut dst)?;
                if copied != e.stored {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cold pack shorter than its index"));
                }
                e.pack = target;
                e.offset = offset;
                offset += e.stored;
                moved += e.stored;
                batch.put(CF_ENTRIES, id.as_bytes(), serde_json::to_vec(&e).map_err(io_err)?);
                batch.delete(CF_BYPACK, [&victim.to_be_bytes()[..], id.as_bytes()].concat());
                batch.put(CF_BYPACK, [&target.to_be_bytes()[..], id.as_bytes()].concat(), Vec::new());
            }
            dst.sync_data()?;
            Ok((batch, moved, offset))
        })
        .await?;
        let entries = batch.len() / 3;
        self.write_index(batch).await?;
        {
            let mut p = self.packs.lock().expect("packs lock");
            let s = p.sizes.entry(target).or_insert((0, 0, 0));
            s.0 = new_len;
            s.1 += moved_stored;
            s.2 += entries as u64;
        }
        self.remove_pack(victim)?;
        metrics::counter!("s3d_cold_compactions_total").increment(1);
        Ok(true)
    }

    fn usage(&self) -> ColdUsage {
        let p = self.packs.lock().expect("packs lock");
        ColdUsage {
            objects: p.sizes.values().map(|s| s.2).sum(),
            raw_bytes: p.raw_live,
            stored_bytes: p.sizes.values().map(|s| s.1).sum(),
            pack_bytes: p.sizes.values().map(|s| s.0).sum(),
            packs: p.sizes.values().filter(|s| s.0 > 0).count() as u64,
        }
    }
}

/// A cold tier in memory (compressed all the same), for engine tests and as the default.
#[derive(Default)]
pub struct MemoryColdTier {
    bodies: Mutex<std::collections::HashMap<BlobId, (Vec<u8>, u64)>>,
}

#[async_trait::async_trait]
impl ColdTier for MemoryColdTier {
    async fn put(&self, id: &BlobId, mut body: BlobReader) -> io::Result<u64> {
        let mut raw = Vec::new();
        while let Some(chunk) = body.next().await {
            raw.extend_from_slice(&chunk?);
        }
        let packed = super::zstd_stream::compress(&raw, ZSTD_LEVEL)?;
        let stored = packed.len() as u64;
        self.bodies.lock().expect("cold lock").insert(id.clone(), (packed, raw.len() as u64));
        Ok(stored)
    }
    async fn read(&self, id: &BlobId) -> io::Result<BlobReader> {
        let (packed, raw) = self
            .bodies
            .lock()
            .expect("cold lock")
            .get(id)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such cold body"))?;
        let bytes = super::zstd_stream::decompress(&packed)?;
        if bytes.len() as u64 != raw {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "cold body has the wrong length"));
        }
        Ok(Box::pin(futures::stream::iter([Ok(Bytes::from(bytes))])))
    }
    async fn delete(&self, id: &BlobId) -> io::Result<()> {
        self.bodies.lock().expect("cold lock").remove(id);
        Ok(())
    }
    fn scan(&self, visit: &mut dyn FnMut(BlobId)) -> io::Result<()> {
        let ids: Vec<BlobId> = self.bodies.lock().expect("cold lock").keys().cloned().collect();
        ids.into_iter().for_each(visit);
        Ok(())
    }
    async fn compact_one(&self) -> io::Result<bool> {
        Ok(false)
    }
    fn usage(&self) -> ColdUsage {
        let b = self.bodies.lock().expect("cold lock");
        let stored: u64 = b.values().map(|(p, _)| p.len() as u64).sum();
        ColdUsage {
            objects: b.len() as u64,
            raw_bytes: b.values().map(|(_, r)| *r).sum(),
            stored_bytes: stored,
            pack_bytes: stored,
            packs: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(data: &[u8]) -> BlobReader {
        let chunks: Vec<io::Result<Bytes>> = data.chunks(5000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(futures::stream::iter(chunks))
    }

    async fn collect(mut r: BlobReader) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(c) = r.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    fn data(n: usize, seed: u8) -> Vec<u8> {
        (0..n).map(|i| ((i / 7) as u8).wrapping_add(seed)).collect()
    }

    #[tokio::test]
    async fn bodies_pack_compress_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let tier = LocalColdTier::open(dir.path()).unwrap();
        let ids: Vec<BlobId> = (0..5).map(|_| BlobId::generate()).collect();
        for (i, id) in ids.iter().enumerate() {
            tier.put(id, body(&data(100_000 + i, i as u8))).await.unwrap();
        }
        let u = tier.usage();
        assert_eq!((u.objects, u.packs), (5, 1), "several bodies share one pack");
        assert!(u.stored_bytes < u.raw_bytes / 4, "compressible bodies shrink: {u:?}");
        drop(tier);
        let tier = LocalColdTier::open(dir.path()).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(collect(tier.read(id).await.unwrap()).await.unwrap(), data(100_000 + i, i as u8));
        }
        assert_eq!(tier.usage().objects, 5, "the index survives a reopen");
        assert!(tier.read(&BlobId::generate()).await.is_err());
    }

    #[tokio::test]
    async fn deletes_give_space_back_through_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let tier = LocalColdTier::open_with_memory_index(dir.path()).unwrap();
        let ids: Vec<BlobId> = (0..4).map(|_| BlobId::generate()).collect();
        for id in &ids {
            tier.put(id, body(&data(50_000, 1))).await.unwrap();
        }
        // Seal the pack so it can be compacted.
        tier.packs.lock().unwrap().sizes.get_mut(&1).unwrap().0 = PACK_TARGET;
        let keep = BlobId::generate();
        tier.put(&keep, body(&data(70_000, 9))).await.unwrap();
        let before = tier.usage().pack_bytes;
        for id in &ids[..3] {
            tier.delete(id).await.unwrap();
        }
        assert!(tier.compact_one().await.unwrap(), "a mostly dead sealed pack is rewritten");
        assert!(!tier.compact_one().await.unwrap());
        assert!(tier.usage().pack_bytes < before, "space came back");
        assert!(!dir.path().join("packs/0000000000000001.pack").exists());
        assert_eq!(collect(tier.read(&ids[3]).await.unwrap()).await.unwrap(), data(50_000, 1));
        assert_eq!(collect(tier.read(&keep).await.unwrap()).await.unwrap(), data(70_000, 9));
        let mut n = 0;
        tier.scan(&mut |_| n += 1).unwrap();
        assert_eq!(n, 2);
    }

    #[tokio::test]
    async fn a_failed_body_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let tier = LocalColdTier::open_with_memory_index(dir.path()).unwrap();
        let id = BlobId::generate();
        let failing: BlobReader = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(io::Error::other("client went away")),
        ]));
        assert!(tier.put(&id, failing).await.is_err());
        assert!(tier.read(&id).await.is_err());
        assert_eq!(std::fs::metadata(dir.path().join("packs/0000000000000001.pack")).unwrap().len(), 0);
    }
}
