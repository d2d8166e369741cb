//! Storage classes and the tiers behind them. Hot classes keep their body in the blob store;
//! GLACIER and DEEP_ARCHIVE bodies move to the cold tier (on PUT/copy/complete with that class and by
//! lifecycle transition) and can only be read through a restored copy (see `restore`). Every move is
//! one metadata commit after the cold copy is durable, so all of it survives a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::read::parts_stream;
use super::restore::RestoreTier;
use super::versioning::VersionRef;
use super::{ByteStream, Engine, EngineError, Result, ms_to_time};
use crate::store::blob::BlobId;
use crate::store::cold::{ColdTier, MemoryColdTier};
use crate::store::lifecycle_meta::ArchiveRecord;
use crate::store::meta::{BodyRecord, MetaBatch, ObjectRecord};

/// What S3 documents for a storage class: billing minimums, and where the body lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageClass {
    pub name: &'static str,
    /// Objects smaller than this are billed as this size.
    pub min_billable_bytes: u64,
    /// Metadata overhead billed per object (GLACIER / DEEP_ARCHIVE: 32 KiB index + 8 KiB name).
    pub overhead_bytes: u64,
    /// Deleting or transitioning earlier is billed as if stored this long.
    pub min_storage_days: u32,
    /// The body lives in the cold tier and needs a restore to be read.
    pub archived: bool,
    /// Position in S3's transition waterfall: lifecycle only moves objects to a higher rank.
    pub rank: u8,
}

const KIB: u64 = 1024;

pub const CLASSES: &[StorageClass] = &[
    StorageClass {
        name: "STANDARD",
        min_billable_bytes: 0,
        overhead_bytes: 0,
        min_storage_days: 0,
        archived: false,
        rank: 0,
    },
    StorageClass {
        name: "STANDARD_IA",
        min_billable_bytes: 128 * KIB,
        overhead_bytes: 0,
        min_storage_days: 30,
        archived: false,
        rank: 1,
    },
    StorageClass {
        name: "INTELLIGENT_TIERING",
        min_billable_bytes: 0,
        overhead_bytes: 0,
        min_storage_days: 0,
        archived: false,
        rank: 2,
    },
    StorageClass {
        name: "ONEZONE_IA",
        min_billable_bytes: 128 * KIB,
        overhead_bytes: 0,
        min_storage_days: 30,
        archived: false,
        rank: 3,
    },
    StorageClass {
        name: "GLACIER_IR",
        min_billable_bytes: 128 * KIB,
        overhead_bytes: 0,
        min_storage_days: 90,
        archived: false,
        rank: 4,
    },
    StorageClass {
        name: "GLACIER",
        min_billable_bytes: 0,
        overhead_bytes: 40 * KIB,
        min_storage_days: 90,
        archived: true,
        rank: 5,
    },
    StorageClass {
        name: "DEEP_ARCHIVE",
        min_billable_bytes: 0,
        overhead_bytes: 40 * KIB,
        min_storage_days: 180,
        archived: true,
        rank: 6,
    },
];

/// The class named `name`, if S3 accepts it on a write.
pub fn class(name: &str) -> Option<&'static StorageClass> {
    CLASSES.iter().find(|c| c.name == name)
}

pub fn is_archived_class(name: &str) -> bool {
    class(name).is_some_and(|c| c.archived)
}

/// Bytes a billing report counts for an object of `size` in `class`.
pub fn billable_bytes(class_name: &str, size: u64) -> u64 {
    match class(class_name) {
        Some(c) => size.max(c.min_billable_bytes) + c.overhead_bytes,
        None => size,
    }
}

/// Restore delays (scaled down from S3's minutes-to-hours for local use) and the length of a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierSettings {
    pub expedited: Duration,
    pub standard: Duration,
    pub bulk: Duration,
    /// DEEP_ARCHIVE restores take this many times longer (S3: 12 h vs 3–5 h for Standard).
    pub deep_archive_factor: u32,
    /// A lifecycle / restore "day".
    pub day: Duration,
}

impl Default for TierSettings {
    fn default() -> Self {
        Self {
            expedited: Duration::from_secs(1),
            standard: Duration::from_secs(5),
            bulk: Duration::from_secs(15),
            deep_archive_factor: 4,
            day: Duration::from_secs(86_400),
        }
    }
}

impl TierSettings {
    pub(crate) fn delay(&self, tier: RestoreTier, class: &str) -> Duration {
        let base = match tier {
            RestoreTier::Expedited => self.expedited,
            RestoreTier::Standard => self.standard,
            RestoreTier::Bulk => self.bulk,
        };
        if class == "DEEP_ARCHIVE" { base * self.deep_archive_factor } else { base }
    }
    pub fn day_ms(&self) -> i64 {
        (self.day.as_millis() as i64).max(1)
    }
}

pub struct Tiering {
    pub cold: Arc<dyn ColdTier>,
    pub settings: TierSettings,
    /// Versions (bucket, key, seq) already reported as impossible to archive, so that each is
    /// logged once rather than on every lifecycle pass. Bounded: past the cap it is cleared, which
    /// at worst logs a version again.
    pub unarchivable: std::sync::Mutex<HashSet<(String, String, u64)>>,
}

/// The most unarchivable versions remembered for log de-duplication.
const UNARCHIVABLE_REMEMBERED: usize = 10_000;

impl Default for Tiering {
    fn default() -> Self {
        Self {
            cold: Arc::new(MemoryColdTier::default()),
            settings: TierSettings::default(),
            unarchivable: Default::default(),
        }
    }
}

/// The body a GET reads: the record's own, or for an archived class the restored copy.
pub(crate) fn readable_body(rec: &ObjectRecord) -> Result<BodyRecord> {
    if !is_archived_class(&rec.storage_class) {
        return Ok(rec.body.clone());
    }
    match rec.archive.as_ref().and_then(|a| a.restore.as_ref()).and_then(|r| r.copy.clone()) {
        Some(copy) => Ok(BodyRecord::Blob(copy)),
        None => {
            Err(EngineError::InvalidObjectState("The operation is not valid for the object's storage class".into()))
        }
    }
}

/// `x-amz-restore` as S3 sends it on HEAD/GET of an object with a restore.
pub(crate) fn restore_header(rec: &ObjectRecord) -> Option<String> {
    let r = rec.archive.as_ref()?.restore.as_ref()?;
    match (&r.copy, r.expiry_ms) {
        (Some(_), Some(expiry)) => {
            let t = ms_to_time(expiry);
            let when = std::time::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp().max(0) as u64);
            Some(format!("ongoing-request=\"false\", expiry-date=\"{}\"", httpdate::fmt_http_date(when)))
        }
        _ => Some("ongoing-request=\"true\"".into()),
    }
}

/// Where a version's record lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Current,
    /// A noncurrent version, by its sort key.
    Noncurrent(String),
}

impl Engine {
    /// A version's record and where it lives: `version_id` as stored (`None` = the null version).
    pub(crate) fn locate(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<(Slot, ObjectRecord, Bytes)>> {
        if let Some((rec, inline)) = self.meta.object(bucket, key)?
            && rec.version_id.as_deref() == version_id
        {
            return Ok(Some((Slot::Current, rec, inline)));
        }
        let v = match version_id {
            Some(id) => VersionRef::Id(id.into()),
            None => VersionRef::Null,
        };
        Ok(self.find_noncurrent(bucket, key, &v)?.map(|(sk, rec, inline)| (Slot::Noncurrent(sk), rec, inline)))
    }

    pub(crate) fn put_slot(
        batch: &mut MetaBatch,
        bucket: &str,
        key: &str,
        slot: &Slot,
        rec: &ObjectRecord,
        inline: &[u8],
    ) {
        match slot {
            Slot::Current => batch.put_object(bucket, key, rec, inline),
            Slot::Noncurrent(sk) => batch.put_version(bucket, key, sk, rec, inline),
        };
    }

    /// The hot body of a record, whole and as stored (an encrypted body stays sealed: the cold tier
    /// never sees plaintext, and its restored copy is read back through the same unsealing), and the
    /// part sizes to keep with the archive. A multipart body goes as its parts' stored bytes back to
    /// back: each sealed part keeps its own header, salt and segment numbering, and the sizes say
    /// where each part's stream starts in the copy (see `sse::read::packed_parts_body`).
    fn hot_body(
        &self,
        rec: &ObjectRecord,
        inline: Bytes,
    ) -> (Vec<u64>, impl std::future::Future<Output = Result<ByteStream>> + use<>) {
        let blobs = self.blobs.clone();
        let body = rec.body.clone();
        let sealed = rec.encryption.is_some();
        let stored = move |n: u64| if sealed { super::sse::segment::sealed_len(n) } else { n };
        let stored_len = stored(rec.size);
        let parts: Vec<u64> = match &rec.body {
            BodyRecord::Parts(parts) => parts.iter().map(|p| p.size).collect(),
            _ => Vec::new(),
        };
        // A manifest whose parts do not add up to the object cannot be archived as it is: the copy
        // would be unreadable. Nothing writes such a record; this guards against a damaged one.
        let inconsistent = !parts.is_empty() && parts.iter().sum::<u64>() != rec.size;
        let fut = async move {
            if inconsistent {
                return Err(EngineError::NotArchivable(
                    "the multipart manifest does not add up to the object size".into(),
                ));
            }
            Ok(match body {
                BodyRecord::Inline => {
                    Box::pin(futures::stream::iter((!inline.is_empty()).then_some(Ok(inline)))) as ByteStream
                }
                BodyRecord::Blob(id) => blobs.read(&id, 0..stored_len).await?,
                BodyRecord::Parts(parts) => {
                    parts_stream(blobs, parts.into_iter().map(|p| (p.blob, 0..stored(p.size))).collect())
                }
            })
        };
        (parts, fut)
    }

    /// Changes a version's storage class (lifecycle transitions; PUT with an archive class), moving
    /// the body to the cold tier when the class is archived. `expected_seq` guards against a version
    /// that changed meanwhile: then nothing happens and `false` is returned.
    pub(crate) async fn set_class(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        expected_seq: u64,
        class_name: &str,
    ) -> Result<bool> {
        let Some((_, rec, inline)) = self.locate(bucket, key, version_id)? else { return Ok(false) };
        if rec.seq != expected_seq || rec.delete_marker {
            return Ok(false);
        }
        let to_cold = is_archived_class(class_name) && rec.archive.is_none();
        let (cold_id, parts) = if to_cold {
            let id = BlobId::generate();
            // Parts are opened one by one as they stream to the cold tier: lease them so that an
            // overwrite meanwhile cannot cut the copy short (the move is then dropped below anyway).
            let _lease = self.leases.lease(self.blobs.clone(), rec.blobs());
            let (parts, body) = self.hot_body(&rec, inline);
            self.tiering.cold.put(&id, body.await?).await?;
            (Some(id), parts)
        } else {
            (None, Vec::new())
        };
        let outcome = async {
            let _bucket = self.bucket_alive(bucket).await?;
            let _guard = self.locks.lock(bucket, key).await;
            let Some((slot, mut rec, inline)) = self.locate(bucket, key, version_id)? else { return Ok(false) };
            // Changed meanwhile, or archived by a concurrent move (a PUT's and the pass's).
            if rec.seq != expected_seq || rec.delete_marker || (cold_id.is_some() && rec.archive.is_some()) {
                return Ok(false);
            }
            let mut batch = MetaBatch::new();
            let mut released = Vec::new();
            let mut inline = inline;
            if let Some(id) = &cold_id {
                released = rec.blobs();
                for b in &released {
                    batch.release_blob(b);
                }
                batch.reference_blob(id);
                // `seq` is unchanged since the body was read, so these are its parts.
                rec.archive = Some(ArchiveRecord { cold: id.clone(), restore: None, parts: parts.clone() });
                rec.body = BodyRecord::Inline;
                inline = Bytes::new();
            }
            rec.storage_class = class_name.to_string();
            Self::put_slot(&mut batch, bucket, key, &slot, &rec, &inline);
            self.commit_releasing(batch, released).await?;
            Ok::<_, EngineError>(true)
        }
        .await;
        match outcome {
            Ok(true) => {
                if cold_id.is_some() {
                    metrics::counter!("s3d_objects_archived_total").increment(1);
                }
                Ok(true)
            }
            other => {
                if let Some(id) = cold_id {
                    let _ = self.tiering.cold.delete(&id).await;
                }
                other
            }
        }
    }

    /// After a write committed `rec` with an archive class: move its body to the cold tier now. A
    /// failure leaves the body hot (still unreadable without a restore); the lifecycle pass retries.
    pub(crate) async fn archive_new(&self, bucket: &str, key: &str, rec: &ObjectRecord) {
        if !is_archived_class(&rec.storage_class) || rec.archive.is_some() {
            return;
        }
        match self.set_class(bucket, key, rec.version_id.as_deref(), rec.seq, &rec.storage_class).await {
            Ok(_) => {}
            Err(EngineError::NotArchivable(why)) => self.note_unarchivable(bucket, key, rec.seq, &why),
            Err(e) => tracing::warn!(bucket, key, error = %e, "cannot archive object yet; the lifecycle pass retries"),
        }
    }

    /// A lifecycle move of one version: like `set_class`, but a version that can never be archived
    /// as stored is skipped (`Ok(false)`, logged once) instead of failing the whole tick, which
    /// would stop the pass at that key and retry it on every tick.
    pub(crate) async fn lifecycle_set_class(
        &self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
        class_name: &str,
    ) -> Result<bool> {
        match self.set_class(bucket, key, rec.version_id.as_deref(), rec.seq, class_name).await {
            Err(EngineError::NotArchivable(why)) => {
                self.note_unarchivable(bucket, key, rec.seq, &why);
                Ok(false)
            }
            other => other,
        }
    }

    /// Logs (once per version) that a version stays in the hot store.
    fn note_unarchivable(&self, bucket: &str, key: &str, seq: u64, why: &str) {
        let mut seen = self.tiering.unarchivable.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= UNARCHIVABLE_REMEMBERED {
            seen.clear();
        }
        if seen.insert((bucket.to_string(), key.to_string(), seq)) {
            metrics::counter!("s3d_objects_unarchivable_total").increment(1);
            tracing::warn!(bucket, key, seq, reason = why, "object cannot be archived; it stays in the hot store");
        }
    }

    /// The cold tier (for usage reports and compaction).
    pub fn cold_tier(&self) -> &Arc<dyn ColdTier> {
        &self.tiering.cold
    }

    pub fn tier_settings(&self) -> TierSettings {
        self.tiering.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billing_minimums_follow_s3() {
        assert_eq!(billable_bytes("STANDARD", 10), 10);
        assert_eq!(billable_bytes("STANDARD_IA", 10), 128 * 1024);
        assert_eq!(billable_bytes("GLACIER", 10), 10 + 40 * 1024);
        assert!(class("REDUCED_REDUNDANCY").is_none());
    }
}
