//! ebsd's persistence: volume metadata in the key-value store, volume data in one sparse file each.

pub mod file;
pub mod meta;
pub mod uring;

pub use file::{Extent, VolumeFile};
pub use meta::MetaStore;
pub use uring::Uring;
