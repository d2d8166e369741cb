//! A [`BlobWriter`] that seals what it is given before passing it on. Sealing runs on the blocking
//! pool one batch at a time, overlapping with receiving the next chunks and with the inner writer's
//! disk writes, so that an encrypted PUT costs little more wall time than a plain one on two cores.

use std::io;
use std::sync::Arc;

use bytes::Bytes;

use super::segment::{SEGMENT, StreamKey, new_stream};
use crate::store::{BlobId, BlobWriter};

/// Plaintext sealed per hop to the blocking pool.
const BATCH: usize = 16 * SEGMENT;

pub struct SealingWriter {
    inner: Box<dyn BlobWriter>,
    key: Arc<StreamKey>,
    /// Index of the first segment of `pending`.
    index: u64,
    pending: Vec<u8>,
    /// Batches being sealed, oldest first (written to `inner` in this order).
    inflight: std::collections::VecDeque<tokio::task::JoinHandle<Vec<u8>>>,
}

/// Batches sealed at once: on two cores, both work on a large PUT.
const AHEAD: usize = 2;

impl SealingWriter {
    pub async fn new(mut inner: Box<dyn BlobWriter>, data_key: &[u8; 32]) -> io::Result<Self> {
        let (header, key) = new_stream(data_key);
        inner.write(Bytes::from(header)).await?;
        Ok(Self {
            inner,
            key: Arc::new(key),
            index: 0,
            pending: Vec::with_capacity(BATCH + SEGMENT),
            inflight: Default::default(),
        })
    }

    /// Hands sealed batches to the inner writer, in order, until at most `keep` are in flight.
    async fn drain(&mut self, keep: usize) -> io::Result<()> {
        while self.inflight.len() > keep {
            let job = self.inflight.pop_front().expect("non-empty");
            let sealed = job.await.map_err(io::Error::other)?;
            self.inner.write(Bytes::from(sealed)).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobWriter for SealingWriter {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.pending.extend_from_slice(&data);
        // Keep at least one byte back: only the end of the body may be sealed as the final segment.
        while self.pending.len() > BATCH {
            let rest = self.pending.split_off(BATCH);
            let batch = std::mem::replace(&mut self.pending, rest);
            self.drain(AHEAD - 1).await?;
            let (key, first) = (self.key.clone(), self.index);
            self.index += (BATCH / SEGMENT) as u64;
            self.inflight.push_back(tokio::task::spawn_blocking(move || {
                let mut out = Vec::with_capacity(batch.len() + batch.len() / SEGMENT * super::segment::TAG);
                key.seal_into(first, &batch, false, &mut out);
                out
            }));
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<BlobId> {
        self.drain(0).await?;
        let mut out = Vec::new();
        self.key.seal_into(self.index, &self.pending, true, &mut out);
        self.inner.write(Bytes::from(out)).await?;
        self.inner.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::segment::{open_all, sealed_len};
    use super::*;
    use crate::store::{BlobStore, MemoryBlobStore};
    use futures::StreamExt;

    #[tokio::test]
    async fn sealed_blobs_read_back_whatever_the_chunking() {
        let store = MemoryBlobStore::default();
        let dk = [9u8; 32];
        for (n, chunk) in [(0usize, 1usize), (5, 2), (BATCH, 4096), (BATCH + 1, 100_000), (3 * BATCH + 17, 65_536)] {
            let plain: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let mut w = SealingWriter::new(store.create().await.unwrap(), &dk).await.unwrap();
            for c in plain.chunks(chunk) {
                w.write(Bytes::copy_from_slice(c)).await.unwrap();
            }
            let id = Box::new(w).commit().await.unwrap();
            let len = sealed_len(n as u64);
            let mut r = store.read(&id, 0..len).await.unwrap();
            let mut sealed = Vec::new();
            while let Some(c) = r.next().await {
                sealed.extend_from_slice(&c.unwrap());
            }
            assert_eq!(sealed.len() as u64, len, "n = {n}");
            assert_eq!(open_all(&dk, &sealed, n as u64, 0..n as u64).unwrap(), plain, "n = {n}");
        }
    }
}
