//! Multipart uploads. Parts are blobs of their own; completing an upload writes a manifest of the
//! chosen parts' blobs as the object's body (no byte is copied) and drops the parts not chosen.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use time::OffsetDateTime;

use super::checksum::{ChecksumType, ClaimedChecksum, completed_checksum, upload_checksum_type};
use super::ingest::{Integrity, TrailerReader};
use super::names::{validate_key, validate_tags, validate_user_metadata};
use super::object::{ObjectInfo, WriteCondition, full_object_checksum, storage_class};
use super::read::{RangeSpec, ReadConditions};
use super::sse::{CustomerKey, EncryptionSummary, Sealing, SseRequest};
use super::{
    ByteStream, Caller, ChecksumAlgorithm, Engine, EngineError, MAX_OBJECT_SIZE, MAX_PUT_SIZE, Result, ms_to_time,
};
use crate::store::encryption::EncryptionRecord;
use crate::store::meta::{
    BodyRecord, ChecksumRecord, ContentHeaders, MetaBatch, ObjectRecord, PartRecord, PartRef, UploadRecord,
};

pub const MAX_PARTS: u32 = 10_000;
/// S3's message when a listed part is not the one uploaded (number, ETag or checksum).
pub(crate) const INVALID_PART: &str = "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.";
/// Every part but the last must be at least this big.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct CreateUpload {
    pub headers: ContentHeaders,
    pub user_metadata: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`; the algorithm's default type when `None`.
    pub checksum_type: Option<ChecksumType>,
    pub storage_class: Option<String>,
    /// Explicit server-side encryption for every part; `None` = the bucket's default.
    pub encryption: Option<SseRequest>,
    /// The ACL the completed object gets (`x-amz-acl` / `x-amz-grant-*`); `None` = private.
    pub acl: Option<super::acl::AclRequest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub checksum: Option<ChecksumRecord>,
    /// How the upload's parts are encrypted (reported by UploadPart).
    pub encryption: Option<EncryptionSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub key: String,
    pub upload_id: String,
    pub initiated: OffsetDateTime,
    pub owner: String,
    pub storage_class: String,
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT`, with an algorithm.
    pub checksum_type: Option<String>,
}

/// What CreateMultipartUpload made: the upload's id and what it recorded of encryption and checksums.
#[derive(Debug, Clone)]
pub struct CreatedUpload {
    pub id: String,
    pub encryption: Option<EncryptionSummary>,
    pub checksum_type: Option<ChecksumType>,
}

#[derive(Debug, Clone, Default)]
pub struct UploadListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max_uploads: usize,
}

#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
}

/// Upload ids sort by creation time, then are unguessable.
fn new_upload_id(now: OffsetDateTime) -> String {
    format!("{:016x}{:016x}", now.unix_timestamp_nanos() as u64, rand::random::<u64>())
}

fn part_number(n: i64) -> Result<u32> {
    u32::try_from(n).ok().filter(|n| (1..=MAX_PARTS).contains(n)).ok_or_else(|| {
        EngineError::InvalidArgument("Part number must be an integer between 1 and 10000, inclusive".into())
    })
}

impl Engine {
    fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> Result<UploadRecord> {
        self.meta.upload(bucket, key, upload_id)?.ok_or(EngineError::NoSuchUpload)
    }

    pub async fn create_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        req: CreateUpload,
    ) -> Result<String> {
        Ok(self.create_multipart_upload_sse(caller, bucket, key, req).await?.id)
    }

    /// CreateMultipartUpload, also saying how the parts will be encrypted and which checksum type the
    /// upload has.
    pub async fn create_multipart_upload_sse(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        req: CreateUpload,
    ) -> Result<CreatedUpload> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        validate_key(key)?;
        validate_user_metadata(&req.user_metadata)?;
        validate_tags(&req.tags)?;
        // Checked now, as S3 does, so an upload never fails at Complete over its ACL.
        let acl = super::acl::for_new_object(&bucket_rec, req.acl.as_ref(), &caller.user)?;
        let checksum_type = match (req.checksum_algorithm, req.checksum_type) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(EngineError::InvalidRequest(
                    "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.".into(),
                ));
            }
            (Some(algo), requested) => Some(algo.multipart_type(requested).map_err(EngineError::InvalidRequest)?),
        };
        let encryption = self.seal_for(&bucket_rec, bucket, key, req.encryption)?.map(|s| s.record);
        let now = self.now();
        let id = new_upload_id(now);
        let rec = UploadRecord {
            owner: caller.user.clone(),
            initiated_ms: super::time_to_ms(now),
            headers: req.headers,
            user_metadata: req.user_metadata,
            tags: req.tags,
            checksum_algorithm: req.checksum_algorithm.map(|a| a.as_str().to_string()),
            checksum_type: checksum_type.map(|t| t.as_str().to_string()),
            storage_class: storage_class(req.storage_class)?,
            encryption,
            acl,
        };
        let _bucket = self.bucket_alive(bucket).await?;
        let mut batch = MetaBatch::new();
        batch.put_upload(bucket, key, &id, &rec);
        self.commit(batch).await?;
        Ok(CreatedUpload { id, encryption: rec.encryption.as_ref().map(EncryptionSummary::of), checksum_type })
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i64,
        body: ByteStream,
        integrity: Integrity,
        trailer: Option<TrailerReader>,
    ) -> Result<PartInfo> {
        self.upload_part_sse(caller, bucket, key, upload_id, number, body, integrity, trailer, None).await
    }

    /// UploadPart with the SSE-C key the request presents (an SSE-C upload's parts need its key).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_sse(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i64,
        body: ByteStream,
        mut integrity: Integrity,
        trailer: Option<TrailerReader>,
        customer_key: Option<&CustomerKey>,
    ) -> Result<PartInfo> {
        self.owned_bucket(caller, bucket)?;
        let number = part_number(number)?;
        let upload = self.upload(bucket, key, upload_id)?;
        if integrity.algorithm.is_none() {
            integrity.algorithm = upload.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse);
        }
        super::sse::check_presented(upload.encryption.as_ref(), customer_key)?;
        let sealing = match upload.encryption {
            Some(record) => Some(Sealing { data_key: self.unlock(bucket, key, &record, customer_key)?, record }),
            None => None,
        };
        let seal = sealing.as_ref().map(|s| &s.data_key);
        let ingested = self.ingest_sealed(body, MAX_PUT_SIZE, false, &integrity, trailer, seal).await?;
        let blob = ingested.blob().expect("parts are always blobs").clone();
        let rec = PartRecord {
            size: ingested.size,
            etag: Sealing::etag(sealing.as_ref(), &ingested.md5),
            last_modified_ms: self.now_ms(),
            blob: blob.clone(),
            checksum: ingested.checksum.as_ref().map(|(a, v)| full_object_checksum(*a, v)),
        };
        self.commit_part(bucket, key, upload_id, number, &rec).await.inspect_err(|_| {
            // The part was not recorded: its blob must not stay behind.
            let blobs = self.blobs.clone();
            tokio::spawn(async move { blobs.delete(&blob).await });
        })?;
        Ok(PartInfo {
            number,
            size: rec.size,
            etag: rec.etag,
            last_modified: ms_to_time(rec.last_modified_ms),
            checksum: rec.checksum,
            encryption: sealing.map(|s| EncryptionSummary::of(&s.record)),
        })
    }

    async fn commit_part(&self, bucket: &str, key: &str, upload_id: &str, number: u32, rec: &PartRecord) -> Result<()> {
        let _bucket = self.bucket_alive(bucket).await?;
        let _guard = self.locks.lock(bucket, upload_id).await;
        self.upload(bucket, key, upload_id)?;
        let old = self.meta.part(upload_id, number)?;
        let mut batch = MetaBatch::new();
        batch.put_part(upload_id, number, rec).reference_blob(&rec.blob);
        if let Some(old) = &old {
            batch.release_blob(&old.blob);
        }
        self.commit_releasing(batch, old.map(|o| o.blob).into_iter().collect()).await
    }

    /// UploadPartCopy: a part whose bytes come from (a range of) another object.
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        caller: &Caller,
        src: (&str, &str, Option<&super::versioning::VersionRef>),
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i64,
        range: Option<RangeSpec>,
        cond: &ReadConditions,
        customer_key: Option<&CustomerKey>,
    ) -> Result<PartInfo> {
        self.owned_bucket(caller, bucket)?;
        part_number(number)?;
        let upload = self.upload(bucket, key, upload_id)?;
        let source = self.open_object(caller, src.0, src.1, src.2, None, cond, None).await.map_err(|e| match e {
            EngineError::NotModified { .. } => EngineError::PreconditionFailed,
            other => other,
        })?;
        let size = source.record.size;
        let body = match range {
            None => source.body,
            Some(r) => {
                let wanted = match r {
                    RangeSpec::FromTo { first, last: Some(last) } if last < size => first..last + 1,
                    _ => {
                        return Err(EngineError::InvalidArgument(format!(
                            "Range specified is not valid for source object of size: {size}"
                        )));
                    }
                };
                self.open_object(
                    caller,
                    src.0,
                    src.1,
                    src.2,
                    Some(RangeSpec::FromTo { first: wanted.start, last: Some(wanted.end - 1) }),
                    cond,
                    None,
                )
                .await?
                .body
            }
        };
        let integrity = Integrity {
            algorithm: upload.checksum_algorithm.as_deref().and_then(ChecksumAlgorithm::parse),
            ..Default::default()
        };
        Box::pin(self.upload_part_sse(caller, bucket, key, upload_id, number, body, integrity, None, customer_key))
            .await
    }

    /// Completes an upload from `(part number, etag)` pairs in ascending order.
    pub async fn complete_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(i64, String)],
        cond: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let claimed = ClaimedChecksum::default();
        self.complete_multipart_upload_sse(caller, bucket, key, upload_id, chosen, cond, None, &claimed).await
    }

    /// CompleteMultipartUpload with the SSE-C key the request presents, if any (S3 takes it but does
    /// not require it; a key presented must be the upload's). An SSE-KMS upload needs its KMS key
    /// usable: S3 decrypts the parts' data key to complete, so a disabled key fails the completion.
    #[allow(clippy::too_many_arguments)]
    pub async fn complete_multipart_upload_sse(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
        chosen: &[(i64, String)],
        cond: &WriteCondition,
        customer_key: Option<&CustomerKey>,
        claimed: &ClaimedChecksum,
    ) -> Result<ObjectInfo> {
        self.owned_bucket(caller, bucket)?;
        if chosen.is_empty() {
            return Err(EngineError::MalformedXml);
        }
        let (record, state) = {
            let _bucket = self.bucket_alive(bucket).await?;
            // The upload (against UploadPart and Abort) and the key (against other writes to it).
            let guards = self.locks.lock_both((bucket, upload_id), (bucket, key)).await;
            let upload = self.upload(bucket, key, upload_id)?;
            if customer_key.is_some() {
                super::sse::check_presented(upload.encryption.as_ref(), customer_key)?;
            }
            if let Some(rec @ EncryptionRecord::Kms { .. }) = &upload.encryption {
                self.unlock(bucket, key, rec, None)?;
            }
            let mut parts: Vec<(u32, PartRecord)> = Vec::with_capacity(chosen.len());
            let mut previous = 0u32;
            for (n, etag) in chosen {
                let n = part_number(*n).map_err(|_| EngineError::InvalidPartOrder)?;
                if n <= previous {
                    return Err(EngineError::InvalidPartOrder);
                }
                previous = n;
                let part = self
                    .meta
                    .part(upload_id, n)?
                    .filter(|p| p.etag == *etag)
                    .ok_or_else(|| EngineError::InvalidPart(INVALID_PART.into()))?;
                parts.push((n, part));
            }
            if parts[..parts.len() - 1].iter().any(|(_, p)| p.size < MIN_PART_SIZE) {
                return Err(EngineError::EntityTooSmall);
            }
            let size: u64 = parts.iter().map(|(_, p)| p.size).sum();
            if size > MAX_OBJECT_SIZE {
                return Err(EngineError::EntityTooLarge);
            }
            let mut md5s = Md5::new();
            for (_, p) in &parts {
                md5s.update(hex::decode(&p.etag).unwrap_or_default());
            }
            let etag = format!("{}-{}", hex::encode(md5s.finalize()), parts.len());
            let checksum = completed_checksum(&upload, &parts, claimed)?;
            let record = ObjectRecord {
                version_id: None,
                size,
                etag,
                last_modified_ms: self.now_ms(),
                owner: caller.user.clone(),
                headers: upload.headers,
                user_metadata: upload.user_metadata,
                tags: upload.tags,
                checksum,
                storage_class: upload.storage_class,
                encryption: upload.encryption,
                delete_marker: false,
                seq: 0,
                archive: None,
                acl: upload.acl,
                body: BodyRecord::Parts(
                    parts.iter().map(|(_, p)| PartRef { blob: p.blob.clone(), size: p.size }).collect(),
                ),
            };
            let mut record = record;
            let state = self.versioning_of(bucket)?;
            let current = self.meta.object(bucket, key)?;
            super::object::check_write_condition(cond, current.as_ref().map(|(r, _)| r).filter(|r| !r.delete_marker))?;
            let mut batch = MetaBatch::new();
            batch.delete_upload(bucket, key, upload_id);
            let mut released = self.place_current(bucket, key, state, current, &mut record, &[], &mut batch)?;
            for (n, part) in self.meta.scan_parts(upload_id, 0)?.collect::<Result<Vec<_>, _>>()? {
                batch.delete_part(upload_id, n);
                if !parts.iter().any(|(chosen, _)| *chosen == n) {
                    released.push(part.blob);
                }
            }
            for id in &released {
                batch.release_blob(id);
            }
            self.commit_releasing(batch, released).await?;
            drop(guards);
            (record, state)
        };
        self.archive_new(bucket, key, &record).await;
        Ok(super::versioning::report_null(ObjectInfo::from_record(key, &record), state))
    }

    pub async fn abort_multipart_upload(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        self.owned_bucket(caller, bucket)?;
        let _guard = self.locks.lock(bucket, upload_id).await;
        self.upload(bucket, key, upload_id)?;
        let mut batch = MetaBatch::new();
        batch.delete_upload(bucket, key, upload_id);
        let mut released = Vec::new();
        for item in self.meta.scan_parts(upload_id, 0)? {
            let (n, part) = item?;
            batch.delete_part(upload_id, n).release_blob(&part.blob);
            released.push(part.blob);
        }
        self.commit_releasing(batch, released).await
    }

    /// ListParts: parts after `marker`, at most `max`; the bool says whether more follow.
    pub fn list_parts(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max: usize,
    ) -> Result<(UploadInfo, Vec<PartInfo>, bool)> {
        self.owned_bucket(caller, bucket)?;
        let upload = self.upload(bucket, key, upload_id)?;
        let mut parts = Vec::new();
        let mut truncated = false;
        for item in self.meta.scan_parts(upload_id, marker.saturating_add(1))? {
            let (n, p) = item?;
            if parts.len() == max {
                truncated = true;
                break;
            }
            parts.push(PartInfo {
                number: n,
                size: p.size,
                etag: p.etag,
                last_modified: ms_to_time(p.last_modified_ms),
                checksum: p.checksum,
                encryption: None,
            });
        }
        Ok((upload_info(key, upload_id, &upload), parts, truncated))
    }

    pub fn list_multipart_uploads(&self, caller: &Caller, bucket: &str, q: &UploadListQuery) -> Result<UploadPage> {
        self.owned_bucket(caller, bucket)?;
        let mut page = UploadPage::default();
        let mut start = q.prefix.as_bytes().to_vec();
        if let Some(marker) = &q.key_marker {
            let mut from = marker.as_bytes().to_vec();
            match &q.upload_id_marker {
                // Uploads of the marker key after that id.
                Some(id) => {
                    from.push(0);
                    from.extend_from_slice(id.as_bytes());
                    from.push(0);
                }
                // Every upload of keys after the marker.
                None => from.push(1),
            }
            if from > start {
                start = from;
            }
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        for item in self.meta.scan_uploads(bucket, &start)? {
            let (key, id, rec) = item?;
            if !key.starts_with(&q.prefix) {
                break;
            }
            if page.uploads.len() + page.common_prefixes.len() == q.max_uploads {
                page.is_truncated = true;
                break;
            }
            if let Some(d) = delimiter
                && let Some(i) = key[q.prefix.len()..].find(d)
            {
                let cp = key[..q.prefix.len() + i + d.len()].to_string();
                if page.common_prefixes.last() != Some(&cp) {
                    page.common_prefixes.push(cp);
                }
                continue;
            }
            page.uploads.push(upload_info(&key, &id, &rec));
        }
        Ok(page)
    }
}

fn upload_info(key: &str, id: &str, rec: &UploadRecord) -> UploadInfo {
    UploadInfo {
        key: key.into(),
        upload_id: id.into(),
        initiated: ms_to_time(rec.initiated_ms),
        owner: rec.owner.clone(),
        storage_class: rec.storage_class.clone(),
        checksum_algorithm: rec.checksum_algorithm.clone(),
        checksum_type: rec.checksum_algorithm.as_ref().map(|_| upload_checksum_type(rec).as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use futures::StreamExt;

    async fn read(e: &Engine, key: &str, range: Option<RangeSpec>) -> Vec<u8> {
        let mut o = e.get_object(&alice(), "bkt", key, None, &ReadConditions::default(), range, None).await.unwrap();
        let mut out = Vec::new();
        while let Some(c) = o.body.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn complete_builds_a_manifest_with_s3s_etag_and_drops_unused_parts() {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        let id = e.create_multipart_upload(&alice(), "bkt", "big", CreateUpload::default()).await.unwrap();
        let p1 = vec![1u8; MIN_PART_SIZE as usize];
        let p2 = b"tail".to_vec();
        let a = e.upload_part(&alice(), "bkt", "big", &id, 1, body(&p1), Integrity::default(), None).await.unwrap();
        let b = e.upload_part(&alice(), "bkt", "big", &id, 2, body(&p2), Integrity::default(), None).await.unwrap();
        e.upload_part(&alice(), "bkt", "big", &id, 3, body(b"unused"), Integrity::default(), None).await.unwrap();
        assert!(matches!(
            e.complete_multipart_upload(
                &alice(),
                "bkt",
                "big",
                &id,
                &[(2, b.etag.clone()), (1, a.etag.clone())],
                &WriteCondition::default()
            )
            .await,
            Err(EngineError::InvalidPartOrder)
        ));
        assert!(matches!(
            e.complete_multipart_upload(
                &alice(),
                "bkt",
                "big",
                &id,
                &[(1, "bad".into()), (2, b.etag.clone())],
                &WriteCondition::default()
            )
            .await,
            Err(EngineError::InvalidPart(_))
        ));
        e.abort_multipart_upload(&alice(), "bkt", "big", &id).await.unwrap();
        let id = e.create_multipart_upload(&alice(), "bkt", "big", CreateUpload::default()).await.unwrap();
        let small =
            e.upload_part(&alice(), "bkt", "big", &id, 1, body(b"small"), Integrity::default(), None).await.unwrap();
        let b = e.upload_part(&alice(), "bkt", "big", &id, 2, body(&p2), Integrity::default(), None).await.unwrap();
        assert!(matches!(
            e.complete_multipart_upload(
                &alice(),
                "bkt",
                "big",
                &id,
                &[(1, small.etag), (2, b.etag.clone())],
                &WriteCondition::default()
            )
            .await,
            Err(EngineError::EntityTooSmall)
        ));
        let a = e.upload_part(&alice(), "bkt", "big", &id, 1, body(&p1), Integrity::default(), None).await.unwrap();
        let info = e
            .complete_multipart_upload(
                &alice(),
                "bkt",
                "big",
                &id,
                &[(1, a.etag.clone()), (2, b.etag.clone())],
                &WriteCondition::default(),
            )
            .await
            .unwrap();
        let mut md5s = Md5::new();
        md5s.update(hex::decode(&a.etag).unwrap());
        md5s.update(hex::decode(&b.etag).unwrap());
        assert_eq!(info.etag, format!("{}-2", hex::encode(md5s.finalize())));
        assert_eq!(info.parts_count, Some(2));
        let whole = read(&e, "big", None).await;
        assert_eq!(whole.len(), p1.len() + 4);
        assert_eq!(&whole[p1.len()..], b"tail");
        let straddle =
            read(&e, "big", Some(RangeSpec::FromTo { first: MIN_PART_SIZE - 2, last: Some(MIN_PART_SIZE + 1) })).await;
        assert_eq!(straddle, vec![1, 1, b't', b'a']);
        assert!(matches!(e.list_parts(&alice(), "bkt", "big", &id, 0, 10), Err(EngineError::NoSuchUpload)));
        // Only the two chosen parts' blobs remain: the aborted upload's and the replaced part's are gone.
        let mut blobs = 0;
        e.blobs.scan(&mut |_| blobs += 1).unwrap();
        assert_eq!(blobs, 2);
    }

    #[tokio::test]
    async fn abort_removes_parts_and_listing_shows_uploads() {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        let id1 = e.create_multipart_upload(&alice(), "bkt", "a/x", CreateUpload::default()).await.unwrap();
        let id2 = e.create_multipart_upload(&alice(), "bkt", "b", CreateUpload::default()).await.unwrap();
        e.upload_part(&alice(), "bkt", "b", &id2, 1, body(b"data"), Integrity::default(), None).await.unwrap();
        let q = UploadListQuery { max_uploads: 1000, delimiter: Some("/".into()), ..Default::default() };
        let page = e.list_multipart_uploads(&alice(), "bkt", &q).unwrap();
        assert_eq!(page.common_prefixes, vec!["a/"]);
        assert_eq!(page.uploads.iter().map(|u| u.upload_id.as_str()).collect::<Vec<_>>(), vec![id2.as_str()]);
        e.abort_multipart_upload(&alice(), "bkt", "b", &id2).await.unwrap();
        assert!(matches!(e.abort_multipart_upload(&alice(), "bkt", "b", &id2).await, Err(EngineError::NoSuchUpload)));
        let mut blobs = 0;
        e.blobs.scan(&mut |_| blobs += 1).unwrap();
        assert_eq!(blobs, 0);
        assert!(matches!(
            e.upload_part(&alice(), "bkt", "a/x", &id1, 0, body(b"x"), Integrity::default(), None).await,
            Err(EngineError::InvalidArgument(_))
        ));
    }
}
