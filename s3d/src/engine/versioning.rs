//! Bucket versioning: the bucket's state (never versioned, Enabled, Suspended), version ids, and the
//! one place that decides what a write or a delete does to a key's versions. The current version
//! lives in the `objects` column family (listings stay one range scan); older ones move to `versions`.
//! Every blob belongs to exactly one version, so a blob is released exactly when its version goes.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Caller, Engine, EngineError, Result};
use crate::store::BlobId;
use crate::store::meta::{BodyRecord, ContentHeaders, MetaBatch, ObjectRecord};

/// A bucket's versioning state as S3 reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never configured: writes replace the `null` version, deletes remove it.
    Unversioned,
    Enabled,
    Suspended,
}

impl Versioning {
    pub(crate) fn of(stored: Option<&str>) -> Self {
        match stored {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => Versioning::Unversioned,
        }
    }
}

/// A `versionId` a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRef {
    /// `null`: the version written while the bucket was unversioned or suspended.
    Null,
    Id(String),
}

/// Version ids: 16 hex digits of `u64::MAX - seq` (so ids sort newest first) and 8 random hex digits.
const ID_LEN: usize = 24;

impl VersionRef {
    pub fn parse(s: &str) -> Result<Self> {
        if s == "null" {
            return Ok(VersionRef::Null);
        }
        if s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Ok(VersionRef::Id(s.to_string()));
        }
        Err(EngineError::InvalidArgument("Invalid version id specified".into()))
    }

    fn matches(&self, rec: &ObjectRecord) -> bool {
        match self {
            VersionRef::Null => rec.version_id.is_none(),
            VersionRef::Id(id) => rec.version_id.as_deref() == Some(id),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            VersionRef::Null => "null",
            VersionRef::Id(id) => id,
        }
    }
}

/// What a DELETE did: the version it created (a delete marker) or removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// `None` when an unversioned bucket's object was removed (no version header).
    pub version_id: Option<String>,
    /// The created or removed version is a delete marker.
    pub delete_marker: bool,
}

pub(crate) fn seq_of(rec: &ObjectRecord) -> u64 {
    if rec.seq != 0 { rec.seq } else { (rec.last_modified_ms.max(0) as u64).saturating_mul(1000) }
}

/// Where a noncurrent version sorts among its key's versions (newest first).
pub(crate) fn sort_key(rec: &ObjectRecord) -> String {
    match &rec.version_id {
        Some(id) => id.clone(),
        None => format!("{:016x}null", u64::MAX - seq_of(rec)),
    }
}

fn new_version_id(seq: u64) -> String {
    format!("{:016x}{:08x}", u64::MAX - seq, rand::random::<u32>())
}

impl Engine {
    pub fn get_bucket_versioning(&self, caller: &Caller, bucket: &str) -> Result<Versioning> {
        Ok(Versioning::of(self.owned_bucket(caller, bucket)?.versioning.as_deref()))
    }

    /// Enabled or Suspended; a bucket never goes back to unversioned.
    pub async fn put_bucket_versioning(&self, caller: &Caller, bucket: &str, state: Versioning) -> Result<()> {
        let name = match state {
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
            Versioning::Unversioned => return Err(EngineError::MalformedXml),
        };
        self.owned_bucket(caller, bucket)?;
        let _writers = self.bucket_lock(bucket).write().await;
        let mut rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        rec.versioning = Some(name.into());
        let mut batch = MetaBatch::new();
        batch.put_bucket(bucket, &rec);
        self.commit(batch).await
    }

    pub(crate) fn versioning_of(&self, bucket: &str) -> Result<Versioning> {
        let rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        Ok(Versioning::of(rec.versioning.as_deref()))
    }

    /// A sequence number above every earlier one in this process and above the key's current version.
    fn next_seq(&self, current: Option<&ObjectRecord>) -> u64 {
        let now = (self.now().unix_timestamp_nanos() / 1000).max(1) as u64;
        let floor = current.map(|c| seq_of(c) + 1).unwrap_or(0).max(now);
        let prev = self
            .last_seq
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(floor.max(last + 1)))
            .expect("closure always returns Some");
        floor.max(prev + 1)
    }

    /// Adds to `batch` what makes `record` the current version of `key` under `state` (called under
    /// the key lock, with `current` read under it); fills in its version id and sequence. Returns the
    /// blobs of the version it replaces permanently (the `null` one, or any when unversioned).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn place_current(
        &self,
        bucket: &str,
        key: &str,
        state: Versioning,
        current: Option<(ObjectRecord, Bytes)>,
        record: &mut ObjectRecord,
        inline: &[u8],
        batch: &mut MetaBatch,
    ) -> Result<Vec<BlobId>> {
        record.seq = self.next_seq(current.as_ref().map(|(c, _)| c));
        let mut released = Vec::new();
        match state {
            Versioning::Unversioned => {
                record.version_id = None;
                if let Some((old, _)) = current {
                    released.extend(old.blobs());
                }
            }
            Versioning::Enabled => {
                record.version_id = Some(new_version_id(record.seq));
                if let Some((old, old_inline)) = current {
                    batch.put_version(bucket, key, &sort_key(&old), &old, &old_inline);
                }
            }
            Versioning::Suspended => {
                record.version_id = None;
                match current {
                    Some((old, _)) if old.version_id.is_none() => released.extend(old.blobs()),
                    Some((old, old_inline)) => {
                        batch.put_version(bucket, key, &sort_key(&old), &old, &old_inline);
                        if let Some((sk, null, _)) = self.find_noncurrent(bucket, key, &VersionRef::Null)? {
                            batch.delete_version(bucket, key, &sk);
                            released.extend(null.blobs());
                        }
                    }
                    None => {}
                }
            }
        }
        batch.put_object(bucket, key, record, inline);
        for id in &released {
            batch.release_blob(id);
        }
        Ok(released)
    }

    /// A noncurrent version: `(sort key, record, inline body)`.
    pub(crate) fn find_noncurrent(
        &self,
        bucket: &str,
        key: &str,
        version: &VersionRef,
    ) -> Result<Option<(String, ObjectRecord, Bytes)>> {
        match version {
            VersionRef::Id(id) => Ok(self.meta.version(bucket, key, id)?.map(|(r, b)| (id.clone(), r, b))),
            // Null versions sort by time: find it among the key's versions.
            VersionRef::Null => {
                for item in self.meta.scan_versions(bucket, key, None)? {
                    let (sk, rec, inline) = item?;
                    if rec.version_id.is_none() {
                        return Ok(Some((sk, rec, inline)));
                    }
                }
                Ok(None)
            }
        }
    }

    /// The version a read names (`None` = the current one), with its inline body. The current
    /// version being a delete marker is NoSuchKey; naming a delete marker is MethodNotAllowed.
    pub(crate) fn resolve_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
    ) -> Result<(ObjectRecord, Bytes)> {
        let current = self.meta.object(bucket, key)?;
        let found = match version {
            None => {
                let (rec, inline) = current.ok_or(EngineError::NoSuchKey)?;
                if rec.delete_marker {
                    return Err(EngineError::LatestIsDeleteMarker { version_id: rec.version_id });
                }
                return Ok((rec, inline));
            }
            Some(v) => match current {
                Some((rec, inline)) if v.matches(&rec) => Some((rec, inline)),
                _ => self.find_noncurrent(bucket, key, v)?.map(|(_, r, b)| (r, b)),
            },
        };
        let (rec, inline) = found.ok_or(EngineError::NoSuchVersion)?;
        if rec.delete_marker {
            return Err(EngineError::VersionIsDeleteMarker {
                version_id: rec.version_id,
                last_modified: super::ms_to_time(rec.last_modified_ms),
            });
        }
        Ok((rec, inline))
    }

    /// DELETE: without a version, removes the object (unversioned) or adds a delete marker; with one,
    /// removes that version for good (the next newest becomes current, which undeletes a key whose
    /// delete marker is removed). Deleting what does not exist succeeds, as in S3.
    pub async fn delete_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
    ) -> Result<DeleteOutcome> {
        self.owned_bucket(caller, bucket)?;
        let outcome = {
            let _bucket = self.bucket_alive(bucket).await?;
            let _guard = self.locks.lock(bucket, key).await;
            let state = self.versioning_of(bucket)?;
            let current = self.meta.object(bucket, key)?;
            let mut batch = MetaBatch::new();
            let (outcome, released) = match (version, state) {
                (None, Versioning::Unversioned) => {
                    let Some((old, _)) = current else { return Ok(DeleteOutcome::default()) };
                    batch.delete_object(bucket, key);
                    let released = old.blobs();
                    for id in &released {
                        batch.release_blob(id);
                    }
                    (DeleteOutcome::default(), released)
                }
                (None, _) => {
                    let mut marker = self.delete_marker(&caller.user);
                    let released = self.place_current(bucket, key, state, current, &mut marker, &[], &mut batch)?;
                    let id = marker.version_id.unwrap_or_else(|| "null".into());
                    metrics::counter!("s3d_delete_markers_total").increment(1);
                    (DeleteOutcome { version_id: Some(id), delete_marker: true }, released)
                }
                (Some(v), _) => {
                    let removed = match current {
                        Some((cur, _)) if v.matches(&cur) => {
                            batch.delete_object(bucket, key);
                            // The newest older version becomes current.
                            if let Some(next) = self.meta.scan_versions(bucket, key, None)?.next() {
                                let (sk, rec, inline) = next?;
                                batch.delete_version(bucket, key, &sk).put_object(bucket, key, &rec, &inline);
                            }
                            Some(cur)
                        }
                        _ => match self.find_noncurrent(bucket, key, v)? {
                            Some((sk, rec, _)) => {
                                batch.delete_version(bucket, key, &sk);
                                Some(rec)
                            }
                            None => None,
                        },
                    };
                    let delete_marker = removed.as_ref().is_some_and(|r| r.delete_marker);
                    let released = removed.map(|r| r.blobs()).unwrap_or_default();
                    for id in &released {
                        batch.release_blob(id);
                    }
                    (DeleteOutcome { version_id: Some(v.as_str().to_string()), delete_marker }, released)
                }
            };
            self.commit_releasing(batch, released).await?;
            outcome
        };
        Ok(outcome)
    }

    pub(crate) fn delete_marker(&self, owner: &str) -> ObjectRecord {
        ObjectRecord {
            version_id: None,
            size: 0,
            etag: String::new(),
            last_modified_ms: self.now_ms(),
            owner: owner.into(),
            headers: ContentHeaders::default(),
            user_metadata: Default::default(),
            tags: Vec::new(),
            checksum: None,
            storage_class: "STANDARD".into(),
            encryption: None,
            body: BodyRecord::Inline,
            delete_marker: true,
            seq: 0,
            archive: None,
            acl: None,
        }
    }

    /// Rewrites one version's record in place (tagging), wherever it lives.
    pub(crate) async fn update_version(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        change: impl FnOnce(&mut ObjectRecord),
    ) -> Result<ObjectRecord> {
        let _guard = self.locks.lock(bucket, key).await;
        let current = self.meta.object(bucket, key)?;
        let mut batch = MetaBatch::new();
        let in_current = match (version, &current) {
            (None, _) => true,
            (Some(v), Some((cur, _))) => v.matches(cur),
            (Some(_), None) => false,
        };
        let rec = if in_current {
            let (mut rec, inline) = self.resolve_version(bucket, key, None).map_err(|e| match (version, e) {
                (Some(_), EngineError::LatestIsDeleteMarker { version_id }) => EngineError::VersionIsDeleteMarker {
                    version_id,
                    last_modified: current
                        .as_ref()
                        .map(|(c, _)| super::ms_to_time(c.last_modified_ms))
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                },
                (_, e) => e,
            })?;
            change(&mut rec);
            batch.put_object(bucket, key, &rec, &inline);
            rec
        } else {
            let v = version.expect("a noncurrent version is named");
            let (sk, mut rec, inline) = self.find_noncurrent(bucket, key, v)?.ok_or(EngineError::NoSuchVersion)?;
            if rec.delete_marker {
                return Err(EngineError::VersionIsDeleteMarker {
                    version_id: rec.version_id,
                    last_modified: super::ms_to_time(rec.last_modified_ms),
                });
            }
            change(&mut rec);
            batch.put_version(bucket, key, &sk, &rec, &inline);
            rec
        };
        self.commit(batch).await?;
        Ok(rec)
    }
}

/// What a response says about the `null` version: on a bucket that has (or had) versioning S3
/// reports it as `x-amz-version-id: null`; on a never-versioned bucket it sends no version id.
pub(crate) fn report_null(mut info: super::object::ObjectInfo, state: Versioning) -> super::object::ObjectInfo {
    if info.version_id.is_none() && state != Versioning::Unversioned {
        info.version_id = Some("null".into());
    }
    info
}
