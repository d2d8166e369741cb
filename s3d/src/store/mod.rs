//! Persistence under the object engine: object bodies in a [`BlobStore`] (files today) and metadata in
//! `common`'s `KvStore` (RocksDB today), behind typed records in [`meta`].

pub mod blob;
pub mod encryption;
pub mod keys;
pub mod meta;

#[cfg(test)]
mod blob_conformance;

pub use blob::{BlobId, BlobReader, BlobStore, BlobWriter, FsBlobStore, MemoryBlobStore};
pub use meta::MetaStore;
