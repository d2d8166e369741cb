//! Taking a body in: stream it to a blob (or keep it inline when small), hashing MD5 and the optional
//! additional checksum on the way, never holding more than [`INLINE_MAX`] plus one write buffer in
//! memory, and giving up on a client that stops sending.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::checksum::ChecksumAlgorithm;
use super::{Engine, EngineError, INLINE_MAX, Result};
use crate::store::BlobId;
use crate::store::meta::BodyRecord;

/// A body in or out of the engine.
/// A request or object body. An item error of kind `InvalidData` means the body failed an integrity
/// check its sender declared (the request's payload hash); any other, that it ended early or broke.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// The checksum kept for a body sent without one, as S3 does since its default integrity
/// protections (December 2024).
pub const DEFAULT_CHECKSUM: ChecksumAlgorithm = ChecksumAlgorithm::Crc64Nvme;

/// How long a body may stall between two chunks before the request fails with RequestTimeout.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where an ingested body ended up.
#[derive(Debug)]
pub enum Stored {
    Inline(Bytes),
    Blob(BlobId),
}

impl Stored {
    /// How an object record refers to this body.
    pub fn body_record(&self) -> BodyRecord {
        match self {
            Stored::Inline(_) => BodyRecord::Inline,
            Stored::Blob(id) => BodyRecord::Blob(id.clone()),
        }
    }
}

#[derive(Debug)]
pub struct Ingested {
    pub size: u64,
    pub md5: [u8; 16],
    /// `(algorithm, base64 value)` when a checksum was asked for.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
    pub stored: Stored,
}

impl Ingested {
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
    pub fn blob(&self) -> Option<&BlobId> {
        match &self.stored {
            Stored::Blob(id) => Some(id),
            Stored::Inline(_) => None,
        }
    }
}

/// What the client claimed about the body, verified after it has been read.
#[derive(Debug, Default, Clone)]
pub struct Integrity {
    /// Base64 `Content-MD5`.
    pub content_md5: Option<String>,
    /// The algorithm to compute (`x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm`).
    pub algorithm: Option<ChecksumAlgorithm>,
    /// The value the client sent for `algorithm` (header, or trailer once the body is read).
    pub expected: Option<String>,
    /// `Content-Length` as declared, checked against what arrived.
    pub declared_length: Option<u64>,
}

/// MD5 of a streamed body, through OpenSSL: its assembly MD5 runs at ~840 MiB/s on this machine's
/// CPU against ~650 MiB/s for RustCrypto's md-5 (`asm` feature included), and MD5 is the one serial
/// computation a PUT must finish before it can answer.
struct BodyMd5(openssl::hash::Hasher);

impl BodyMd5 {
    fn new() -> Self {
        Self(openssl::hash::Hasher::new(openssl::hash::MessageDigest::md5()).expect("OpenSSL provides MD5"))
    }
    fn update(&mut self, data: &[u8]) {
        self.0.update(data).expect("MD5 update cannot fail on a live hasher");
    }
    fn finish(mut self) -> [u8; 16] {
        let digest = self.0.finish().expect("MD5 finish cannot fail on a live hasher");
        digest.as_ref().try_into().expect("an MD5 digest is 16 bytes")
    }
}

/// MD5 and the optional additional checksum of one body.
struct Hashers {
    md5: BodyMd5,
    checksum: Option<super::checksum::ChecksumHasher>,
}

impl Hashers {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(h) = self.checksum.as_mut() {
            h.update(data);
        }
    }
}

/// Bytes hashed per hop to the blocking pool once a body is large.
const HASH_BATCH: usize = 256 * 1024;

/// Hashes a body as it arrives. Small bodies are hashed in place; past [`INLINE_MAX`] batches go to the
/// blocking pool, one at a time, so that hashing overlaps with receiving the next chunks (and with the
/// blob writes, which run the same way): on two cores this is what keeps large PUTs near disk speed.
struct Digests {
    ready: Option<Hashers>,
    running: Option<tokio::task::JoinHandle<Hashers>>,
    batch: Vec<Bytes>,
    batch_len: usize,
    seen: usize,
}

impl Digests {
    fn new(algorithm: Option<ChecksumAlgorithm>) -> Self {
        let hashers = Hashers { md5: BodyMd5::new(), checksum: algorithm.map(|a| a.hasher()) };
        Self { ready: Some(hashers), running: None, batch: Vec::new(), batch_len: 0, seen: 0 }
    }

    async fn hashers(&mut self) -> Result<Hashers> {
        if let Some(running) = self.running.take() {
            return Ok(running.await.map_err(std::io::Error::other)?);
        }
        Ok(self.ready.take().expect("hashers are either ready or running"))
    }

    async fn update(&mut self, chunk: Bytes) -> Result<()> {
        self.seen += chunk.len();
        if self.seen <= INLINE_MAX && self.running.is_none() {
            self.ready.as_mut().expect("no hashing in flight yet").update(&chunk);
            return Ok(());
        }
        self.batch_len += chunk.len();
        self.batch.push(chunk);
        if self.batch_len >= HASH_BATCH {
            self.dispatch().await?;
        }
        Ok(())
    }

    async fn dispatch(&mut self) -> Result<()> {
        let batch = std::mem::take(&mut self.batch);
        self.batch_len = 0;
        let mut hashers = self.hashers().await?;
        self.running = Some(tokio::task::spawn_blocking(move || {
            for chunk in &batch {
                hashers.update(chunk);
            }
            hashers
        }));
        Ok(())
    }

    async fn finish(mut self) -> Result<Hashers> {
        let mut hashers = self.hashers().await?;
        for chunk in &self.batch {
            hashers.update(chunk);
        }
        Ok(hashers)
    }
}

/// Reads the value of the checksum trailer `x-amz-trailer` announced, once the body is fully read:
/// `None` when that trailer did not come, or other trailers came with it (MalformedTrailerError).
pub type TrailerReader = Box<dyn FnOnce() -> Option<String> + Send>;

impl Engine {
    /// Streams `body` into storage. `inline_ok` lets small bodies stay in memory for the metadata
    /// record; `limit` is the largest size accepted (EntityTooLarge beyond). The blob, if one was
    /// written, is committed (durable) but unreferenced: the caller commits metadata or deletes it.
    #[cfg_attr(not(test), allow(dead_code))] // the unsealed form, for callers that never encrypt
    pub(crate) async fn ingest(
        &self,
        body: ByteStream,
        limit: u64,
        inline_ok: bool,
        integrity: &Integrity,
        trailer: Option<TrailerReader>,
    ) -> Result<Ingested> {
        self.ingest_sealed(body, limit, inline_ok, integrity, trailer, None).await
    }

    /// [`Engine::ingest`], sealing the body with `seal` (a data key) when given: sizes and digests
    /// are of the plaintext, what is stored (blob or inline) is sealed.
    pub(crate) async fn ingest_sealed(
        &self,
        mut body: ByteStream,
        limit: u64,
        inline_ok: bool,
        integrity: &Integrity,
        trailer: Option<TrailerReader>,
        seal: Option<&super::sse::DataKey>,
    ) -> Result<Ingested> {
        if let Some(md5) = &integrity.content_md5 {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD.decode(md5).map_err(|_| EngineError::InvalidDigest)?;
            if raw.len() != 16 {
                return Err(EngineError::InvalidDigest);
            }
        }
        if integrity.declared_length.is_some_and(|n| n > limit) {
            return Err(EngineError::EntityTooLarge);
        }
        // S3 keeps a CRC64NVME of every body its client sent no checksum for (since 2024-12).
        let algorithm = integrity.algorithm.unwrap_or(DEFAULT_CHECKSUM);
        let mut digests = Digests::new(Some(algorithm));
        let mut size: u64 = 0;
        let mut small = BytesMut::new();
        let mut writer: Option<Box<dyn crate::store::BlobWriter>> = None;
        loop {
            let next =
                tokio::time::timeout(BODY_IDLE_TIMEOUT, body.next()).await.map_err(|_| EngineError::RequestTimeout)?;
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| {
                tracing::debug!(error = %e, "request body failed");
                match e.kind() {
                    io::ErrorKind::InvalidData => EngineError::PayloadHashMismatch,
                    _ => EngineError::IncompleteBody,
                }
            })?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(EngineError::EntityTooLarge);
            }
            digests.update(chunk.clone()).await?;
            match writer.as_mut() {
                Some(w) => w.write(chunk).await?,
                None if inline_ok && small.len() + chunk.len() <= INLINE_MAX => small.extend_from_slice(&chunk),
                None => {
                    let mut w = self.blob_writer(seal).await?;
                    if !small.is_empty() {
                        w.write(std::mem::take(&mut small).freeze()).await?;
                    }
                    w.write(chunk).await?;
                    writer = Some(w);
                }
            }
        }
        if integrity.declared_length.is_some_and(|n| n != size) {
            return Err(EngineError::IncompleteBody);
        }
        metrics::counter!("s3d_body_bytes_received_total").increment(size);
        let Hashers { md5, checksum } = digests.finish().await?;
        let md5 = md5.finish();
        if let Some(expected) = &integrity.content_md5 {
            use base64::Engine as _;
            if base64::engine::general_purpose::STANDARD.encode(md5) != *expected {
                return Err(EngineError::BadDigest);
            }
        }
        let checksum = match (integrity.algorithm, checksum) {
            (None, Some(h)) => Some((algorithm, h.finish())),
            (Some(algo), Some(h)) => {
                let value = h.finish();
                let expected = match (&integrity.expected, trailer) {
                    (Some(header), _) => Some(header.clone()),
                    (None, Some(read)) => Some(read().ok_or(EngineError::MalformedTrailer)?),
                    (None, None) => None,
                };
                if let Some(expected) = expected
                    && expected != value
                {
                    return Err(if algo.is_valid_value(&expected) {
                        EngineError::ChecksumMismatch(algo.as_str())
                    } else {
                        EngineError::InvalidDigest
                    });
                }
                Some((algo, value))
            }
            _ => None,
        };
        // Only now, with the body verified, does the blob become durable.
        let stored = match writer {
            Some(w) => Stored::Blob(w.commit().await?),
            None if !inline_ok => {
                let mut w = self.blob_writer(seal).await?;
                w.write(small.freeze()).await?;
                Stored::Blob(w.commit().await?)
            }
            None => match seal {
                Some(key) => Stored::Inline(super::sse::segment::seal_all(key, &small).into()),
                None => Stored::Inline(small.freeze()),
            },
        };
        Ok(Ingested { size, md5, checksum, stored })
    }

    async fn blob_writer(&self, seal: Option<&super::sse::DataKey>) -> Result<Box<dyn crate::store::BlobWriter>> {
        let w = self.blobs.create().await?;
        Ok(match seal {
            Some(key) => {
                Box::new(super::sse::writer::SealingWriter::new(w, key).await?) as Box<dyn crate::store::BlobWriter>
            }
            None => w,
        })
    }

    /// Deletes the blob of a body that will not be committed (failed precondition, lost race).
    pub(crate) async fn discard(&self, ingested: &Ingested) {
        if let Some(id) = ingested.blob() {
            self.delete_blobs(vec![id.clone()]).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[tokio::test]
    async fn small_bodies_stay_inline_and_large_ones_go_to_a_blob() {
        let e = engine();
        let small = e.ingest(body(b"tiny"), 100, true, &Integrity::default(), None).await.unwrap();
        assert!(matches!(small.stored, Stored::Inline(ref b) if &b[..] == b"tiny"));
        let reference = |data: &[u8]| hex::encode(<md5::Md5 as md5::Digest>::digest(data));
        assert_eq!(small.etag(), reference(b"tiny"));
        let big = vec![7u8; INLINE_MAX + 1];
        let large = e.ingest(body(&big), u64::MAX, true, &Integrity::default(), None).await.unwrap();
        assert!(large.blob().is_some());
        assert_eq!(large.size, big.len() as u64);
        assert_eq!(large.etag(), reference(&big));
        // Many chunks, hashed in batches on the blocking pool: the same digest as RustCrypto's md-5.
        let varied: Vec<u8> = (0..3 * HASH_BATCH + 12_345).map(|i| (i * 31 % 251) as u8).collect();
        let chunks: Vec<io::Result<Bytes>> = varied.chunks(65_537).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let integrity = Integrity::default();
        let chunked = e.ingest(Box::pin(futures::stream::iter(chunks)), u64::MAX, true, &integrity, None).await;
        assert_eq!(chunked.unwrap().etag(), reference(&varied));
    }

    #[tokio::test]
    async fn digests_and_limits_are_enforced() {
        let e = engine();
        let bad_md5 = Integrity { content_md5: Some("AAAAAAAAAAAAAAAAAAAAAA==".into()), ..Default::default() };
        assert!(matches!(e.ingest(body(b"x"), 100, true, &bad_md5, None).await, Err(EngineError::BadDigest)));
        let garbage = Integrity { content_md5: Some("nope".into()), ..Default::default() };
        assert!(matches!(e.ingest(body(b"x"), 100, true, &garbage, None).await, Err(EngineError::InvalidDigest)));
        assert!(matches!(
            e.ingest(body(&[0; 200]), 100, true, &Integrity::default(), None).await,
            Err(EngineError::EntityTooLarge)
        ));
        let crc = Integrity {
            algorithm: Some(ChecksumAlgorithm::Crc32),
            expected: Some("AAAAAA==".into()),
            ..Default::default()
        };
        assert!(matches!(
            e.ingest(body(b"hello world"), 100, true, &crc, None).await,
            Err(EngineError::ChecksumMismatch("CRC32"))
        ));
        let crc_trailer = Integrity { algorithm: Some(ChecksumAlgorithm::Crc32), ..Default::default() };
        let ok = e
            .ingest(body(b"hello world"), 100, true, &crc_trailer, Some(Box::new(|| Some("DUoRhQ==".to_string()))))
            .await
            .unwrap();
        assert_eq!(ok.checksum, Some((ChecksumAlgorithm::Crc32, "DUoRhQ==".into())));
        let short = Integrity { declared_length: Some(5), ..Default::default() };
        assert!(matches!(e.ingest(body(b"abc"), 100, true, &short, None).await, Err(EngineError::IncompleteBody)));
    }
}
