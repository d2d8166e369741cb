//! RestoreObject: a restore of an archived version is queued (due at now + the tier's delay), then
//! the background pass copies the body back from the cold tier to a hot blob and schedules that
//! copy's expiry `Days` later. Queue entries and records change in one commit, so a restart loses
//! nothing: a due entry is simply found again.

use futures::StreamExt;

use super::lifecycle::eval::due_ms;
use super::tier::is_archived_class;
use super::versioning::VersionRef;
use super::{Caller, Engine, EngineError, Result};
use crate::store::lifecycle_meta::{DueKind, RestoreDue, RestoreRecord};
use crate::store::meta::{MetaBatch, ObjectRecord};

/// RestoreObject's retrieval tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreTier {
    Expedited,
    Standard,
    Bulk,
}

impl RestoreTier {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Expedited" => Some(Self::Expedited),
            "Standard" => Some(Self::Standard),
            "Bulk" => Some(Self::Bulk),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Expedited => "Expedited",
            Self::Standard => "Standard",
            Self::Bulk => "Bulk",
        }
    }
}

/// What RestoreObject did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// A restore was started (202 Accepted).
    Started,
    /// The object was already restored; its copy's expiry was moved (200 OK).
    Extended,
}

impl Engine {
    /// RestoreObject: starts a restore of an archived version, or extends a finished one's expiry.
    pub async fn restore_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        days: u32,
        tier: RestoreTier,
    ) -> Result<RestoreOutcome> {
        self.owned_bucket(caller, bucket)?;
        if days == 0 {
            return Err(EngineError::InvalidArgument("Days must be a positive integer".into()));
        }
        let (rec, _) = self.resolve_version(bucket, key, version)?;
        if !is_archived_class(&rec.storage_class) {
            return Err(EngineError::InvalidObjectState(
                "Restore is not allowed for the object's current storage class".into(),
            ));
        }
        if rec.storage_class == "DEEP_ARCHIVE" && tier == RestoreTier::Expedited {
            return Err(EngineError::InvalidArgument(
                "Expedited retrieval is not available for the DEEP_ARCHIVE storage class".into(),
            ));
        }
        if rec.archive.is_none() {
            // Written with an archive class but not moved yet (e.g. interrupted): move it first.
            self.set_class(bucket, key, rec.version_id.as_deref(), rec.seq, &rec.storage_class).await?;
        }
        let _guard = self.locks.lock(bucket, key).await;
        let (slot, mut rec, inline) =
            self.locate(bucket, key, rec.version_id.as_deref())?.ok_or(EngineError::NoSuchVersion)?;
        let archive = rec.archive.as_mut().ok_or(EngineError::RestoreAlreadyInProgress)?;
        let now = self.now_ms();
        let day = self.tiering.settings.day_ms();
        let due = RestoreDue {
            kind: DueKind::Complete,
            bucket: bucket.into(),
            key: key.into(),
            version_id: rec.version_id.clone(),
        };
        let mut batch = MetaBatch::new();
        let outcome = match &mut archive.restore {
            Some(r) if r.copy.is_none() => return Err(EngineError::RestoreAlreadyInProgress),
            Some(r) => {
                let expire = RestoreDue { kind: DueKind::Expire, ..due };
                if let Some(old) = r.expiry_ms {
                    batch.delete_due(old, &expire);
                }
                let expiry = due_ms(now, days as i64, day);
                r.expiry_ms = Some(expiry);
                r.days = days;
                batch.put_due(expiry, &expire);
                RestoreOutcome::Extended
            }
            None => {
                let ready = now + self.tiering.settings.delay(tier, &rec.storage_class).as_millis() as i64;
                archive.restore = Some(RestoreRecord {
                    tier: tier.as_str().into(),
                    days,
                    requested_ms: now,
                    ready_ms: ready,
                    copy: None,
                    expiry_ms: None,
                });
                batch.put_due(ready, &due);
                metrics::counter!("s3d_restores_started_total", "tier" => tier.as_str()).increment(1);
                RestoreOutcome::Started
            }
        };
        Self::put_slot(&mut batch, bucket, key, &slot, &rec, &inline);
        self.commit(batch).await?;
        Ok(outcome)
    }

    /// Finishes restores and expires restored copies that are due; at most `limit`. Returns how many.
    pub async fn process_restores(&self, limit: usize) -> Result<usize> {
        let due = self.meta.due_restores(self.now_ms(), limit)?;
        let n = due.len();
        for (at, entry) in due {
            match entry.kind {
                DueKind::Complete => self.complete_restore(at, &entry).await?,
                DueKind::Expire => self.expire_restore(at, &entry).await?,
            }
        }
        Ok(n)
    }

    async fn complete_restore(&self, at: i64, entry: &RestoreDue) -> Result<()> {
        let (bucket, key, vid) = (&entry.bucket, &entry.key, entry.version_id.as_deref());
        let pending = |rec: &ObjectRecord| {
            rec.archive.as_ref().and_then(|a| a.restore.as_ref()).is_some_and(|r| r.copy.is_none() && r.ready_ms == at)
        };
        let copy = match self.locate(bucket, key, vid)? {
            Some((_, rec, _)) if pending(&rec) => {
                let cold = rec.archive.as_ref().expect("pending restore is archived").cold.clone();
                let mut reader = self.tiering.cold.read(&cold).await?;
                let mut writer = self.blobs.create().await?;
                while let Some(chunk) = reader.next().await {
                    writer.write(chunk?).await?;
                }
                Some(writer.commit().await?)
            }
            _ => None,
        };
        let mut batch = MetaBatch::new();
        batch.delete_due(at, entry);
        let _guard = self.locks.lock(bucket, key).await;
        let mut unused = copy.clone();
        if let Some(copy) = &copy
            && let Some((slot, mut rec, inline)) = self.locate(bucket, key, vid)?
            && pending(&rec)
        {
            // As in S3, the copy lasts until the day boundary ("midnight UTC") after `Days`.
            let days = rec.archive.as_ref().and_then(|a| a.restore.as_ref()).map_or(1, |r| r.days as i64);
            let expiry = due_ms(self.now_ms(), days, self.tiering.settings.day_ms());
            if let Some(r) = rec.archive.as_mut().and_then(|a| a.restore.as_mut()) {
                r.copy = Some(copy.clone());
                r.expiry_ms = Some(expiry);
            }
            batch.reference_blob(copy);
            batch.put_due(expiry, &RestoreDue { kind: DueKind::Expire, ..entry.clone() });
            Self::put_slot(&mut batch, bucket, key, &slot, &rec, &inline);
            unused = None;
            metrics::counter!("s3d_restores_completed_total").increment(1);
        }
        self.commit(batch).await?;
        if let Some(id) = unused {
            let _ = self.blobs.delete(&id).await;
        }
        Ok(())
    }

    async fn expire_restore(&self, at: i64, entry: &RestoreDue) -> Result<()> {
        let (bucket, key, vid) = (&entry.bucket, &entry.key, entry.version_id.as_deref());
        let _guard = self.locks.lock(bucket, key).await;
        let mut batch = MetaBatch::new();
        batch.delete_due(at, entry);
        let mut released = None;
        if let Some((slot, mut rec, inline)) = self.locate(bucket, key, vid)?
            && let Some(a) = rec.archive.as_mut()
            && let Some(r) = &a.restore
            && r.expiry_ms == Some(at)
        {
            released = r.copy.clone();
            a.restore = None;
            if let Some(id) = &released {
                batch.release_blob(id);
            }
            Self::put_slot(&mut batch, bucket, key, &slot, &rec, &inline);
        }
        let expired = released.is_some();
        self.commit_releasing(batch, released.into_iter().collect()).await?;
        if expired {
            metrics::counter!("s3d_restores_expired_total").increment(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::object::PutRequest;
    use super::super::read::ReadConditions;
    use super::super::testing::*;
    use super::super::tier::TierSettings;
    use super::*;
    use crate::store::cold::MemoryColdTier;

    fn fast() -> TierSettings {
        TierSettings {
            expedited: Duration::from_millis(0),
            standard: Duration::from_millis(0),
            bulk: Duration::from_millis(0),
            deep_archive_factor: 1,
            day: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn archived_objects_need_a_restore_and_the_copy_expires() {
        let e = engine().with_tiering(Arc::new(MemoryColdTier::default()), fast());
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        let data = vec![7u8; 100_000];
        let put = PutRequest { storage_class: Some("GLACIER".into()), ..Default::default() };
        e.put_object(&alice(), "bkt", "k", body(&data), put, None).await.unwrap();
        let mut hot = 0;
        e.blobs.scan(&mut |_| hot += 1).unwrap();
        assert_eq!(hot, 0, "the hot copy is gone");
        assert_eq!(e.cold_tier().usage().objects, 1);
        let (who, cond) = (alice(), ReadConditions::default());
        let get = || e.get_object(&who, "bkt", "k", None, &cond, None, None);
        assert!(matches!(get().await, Err(EngineError::InvalidObjectState(_))));
        let started = e.restore_object(&alice(), "bkt", "k", None, 1, RestoreTier::Standard).await.unwrap();
        assert_eq!(started, RestoreOutcome::Started);
        assert!(matches!(
            e.restore_object(&alice(), "bkt", "k", None, 1, RestoreTier::Bulk).await,
            Err(EngineError::RestoreAlreadyInProgress)
        ));
        let (info, _) = e.head_object(&alice(), "bkt", "k", None, &ReadConditions::default(), None, None).unwrap();
        assert_eq!(info.restore.as_deref(), Some("ongoing-request=\"true\""));
        assert_eq!(e.process_restores(10).await.unwrap(), 1);
        let (info, _) = e.head_object(&alice(), "bkt", "k", None, &ReadConditions::default(), None, None).unwrap();
        assert!(info.restore.unwrap().starts_with("ongoing-request=\"false\", expiry-date="));
        let mut body_out = Vec::new();
        let mut s = get().await.unwrap().body;
        while let Some(c) = s.next().await {
            body_out.extend_from_slice(&c.unwrap());
        }
        assert_eq!(body_out, data);
        tokio::time::sleep(Duration::from_millis(450)).await;
        assert_eq!(e.process_restores(10).await.unwrap(), 1);
        assert!(matches!(get().await, Err(EngineError::InvalidObjectState(_))), "the restored copy expired");
        let mut hot = 0;
        e.blobs.scan(&mut |_| hot += 1).unwrap();
        assert_eq!(hot, 0, "the restored copy's blob is deleted");
        e.delete_object(&alice(), "bkt", "k", None).await.unwrap();
        assert_eq!(e.cold_tier().usage().objects, 0, "deleting the object deletes its cold body");
    }

    #[tokio::test]
    async fn restore_of_a_hot_object_is_refused() {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        e.put_object(&alice(), "bkt", "k", body(b"x"), PutRequest::default(), None).await.unwrap();
        assert!(matches!(
            e.restore_object(&alice(), "bkt", "k", None, 1, RestoreTier::Standard).await,
            Err(EngineError::InvalidObjectState(_))
        ));
    }
}
