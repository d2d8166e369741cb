//! Records in the key-value store:
//! - `volumes`: volume id → JSON record; `client_tokens`: idempotency token → the id it created;
//! - `snapshots`: snapshot id → JSON record; `manifests`: snapshot id → encoded manifest (the commit
//!   point of a snapshot's content); `block_refs`: block hash → how many snapshots use it;
//! - `volume_state`: per volume, its dirty map (with a clean-shutdown flag), the manifest of its last
//!   snapshot (the base of the next incremental one) and its hydration progress;
//! - `pending_blocks`: `snapshot id / block index` → hash, blocks written through PutSnapshotBlock.

use std::sync::Arc;

use common::kv::{Direction, KeyRange, KvStore, WriteBatch};

use crate::engine::blocks::{Bitmap, Manifest};
use crate::engine::error::{EngineError, EngineResult};
use crate::engine::snapshot::Snapshot;
use crate::engine::volume::Volume;
use crate::store::snapshots::BlockHash;

pub const CF_VOLUMES: &str = "volumes";
pub const CF_CLIENT_TOKENS: &str = "client_tokens";
pub const CF_SNAPSHOTS: &str = "snapshots";
pub const CF_MANIFESTS: &str = "manifests";
pub const CF_BLOCK_REFS: &str = "block_refs";
pub const CF_VOLUME_STATE: &str = "volume_state";
pub const CF_PENDING_BLOCKS: &str = "pending_blocks";
pub const COLUMN_FAMILIES: &[&str] =
    &[CF_VOLUMES, CF_CLIENT_TOKENS, CF_SNAPSHOTS, CF_MANIFESTS, CF_BLOCK_REFS, CF_VOLUME_STATE, CF_PENDING_BLOCKS];

/// Keys of `volume_state`: `<volume id>/dirty`, `/base`, `/hydration`.
fn state_key(volume: &str, what: &str) -> Vec<u8> {
    format!("{volume}/{what}").into_bytes()
}

fn pending_key(snapshot: &str, index: u64) -> Vec<u8> {
    let mut k = format!("{snapshot}/").into_bytes();
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// A block put through PutSnapshotBlock: index, content hash (`None`: zeros), SHA-256.
pub type PendingBlock = (u64, Option<BlockHash>, [u8; 32]);

/// A volume's hydration from a snapshot: which blocks are already in the volume file.
#[derive(Debug)]
pub struct HydrationRecord {
    pub snapshot_id: String,
    pub done: Bitmap,
}

#[derive(Clone)]
pub struct MetaStore {
    kv: Arc<dyn KvStore>,
}

impl MetaStore {
    pub fn new(kv: Arc<dyn KvStore>) -> Self {
        Self { kv }
    }

    pub fn get(&self, id: &str) -> EngineResult<Option<Volume>> {
        match self.kv.get(CF_VOLUMES, id.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode(id, &bytes).map(Some),
        }
    }

    /// Every volume, ordered by id.
    pub fn list(&self) -> EngineResult<Vec<Volume>> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_VOLUMES, KeyRange::all(), Direction::Forward)? {
            let (key, value) = item?;
            out.push(decode(&String::from_utf8_lossy(&key), &value)?);
        }
        Ok(out)
    }

    /// Writes `volume` durably, and records `client_token` → id in the same batch.
    pub fn put(&self, volume: &Volume, client_token: Option<&str>) -> EngineResult<()> {
        let mut batch = WriteBatch::new();
        self.put_in(&mut batch, volume, client_token);
        Ok(self.kv.write(batch)?)
    }

    pub fn put_in(&self, batch: &mut WriteBatch, volume: &Volume, client_token: Option<&str>) {
        let json = serde_json::to_vec(volume).expect("volume records serialise");
        batch.put(CF_VOLUMES, volume.id.as_bytes(), json);
        if let Some(token) = client_token {
            batch.put(CF_CLIENT_TOKENS, token.as_bytes(), volume.id.as_bytes());
        }
    }

    /// Deletes a volume's record and its per-volume state.
    pub fn delete(&self, id: &str) -> EngineResult<()> {
        let mut batch = WriteBatch::new();
        batch.delete(CF_VOLUMES, id.as_bytes());
        for what in ["dirty", "base", "hydration"] {
            batch.delete(CF_VOLUME_STATE, state_key(id, what));
        }
        Ok(self.kv.write(batch)?)
    }

    pub fn volume_for_token(&self, token: &str) -> EngineResult<Option<String>> {
        Ok(self.kv.get(CF_CLIENT_TOKENS, token.as_bytes())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn write(&self, batch: WriteBatch) -> EngineResult<()> {
        Ok(self.kv.write(batch)?)
    }

    // --- snapshots ---

    pub fn snapshot(&self, id: &str) -> EngineResult<Option<Snapshot>> {
        match self.kv.get(CF_SNAPSHOTS, id.as_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|e| EngineError::Corrupt(id.into(), e.to_string()))
            }
        }
    }

    pub fn snapshots(&self) -> EngineResult<Vec<Snapshot>> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_SNAPSHOTS, KeyRange::all(), Direction::Forward)? {
            let (key, value) = item?;
            out.push(
                serde_json::from_slice(&value)
                    .map_err(|e| EngineError::Corrupt(String::from_utf8_lossy(&key).into(), e.to_string()))?,
            );
        }
        Ok(out)
    }

    pub fn put_snapshot_in(&self, batch: &mut WriteBatch, snapshot: &Snapshot) {
        batch.put(CF_SNAPSHOTS, snapshot.id.as_bytes(), serde_json::to_vec(snapshot).expect("serialises"));
    }

    pub fn manifest(&self, snapshot_id: &str) -> EngineResult<Option<Manifest>> {
        match self.kv.get(CF_MANIFESTS, snapshot_id.as_bytes())? {
            None => Ok(None),
            Some(bytes) => Manifest::decode(&bytes)
                .map(Some)
                .ok_or_else(|| EngineError::Corrupt(snapshot_id.into(), "undecodable manifest".into())),
        }
    }

    pub fn put_manifest_in(&self, batch: &mut WriteBatch, snapshot_id: &str, manifest: &Manifest) {
        batch.put(CF_MANIFESTS, snapshot_id.as_bytes(), manifest.encode());
    }

    pub fn block_refs(&self, hash: &BlockHash) -> EngineResult<u64> {
        Ok(self.kv.get(CF_BLOCK_REFS, &hash.0)?.and_then(|v| v.try_into().ok().map(u64::from_le_bytes)).unwrap_or(0))
    }

    /// Sets a block's reference count (removing the row at zero).
    pub fn set_block_refs_in(&self, batch: &mut WriteBatch, hash: &BlockHash, count: u64) {
        if count == 0 {
            batch.delete(CF_BLOCK_REFS, hash.0.to_vec());
        } else {
            batch.put(CF_BLOCK_REFS, hash.0.to_vec(), count.to_le_bytes().to_vec());
        }
    }

    // --- per-volume state ---

    /// The dirty map saved at the last clean shutdown; `None` if there is none or the last run did not
    /// shut down cleanly (then every block must be treated as dirty).
    pub fn clean_dirty_map(&self, volume: &str) -> EngineResult<Option<Bitmap>> {
        let Some(bytes) = self.kv.get(CF_VOLUME_STATE, &state_key(volume, "dirty"))? else { return Ok(None) };
        match bytes.split_first() {
            Some((1, map)) => Ok(Bitmap::from_bytes(map)),
            _ => Ok(None),
        }
    }

    /// Saves a dirty map; `clean` only at shutdown, when no write can follow.
    pub fn put_dirty_map_in(&self, batch: &mut WriteBatch, volume: &str, map: &Bitmap, clean: bool) {
        let mut value = vec![u8::from(clean)];
        if clean {
            value.extend_from_slice(&map.to_bytes());
        }
        batch.put(CF_VOLUME_STATE, state_key(volume, "dirty"), value);
    }

    pub fn base_manifest(&self, volume: &str) -> EngineResult<Option<Manifest>> {
        match self.kv.get(CF_VOLUME_STATE, &state_key(volume, "base"))? {
            None => Ok(None),
            Some(b) => Manifest::decode(&b)
                .map(Some)
                .ok_or_else(|| EngineError::Corrupt(volume.into(), "undecodable base manifest".into())),
        }
    }

    pub fn put_base_manifest_in(&self, batch: &mut WriteBatch, volume: &str, manifest: &Manifest) {
        batch.put(CF_VOLUME_STATE, state_key(volume, "base"), manifest.encode());
    }

    pub fn hydration(&self, volume: &str) -> EngineResult<Option<HydrationRecord>> {
        let Some(bytes) = self.kv.get(CF_VOLUME_STATE, &state_key(volume, "hydration"))? else { return Ok(None) };
        let corrupt = || EngineError::Corrupt(volume.into(), "undecodable hydration record".into());
        let len = *bytes.first().ok_or_else(corrupt)? as usize;
        let id = bytes.get(1..1 + len).ok_or_else(corrupt)?;
        let done = Bitmap::from_bytes(&bytes[1 + len..]).ok_or_else(corrupt)?;
        Ok(Some(HydrationRecord { snapshot_id: String::from_utf8_lossy(id).into_owned(), done }))
    }

    pub fn put_hydration_in(&self, batch: &mut WriteBatch, volume: &str, snapshot_id: &str, done: &Bitmap) {
        let mut value = vec![snapshot_id.len() as u8];
        value.extend_from_slice(snapshot_id.as_bytes());
        value.extend_from_slice(&done.to_bytes());
        batch.put(CF_VOLUME_STATE, state_key(volume, "hydration"), value);
    }

    pub fn delete_hydration_in(&self, batch: &mut WriteBatch, volume: &str) {
        batch.delete(CF_VOLUME_STATE, state_key(volume, "hydration"));
    }

    // --- blocks written through the EBS direct APIs, before CompleteSnapshot ---

    /// Records a block put to `snapshot`: its SHA-256, then its hash (none for a zero block, which
    /// replaces whatever the parent snapshot had there).
    pub fn put_pending_block_in(
        &self,
        batch: &mut WriteBatch,
        snapshot: &str,
        index: u64,
        hash: Option<&BlockHash>,
        sha256: &[u8; 32],
    ) {
        let mut value = sha256.to_vec();
        if let Some(h) = hash {
            value.extend_from_slice(&h.0);
        }
        batch.put(CF_PENDING_BLOCKS, pending_key(snapshot, index), value);
    }

    /// (index, hash or zero, SHA-256) of every block put to `snapshot` so far, by index.
    pub fn pending_blocks(&self, snapshot: &str) -> EngineResult<Vec<PendingBlock>> {
        let prefix = format!("{snapshot}/").into_bytes();
        let mut out = Vec::new();
        for item in self.kv.scan(CF_PENDING_BLOCKS, KeyRange::prefix(&prefix), Direction::Forward)? {
            let (key, value) = item?;
            let corrupt = || EngineError::Corrupt(snapshot.into(), "undecodable pending block".into());
            let index = u64::from_be_bytes(key[prefix.len()..].try_into().map_err(|_| corrupt())?);
            let sha: [u8; 32] = value.get(..32).and_then(|v| v.try_into().ok()).ok_or_else(corrupt)?;
            let hash = value.get(32..).and_then(|v| v.try_into().ok()).map(BlockHash);
            out.push((index, hash, sha));
        }
        Ok(out)
    }

    /// Every hash recorded as a pending block of any snapshot (kept by garbage collection).
    pub fn all_pending_hashes(&self) -> EngineResult<Vec<BlockHash>> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_PENDING_BLOCKS, KeyRange::all(), Direction::Forward)? {
            let (_, value) = item?;
            if let Some(h) = value.get(32..).and_then(|v| v.try_into().ok()) {
                out.push(BlockHash(h));
            }
        }
        Ok(out)
    }

    pub fn delete_pending_blocks_in(&self, batch: &mut WriteBatch, snapshot: &str) -> EngineResult<()> {
        for (index, _, _) in self.pending_blocks(snapshot)? {
            batch.delete(CF_PENDING_BLOCKS, pending_key(snapshot, index));
        }
        Ok(())
    }

    /// Every hash with a reference count (garbage collection keeps them).
    pub fn referenced_hashes(&self) -> EngineResult<Vec<BlockHash>> {
        let mut out = Vec::new();
        for item in self.kv.scan(CF_BLOCK_REFS, KeyRange::all(), Direction::Forward)? {
            let (key, _) = item?;
            if let Ok(h) = key.as_slice().try_into() {
                out.push(BlockHash(h));
            }
        }
        Ok(out)
    }
}

fn decode(id: &str, bytes: &[u8]) -> EngineResult<Volume> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt(id.into(), e.to_string()))
}
