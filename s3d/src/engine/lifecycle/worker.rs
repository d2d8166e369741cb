//! The background lifecycle pass. Each tick does a bounded amount of work: finish due restores,
//! reclaim some cold-tier space, then walk up to `budget` keys from a cursor (bucket, last key done)
//! that is persisted after every tick, so a restart resumes where the pass was. For each key it
//! evaluates every version against the bucket's rules and applies the result with the same
//! per-key locking as requests, re-checking under the lock that the version did not change (a
//! request always wins a race). The pass also counts the per-class usage report.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::LifecycleConfig;
use super::eval::{Action, VersionFacts, abort_due, evaluate};
use super::usage::{BucketUsage, publish_cold, usage_key};
use crate::engine::tier::{Slot, is_archived_class};
use crate::engine::versioning::Versioning;
use crate::engine::{Caller, Engine, Result};
use crate::store::meta::{MetaBatch, ObjectRecord};

/// Versions of one key examined per visit (a key with more is handled over later passes).
const MAX_VERSIONS_PER_KEY: usize = 10_000;
/// Multipart uploads examined per bucket per pass.
const MAX_UPLOADS_PER_BUCKET: usize = 1000;
const RESTORES_PER_TICK: usize = 256;
const CURSOR_STATE: &str = "cursor";

/// Where the pass is; persisted after every tick.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The bucket being walked (`None`: start a new pass at the first bucket).
    pub bucket: Option<String>,
    /// The last key of `bucket` that was done.
    pub after_key: Option<String>,
    /// Usage counted so far in `bucket`.
    pub usage: BucketUsage,
    pub passes: u64,
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    pub keys: usize,
    pub actions: usize,
    pub restores: usize,
}

pub struct LifecycleWorker {
    engine: Arc<Engine>,
    /// Keys per tick.
    pub budget: usize,
    pub interval: Duration,
}

impl LifecycleWorker {
    /// A tick every 1/200 of a day (between 50 ms and 1 s), 500 keys each.
    pub fn new(engine: Arc<Engine>) -> Self {
        let day = engine.tier_settings().day;
        let interval = (day / 200).clamp(Duration::from_millis(50), Duration::from_secs(1));
        Self { engine, budget: 500, interval }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut cursor = match self.engine.meta.state::<Cursor>(CURSOR_STATE) {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the lifecycle cursor; starting a new pass");
                Cursor::default()
            }
        };
        tracing::info!(bucket = ?cursor.bucket, after = ?cursor.after_key, "lifecycle worker started");
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.interval) => {}
            }
            match self.engine.lifecycle_tick(&mut cursor, self.budget).await {
                Ok(r) => {
                    metrics::counter!("s3d_lifecycle_keys_scanned_total").increment(r.keys as u64);
                    metrics::counter!("s3d_lifecycle_actions_total").increment(r.actions as u64);
                }
                Err(e) => tracing::warn!(error = %e, "lifecycle tick failed; retrying next tick"),
            }
        }
    }
}

impl Engine {
    /// One bounded step of the pass; updates and persists `cursor`.
    pub async fn lifecycle_tick(&self, cursor: &mut Cursor, budget: usize) -> Result<TickReport> {
        let mut report = TickReport { restores: self.process_restores(RESTORES_PER_TICK).await?, ..Default::default() };
        if let Err(e) = self.tiering.cold.compact_one().await {
            tracing::warn!(error = %e, "cold tier compaction failed");
        }
        publish_cold(&self.tiering.cold.usage());
        let buckets: Vec<(String, i64)> =
            self.meta.buckets()?.into_iter().map(|(name, rec)| (name, rec.created_ms)).collect();
        let bucket = match &cursor.bucket {
            Some(b) if buckets.iter().any(|(n, _)| n == b) => b.clone(),
            // The bucket went away: continue with the next one after it.
            other => {
                let next = buckets.iter().find(|(n, _)| other.as_ref().is_none_or(|o| n > o)).map(|(n, _)| n.clone());
                *cursor = Cursor { bucket: next.clone(), passes: cursor.passes, ..Default::default() };
                match next {
                    Some(n) => n,
                    None => {
                        cursor.passes += 1;
                        return self.save_cursor(cursor, report).await;
                    }
                }
            }
        };
        let config: Option<LifecycleConfig> = self.meta.lifecycle(&bucket)?;
        let start = cursor.after_key.as_ref().map(|k| [k.as_bytes(), &[0]].concat()).unwrap_or_default();
        let keys: Vec<String> = self
            .meta
            .scan_objects(&bucket, &start, None)?
            .take(budget)
            .map(|r| r.map(|(k, _)| k))
            .collect::<Result<_, _>>()?;
        for key in &keys {
            report.actions += self.lifecycle_key(&bucket, key, config.as_ref(), &mut cursor.usage).await?;
            cursor.after_key = Some(key.clone());
            report.keys += 1;
        }
        if keys.len() < budget {
            if let Some(config) = &config {
                report.actions += self.abort_stale_uploads(&bucket, config).await?;
            }
            let mut usage = std::mem::take(&mut cursor.usage);
            usage.as_of_ms = self.now_ms();
            usage.publish(&bucket);
            let mut batch = MetaBatch::new();
            batch.put_state(&usage_key(&bucket), &usage);
            self.commit(batch).await?;
            let next = buckets.iter().find(|(n, _)| *n > bucket).map(|(n, _)| n.clone());
            if next.is_none() {
                cursor.passes += 1;
            }
            *cursor = Cursor { bucket: next, passes: cursor.passes, ..Default::default() };
        }
        self.save_cursor(cursor, report).await
    }

    async fn save_cursor(&self, cursor: &Cursor, report: TickReport) -> Result<TickReport> {
        let mut batch = MetaBatch::new();
        batch.put_state(CURSOR_STATE, cursor);
        self.commit(batch).await?;
        Ok(report)
    }

    /// Evaluates and applies the rules to every version of one key; counts what remains.
    async fn lifecycle_key(
        &self,
        bucket: &str,
        key: &str,
        config: Option<&LifecycleConfig>,
        usage: &mut BucketUsage,
    ) -> Result<usize> {
        let Some((current, _)) = self.meta.object(bucket, key)? else { return Ok(0) };
        let noncurrent: Vec<ObjectRecord> = self
            .meta
            .scan_versions(bucket, key, None)?
            .take(MAX_VERSIONS_PER_KEY)
            .map(|r| r.map(|(_, rec, _)| rec))
            .collect::<Result<_, _>>()?;
        let now = self.now_ms();
        let day = self.tiering.settings.day_ms();
        let mut actions = 0;
        let mut successor_ms = current.last_modified_ms;
        let versions = std::iter::once((&current, None)).chain(noncurrent.iter().enumerate().map(|(i, rec)| {
            let since = successor_ms;
            successor_ms = rec.last_modified_ms;
            (rec, Some((since, i)))
        }));
        let no_noncurrent = noncurrent.is_empty();
        let unversioned = self.versioning_of(bucket)? == Versioning::Unversioned;
        let mut plan = Vec::new();
        for (rec, position) in versions {
            let facts = VersionFacts {
                key,
                size: rec.size,
                tags: &rec.tags,
                storage_class: &rec.storage_class,
                delete_marker: rec.delete_marker,
                last_modified_ms: rec.last_modified_ms,
                noncurrent_since_ms: position.map(|(since, _)| since),
                newer_noncurrent: position.map(|(_, i)| i).unwrap_or(0),
                no_noncurrent_versions: no_noncurrent,
            };
            let action = config.map(|c| evaluate(c, &facts, now, day)).unwrap_or(Action::None);
            plan.push((rec.clone(), action));
        }
        for (rec, action) in plan {
            let vid = rec.version_id.as_deref();
            let applied = match &action {
                Action::None
                    if is_archived_class(&rec.storage_class) && rec.archive.is_none() && !rec.delete_marker =>
                {
                    // Written with an archive class but not moved (interrupted): finish the move.
                    self.lifecycle_set_class(bucket, key, &rec, &rec.storage_class).await?
                }
                Action::None => false,
                Action::ExpireCurrent => self.expire_current(bucket, key, rec.seq).await?,
                Action::RemoveExpiredDeleteMarker => self.remove_expired_marker(bucket, key, rec.seq).await?,
                Action::DeleteNoncurrent => self.delete_noncurrent(bucket, key, vid, rec.seq).await?,
                Action::Transition(class) => self.lifecycle_set_class(bucket, key, &rec, class).await?,
            };
            if applied && action != Action::None {
                actions += 1;
                tracing::debug!(bucket, key, version = ?vid, ?action, "lifecycle action");
            }
            let removed = applied
                && match action {
                    Action::DeleteNoncurrent | Action::RemoveExpiredDeleteMarker => true,
                    Action::ExpireCurrent => unversioned,
                    _ => false,
                };
            if applied && action == Action::ExpireCurrent && !unversioned {
                usage.delete_markers += 1; // the marker that now hides the expired version
            }
            if removed {
                continue;
            }
            if rec.delete_marker {
                usage.delete_markers += 1;
            } else {
                let class = match (&action, applied) {
                    (Action::Transition(c), true) => c.as_str(),
                    _ => rec.storage_class.as_str(),
                };
                usage.add(class, rec.size);
            }
        }
        Ok(actions)
    }

    /// Expiration of the current version: removed (unversioned) or hidden by a delete marker.
    async fn expire_current(&self, bucket: &str, key: &str, seq: u64) -> Result<bool> {
        let _bucket = self.bucket_alive(bucket).await?;
        let _guard = self.locks.lock(bucket, key).await;
        let state = self.versioning_of(bucket)?;
        let Some((cur, inline)) = self.meta.object(bucket, key)? else { return Ok(false) };
        if cur.seq != seq || cur.delete_marker {
            return Ok(false);
        }
        let mut batch = MetaBatch::new();
        let released = if state == Versioning::Unversioned {
            batch.delete_object(bucket, key);
            let released = cur.blobs();
            for id in &released {
                batch.release_blob(id);
            }
            released
        } else {
            let mut marker = self.delete_marker(&cur.owner);
            self.place_current(bucket, key, state, Some((cur, inline)), &mut marker, &[], &mut batch)?
        };
        self.commit_releasing(batch, released).await?;
        metrics::counter!("s3d_lifecycle_expirations_total").increment(1);
        Ok(true)
    }

    /// ExpiredObjectDeleteMarker: a current delete marker with no older versions goes.
    async fn remove_expired_marker(&self, bucket: &str, key: &str, seq: u64) -> Result<bool> {
        let _guard = self.locks.lock(bucket, key).await;
        let Some((cur, _)) = self.meta.object(bucket, key)? else { return Ok(false) };
        if cur.seq != seq || !cur.delete_marker || self.meta.scan_versions(bucket, key, None)?.next().is_some() {
            return Ok(false);
        }
        let mut batch = MetaBatch::new();
        batch.delete_object(bucket, key);
        self.commit(batch).await?;
        Ok(true)
    }

    /// NoncurrentVersionExpiration: the version is deleted permanently.
    async fn delete_noncurrent(&self, bucket: &str, key: &str, vid: Option<&str>, seq: u64) -> Result<bool> {
        let _guard = self.locks.lock(bucket, key).await;
        let Some((Slot::Noncurrent(sk), rec, _)) = self.locate(bucket, key, vid)? else { return Ok(false) };
        if rec.seq != seq {
            return Ok(false);
        }
        let mut batch = MetaBatch::new();
        batch.delete_version(bucket, key, &sk);
        let released = rec.blobs();
        for id in &released {
            batch.release_blob(id);
        }
        self.commit_releasing(batch, released).await?;
        metrics::counter!("s3d_lifecycle_expirations_total").increment(1);
        Ok(true)
    }

    /// AbortIncompleteMultipartUpload for the bucket's due uploads.
    async fn abort_stale_uploads(&self, bucket: &str, config: &LifecycleConfig) -> Result<usize> {
        if !config.rules.iter().any(|r| r.enabled && r.abort_incomplete_upload_days.is_some()) {
            return Ok(0);
        }
        let (now, day) = (self.now_ms(), self.tiering.settings.day_ms());
        let due: Vec<(String, String, String)> = self
            .meta
            .scan_uploads(bucket, b"")?
            .take(MAX_UPLOADS_PER_BUCKET)
            .filter_map(|r| match r {
                Ok((key, id, up)) if abort_due(config, &key, up.initiated_ms, now, day) => {
                    Some(Ok((key, id, up.owner)))
                }
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?;
        let mut n = 0;
        for (key, id, owner) in due {
            let owner = match self.meta.bucket(bucket)? {
                Some(b) => b.owner,
                None => owner,
            };
            match self.abort_multipart_upload(&Caller { user: owner }, bucket, &key, &id).await {
                Ok(()) => n += 1,
                Err(crate::engine::EngineError::NoSuchUpload) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}
