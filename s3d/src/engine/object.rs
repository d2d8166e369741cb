//! Writing objects: PUT (with S3's conditional writes), DELETE, batch DELETE, COPY and tagging. Every
//! change is one metadata commit made under the key's lock, after the body is durable; blobs the commit
//! stopped referencing are deleted after it.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::acl::{Acl, AclRequest};
use super::ingest::{Ingested, Integrity, Stored, TrailerReader};
use super::names::{validate_key, validate_tags, validate_user_metadata};
use super::read::{RangeSpec, ReadConditions};
use super::sse::{EncryptionSummary, Sealing, SseRequest};
use super::versioning::{DeleteOutcome, VersionRef};
use super::{ByteStream, Caller, ChecksumAlgorithm, Engine, EngineError, MAX_PUT_SIZE, Result, ms_to_time};
use crate::store::meta::{BodyRecord, ChecksumRecord, ContentHeaders, MetaBatch, ObjectRecord};

/// An object's tags, in the order given.
pub type TagSet = Vec<(String, String)>;

/// An `If-Match` / `If-None-Match` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagMatch {
    Any,
    /// Without quotes.
    Tag(String),
}

impl ETagMatch {
    pub fn matches(&self, etag: &str) -> bool {
        match self {
            ETagMatch::Any => true,
            ETagMatch::Tag(t) => t == etag,
        }
    }
}

/// Conditions on the object a write replaces.
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    pub if_match: Option<ETagMatch>,
    /// `Some(Any)` (`If-None-Match: *`) makes the write create-only.
    pub if_none_match: Option<ETagMatch>,
}

#[derive(Debug, Default)]
pub struct PutRequest {
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub integrity: Integrity,
    pub storage_class: Option<String>,
    pub condition: WriteCondition,
    /// Explicit server-side encryption; `None` = the bucket's default.
    pub encryption: Option<SseRequest>,
    /// `x-amz-acl` / `x-amz-grant-*`; `None` = private.
    pub acl: Option<AclRequest>,
}

/// An object as S3 describes it in HEAD/GET/List responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tag_count: usize,
    pub checksum: Option<ChecksumRecord>,
    pub parts_count: Option<usize>,
    pub storage_class: String,
    /// The version id to report: `None` for the null version of a never-versioned bucket (no
    /// header), `"null"` for the null version once the bucket has versioning (see `report_null`).
    pub version_id: Option<String>,
    pub encryption: Option<EncryptionSummary>,
    /// `x-amz-restore` of an archived object with a restore.
    pub restore: Option<String>,
    /// Who owns this version, and its ACL (`None` = private): what ACL-granted reads are checked on.
    pub owner: String,
    pub acl: Option<Acl>,
}

impl ObjectInfo {
    pub(crate) fn from_record(key: &str, rec: &ObjectRecord) -> Self {
        Self {
            key: key.into(),
            size: rec.size,
            etag: rec.etag.clone(),
            last_modified: ms_to_time(rec.last_modified_ms),
            headers: rec.headers.clone(),
            user_metadata: rec.user_metadata.clone(),
            tag_count: rec.tags.len(),
            checksum: rec.checksum.clone(),
            parts_count: match &rec.body {
                BodyRecord::Parts(p) => Some(p.len()),
                _ => None,
            },
            storage_class: rec.storage_class.clone(),
            version_id: rec.version_id.clone(),
            encryption: rec.encryption.as_ref().map(EncryptionSummary::of),
            restore: super::tier::restore_header(rec),
            owner: rec.owner.clone(),
            acl: rec.acl.clone(),
        }
    }
}

impl ObjectInfo {
    /// Whether `user` may read this version (its owner, or READ granted by its ACL).
    pub fn readable_by(&self, user: &str) -> bool {
        super::acl::readable(self.acl.as_ref(), &self.owner, user)
    }
}

/// How a copy treats the source's metadata and tags (`x-amz-metadata-directive` / `-tagging-directive`).
#[derive(Debug, Default)]
pub struct CopyRequest {
    /// `Some` = REPLACE with these.
    pub replace_metadata: Option<(ContentHeaders, BTreeMap<String, String>)>,
    pub replace_tags: Option<Vec<(String, String)>>,
    pub source_conditions: ReadConditions,
    pub storage_class: Option<String>,
    /// The copy's encryption; `None` = the destination bucket's default (not the source's).
    pub encryption: Option<SseRequest>,
    /// The copy's ACL; `None` = private (a copy never takes the source's ACL, as in S3).
    pub acl: Option<AclRequest>,
}

pub(crate) fn storage_class(requested: Option<String>) -> Result<String> {
    match requested {
        None => Ok("STANDARD".into()),
        Some(c) if super::tier::class(&c).is_some() => Ok(c),
        Some(_) => Err(EngineError::InvalidStorageClass),
    }
}

pub(crate) fn check_write_condition(cond: &WriteCondition, current: Option<&ObjectRecord>) -> Result<()> {
    if let Some(m) = &cond.if_none_match
        && current.is_some_and(|c| m.matches(&c.etag))
    {
        return Err(EngineError::PreconditionFailed);
    }
    if let Some(m) = &cond.if_match {
        match current {
            None => return Err(EngineError::NoSuchKey),
            Some(c) if !m.matches(&c.etag) => return Err(EngineError::PreconditionFailed),
            Some(_) => {}
        }
    }
    Ok(())
}

impl Engine {
    pub async fn put_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        body: ByteStream,
        req: PutRequest,
        trailer: Option<TrailerReader>,
    ) -> Result<ObjectInfo> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        validate_key(key)?;
        validate_user_metadata(&req.user_metadata)?;
        validate_tags(&req.tags)?;
        let storage_class = storage_class(req.storage_class)?;
        let acl = super::acl::for_new_object(&bucket_rec, req.acl.as_ref(), &caller.user)?;
        let sealing = self.seal_for(&bucket_rec, bucket, key, req.encryption)?;
        let seal = sealing.as_ref().map(|s| &s.data_key);
        let ingested = self.ingest_sealed(body, MAX_PUT_SIZE, true, &req.integrity, trailer, seal).await?;
        let record = ObjectRecord {
            version_id: None,
            size: ingested.size,
            etag: Sealing::etag(sealing.as_ref(), &ingested.md5),
            last_modified_ms: self.now_ms(),
            owner: caller.user.clone(),
            headers: req.headers,
            user_metadata: req.user_metadata,
            tags: req.tags,
            checksum: ingested.checksum.as_ref().map(|(a, v)| full_object_checksum(*a, v)),
            storage_class,
            encryption: sealing.map(|s| s.record),
            delete_marker: false,
            seq: 0,
            archive: None,
            acl,
            body: ingested.stored.body_record(),
        };
        self.commit_new_object(bucket, key, record, &ingested, &req.condition).await
    }

    /// Makes `record` (whose body is `ingested`) the current version of `key`, if `cond` holds for
    /// the current one (a delete marker counts as no object).
    pub(crate) async fn commit_new_object(
        &self,
        bucket: &str,
        key: &str,
        mut record: ObjectRecord,
        ingested: &Ingested,
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let result = async {
            let _bucket = self.bucket_alive(bucket).await?;
            let _guard = self.locks.lock(bucket, key).await;
            let state = self.versioning_of(bucket)?;
            let current = self.meta.object(bucket, key)?;
            check_write_condition(cond, current.as_ref().map(|(r, _)| r).filter(|r| !r.delete_marker))?;
            let inline = match &ingested.stored {
                Stored::Inline(b) => b.clone(),
                Stored::Blob(_) => bytes::Bytes::new(),
            };
            let mut batch = MetaBatch::new();
            if let Some(id) = ingested.blob() {
                batch.reference_blob(id);
            }
            let released = self.place_current(bucket, key, state, current, &mut record, &inline, &mut batch)?;
            self.commit_releasing(batch, released).await?;
            Ok(state)
        }
        .await;
        match result {
            Ok(state) => {
                self.archive_new(bucket, key, &record).await;
                metrics::counter!("s3d_objects_written_total").increment(1);
                Ok(super::versioning::report_null(ObjectInfo::from_record(key, &record), state))
            }
            Err(e) => {
                self.discard(ingested).await;
                Err(e)
            }
        }
    }

    /// DeleteObjects: each key's own outcome, in request order.
    pub async fn delete_objects(
        &self,
        caller: &Caller,
        bucket: &str,
        objects: &[(String, Option<VersionRef>)],
    ) -> Result<Vec<Result<DeleteOutcome>>> {
        self.owned_bucket(caller, bucket)?;
        let mut out = Vec::with_capacity(objects.len());
        for (key, version) in objects {
            out.push(self.delete_object(caller, bucket, key, version.as_ref()).await);
        }
        Ok(out)
    }

    pub async fn copy_object(
        &self,
        caller: &Caller,
        src: (&str, &str, Option<&VersionRef>),
        dst: (&str, &str),
        req: CopyRequest,
    ) -> Result<ObjectInfo> {
        let dst_bucket = self.owned_bucket(caller, dst.0)?;
        validate_key(dst.1)?;
        let acl = super::acl::for_new_object(&dst_bucket, req.acl.as_ref(), &caller.user)?;
        let source = self.open_object(caller, src.0, src.1, src.2, None, &req.source_conditions, None).await.map_err(
            |e| match e {
                EngineError::NotModified { .. } => EngineError::PreconditionFailed,
                other => other,
            },
        )?;
        let src_rec = source.record;
        if src_rec.size > MAX_PUT_SIZE {
            return Err(EngineError::InvalidRequest(format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_SIZE}"
            )));
        }
        if (src.0, src.1) == dst
            && src.2.is_none()
            && req.replace_metadata.is_none()
            && req.storage_class.is_none()
            && req.replace_tags.is_none()
            && req.encryption.is_none()
        {
            return Err(EngineError::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".into()));
        }
        let (headers, user_metadata) =
            req.replace_metadata.unwrap_or((src_rec.headers.clone(), src_rec.user_metadata.clone()));
        validate_user_metadata(&user_metadata)?;
        let tags = req.replace_tags.unwrap_or(src_rec.tags.clone());
        validate_tags(&tags)?;
        let storage_class = storage_class(req.storage_class.or(Some(src_rec.storage_class.clone())))?;
        let algorithm = src_rec.checksum.as_ref().and_then(|c| ChecksumAlgorithm::parse(&c.algorithm));
        let integrity = Integrity { algorithm, declared_length: Some(src_rec.size), ..Default::default() };
        let sealing = self.seal_for(&dst_bucket, dst.0, dst.1, req.encryption)?;
        let seal = sealing.as_ref().map(|s| &s.data_key);
        let ingested = self.ingest_sealed(source.body, MAX_PUT_SIZE, true, &integrity, None, seal).await?;
        let record = ObjectRecord {
            version_id: None,
            size: ingested.size,
            etag: Sealing::etag(sealing.as_ref(), &ingested.md5),
            last_modified_ms: self.now_ms(),
            owner: caller.user.clone(),
            headers,
            user_metadata,
            tags,
            checksum: ingested.checksum.as_ref().map(|(a, v)| full_object_checksum(*a, v)),
            storage_class,
            encryption: sealing.map(|s| s.record),
            delete_marker: false,
            seq: 0,
            archive: None,
            acl,
            body: ingested.stored.body_record(),
        };
        self.commit_new_object(dst.0, dst.1, record, &ingested, &WriteCondition::default()).await
    }

    /// The tags of the current version or the named one, and that version's id.
    pub fn get_object_tagging(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
    ) -> Result<(TagSet, Option<String>)> {
        self.owned_bucket(caller, bucket)?;
        let (rec, _) = self.resolve_version(bucket, key, version)?;
        Ok((rec.tags, rec.version_id))
    }

    /// Replaces the tag set (an empty set deletes the tags) of the current or the named version;
    /// returns that version's id.
    pub async fn put_object_tagging(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        tags: Vec<(String, String)>,
    ) -> Result<Option<String>> {
        self.owned_bucket(caller, bucket)?;
        validate_tags(&tags)?;
        let rec = self.update_version(bucket, key, version, |r| r.tags = tags).await?;
        Ok(rec.version_id)
    }

    /// The range a copy reads from `x-amz-copy-source-range` (`bytes=first-last`, both required).
    pub fn parse_copy_range(spec: &str) -> Result<RangeSpec> {
        let bad = || {
            EngineError::InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy".into())
        };
        let (first, last) = spec.strip_prefix("bytes=").and_then(|r| r.split_once('-')).ok_or_else(bad)?;
        let first: u64 = first.parse().map_err(|_| bad())?;
        let last: u64 = last.parse().map_err(|_| bad())?;
        if last < first {
            return Err(bad());
        }
        Ok(RangeSpec::FromTo { first, last: Some(last) })
    }
}

pub(crate) fn full_object_checksum(algorithm: ChecksumAlgorithm, value: &str) -> ChecksumRecord {
    ChecksumRecord {
        algorithm: algorithm.as_str().into(),
        value: value.into(),
        kind: "FULL_OBJECT".into(),
        parts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    async fn setup() -> Engine {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        e
    }

    #[tokio::test]
    async fn conditional_writes_follow_s3() {
        let e = setup().await;
        let create_only = PutRequest {
            condition: WriteCondition { if_none_match: Some(ETagMatch::Any), if_match: None },
            ..Default::default()
        };
        let first = e.put_object(&alice(), "bkt", "k", body(b"one"), create_only, None).await.unwrap();
        let again = PutRequest {
            condition: WriteCondition { if_none_match: Some(ETagMatch::Any), if_match: None },
            ..Default::default()
        };
        assert!(matches!(
            e.put_object(&alice(), "bkt", "k", body(b"two"), again, None).await,
            Err(EngineError::PreconditionFailed)
        ));
        let wrong = PutRequest {
            condition: WriteCondition { if_match: Some(ETagMatch::Tag("nope".into())), if_none_match: None },
            ..Default::default()
        };
        assert!(matches!(
            e.put_object(&alice(), "bkt", "k", body(b"two"), wrong, None).await,
            Err(EngineError::PreconditionFailed)
        ));
        let right = PutRequest {
            condition: WriteCondition { if_match: Some(ETagMatch::Tag(first.etag.clone())), if_none_match: None },
            ..Default::default()
        };
        e.put_object(&alice(), "bkt", "k", body(b"two"), right, None).await.unwrap();
        let missing = PutRequest {
            condition: WriteCondition { if_match: Some(ETagMatch::Any), if_none_match: None },
            ..Default::default()
        };
        assert!(matches!(
            e.put_object(&alice(), "bkt", "other", body(b"x"), missing, None).await,
            Err(EngineError::NoSuchKey)
        ));
    }

    #[tokio::test]
    async fn overwrites_and_deletes_release_blobs() {
        let e = setup().await;
        let big = vec![1u8; super::super::INLINE_MAX * 2];
        e.put_object(&alice(), "bkt", "k", body(&big), PutRequest::default(), None).await.unwrap();
        e.put_object(&alice(), "bkt", "k", body(&big), PutRequest::default(), None).await.unwrap();
        let mut n = 0;
        e.blobs.scan(&mut |_| n += 1).unwrap();
        assert_eq!(n, 1, "the overwritten body is deleted");
        e.delete_object(&alice(), "bkt", "k", None).await.unwrap();
        e.delete_object(&alice(), "bkt", "k", None).await.unwrap();
        let mut n = 0;
        e.blobs.scan(&mut |_| n += 1).unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_put_racing_delete_bucket_is_refused_and_leaves_no_blob() {
        let e = std::sync::Arc::new(setup().await);
        let (tx, rx) = futures::channel::mpsc::unbounded::<std::io::Result<bytes::Bytes>>();
        let put = tokio::spawn({
            let e = e.clone();
            async move { e.put_object(&alice(), "bkt", "k", Box::pin(rx), PutRequest::default(), None).await }
        });
        tx.unbounded_send(Ok(bytes::Bytes::from(vec![1u8; super::super::INLINE_MAX * 4]))).unwrap();
        tokio::task::yield_now().await;
        e.delete_bucket(&alice(), "bkt").await.unwrap();
        drop(tx);
        assert!(matches!(put.await.unwrap(), Err(EngineError::NoSuchBucket)));
        let mut n = 0;
        e.blobs.scan(&mut |_| n += 1).unwrap();
        assert_eq!(n, 0);
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        assert!(
            e.list_objects(&alice(), "bkt", &crate::engine::list::ListQuery { max_keys: 10, ..Default::default() })
                .unwrap()
                .objects
                .is_empty()
        );
    }

    #[tokio::test]
    async fn copy_needs_a_change_to_target_itself_and_copies_metadata() {
        let e = setup().await;
        let mut meta = BTreeMap::new();
        meta.insert("a".to_string(), "1".to_string());
        e.put_object(
            &alice(),
            "bkt",
            "src",
            body(b"data"),
            PutRequest { user_metadata: meta.clone(), ..Default::default() },
            None,
        )
        .await
        .unwrap();
        assert!(matches!(
            e.copy_object(&alice(), ("bkt", "src", None), ("bkt", "src"), CopyRequest::default()).await,
            Err(EngineError::InvalidRequest(_))
        ));
        let copied =
            e.copy_object(&alice(), ("bkt", "src", None), ("bkt", "dst"), CopyRequest::default()).await.unwrap();
        assert_eq!(copied.user_metadata, meta);
        assert_eq!(copied.etag, hex::encode(<md5::Md5 as md5::Digest>::digest(b"data")));
        let replaced =
            CopyRequest { replace_metadata: Some((ContentHeaders::default(), BTreeMap::new())), ..Default::default() };
        assert!(
            e.copy_object(&alice(), ("bkt", "src", None), ("bkt", "src"), replaced)
                .await
                .unwrap()
                .user_metadata
                .is_empty()
        );
    }
}
