//! Snapshot blocks: EBS's 512 KiB block size, a lock-free bitmap of blocks (the dirty map the write
//! path marks, the hydration map), and a snapshot's manifest (block index → content hash).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::snapshots::BlockHash;

/// EBS snapshots (and the EBS direct APIs) work in 512 KiB blocks.
pub const BLOCK_SIZE: u64 = 512 * 1024;

/// The blocks `[offset, offset + length)` touches.
pub fn blocks_of(offset: u64, length: u64) -> std::ops::Range<u64> {
    if length == 0 {
        return 0..0;
    }
    offset / BLOCK_SIZE..(offset + length - 1) / BLOCK_SIZE + 1
}

pub fn block_count(size_bytes: u64) -> u64 {
    size_bytes.div_ceil(BLOCK_SIZE)
}

/// One bit per block. Setting a bit is one atomic OR (the hot write path); the bitmap only grows.
#[derive(Debug)]
pub struct Bitmap {
    words: Vec<AtomicU64>,
    len: u64,
}

impl Bitmap {
    pub fn new(len: u64) -> Self {
        Self { words: (0..len.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(), len }
    }

    pub fn full(len: u64) -> Self {
        let me = Self::new(len);
        for i in 0..len {
            me.set(i);
        }
        me
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets bit `i`; true if it was clear. Bits past the end are ignored.
    pub fn set(&self, i: u64) -> bool {
        if i >= self.len {
            return false;
        }
        let mask = 1u64 << (i % 64);
        self.words[(i / 64) as usize].fetch_or(mask, Ordering::AcqRel) & mask == 0
    }

    pub fn get(&self, i: u64) -> bool {
        i < self.len && self.words[(i / 64) as usize].load(Ordering::Acquire) & (1u64 << (i % 64)) != 0
    }

    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.load(Ordering::Acquire).count_ones())).sum()
    }

    /// Indices of set bits, ascending.
    pub fn ones(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for (wi, w) in self.words.iter().enumerate() {
            let mut bits = w.load(Ordering::Acquire);
            while bits != 0 {
                let b = bits.trailing_zeros() as u64;
                out.push(wi as u64 * 64 + b);
                bits &= bits - 1;
            }
        }
        out
    }

    /// Atomically takes every set bit, leaving them clear (word by word: a bit set concurrently lands
    /// either in the result or stays set, never lost).
    pub fn take(&self) -> Bitmap {
        let out = Bitmap::new(self.len);
        for (w, o) in self.words.iter().zip(&out.words) {
            o.store(w.swap(0, Ordering::AcqRel), Ordering::Release);
        }
        out
    }

    /// Sets every bit set in `other`.
    pub fn merge(&self, other: &Bitmap) {
        for (w, o) in self.words.iter().zip(&other.words) {
            w.fetch_or(o.load(Ordering::Acquire), Ordering::AcqRel);
        }
    }

    /// A bitmap of `len` bits with this one's bits (for a volume that grew).
    pub fn resized(&self, len: u64) -> Bitmap {
        let out = Bitmap::new(len.max(self.len));
        out.merge(self);
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.len.to_le_bytes().to_vec();
        for w in &self.words {
            out.extend_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Bitmap> {
        let len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
        let words = &bytes[8..];
        if words.len() as u64 != len.div_ceil(64) * 8 {
            return None;
        }
        Some(Bitmap {
            words: words.chunks_exact(8).map(|c| AtomicU64::new(u64::from_le_bytes(c.try_into().unwrap()))).collect(),
            len,
        })
    }
}

/// A snapshot's content: the hash of every block that is not all zeros. Absent blocks read as zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub volume_size_gib: u64,
    pub blocks: BTreeMap<u64, BlockHash>,
}

const MANIFEST_MAGIC: &[u8; 8] = b"EBSMAN01";

impl Manifest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(20 + self.blocks.len() * 40);
        out.extend_from_slice(MANIFEST_MAGIC);
        out.extend_from_slice(&self.volume_size_gib.to_le_bytes());
        out.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for (index, hash) in &self.blocks {
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(&hash.0);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Manifest> {
        if bytes.get(..8)? != MANIFEST_MAGIC {
            return None;
        }
        let volume_size_gib = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        let count = u64::from_le_bytes(bytes.get(16..24)?.try_into().ok()?);
        let body = &bytes[24..];
        if body.len() as u64 != count.checked_mul(40)? {
            return None;
        }
        let blocks = body
            .chunks_exact(40)
            .map(|c| (u64::from_le_bytes(c[..8].try_into().unwrap()), BlockHash(c[8..].try_into().unwrap())))
            .collect();
        Some(Manifest { volume_size_gib, blocks })
    }

    /// How many times each distinct hash appears (reference counts contributed by this snapshot).
    pub fn distinct_hashes(&self) -> Vec<BlockHash> {
        let mut hashes: Vec<BlockHash> = self.blocks.values().copied().collect();
        hashes.sort();
        hashes.dedup();
        hashes
    }
}

/// Is the block all zeros (stored as an absent entry, costing nothing)?
pub fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(8);
    words.all(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes")) == 0) && words.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn block_ranges() {
        assert_eq!(blocks_of(0, 4096), 0..1);
        assert_eq!(blocks_of(BLOCK_SIZE - 1, 2), 0..2);
        assert_eq!(blocks_of(BLOCK_SIZE, BLOCK_SIZE), 1..2);
        assert_eq!(blocks_of(7, 0), 0..0);
        assert_eq!(block_count(1 << 30), 2048);
    }

    #[test]
    fn bitmap_take_merge_and_bytes() {
        let b = Bitmap::new(130);
        assert!(b.set(0) && b.set(129) && !b.set(0));
        assert!(!b.set(130), "past the end is ignored");
        assert_eq!(b.ones(), vec![0, 129]);
        let taken = b.take();
        assert_eq!((taken.ones(), b.count()), (vec![0, 129], 0));
        b.set(5);
        b.merge(&taken);
        assert_eq!(b.ones(), vec![0, 5, 129]);
        let back = Bitmap::from_bytes(&b.to_bytes()).unwrap();
        assert_eq!(back.ones(), b.ones());
        assert_eq!(b.resized(200).ones(), vec![0, 5, 129]);
        assert_eq!(Bitmap::full(70).count(), 70);
        assert!(Bitmap::from_bytes(&[1, 2, 3]).is_none());
    }

    proptest! {
        #[test]
        fn manifests_round_trip(entries in proptest::collection::btree_map(0u64..1_000_000, any::<[u8; 32]>(), 0..50), size in 1u64..16_384) {
            let m = Manifest { volume_size_gib: size, blocks: entries.into_iter().map(|(k, v)| (k, BlockHash(v))).collect() };
            prop_assert_eq!(Manifest::decode(&m.encode()), Some(m.clone()));
            let mut bad = m.encode();
            bad.push(0);
            prop_assert_eq!(Manifest::decode(&bad), None);
        }

        #[test]
        fn zero_detection(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(is_zero(&data), data.iter().all(|&b| b == 0));
        }
    }
}
