//! The object engine: S3's semantics (buckets and their owners, objects, conditional requests, listing,
//! multipart uploads) over the metadata store and the blob store. It never sees HTTP or XML: the
//! protocol layer hands it typed requests and maps [`EngineError`] to S3's wire errors.

pub mod acl;
#[cfg(test)]
mod acl_tests;
pub mod bucket;
pub mod checksum;
pub mod cors;
pub mod ingest;
mod leases;
pub mod lifecycle;
pub mod list;
pub mod multipart;
pub mod names;
pub mod object;
pub mod read;
pub mod restore;
pub mod sse;
pub mod tier;
#[cfg(test)]
mod tier_tests;
pub mod versioning;
#[cfg(test)]
mod versioning_tests;
pub mod versions_list;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use common::clock::SharedClock;
use time::OffsetDateTime;

use crate::store::meta::{BucketRecord, MetaBatch, MetaError};
use crate::store::{BlobId, BlobStore, MetaStore};

pub use checksum::ChecksumAlgorithm;
pub use ingest::ByteStream;

/// Largest single PUT / part / copy source (5 GiB), as in S3.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Largest object (5 TiB).
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// Bodies up to this size live inside their metadata record: one group-committed WAL write, no file.
pub const INLINE_MAX: usize = 16 * 1024;

/// Everything that can go wrong, named after the S3 error each one becomes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    #[error("The specified key does not exist.")]
    NoSuchKey,
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    /// The key's current version is a delete marker (404 with `x-amz-delete-marker: true`).
    #[error("The specified key does not exist.")]
    LatestIsDeleteMarker { version_id: Option<String> },
    /// A request named a delete marker's version where only an object's will do (405).
    #[error("The specified method is not allowed against this resource.")]
    VersionIsDeleteMarker { version_id: Option<String>, last_modified: OffsetDateTime },
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists,
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou,
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("The specified bucket is not valid: {0}")]
    InvalidBucketName(&'static str),
    #[error("Access Denied")]
    AccessDenied,
    #[error("The requested range is not satisfiable")]
    InvalidRange { size: u64 },
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    #[error("Not Modified")]
    NotModified { etag: String, last_modified: OffsetDateTime },
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest,
    #[error("The {0} you specified did not match the calculated checksum.")]
    ChecksumMismatch(&'static str),
    #[error("The Content-MD5 or checksum value you specified is not valid.")]
    InvalidDigest,
    /// The checksum trailer `x-amz-trailer` announced did not come (or others came instead).
    #[error("The request contained trailing data that was not well-formed or did not conform to our published schema.")]
    MalformedTrailer,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// A version that can never move to the cold tier as stored (not a transient failure: the
    /// lifecycle pass skips it instead of retrying).
    #[error("{0}")]
    NotArchivable(String),
    #[error("Your metadata headers exceed the maximum allowed metadata size.")]
    MetadataTooLarge,
    #[error("{0}")]
    InvalidTag(String),
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("{0}")]
    InvalidPart(String),
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    /// The body failed the integrity check its sender declared for it (a [`ByteStream`] item of kind
    /// `InvalidData`: SigV4's `x-amz-content-sha256`).
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,
    #[error("Your socket connection to the server was not read from or written to within the timeout period.")]
    RequestTimeout,
    #[error("The storage class you specified is not valid")]
    InvalidStorageClass,
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber,
    #[error("Your key is too long")]
    KeyTooLong,
    /// GET/copy of an archived object that is not restored, or RestoreObject of one that is not archived.
    #[error("{0}")]
    InvalidObjectState(String),
    #[error("Object restore is already in progress")]
    RestoreAlreadyInProgress,
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    #[error("The TagSet does not exist")]
    NoSuchTagSet,
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration,
    /// An ACL other than the bucket owner's FULL_CONTROL on a bucket with ACLs disabled.
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    /// Disabling ACLs (BucketOwnerEnforced) on a bucket whose ACL grants others access.
    #[error("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")]
    InvalidBucketAclWithObjectOwnership,
    #[error("The bucket ownership controls were not found")]
    OwnershipControlsNotFound,
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedAcl,
    #[error("The e-mail address you provided does not match any account on record.")]
    UnresolvableGrantByEmailAddress,
    /// PutBucketAcl / PutObjectAcl with neither a canned ACL, grant headers nor a policy body.
    #[error("Your request was missing a required header")]
    MissingSecurityHeader,
    /// An ACL given both in headers and as a body.
    #[error("This request does not support content")]
    UnexpectedContent,
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata error: {0}")]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Sse(#[from] sse::SseError),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Who is asking: the authenticated user's name (buckets belong to the user who created them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
}

/// Per-key mutual exclusion for read-check-commit sequences (overwrites, conditional writes, tagging,
/// completing uploads). Striped so memory stays fixed; held only around the metadata commit, never while
/// a body streams.
struct KeyLocks {
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl KeyLocks {
    fn new(n: usize) -> Self {
        Self { stripes: (0..n).map(|_| tokio::sync::Mutex::new(())).collect() }
    }
    fn stripe(&self, bucket: &str, key: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        (h.finish() as usize) % self.stripes.len()
    }

    async fn lock(&self, bucket: &str, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes[self.stripe(bucket, key)].lock().await
    }

    /// Locks two names at once. Taking one after the other deadlocked: the stripes are not reentrant,
    /// so two names on one stripe hung their holder, and two holders could each wait on the other's.
    /// Stripes are taken once each, in index order.
    async fn lock_both(
        &self,
        a: (&str, &str),
        b: (&str, &str),
    ) -> (tokio::sync::MutexGuard<'_, ()>, Option<tokio::sync::MutexGuard<'_, ()>>) {
        let (x, y) = (self.stripe(a.0, a.1), self.stripe(b.0, b.1));
        let (low, high) = (x.min(y), x.max(y));
        let first = self.stripes[low].lock().await;
        let second = if high != low { Some(self.stripes[high].lock().await) } else { None };
        (first, second)
    }
}

pub struct Engine {
    meta: MetaStore,
    blobs: Arc<dyn BlobStore>,
    locks: KeyLocks,
    /// Striped by bucket name: writes that add records to a bucket hold it shared, DeleteBucket holds
    /// it exclusively, so no object or upload can land in a bucket that is being deleted.
    bucket_locks: Vec<tokio::sync::RwLock<()>>,
    clock: SharedClock,
    /// The last version sequence handed out (see `versioning`).
    last_seq: std::sync::atomic::AtomicU64,
    /// SSE master keys and the local KMS.
    keys: sse::KeyService,
    /// The cold tier and restore settings (see `tier`).
    tiering: tier::Tiering,
    /// Part blobs that in-flight GETs still stream from (see `leases`).
    leases: Arc<leases::BlobLeases>,
}

/// What start-up recovery removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub temporaries: usize,
    pub orphans: usize,
}

impl Engine {
    pub fn new(meta: MetaStore, blobs: Arc<dyn BlobStore>, clock: SharedClock) -> Self {
        let bucket_locks = (0..64).map(|_| tokio::sync::RwLock::new(())).collect();
        Self {
            meta,
            blobs,
            locks: KeyLocks::new(1024),
            bucket_locks,
            clock,
            last_seq: Default::default(),
            keys: sse::KeyService::ephemeral(),
            tiering: tier::Tiering::default(),
            leases: Default::default(),
        }
    }

    /// Uses `keys` (persistent master keyring and KMS) instead of the in-memory ones.
    pub fn with_keys(mut self, keys: sse::KeyService) -> Self {
        self.keys = keys;
        self
    }

    /// Uses `cold` as the cold tier, with these restore delays and day length.
    pub fn with_tiering(mut self, cold: Arc<dyn crate::store::ColdTier>, settings: tier::TierSettings) -> Self {
        // Exported from the start, at 0 while every archive succeeds, so an alert on it has a series.
        metrics::counter!("s3d_objects_unarchivable_total").increment(0);
        self.tiering = tier::Tiering { cold, settings, unarchivable: Default::default() };
        self
    }

    /// Removes what interrupted writes left: temporary files and committed blobs that no metadata
    /// references (a PUT killed between its blob commit and its metadata commit). Run before serving.
    pub async fn recover(&self) -> Result<RecoveryReport> {
        let temporaries = self.blobs.remove_incomplete()?;
        let mut candidates = Vec::new();
        let mut failure = None;
        self.blobs.scan(&mut |id| match self.meta.blob_is_referenced(&id) {
            Ok(true) => {}
            Ok(false) => candidates.push(id),
            Err(e) => failure = Some(e),
        })?;
        if let Some(e) = failure {
            return Err(e.into());
        }
        let mut cold_orphans = Vec::new();
        self.tiering.cold.scan(&mut |id| match self.meta.blob_is_referenced(&id) {
            Ok(true) => {}
            Ok(false) => cold_orphans.push(id),
            Err(e) => failure = Some(e),
        })?;
        if let Some(e) = failure {
            return Err(e.into());
        }
        let orphans = candidates.len() + cold_orphans.len();
        for id in candidates {
            self.blobs.delete(&id).await?;
        }
        for id in cold_orphans {
            self.tiering.cold.delete(&id).await?;
        }
        Ok(RecoveryReport { temporaries, orphans })
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.wall()
    }

    fn now_ms(&self) -> i64 {
        (self.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The bucket, if it exists and `caller` owns it.
    fn owned_bucket(&self, caller: &Caller, bucket: &str) -> Result<BucketRecord> {
        let rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        if rec.owner != caller.user {
            return Err(EngineError::AccessDenied);
        }
        Ok(rec)
    }

    fn bucket_lock(&self, bucket: &str) -> &tokio::sync::RwLock<()> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bucket.hash(&mut h);
        &self.bucket_locks[(h.finish() as usize) % self.bucket_locks.len()]
    }

    /// Held while a write adds records to `bucket`; fails if the bucket was deleted meanwhile.
    async fn bucket_alive(&self, bucket: &str) -> Result<tokio::sync::RwLockReadGuard<'_, ()>> {
        let guard = self.bucket_lock(bucket).read().await;
        self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        Ok(guard)
    }

    /// Commits on the blocking pool: the KV write waits for a synced WAL.
    async fn commit(&self, batch: MetaBatch) -> Result<()> {
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || meta.commit(batch)).await.map_err(std::io::Error::other)??;
        Ok(())
    }

    /// Commits `batch`, which releases the blobs `released` (no metadata references them once it is
    /// durable), then deletes them. The hot store's deletes run on the thread that made the commit,
    /// in the same trip to the blocking pool. A failed delete only leaks space until the next
    /// start-up GC, so it is logged, not returned.
    async fn commit_releasing(&self, batch: MetaBatch, released: Vec<BlobId>) -> Result<()> {
        if released.is_empty() {
            return self.commit(batch).await;
        }
        let (meta, blobs, leases) = (self.meta.clone(), self.blobs.clone(), self.leases.clone());
        let unread = tokio::task::spawn_blocking(move || -> Result<Vec<BlobId>> {
            meta.commit(batch)?;
            // Blobs a GET still streams from are deleted by its lease when it finishes.
            let unread = leases.release(released);
            for id in &unread {
                if let Err(e) = blobs.delete_blocking(id) {
                    tracing::warn!(blob = id.as_str(), error = %e, "cannot delete released blob");
                }
            }
            Ok(unread)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.delete_cold(&unread).await;
        Ok(())
    }

    /// Deletes blobs that committed metadata no longer references (see [`Self::commit_releasing`]).
    async fn delete_blobs(&self, ids: Vec<BlobId>) {
        let unread = self.leases.release(ids);
        for id in &unread {
            if let Err(e) = self.blobs.delete(id).await {
                tracing::warn!(blob = id.as_str(), error = %e, "cannot delete released blob");
            }
        }
        self.delete_cold(&unread).await;
    }

    /// Ids are unique across both stores: an archived body's cold id is released like a hot blob's,
    /// so every released id is also removed from the cold tier (a quick lookup for hot ones).
    async fn delete_cold(&self, ids: &[BlobId]) {
        for id in ids {
            if let Err(e) = self.tiering.cold.delete(id).await {
                tracing::warn!(blob = id.as_str(), error = %e, "cannot delete released cold body");
            }
        }
    }
}

/// Times beyond what `OffsetDateTime` holds (past year 9999: a restore kept for 2^31 days, say)
/// saturate at its limits rather than reading as 1970.
pub fn ms_to_time(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(if ms > 0 {
        time::PrimitiveDateTime::MAX.assume_utc()
    } else {
        time::PrimitiveDateTime::MIN.assume_utc()
    })
}

pub fn time_to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub fn engine() -> Engine {
        Engine::new(
            MetaStore::memory(),
            Arc::new(crate::store::MemoryBlobStore::default()),
            common::clock::SystemClock::shared(),
        )
    }

    pub fn alice() -> Caller {
        Caller { user: "alice".into() }
    }

    pub fn body(data: &[u8]) -> ByteStream {
        let chunks: Vec<std::io::Result<bytes::Bytes>> =
            data.chunks(7000).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        Box::pin(futures::stream::iter(chunks))
    }

    pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Every byte of every file under `dir` (that still exists when read: a released blob may leave
    /// the trash meanwhile).
    pub fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
        let mut all = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(d).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    stack.push(entry.path());
                } else if let Ok(bytes) = std::fs::read(entry.path()) {
                    all.extend(bytes);
                }
            }
        }
        all
    }

    /// Alice's GET of `key` in `bkt`, whole body collected.
    pub async fn read_object(
        e: &Engine,
        key: &str,
        ck: Option<&sse::CustomerKey>,
        range: Option<read::RangeSpec>,
        part: Option<u32>,
    ) -> Result<Vec<u8>> {
        use futures::StreamExt;
        let cond = read::ReadConditions { customer_key: ck.cloned(), ..Default::default() };
        let mut o = e.get_object(&alice(), "bkt", key, None, &cond, range, part).await?;
        let mut out = Vec::new();
        while let Some(c) = o.body.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod key_lock_tests {
    use super::KeyLocks;
    use std::time::Duration;

    #[tokio::test]
    async fn two_names_on_one_stripe_lock_once() {
        let locks = KeyLocks::new(1);
        let locked = tokio::time::timeout(Duration::from_secs(5), locks.lock_both(("b", "upload"), ("b", "key")));
        let guards = locked.await.expect("both names share the only stripe: taking it twice hung");
        assert!(guards.1.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pairs_taken_in_opposite_orders_do_not_deadlock() {
        let locks = std::sync::Arc::new(KeyLocks::new(2));
        // Two names on different stripes, found by trying.
        let a = ("b", "a");
        let b = (0..100).map(|i| format!("k{i}")).find(|k| locks.stripe("b", k) != locks.stripe("b", "a")).unwrap();
        let mut tasks = Vec::new();
        for flip in [false, true] {
            let (locks, b) = (locks.clone(), b.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..2000 {
                    let (x, y) = if flip { (("b", b.as_str()), a) } else { (a, ("b", b.as_str())) };
                    let _g = locks.lock_both(x, y).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("deadlock").unwrap();
        }
    }
}

#[cfg(test)]
mod time_tests {
    use super::{ms_to_time, time_to_ms};

    #[test]
    fn times_beyond_year_9999_saturate() {
        assert_eq!(time_to_ms(ms_to_time(1_700_000_000_123)), 1_700_000_000_123);
        assert_eq!(ms_to_time(i64::MAX).year(), 9999);
        assert_eq!(ms_to_time(i64::MIN).year(), -9999);
    }
}
