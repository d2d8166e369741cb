//! The EBS direct APIs: read a snapshot's blocks (ListSnapshotBlocks, ListChangedBlocks,
//! GetSnapshotBlock) and write a snapshot block by block (StartSnapshot, PutSnapshotBlock,
//! CompleteSnapshot). Blocks are EBS's 512 KiB; every block travels with its SHA-256.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::kv::WriteBatch;
use sha2::{Digest, Sha256};

use super::VolumeEngine;
use super::blocks::{BLOCK_SIZE, Manifest, is_zero};
use super::error::{EngineError, EngineResult};
use super::snapshot::{NO_VOLUME, Origin, Snapshot, SnapshotState};
use super::volume;
use crate::store::snapshots::BlockHash;

/// The largest volume the direct APIs take (64 TiB).
pub const MAX_VOLUME_SIZE_GIB: u64 = 65_536;
const MIN_RESULTS: usize = 100;
const MAX_RESULTS: usize = 10_000;

fn invalid(reason: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Validation { reason, message: message.into() }
}

/// StartSnapshot's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartSnapshot {
    pub volume_size_gib: u64,
    pub parent: Option<String>,
    pub tags: Vec<(String, String)>,
    pub description: Option<String>,
    pub client_token: Option<String>,
    pub timeout_minutes: Option<u32>,
    pub encrypted: bool,
}

/// One page of a block listing.
#[derive(Debug, Clone, Default)]
pub struct BlockPage {
    pub max_results: Option<usize>,
    pub page_token: Option<String>,
    pub starting_index: Option<u64>,
}

impl BlockPage {
    fn bounds(&self) -> EngineResult<(u64, usize)> {
        let max = self.max_results.unwrap_or(MAX_RESULTS);
        if !(MIN_RESULTS..=MAX_RESULTS).contains(&max) {
            return Err(invalid(
                "INVALID_PARAMETER_VALUE",
                format!("MaxResults must be between {MIN_RESULTS} and {MAX_RESULTS}"),
            ));
        }
        let from_token = match &self.page_token {
            Some(t) => Some(
                hex::decode(t)
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| invalid("INVALID_PAGE_TOKEN", "The page token is not valid"))?,
            ),
            None => None,
        };
        Ok((from_token.unwrap_or(0).max(self.starting_index.unwrap_or(0)), max))
    }
}

/// A listing: entries, the next page's token, and the snapshot's size.
#[derive(Debug, Clone)]
pub struct BlockListing<T> {
    pub entries: Vec<T>,
    pub next_token: Option<String>,
    pub volume_size_gib: u64,
}

/// A block changed between two snapshots: its token in each (absent where the block is zeros).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedBlock {
    pub index: u64,
    pub first_token: Option<String>,
    pub second_token: Option<String>,
}

/// A block's token names its content and position, so it cannot fetch another block.
pub fn block_token(index: u64, hash: &BlockHash) -> String {
    let mut raw = hash.0.to_vec();
    raw.extend_from_slice(&index.to_be_bytes());
    B64.encode(raw)
}

pub fn sha256_b64(data: &[u8]) -> String {
    B64.encode(Sha256::digest(data))
}

fn page<T>(mut items: Vec<(u64, T)>, start: u64, max: usize) -> (Vec<T>, Option<String>) {
    items.retain(|(i, _)| *i >= start);
    let next = (items.len() > max).then(|| hex::encode(items[max].0.to_be_bytes()));
    items.truncate(max);
    (items.into_iter().map(|(_, t)| t).collect(), next)
}

impl VolumeEngine {
    /// A completed snapshot's manifest, as the read APIs see it.
    fn readable(&self, id: &str) -> EngineResult<(Snapshot, Manifest)> {
        let s = self.meta.snapshot(id)?.ok_or_else(|| EngineError::SnapshotNotFound(id.into()))?;
        if s.state != SnapshotState::Completed {
            return Err(invalid("INVALID_SNAPSHOT_ID", format!("The snapshot {id} is not completed")));
        }
        let m = self.meta.manifest(id)?.ok_or_else(|| EngineError::SnapshotNotFound(id.into()))?;
        Ok((s, m))
    }

    pub fn list_snapshot_blocks(&self, id: &str, page_req: &BlockPage) -> EngineResult<BlockListing<(u64, String)>> {
        let (s, m) = self.readable(id)?;
        let (start, max) = page_req.bounds()?;
        let items = m.blocks.iter().map(|(&i, h)| (i, (i, block_token(i, h)))).collect();
        let (entries, next_token) = page(items, start, max);
        Ok(BlockListing { entries, next_token, volume_size_gib: s.volume_size_gib })
    }

    /// Blocks whose content differs between `first` (or nothing: every block of `second`) and `second`.
    pub fn list_changed_blocks(
        &self,
        first: Option<&str>,
        second: &str,
        page_req: &BlockPage,
    ) -> EngineResult<BlockListing<ChangedBlock>> {
        let (s2, m2) = self.readable(second)?;
        let m1 = match first {
            Some(first) => {
                let (s1, m1) = self.readable(first)?;
                if s1.lineage != s2.lineage {
                    return Err(invalid(
                        "UNRELATED_SNAPSHOTS",
                        format!("The snapshots {first} and {second} are not from the same volume"),
                    ));
                }
                m1
            }
            None => Manifest::default(),
        };
        let (start, max) = page_req.bounds()?;
        let mut indices: Vec<u64> = m1.blocks.keys().chain(m2.blocks.keys()).copied().collect();
        indices.sort_unstable();
        indices.dedup();
        let items = indices
            .into_iter()
            .filter(|i| m1.blocks.get(i) != m2.blocks.get(i))
            .map(|i| {
                let token = |m: &Manifest| m.blocks.get(&i).map(|h| block_token(i, h));
                (i, ChangedBlock { index: i, first_token: token(&m1), second_token: token(&m2) })
            })
            .collect();
        let (entries, next_token) = page(items, start, max);
        Ok(BlockListing { entries, next_token, volume_size_gib: s2.volume_size_gib })
    }

    /// A block's data and its SHA-256 (base64).
    pub fn get_snapshot_block(&self, id: &str, index: u64, token: &str) -> EngineResult<(Vec<u8>, String)> {
        let (_, m) = self.readable(id)?;
        let hash = m
            .blocks
            .get(&index)
            .filter(|h| block_token(index, h) == token)
            .ok_or_else(|| invalid("INVALID_BLOCK_TOKEN", "The block token is not valid for this block"))?;
        let data = self
            .store
            .get_block(hash)?
            .ok_or_else(|| EngineError::Io(std::io::Error::other(format!("block {} is missing", hash.to_hex()))))?;
        let checksum = sha256_b64(&data);
        Ok((data, checksum))
    }

    pub fn start_snapshot(&self, req: &StartSnapshot) -> EngineResult<Snapshot> {
        let _guard = self.mutate.lock().expect("mutate lock");
        if let Some(token) = &req.client_token {
            for s in self.meta.snapshots()? {
                if let Origin::Direct { client_token: Some(t), .. } = &s.origin
                    && t == token
                {
                    return if s.volume_size_gib == req.volume_size_gib {
                        Ok(s)
                    } else {
                        Err(EngineError::Conflict(format!(
                            "The client token {token} was already used with different parameters"
                        )))
                    };
                }
            }
        }
        if req.volume_size_gib == 0 || req.volume_size_gib > MAX_VOLUME_SIZE_GIB {
            return Err(invalid(
                "INVALID_VOLUME_SIZE",
                format!("VolumeSize must be between 1 and {MAX_VOLUME_SIZE_GIB} GiB"),
            ));
        }
        let timeout = req.timeout_minutes.unwrap_or(60);
        if !(10..=4320).contains(&timeout) {
            return Err(invalid("INVALID_PARAMETER_VALUE", "Timeout must be between 10 and 4320 minutes"));
        }
        let id = common::ids::resource_id("snap");
        let lineage = match &req.parent {
            Some(parent) => {
                let (p, _) = self.readable(parent)?;
                if req.volume_size_gib < p.volume_size_gib {
                    return Err(invalid(
                        "INVALID_VOLUME_SIZE",
                        format!("VolumeSize must be at least the parent snapshot's {} GiB", p.volume_size_gib),
                    ));
                }
                p.lineage
            }
            None => id.clone(),
        };
        let mut tags = BTreeMap::new();
        volume::apply_tags(&mut tags, &req.tags).map_err(|e| invalid("INVALID_TAG", e.to_string()))?;
        let snapshot = Snapshot {
            id,
            volume_id: NO_VOLUME.into(),
            lineage,
            state: SnapshotState::Pending,
            state_message: None,
            progress: 0,
            start_time: self.now(),
            completion_time: None,
            description: req.description.clone().unwrap_or_default(),
            volume_size_gib: req.volume_size_gib,
            tags,
            encrypted: req.encrypted,
            kms_key_id: None,
            origin: Origin::Direct {
                parent: req.parent.clone(),
                client_token: req.client_token.clone(),
                timeout_minutes: timeout,
            },
            full_size_bytes: 0,
            stored_bytes: 0,
        };
        let mut batch = WriteBatch::new();
        self.meta.put_snapshot_in(&mut batch, &snapshot);
        self.meta.write(batch)?;
        Ok(snapshot)
    }

    /// A snapshot that is taking blocks: pending and started with StartSnapshot.
    fn writable(&self, id: &str) -> EngineResult<Snapshot> {
        let s = self.meta.snapshot(id)?.ok_or_else(|| EngineError::SnapshotNotFound(id.into()))?;
        if s.state != SnapshotState::Pending || !matches!(s.origin, Origin::Direct { .. }) {
            return Err(invalid("INVALID_SNAPSHOT_ID", format!("The snapshot {id} does not accept blocks")));
        }
        Ok(s)
    }

    /// Stores one block (checked against its SHA-256) of a snapshot started with StartSnapshot.
    pub fn put_snapshot_block(
        &self,
        id: &str,
        index: u64,
        data: &[u8],
        checksum: &str,
        algorithm: &str,
    ) -> EngineResult<String> {
        let s = self.writable(id)?;
        if algorithm != "SHA256" {
            return Err(invalid("INVALID_PARAMETER_VALUE", format!("Unsupported checksum algorithm {algorithm}")));
        }
        if data.len() as u64 != BLOCK_SIZE {
            return Err(invalid("INVALID_BLOCK", format!("A block must be {BLOCK_SIZE} bytes, not {}", data.len())));
        }
        if index >= s.volume_size_gib * volume::GIB / BLOCK_SIZE {
            return Err(invalid("INVALID_BLOCK", format!("Block index {index} is beyond the end of the volume")));
        }
        let actual = sha256_b64(data);
        if actual != checksum {
            return Err(invalid(
                "INVALID_PARAMETER_VALUE",
                "The checksum of the block data does not match x-amz-Checksum",
            ));
        }
        let hash = (!is_zero(data)).then(|| BlockHash::of(data));
        if let Some(h) = &hash {
            self.pins.pin(*h);
            if !self.store.has_block(h)? {
                self.store.put_block(h, data)?;
            }
        }
        let sha: [u8; 32] = Sha256::digest(data).into();
        let mut batch = WriteBatch::new();
        self.meta.put_pending_block_in(&mut batch, id, index, hash.as_ref(), &sha);
        // The block is stored (concurrent puts overlap there); recording it happens under the lock
        // CompleteSnapshot holds, with the state checked again: a put that races the completion is
        // either in the manifest or refused, never acknowledged and then dropped.
        let recorded = {
            let _guard = self.mutate.lock().expect("mutate lock");
            self.writable(id).and_then(|_| self.meta.write(batch))
        };
        if let Err(e) = recorded {
            if let Some(h) = &hash {
                self.pins.unpin(h);
            }
            return Err(e);
        }
        Ok(actual)
    }

    /// Seals a snapshot started with StartSnapshot: the parent's blocks with the ones put over them.
    pub fn complete_snapshot(
        &self,
        id: &str,
        changed_blocks: u64,
        checksum: Option<(&str, &str, &str)>,
    ) -> EngineResult<SnapshotState> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let mut s = self.writable(id)?;
        let pending = self.meta.pending_blocks(id)?;
        if pending.len() as u64 != changed_blocks {
            return Err(invalid(
                "INVALID_PARAMETER_VALUE",
                format!("ChangedBlocksCount is {changed_blocks} but {} blocks were written", pending.len()),
            ));
        }
        if let Some((value, algorithm, aggregation)) = checksum {
            if algorithm != "SHA256" || aggregation != "LINEAR" {
                return Err(invalid(
                    "INVALID_PARAMETER_VALUE",
                    "Only SHA256 checksums aggregated LINEAR are supported",
                ));
            }
            // LINEAR: the SHA-256 of the blocks' SHA-256s, in block index order.
            let mut all = Sha256::new();
            for (_, _, sha) in &pending {
                all.update(sha);
            }
            if B64.encode(all.finalize()) != value {
                return Err(invalid("INVALID_PARAMETER_VALUE", "The aggregated checksum does not match the blocks"));
            }
        }
        let mut manifest = match &s.origin {
            Origin::Direct { parent: Some(p), .. } => self.meta.manifest(p)?.unwrap_or_default(),
            _ => Manifest::default(),
        };
        let parent_hashes: std::collections::HashSet<BlockHash> = manifest.blocks.values().copied().collect();
        manifest.volume_size_gib = s.volume_size_gib;
        let mut new_bytes = 0;
        for (index, hash, _) in &pending {
            match hash {
                Some(h) => {
                    if !parent_hashes.contains(h) {
                        new_bytes += BLOCK_SIZE;
                    }
                    manifest.blocks.insert(*index, *h)
                }
                None => manifest.blocks.remove(index),
            };
        }
        s.state = SnapshotState::Completed;
        s.progress = 100;
        s.completion_time = Some(self.now());
        s.full_size_bytes = manifest.blocks.len() as u64 * BLOCK_SIZE;
        s.stored_bytes = new_bytes;
        let mut batch = WriteBatch::new();
        self.meta.delete_pending_blocks_in(&mut batch, id)?;
        self.commit_snapshot(batch, &s, &manifest)?;
        for h in pending.iter().filter_map(|(_, h, _)| h.as_ref()) {
            self.pins.unpin(h);
        }
        Ok(s.state)
    }

    /// Start-up: blocks already put to snapshots still open stay pinned until they complete.
    pub(super) fn recover_direct_snapshots(&self) -> EngineResult<()> {
        for h in self.meta.all_pending_hashes()? {
            self.pins.pin(h);
        }
        Ok(())
    }
}
