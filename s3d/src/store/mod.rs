//! Persistence under the object engine: object bodies in a [`BlobStore`] (files today) and metadata in
//! `common`'s `KvStore` (RocksDB today), behind typed records in [`meta`].

pub mod blob;
pub mod chunked;
pub mod cold;
pub mod encryption;
pub mod keys;
pub mod lifecycle_meta;
pub mod meta;
pub mod reaper;
pub mod zstd_stream;

#[cfg(test)]
mod blob_conformance;

pub use blob::{BlobId, BlobReader, BlobStore, BlobWriter, FsBlobStore, MemoryBlobStore};
pub use chunked::{ChunkMap, HeadMap};
pub use cold::{ColdTier, LocalColdTier};
pub use meta::MetaStore;

/// Runs file-system work on the blocking pool and waits for it; a panic there becomes an I/O error.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(std::io::Error::other)?
}
