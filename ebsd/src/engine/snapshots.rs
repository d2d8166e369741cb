//! CreateSnapshot, DescribeSnapshots, DeleteSnapshot, CopySnapshot: snapshot records, the background
//! copier, and block reference counts (a block leaves the store when no snapshot uses it any more).

use std::collections::BTreeMap;
use std::sync::Arc;

use common::kv::WriteBatch;

use super::VolumeEngine;
use super::blocks::{BLOCK_SIZE, Manifest};
use super::capture::{Capture, Captured};
use super::describe::{Filter, Page};
use super::error::{EngineError, EngineResult};
use super::handle::VolumeHandle;
use super::snapshot::{NO_VOLUME, Origin, Snapshot, SnapshotState, check_snapshot_id, owner_matches, snapshot_matches};
use super::volume::{self, GIB};
use crate::store::snapshots::BlockHash;

/// A snapshot with its progress now.
pub type SnapshotView = (Snapshot, u8);

/// DescribeSnapshots' parameters.
#[derive(Debug, Clone, Default)]
pub struct DescribeSnapshots {
    pub ids: Vec<String>,
    pub owners: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl VolumeEngine {
    pub(super) fn load_snapshot(&self, id: &str) -> EngineResult<Snapshot> {
        check_snapshot_id(id)?;
        self.meta.snapshot(id)?.ok_or_else(|| EngineError::SnapshotNotFound(id.into()))
    }

    /// A snapshot's progress now: live for a capture in flight.
    pub fn snapshot_progress(&self, s: &Snapshot) -> u8 {
        if s.state != SnapshotState::Pending {
            return s.progress;
        }
        let capture = self.captures.lock().expect("captures lock").get(&s.id).cloned();
        capture.map(|c| c.progress()).unwrap_or(s.progress)
    }

    /// Starts a snapshot of `volume_id`: the volume's changed blocks are frozen now and copied in the
    /// background; the snapshot is `pending` until they are all in the store.
    pub fn create_snapshot(
        &self,
        volume_id: &str,
        description: Option<String>,
        tags: &[(String, String)],
    ) -> EngineResult<Snapshot> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let volume = self.load(volume_id)?;
        let mut tag_map = BTreeMap::new();
        volume::apply_tags(&mut tag_map, tags)?;
        let handle = self.handle(volume_id).ok_or_else(|| EngineError::VolumeNotFound(volume_id.into()))?;
        let id = common::ids::resource_id("snap");
        let snapshot = Snapshot {
            id: id.clone(),
            volume_id: volume_id.into(),
            lineage: volume_id.into(),
            state: SnapshotState::Pending,
            state_message: None,
            progress: 0,
            start_time: self.now(),
            completion_time: None,
            description: description.unwrap_or_default(),
            volume_size_gib: volume.spec.size_gib,
            tags: tag_map,
            encrypted: volume.encrypted,
            kms_key_id: volume.kms_key_id.clone(),
            origin: Origin::Volume,
            full_size_bytes: 0,
            stored_bytes: 0,
        };
        let mut batch = WriteBatch::new();
        self.meta.put_snapshot_in(&mut batch, &snapshot);
        self.meta.write(batch)?;
        let (store, pins) = (self.store.clone(), self.pins.clone());
        let capture = handle.begin_capture(|frozen| Capture::new(id.clone(), frozen, store, pins)).ok_or_else(|| {
            EngineError::ConcurrentSnapshotLimit(format!(
                "Volume {volume_id} already has a snapshot in progress; wait for it to complete"
            ))
        });
        let capture = match capture {
            Ok(c) => c,
            Err(e) => {
                let mut batch = WriteBatch::new();
                batch.delete(crate::store::meta::CF_SNAPSHOTS, id.as_bytes());
                self.meta.write(batch)?;
                return Err(e);
            }
        };
        self.captures.lock().expect("captures lock").insert(id.clone(), capture.clone());
        let engine = self.self_ref();
        std::thread::Builder::new()
            .name(format!("capture-{id}"))
            .spawn(move || {
                if let Some(engine) = engine.upgrade() {
                    engine.run_capture(&handle, &capture);
                }
            })
            .map_err(EngineError::Io)?;
        Ok(snapshot)
    }

    /// The copier: copies the frozen blocks, then commits the snapshot's manifest.
    fn run_capture(&self, handle: &Arc<VolumeHandle>, capture: &Arc<Capture>) {
        let started = std::time::Instant::now();
        let hydrate = |i: u64| handle.hydrate_range(i * BLOCK_SIZE, BLOCK_SIZE);
        let result = capture.run(handle.file(), hydrate).map_err(EngineError::Io).and_then(|captured| {
            let r = self.commit_capture(handle, capture, &captured);
            capture.unpin(&captured);
            r.map(|()| captured)
        });
        self.captures.lock().expect("captures lock").remove(&capture.snapshot_id);
        match result {
            Ok(captured) => {
                handle.end_capture(false);
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(snapshot = %capture.snapshot_id, volume = %handle.id, blocks = captured.hashes.len(), new_bytes = captured.new_bytes, secs, "snapshot completed");
            }
            Err(e) => {
                handle.end_capture(true);
                tracing::error!(snapshot = %capture.snapshot_id, error = %e, "snapshot failed");
                let _guard = self.mutate.lock().expect("mutate lock");
                if let Ok(Some(mut s)) = self.meta.snapshot(&capture.snapshot_id) {
                    s.state = SnapshotState::Error;
                    s.state_message = Some(format!("The snapshot could not be taken: {e}"));
                    let mut batch = WriteBatch::new();
                    self.meta.put_snapshot_in(&mut batch, &s);
                    let _ = self.meta.write(batch);
                }
            }
        }
    }

    fn commit_capture(&self, handle: &VolumeHandle, capture: &Capture, captured: &Captured) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let mut snapshot = self.load_snapshot(&capture.snapshot_id)?;
        let mut manifest = self.meta.base_manifest(&handle.id)?.unwrap_or_default();
        manifest.volume_size_gib = snapshot.volume_size_gib;
        for (&i, hash) in &captured.hashes {
            match hash {
                Some(h) => manifest.blocks.insert(i, *h),
                None => manifest.blocks.remove(&i),
            };
        }
        snapshot.state = SnapshotState::Completed;
        snapshot.progress = 100;
        snapshot.completion_time = Some(self.now());
        snapshot.full_size_bytes = manifest.blocks.len() as u64 * BLOCK_SIZE;
        snapshot.stored_bytes = captured.new_bytes;
        let mut batch = WriteBatch::new();
        if self.meta.get(&handle.id)?.is_some() {
            self.meta.put_base_manifest_in(&mut batch, &handle.id, &manifest);
        }
        self.commit_snapshot(batch, &snapshot, &manifest)
    }

    /// Commits a completed snapshot: its manifest (in the store too, so the store describes itself),
    /// its record, and one more reference on each of its blocks, in one batch.
    pub(super) fn commit_snapshot(
        &self,
        mut batch: WriteBatch,
        snapshot: &Snapshot,
        manifest: &Manifest,
    ) -> EngineResult<()> {
        self.store.put_manifest(&snapshot.id, &manifest.encode())?;
        self.meta.put_manifest_in(&mut batch, &snapshot.id, manifest);
        self.meta.put_snapshot_in(&mut batch, snapshot);
        for hash in manifest.distinct_hashes() {
            let count = self.meta.block_refs(&hash)?;
            self.meta.set_block_refs_in(&mut batch, &hash, count + 1);
        }
        self.meta.write(batch)
    }

    pub fn describe_snapshots(&self, req: &DescribeSnapshots) -> EngineResult<(Vec<SnapshotView>, Option<String>)> {
        req.page.validate_snapshots(!req.ids.is_empty())?;
        let mut snapshots = if req.ids.is_empty() {
            self.meta.snapshots()?
        } else {
            let mut out = Vec::new();
            for id in &req.ids {
                out.push(self.load_snapshot(id)?);
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out.dedup_by(|a, b| a.id == b.id);
            out
        };
        if !owner_matches(&req.owners) {
            snapshots.clear();
        }
        let mut kept = Vec::new();
        for s in snapshots {
            let progress = self.snapshot_progress(&s);
            let mut keep = true;
            for f in &req.filters {
                keep &= snapshot_matches(&s, progress, f)?;
            }
            if keep {
                kept.push((s, progress));
            }
        }
        let next = req.page.apply(&mut kept, |(s, _)| s.id.as_str())?;
        Ok((kept, next))
    }

    /// Deletes a snapshot; blocks no other snapshot uses leave the store.
    pub fn delete_snapshot(&self, id: &str) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let snapshot = self.load_snapshot(id)?;
        for handle in self.handles.read().expect("handles lock").values() {
            if handle.hydration().is_some_and(|h| h.snapshot_id == id) {
                return Err(EngineError::SnapshotInUse { snapshot: id.into(), volume: handle.id.clone() });
            }
        }
        if snapshot.state == SnapshotState::Pending && matches!(snapshot.origin, Origin::Volume) {
            return Err(EngineError::IncorrectState(format!(
                "The snapshot {id} is still being created; delete it once it has completed"
            )));
        }
        let manifest = self.meta.manifest(id)?;
        let mut batch = WriteBatch::new();
        batch.delete(crate::store::meta::CF_SNAPSHOTS, id.as_bytes());
        batch.delete(crate::store::meta::CF_MANIFESTS, id.as_bytes());
        self.meta.delete_pending_blocks_in(&mut batch, id)?;
        let mut unused = Vec::new();
        if let Some(m) = &manifest {
            for hash in m.distinct_hashes() {
                let count = self.meta.block_refs(&hash)?.saturating_sub(1);
                self.meta.set_block_refs_in(&mut batch, &hash, count);
                if count == 0 {
                    unused.push(hash);
                }
            }
        }
        self.meta.write(batch)?;
        // After the commit: a crash here leaves orphan blocks, which start-up removes.
        for hash in unused {
            if !self.pins.is_pinned(&hash) {
                self.store.delete_block(&hash)?;
            }
        }
        self.store.delete_manifest(id)?;
        Ok(())
    }

    /// CopySnapshot: a new snapshot with the same blocks (they are shared, not copied).
    pub fn copy_snapshot(
        &self,
        source_id: &str,
        source_region: &str,
        description: Option<String>,
        tags: &[(String, String)],
    ) -> EngineResult<Snapshot> {
        let _guard = self.mutate.lock().expect("mutate lock");
        if !is_region_name(source_region) {
            return Err(EngineError::InvalidParameterValue(format!("Invalid source region: {source_region}")));
        }
        let source = self.load_snapshot(source_id)?;
        if source.state != SnapshotState::Completed {
            return Err(EngineError::IncorrectState(format!(
                "Snapshot {source_id} is in state {}; only completed snapshots can be copied",
                source.state.as_str()
            )));
        }
        let manifest = self.meta.manifest(source_id)?.ok_or_else(|| EngineError::SnapshotNotFound(source_id.into()))?;
        let mut tag_map = BTreeMap::new();
        volume::apply_tags(&mut tag_map, tags)?;
        let now = self.now();
        let copy = Snapshot {
            id: common::ids::resource_id("snap"),
            volume_id: NO_VOLUME.into(),
            lineage: source.lineage.clone(),
            state: SnapshotState::Completed,
            state_message: None,
            progress: 100,
            start_time: now.clone(),
            completion_time: Some(now),
            description: description.unwrap_or_else(|| format!("[Copied {source_id} from {source_region}]")),
            tags: tag_map,
            origin: Origin::Copy { source: source_id.into() },
            stored_bytes: 0,
            ..source
        };
        self.commit_snapshot(WriteBatch::new(), &copy, &manifest)?;
        Ok(copy)
    }

    /// Start-up: captures a restart interrupted cannot be resumed (their copy-on-write state was in
    /// memory): they end in `error`. Then blocks nothing refers to leave the store.
    pub(super) fn recover_snapshots(&self) -> EngineResult<()> {
        for mut s in self.meta.snapshots()? {
            if s.state == SnapshotState::Pending && !matches!(s.origin, Origin::Direct { .. }) {
                tracing::warn!(snapshot = %s.id, "snapshot interrupted by a restart; marking it as error");
                s.state = SnapshotState::Error;
                s.state_message = Some("The snapshot was interrupted by a restart of the service".into());
                let mut batch = WriteBatch::new();
                self.meta.put_snapshot_in(&mut batch, &s);
                self.meta.write(batch)?;
            }
        }
        let mut keep: std::collections::HashSet<BlockHash> = self.meta.referenced_hashes()?.into_iter().collect();
        keep.extend(self.meta.all_pending_hashes()?);
        let mut removed = 0u64;
        for hash in self.store.list_blocks()? {
            if !keep.contains(&hash) {
                self.store.delete_block(&hash)?;
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(blocks = removed, "removed snapshot blocks no snapshot refers to");
        }
        Ok(())
    }

    /// Bytes of block data in the snapshot store.
    pub fn snapshot_store_bytes(&self) -> EngineResult<u64> {
        Ok(self.store.stored_bytes()?)
    }

    /// CreateVolume's check of a source snapshot: it exists, is completed and fits in `size_gib`.
    pub(super) fn snapshot_for_volume(&self, id: &str, size_gib: Option<u64>) -> EngineResult<(Snapshot, Manifest)> {
        let s = self.load_snapshot(id)?;
        if s.state != SnapshotState::Completed {
            return Err(EngineError::IncorrectState(format!("Snapshot {id} is in state {}", s.state.as_str())));
        }
        if let Some(size) = size_gib
            && size < s.volume_size_gib
        {
            return Err(EngineError::InvalidParameterValue(format!(
                "Volume of {size}GiB is smaller than snapshot '{id}', expect size >= {}GiB",
                s.volume_size_gib
            )));
        }
        let m = self.meta.manifest(id)?.ok_or_else(|| EngineError::SnapshotNotFound(id.into()))?;
        Ok((s, m))
    }
}

/// `us-east-1`, `eu-west-3`, `ap-southeast-2`…: letters, a dash, letters, a dash, digits.
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// Whole GiB a snapshot of `bytes` needs.
pub fn gib_for(bytes: u64) -> u64 {
    bytes.div_ceil(GIB)
}
