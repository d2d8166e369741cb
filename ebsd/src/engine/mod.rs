//! The volume engine: EBS semantics (lifecycle, attachments, tags, elastic modifications, performance
//! models) over the metadata store and the volume files. It knows nothing of HTTP, XML or NBD framing.

pub mod blocks;
pub mod capture;
pub mod describe;
pub mod direct;
pub mod error;
pub mod handle;
pub mod hydrate;
pub mod perf;
pub mod snapshot;
pub mod snapshots;
pub mod tags;
pub mod volume;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};

use common::clock::SharedClock;
use common::kv::KvStore;
use time::macros::format_description;

use blocks::{Bitmap, block_count};
use capture::{Capture, Pins};
use common::kv::WriteBatch;
pub use describe::{Filter, Page};
pub use error::{EngineError, EngineResult};
pub use handle::{IoKind, VolumeHandle};
use hydrate::Hydration;
use perf::PerfModel;
pub use snapshots::DescribeSnapshots;
use volume::{Attachment, Modification, SpecRequest, Volume, VolumeSpec};

use crate::store::snapshots::SnapshotStore;
use crate::store::{MetaStore, Uring, VolumeFile};

/// CreateVolume's parameters, parsed.
#[derive(Debug, Clone, Default)]
pub struct CreateVolume {
    pub spec: SpecRequest,
    pub availability_zone: Option<String>,
    pub snapshot_id: Option<String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub client_token: Option<String>,
}

/// A volume id and its latest modification.
pub type VolumeModification = (String, Modification);

/// An opened export: the volume, and the token that ends its connections when it is detached.
#[derive(Debug)]
pub struct Export {
    pub handle: Arc<VolumeHandle>,
    pub session: tokio_util::sync::CancellationToken,
}

/// Why an NBD client may not open an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("no volume named {0:?}")]
    Unknown(String),
    #[error("volume {0} is not attached")]
    NotAttached(String),
}

pub struct VolumeEngine {
    meta: MetaStore,
    volumes_dir: PathBuf,
    clock: SharedClock,
    handles: RwLock<HashMap<String, Arc<VolumeHandle>>>,
    uring: Option<Arc<Uring>>,
    /// Serialises read-modify-write of volume and snapshot records and block reference counts (API
    /// calls are rare next to I/O).
    mutate: Mutex<()>,
    store: Arc<dyn SnapshotStore>,
    pins: Arc<Pins>,
    /// Snapshots being captured, by id (for their live progress).
    captures: Mutex<HashMap<String, Arc<Capture>>>,
    /// Background hydration rate in bytes per second (0: unpaced).
    hydrate_rate: u64,
    credit_scale: perf::CreditScale,
    me: Weak<VolumeEngine>,
}

/// Settings of the engine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Pace of background hydration of restored volumes, in MiB/s (0: as fast as the store answers).
    pub hydrate_mib_per_sec: u64,
    /// Size of the burst credit buckets (gp2, st1, sc1) relative to AWS's.
    pub burst_credits_scale: perf::CreditScale,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC).format(fmt).expect("timestamp formats")
}

impl VolumeEngine {
    /// Opens the metadata and every volume file under `data_dir`, removing files no record points at
    /// (a crash between creating a file and committing its record, or after deleting a record).
    /// With `io_uring` false (or where the kernel refuses it), I/O runs on the blocking pool.
    pub fn open(
        data_dir: &Path,
        kv: Arc<dyn KvStore>,
        clock: SharedClock,
        io_uring: bool,
        store: Arc<dyn SnapshotStore>,
        options: EngineOptions,
    ) -> EngineResult<Arc<Self>> {
        let volumes_dir = data_dir.join("volumes");
        std::fs::create_dir_all(&volumes_dir)?;
        let meta = MetaStore::new(kv);
        let uring = match if io_uring { Uring::new() } else { Err(std::io::Error::other("disabled by --no-io-uring")) }
        {
            Ok(ring) => {
                tracing::info!("volume I/O through io_uring");
                Some(Arc::new(ring))
            }
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable; volume I/O uses the blocking pool");
                None
            }
        };
        let hydrate_rate = options.hydrate_mib_per_sec * volume::MIB;
        let mut handles = HashMap::new();
        let mut hydrations = Vec::new();
        // Until the next clean shutdown, a crash must make every dirty map count as all-dirty.
        let mut unclean = WriteBatch::new();
        for volume in meta.list()? {
            let path = volume_path(&volumes_dir, &volume.id);
            let file = match VolumeFile::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::error!(volume = %volume.id, "volume file is missing; recreating it empty");
                    VolumeFile::create(&path, volume.spec.size_bytes())?
                }
                Err(e) => return Err(e.into()),
            };
            file.grow(volume.spec.size_bytes())?;
            let blocks = block_count(volume.spec.size_bytes());
            let dirty = match meta.clean_dirty_map(&volume.id)? {
                Some(map) => map,
                None => {
                    tracing::warn!(volume = %volume.id, "no clean shutdown recorded: the next snapshot reads every block");
                    Bitmap::full(blocks)
                }
            };
            meta.put_dirty_map_in(&mut unclean, &volume.id, &dirty, false);
            let model = PerfModel::new(&volume.spec, clock.clone(), options.burst_credits_scale);
            let handle = Arc::new(VolumeHandle::new(
                volume.id.clone(),
                file,
                &volume.spec,
                model,
                uring.clone(),
                meta.clone(),
                dirty,
            ));
            if let Some(record) = meta.hydration(&volume.id)? {
                let manifest = meta
                    .manifest(&record.snapshot_id)?
                    .ok_or_else(|| EngineError::SnapshotNotFound(record.snapshot_id.clone()))?;
                let h = Hydration::new(
                    record.snapshot_id,
                    manifest,
                    blocks,
                    Some(record.done),
                    store.clone(),
                    hydrate_rate,
                );
                let h = Arc::new(h);
                handle.start_hydration(h.clone());
                hydrations.push((handle.clone(), h));
            }
            handles.insert(volume.id.clone(), handle);
        }
        if !unclean.is_empty() {
            meta.write(unclean)?;
        }
        for entry in std::fs::read_dir(&volumes_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let known = name.strip_suffix(".img").is_some_and(|id| handles.contains_key(id));
            if !known {
                tracing::warn!(file = %entry.path().display(), "removing volume file without metadata");
                std::fs::remove_file(entry.path())?;
            }
        }
        tracing::info!(volumes = handles.len(), store = %store.describe(), "volumes loaded");
        let engine = Arc::new_cyclic(|me| Self {
            meta,
            volumes_dir,
            clock,
            handles: RwLock::new(handles),
            uring,
            mutate: Mutex::new(()),
            store,
            pins: Arc::new(Pins::default()),
            captures: Mutex::new(HashMap::new()),
            hydrate_rate,
            credit_scale: options.burst_credits_scale,
            me: me.clone(),
        });
        engine.recover_snapshots()?;
        engine.recover_direct_snapshots()?;
        for (handle, h) in hydrations {
            tracing::info!(volume = %handle.id, snapshot = %h.snapshot_id, remaining = h.remaining(), "resuming hydration");
            hydrate::spawn_hydrator(handle, h, engine.meta.clone());
        }
        Ok(engine)
    }

    fn self_ref(&self) -> Weak<Self> {
        self.me.clone()
    }

    /// Clean shutdown: saves every volume's dirty map (so the next snapshot after a restart stays
    /// incremental) and the progress of hydrations.
    pub fn shutdown(&self) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let mut batch = WriteBatch::new();
        for handle in self.handles.read().expect("handles lock").values() {
            if let Some(h) = handle.hydration() {
                h.cancel();
                handle.file().sync_data()?;
                h.persist(&self.meta, &handle.id)?;
            }
            self.meta.put_dirty_map_in(&mut batch, &handle.id, &handle.dirty_for_shutdown(), true);
        }
        self.meta.write(batch)?;
        tracing::info!("dirty maps saved");
        Ok(())
    }

    fn now(&self) -> String {
        rfc3339(self.clock.wall())
    }

    fn load(&self, id: &str) -> EngineResult<Volume> {
        volume::check_volume_id(id)?;
        self.meta.get(id)?.ok_or_else(|| EngineError::VolumeNotFound(id.into()))
    }

    fn handle(&self, id: &str) -> Option<Arc<VolumeHandle>> {
        self.handles.read().expect("handles lock").get(id).cloned()
    }

    pub fn create_volume(&self, req: CreateVolume, region: &str) -> EngineResult<Volume> {
        let _guard = self.mutate.lock().expect("mutate lock");
        if let Some(token) = &req.client_token
            && let Some(id) = self.meta.volume_for_token(token)?
            && let Some(existing) = self.meta.get(&id)?
        {
            return Ok(existing);
        }
        let source = match &req.snapshot_id {
            Some(id) => Some(self.snapshot_for_volume(id, req.spec.size_gib)?),
            None => None,
        };
        let mut spec_req = req.spec.clone();
        if let Some((s, _)) = &source {
            spec_req.size_gib.get_or_insert(s.volume_size_gib);
        }
        let spec = VolumeSpec::for_create(&spec_req)?;
        let az = req.availability_zone.ok_or_else(|| EngineError::MissingParameter("AvailabilityZone".into()))?;
        let valid_az = az.strip_prefix(region).is_some_and(|s| s.len() == 1 && s.as_bytes()[0].is_ascii_lowercase());
        if !valid_az {
            return Err(EngineError::InvalidParameterValue(format!("Invalid availability zone: [{az}]")));
        }
        let mut tags = BTreeMap::new();
        volume::apply_tags(&mut tags, &req.tags)?;
        let id = common::ids::resource_id("vol");
        let volume = Volume {
            id: id.clone(),
            spec,
            availability_zone: az,
            snapshot_id: req.snapshot_id.clone(),
            encrypted: req.encrypted || req.kms_key_id.is_some() || source.as_ref().is_some_and(|(s, _)| s.encrypted),
            kms_key_id: req.kms_key_id,
            create_time: self.now(),
            tags,
            attachments: Vec::new(),
            modification: None,
        };
        // The file first: a record never points at a file that is not there.
        let file =
            VolumeFile::create(&volume_path(&self.volumes_dir, &id), spec.size_bytes()).map_err(EngineError::sizing)?;
        let blocks = block_count(spec.size_bytes());
        let dirty = Bitmap::new(blocks);
        let mut batch = WriteBatch::new();
        self.meta.put_in(&mut batch, &volume, req.client_token.as_deref());
        self.meta.put_dirty_map_in(&mut batch, &id, &dirty, false);
        let mut hydration = None;
        if let Some((snapshot, manifest)) = source {
            // The source snapshot is the base of this volume's first incremental snapshot.
            self.meta.put_base_manifest_in(&mut batch, &id, &manifest);
            if !manifest.blocks.is_empty() {
                let h = Hydration::new(snapshot.id, manifest, blocks, None, self.store.clone(), self.hydrate_rate);
                self.meta.put_hydration_in(&mut batch, &id, &h.snapshot_id, &h.done);
                hydration = Some(Arc::new(h));
            }
        }
        self.meta.write(batch)?;
        let model = PerfModel::new(&spec, self.clock.clone(), self.credit_scale);
        let handle =
            Arc::new(VolumeHandle::new(id.clone(), file, &spec, model, self.uring.clone(), self.meta.clone(), dirty));
        if let Some(h) = hydration {
            handle.start_hydration(h.clone());
            hydrate::spawn_hydrator(handle.clone(), h, self.meta.clone());
        }
        self.handles.write().expect("handles lock").insert(id, handle);
        Ok(volume)
    }

    /// Volumes by id (each must exist) or all, filtered, one page of them.
    pub fn describe_volumes(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> EngineResult<(Vec<Volume>, Option<String>)> {
        page.validate(!ids.is_empty())?;
        let mut volumes = if ids.is_empty() {
            self.meta.list()?
        } else {
            let mut out = Vec::new();
            for id in ids {
                out.push(self.load(id)?);
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            out.dedup_by(|a, b| a.id == b.id);
            out
        };
        let mut kept = Vec::with_capacity(volumes.len());
        for v in volumes.drain(..) {
            let mut keep = true;
            for f in filters {
                keep &= describe::volume_matches(&v, f)?;
            }
            if keep {
                kept.push(v);
            }
        }
        let next = page.apply(&mut kept, |v| v.id.as_str())?;
        Ok((kept, next))
    }

    pub fn delete_volume(&self, id: &str) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let volume = self.load(id)?;
        if let Some(a) = volume.attachments.first() {
            return Err(EngineError::VolumeInUse(format!("Volume {id} is currently attached to {}", a.instance_id)));
        }
        self.meta.delete(id)?;
        if let Some(handle) = self.handles.write().expect("handles lock").remove(id) {
            if let Some(h) = handle.hydration() {
                h.cancel();
                handle.finish_hydration();
            }
            handle.end_session();
            std::fs::remove_file(handle.path())?;
            crate::store::file::sync_dir(handle.path())?;
        }
        Ok(())
    }

    pub fn attach_volume(&self, id: &str, instance_id: &str, device: &str) -> EngineResult<Attachment> {
        let _guard = self.mutate.lock().expect("mutate lock");
        volume::check_instance_id(instance_id)?;
        let mut volume = self.load(id)?;
        if !volume.attachments.is_empty() {
            if !volume.spec.multi_attach {
                return Err(EngineError::VolumeInUse(format!("{id} is already attached to an instance")));
            }
            if volume.attachments.iter().any(|a| a.instance_id == instance_id) {
                return Err(EngineError::VolumeInUse(format!("{id} is already attached to {instance_id}")));
            }
            if volume.attachments.len() >= volume::MAX_MULTI_ATTACH {
                return Err(EngineError::IncorrectState(format!(
                    "Volume {id} is already attached to the maximum of {} instances",
                    volume::MAX_MULTI_ATTACH
                )));
            }
        }
        let attachment = Attachment {
            instance_id: instance_id.into(),
            device: device.into(),
            attach_time: self.now(),
            delete_on_termination: false,
        };
        volume.attachments.push(attachment.clone());
        self.meta.put(&volume, None)?;
        Ok(attachment)
    }

    /// Detaches from `instance_id` (or the only attachment); the volume's NBD connections end when its
    /// last attachment goes.
    pub fn detach_volume(&self, id: &str, instance_id: Option<&str>, device: Option<&str>) -> EngineResult<Attachment> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let mut volume = self.load(id)?;
        if volume.attachments.is_empty() {
            return Err(EngineError::IncorrectState(format!("Volume '{id}' is in the 'available' state.")));
        }
        let index = match instance_id {
            Some(instance) => {
                volume::check_instance_id(instance)?;
                volume
                    .attachments
                    .iter()
                    .position(|a| a.instance_id == instance && device.is_none_or(|d| d == a.device))
                    .ok_or_else(|| EngineError::AttachmentNotFound { volume: id.into(), instance: instance.into() })?
            }
            None if volume.attachments.len() == 1 => 0,
            None => {
                return Err(EngineError::InvalidParameterCombination(format!(
                    "Volume {id} is attached to several instances; specify the InstanceId to detach from"
                )));
            }
        };
        let attachment = volume.attachments.remove(index);
        self.meta.put(&volume, None)?;
        if volume.attachments.is_empty()
            && let Some(handle) = self.handle(id)
        {
            handle.end_session();
        }
        Ok(attachment)
    }

    /// Elastic Volumes: applies the change at once (growing the file, re-rating the model) and records it
    /// as a completed modification.
    pub fn modify_volume(&self, id: &str, req: &SpecRequest) -> EngineResult<(String, Modification)> {
        let _guard = self.mutate.lock().expect("mutate lock");
        let mut volume = self.load(id)?;
        let target = volume.spec.for_modify(req)?;
        if target.multi_attach != volume.spec.multi_attach && volume.attachments.len() > 1 {
            return Err(EngineError::IncorrectState(format!(
                "Multi-Attach cannot be disabled while {id} is attached to several instances"
            )));
        }
        let now = self.now();
        let modification = Modification {
            state: "completed".into(),
            original: volume.spec,
            target,
            progress: 100,
            start_time: now.clone(),
            end_time: Some(now),
        };
        if let Some(handle) = self.handle(id) {
            handle.resize(&target).map_err(EngineError::sizing)?;
        }
        volume.spec = target;
        volume.modification = Some(modification.clone());
        self.meta.put(&volume, None)?;
        Ok((volume.id, modification))
    }

    pub fn describe_modifications(
        &self,
        ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> EngineResult<(Vec<VolumeModification>, Option<String>)> {
        let (volumes, _) = self.describe_volumes(ids, &[], &Page::default())?;
        let mut out = Vec::new();
        for v in volumes {
            let Some(m) = v.modification else { continue };
            let mut keep = true;
            for f in filters {
                keep &= describe::modification_matches(&v.id, &m, f)?;
            }
            if keep {
                out.push((v.id, m));
            }
        }
        let next = page.apply(&mut out, |(id, _)| id.as_str())?;
        Ok((out, next))
    }

    /// CreateTags on volumes and snapshots: every resource must exist before any is changed.
    pub fn create_tags(&self, resources: &[String], tags: &[(String, String)]) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        self.retag(resources, |t| volume::apply_tags(t, tags))
    }

    /// DeleteTags: a tag given with a value is removed only if the value matches; no tags = all tags.
    pub fn delete_tags(&self, resources: &[String], tags: &[(String, Option<String>)]) -> EngineResult<()> {
        let _guard = self.mutate.lock().expect("mutate lock");
        self.retag(resources, |t| {
            if tags.is_empty() {
                t.clear();
            }
            for (key, value) in tags {
                if value.as_ref().is_none_or(|want| t.get(key) == Some(want)) {
                    t.remove(key);
                }
            }
            Ok(())
        })
    }

    /// Applies `change` to the tags of every resource (all loaded first), in one batch.
    fn retag(
        &self,
        resources: &[String],
        change: impl Fn(&mut BTreeMap<String, String>) -> EngineResult<()>,
    ) -> EngineResult<()> {
        if resources.is_empty() {
            return Err(EngineError::MissingParameter("resourceIdSet".into()));
        }
        let (mut volumes, mut snapshots) = (Vec::new(), Vec::new());
        for id in resources {
            if id.starts_with("vol-") {
                volumes.push(self.load(id)?);
            } else if id.starts_with("snap-") {
                snapshots.push(self.load_snapshot(id)?);
            } else {
                return Err(EngineError::InvalidResourceId(id.clone()));
            }
        }
        let mut batch = WriteBatch::new();
        for v in &mut volumes {
            change(&mut v.tags)?;
            self.meta.put_in(&mut batch, v, None);
        }
        for s in &mut snapshots {
            change(&mut s.tags)?;
            self.meta.put_snapshot_in(&mut batch, s);
        }
        self.meta.write(batch)
    }

    /// Opens an export for an NBD client: only an attached volume may be opened.
    pub fn open_export(&self, name: &str) -> Result<Export, ExportError> {
        // Under the mutation lock, so a concurrent detach either comes first (refused here) or ends
        // the session handed out.
        let _guard = self.mutate.lock().expect("mutate lock");
        let attached = match self.meta.get(name) {
            Ok(Some(v)) => !v.attachments.is_empty(),
            _ => return Err(ExportError::Unknown(name.into())),
        };
        if !attached {
            return Err(ExportError::NotAttached(name.into()));
        }
        let handle = self.handle(name).ok_or_else(|| ExportError::Unknown(name.into()))?;
        let session = handle.session();
        Ok(Export { handle, session })
    }

    /// The exports NBD_OPT_LIST shows: attached volumes.
    pub fn list_exports(&self) -> EngineResult<Vec<String>> {
        Ok(self.meta.list()?.into_iter().filter(|v| !v.attachments.is_empty()).map(|v| v.id).collect())
    }
}

fn volume_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.img"))
}

#[cfg(test)]
mod tests;
