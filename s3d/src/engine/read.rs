//! Reading objects: HEAD and GET with conditional headers (304/412), byte ranges (206/416) and
//! `partNumber`, streaming the body from inline bytes, one blob, or a multipart manifest's parts.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;
use time::OffsetDateTime;

use super::object::{ETagMatch, ObjectInfo};
use super::versioning::VersionRef;
use super::{ByteStream, Caller, Engine, EngineError, Result};
use crate::store::meta::{BodyRecord, ObjectRecord};
use crate::store::{BlobId, BlobStore};

/// `Range: bytes=…` as parsed by the protocol layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `first-last` (inclusive) or `first-` (open).
    FromTo { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl RangeSpec {
    /// The byte range it selects in an object of `size` bytes; `None` when S3 ignores the range and
    /// sends the whole object (200): `last` before `first`, or a suffix of an empty object. A range
    /// starting past the end, or `-0`, is InvalidRange (416).
    pub fn resolve(self, size: u64) -> Result<Option<Range<u64>>> {
        let invalid = EngineError::InvalidRange { size };
        match self {
            RangeSpec::FromTo { first, last } => {
                if first >= size {
                    return Err(invalid);
                }
                if last.is_some_and(|l| l < first) {
                    return Ok(None);
                }
                Ok(Some(first..last.map_or(size, |l| l.min(size - 1) + 1)))
            }
            RangeSpec::Suffix(0) => Err(invalid),
            RangeSpec::Suffix(_) if size == 0 => Ok(None),
            RangeSpec::Suffix(n) => Ok(Some(size.saturating_sub(n)..size)),
        }
    }
}

/// `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` (RFC 9110 order).
#[derive(Debug, Clone, Default)]
pub struct ReadConditions {
    pub if_match: Option<ETagMatch>,
    pub if_none_match: Option<ETagMatch>,
    pub if_modified_since: Option<OffsetDateTime>,
    pub if_unmodified_since: Option<OffsetDateTime>,
    /// The SSE-C key the request presents: reading an SSE-C object needs it (and only such a read
    /// may present one).
    pub customer_key: Option<super::sse::CustomerKey>,
}

impl ReadConditions {
    pub fn check(&self, etag: &str, last_modified: OffsetDateTime) -> Result<()> {
        // HTTP dates have whole seconds: compare at that precision.
        let modified = last_modified.unix_timestamp();
        match &self.if_match {
            Some(m) if !m.matches(etag) => return Err(EngineError::PreconditionFailed),
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified > t.unix_timestamp()) {
                    return Err(EngineError::PreconditionFailed);
                }
            }
        }
        let not_modified = EngineError::NotModified { etag: etag.into(), last_modified };
        match &self.if_none_match {
            Some(m) if m.matches(etag) => return Err(not_modified),
            Some(_) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| modified <= t.unix_timestamp()) {
                    return Err(not_modified);
                }
            }
        }
        Ok(())
    }
}

pub struct OpenedObject {
    pub info: ObjectInfo,
    pub(crate) record: ObjectRecord,
    /// The bytes being returned when a range or part was asked for (206).
    pub range: Option<Range<u64>>,
    pub body: ByteStream,
}

impl Engine {
    /// GetObjectAttributes: the object's description and, for a multipart object, its parts' sizes
    /// in order (an SSE-C object needs its key, as any read does).
    pub fn object_attributes(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        cond: &ReadConditions,
    ) -> Result<(ObjectInfo, Option<Vec<u64>>)> {
        let (_, info, parts) = self.described(caller, bucket, key, version, cond)?;
        Ok((info, parts))
    }

    /// HEAD: the object's description, after the conditions; `range`/`part` shape the 206 answer.
    #[allow(clippy::too_many_arguments)] // the read's target, conditions and selection, as S3 takes them
    pub fn head_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        cond: &ReadConditions,
        range: Option<RangeSpec>,
        part: Option<u32>,
    ) -> Result<(ObjectInfo, Option<Range<u64>>)> {
        let (rec, info, parts) = self.described(caller, bucket, key, version, cond)?;
        Ok((info, select(&rec, parts.as_deref(), range, part)?))
    }

    /// The version a read addresses, once its key (SSE-C) and conditions pass: its record, its
    /// description and its parts' sizes.
    fn described(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        cond: &ReadConditions,
    ) -> Result<(ObjectRecord, ObjectInfo, Option<Vec<u64>>)> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        let (rec, _) = self.resolve_version(bucket, key, version)?;
        super::sse::check_presented(rec.encryption.as_ref(), cond.customer_key.as_ref())?;
        cond.check(&rec.etag, super::ms_to_time(rec.last_modified_ms))?;
        let parts = part_sizes(&rec);
        let state = super::versioning::Versioning::of(bucket_rec.versioning.as_deref());
        let info = super::versioning::report_null(describe(key, &rec, parts.as_deref()), state);
        Ok((rec, info, parts))
    }

    #[allow(clippy::too_many_arguments)] // the read's target, conditions and selection, as S3 takes them
    pub async fn get_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        cond: &ReadConditions,
        range: Option<RangeSpec>,
        part: Option<u32>,
    ) -> Result<OpenedObject> {
        self.open_object(caller, bucket, key, version, range, cond, part).await
    }

    #[allow(clippy::too_many_arguments)] // the read's target, conditions and selection, as S3 takes them
    pub(crate) async fn open_object(
        &self,
        caller: &Caller,
        bucket: &str,
        key: &str,
        version: Option<&VersionRef>,
        range: Option<RangeSpec>,
        cond: &ReadConditions,
        part: Option<u32>,
    ) -> Result<OpenedObject> {
        let bucket_rec = self.owned_bucket(caller, bucket)?;
        let state = super::versioning::Versioning::of(bucket_rec.versioning.as_deref());
        // A concurrent overwrite may delete the blob between reading the record and opening it: the
        // second attempt sees the new record.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (rec, inline) = self.resolve_version(bucket, key, version)?;
            super::sse::check_presented(rec.encryption.as_ref(), cond.customer_key.as_ref())?;
            // An archived body is readable only through its restored copy: read that copy as the body.
            let readable = super::tier::readable_body(&rec)?;
            let parts = part_sizes(&rec);
            // A restored multipart copy of an encrypted body holds one sealed stream per part.
            let packed = match &readable {
                BodyRecord::Blob(copy) if readable != rec.body && rec.encryption.is_some() => {
                    parts.clone().filter(|p| !p.is_empty()).map(|p| (copy.clone(), p))
                }
                _ => None,
            };
            let rec = if readable == rec.body { rec } else { ObjectRecord { body: readable, ..rec } };
            cond.check(&rec.etag, super::ms_to_time(rec.last_modified_ms))?;
            let selected = select(&rec, parts.as_deref(), range, part)?;
            let bytes = selected.clone().unwrap_or(0..rec.size);
            // A manifest's parts are opened one by one as the body streams: lease them so that an
            // overwrite meanwhile cannot delete them under this GET. The record is read again after
            // leasing: if it is still the same version, any later release sees the lease.
            // A restored copy read part by part is leased the same way, against its expiry.
            let leased: Option<Vec<BlobId>> = match (&rec.body, &packed) {
                (BodyRecord::Parts(parts), _) => Some(parts.iter().map(|p| p.blob.clone()).collect()),
                (_, Some((copy, _))) => Some(vec![copy.clone()]),
                _ => None,
            };
            let lease = match leased {
                Some(ids) => {
                    let lease = self.leases.lease(self.blobs.clone(), ids);
                    if self.resolve_version(bucket, key, version).ok().map(|(r, _)| r.seq) != Some(rec.seq)
                        && attempts < 3
                    {
                        continue;
                    }
                    Some(lease)
                }
                _ => None,
            };
            let body = match &rec.encryption {
                Some(enc) => {
                    let data_key = self.unlock(bucket, key, enc, cond.customer_key.as_ref())?;
                    let opened = match &packed {
                        Some((copy, sizes)) => {
                            let blobs = self.blobs.clone();
                            super::sse::read::packed_parts_body(blobs, copy, sizes, rec.size, bytes, data_key).await
                        }
                        None => super::sse::read::sealed_body(self.blobs.clone(), &rec, &inline, bytes, data_key).await,
                    };
                    match opened {
                        Ok(body) => body,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                None => match &rec.body {
                    BodyRecord::Inline => {
                        let slice = inline.slice(bytes.start as usize..bytes.end as usize);
                        Box::pin(futures::stream::iter((!slice.is_empty()).then_some(Ok(slice)))) as ByteStream
                    }
                    BodyRecord::Blob(id) => match self.blobs.read(id, bytes).await {
                        Ok(r) => r,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempts < 3 => continue,
                        Err(e) => return Err(e.into()),
                    },
                    BodyRecord::Parts(parts) => {
                        let mut segments = VecDeque::new();
                        let mut offset = 0u64;
                        for p in parts {
                            let (start, end) = (offset, offset + p.size);
                            offset = end;
                            if end <= bytes.start || start >= bytes.end {
                                continue;
                            }
                            segments.push_back((
                                p.blob.clone(),
                                bytes.start.max(start) - start..bytes.end.min(end) - start,
                            ));
                        }
                        parts_stream(self.blobs.clone(), segments)
                    }
                },
            };
            let body = match lease {
                // The lease lives as long as the body stream.
                Some(lease) => Box::pin(body.inspect(move |_| {
                    let _held = &lease;
                })) as ByteStream,
                None => body,
            };
            let info = super::versioning::report_null(describe(key, &rec, parts.as_deref()), state);
            metrics::counter!("s3d_objects_read_total").increment(1);
            return Ok(OpenedObject { info, record: rec, range: selected, body });
        }
    }
}

/// The plaintext part sizes of a multipart object: from its manifest, or once archived from its
/// archive record (`None` for a single-stream body, or one archived before parts were kept).
fn part_sizes(rec: &ObjectRecord) -> Option<Vec<u64>> {
    match &rec.body {
        BodyRecord::Parts(parts) => Some(parts.iter().map(|p| p.size).collect()),
        _ => rec.archive.as_ref().filter(|a| !a.parts.is_empty()).map(|a| a.parts.clone()),
    }
}

/// The object's description; an archived multipart object still reports its parts count.
fn describe(key: &str, rec: &ObjectRecord, parts: Option<&[u64]>) -> ObjectInfo {
    let mut info = ObjectInfo::from_record(key, rec);
    if info.parts_count.is_none() {
        info.parts_count = parts.map(<[u64]>::len);
    }
    info
}

/// The range a request selects: a byte range, or a part of a multipart object (`partNumber`).
fn select(
    rec: &ObjectRecord,
    parts: Option<&[u64]>,
    range: Option<RangeSpec>,
    part: Option<u32>,
) -> Result<Option<Range<u64>>> {
    match (range, part) {
        (Some(_), Some(_)) => {
            Err(EngineError::InvalidRequest("Cannot specify both Range header and partNumber query parameter".into()))
        }
        (Some(r), None) => r.resolve(rec.size),
        (None, Some(n)) => match parts {
            Some(parts) => {
                let idx =
                    (n as usize).checked_sub(1).filter(|&i| i < parts.len()).ok_or(EngineError::InvalidPartNumber)?;
                let start: u64 = parts[..idx].iter().sum();
                Ok(Some(start..start + parts[idx]))
            }
            // Part 1 of an object uploaded in one piece is all of it, still answered as a range (206
            // with Content-Range), as S3 does; an empty object has no range to answer with.
            _ if n == 1 => Ok((rec.size > 0).then_some(0..rec.size)),
            _ => Err(EngineError::InvalidPartNumber),
        },
        (None, None) => Ok(None),
    }
}

/// Streams the given ranges of blobs one after the other, opening each only when the previous ends.
pub(crate) fn parts_stream(blobs: Arc<dyn BlobStore>, segments: VecDeque<(BlobId, Range<u64>)>) -> ByteStream {
    let stream = futures::stream::iter(segments)
        .then(move |(id, range)| {
            let blobs = blobs.clone();
            async move { blobs.read(&id, range).await }
        })
        .map(|opened| match opened {
            Ok(reader) => reader,
            Err(e) => Box::pin(futures::stream::iter([Err(e)])) as ByteStream,
        })
        .flatten();
    Box::pin(stream)
}

#[cfg(test)]
mod tests {
    use super::super::object::PutRequest;
    use super::super::testing::*;
    use super::*;
    use proptest::prelude::*;

    async fn collect(mut s: ByteStream) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[test]
    fn ranges_resolve_like_rfc_9110() {
        let resolve = |spec: RangeSpec, size| spec.resolve(size).unwrap();
        assert_eq!(resolve(RangeSpec::FromTo { first: 0, last: Some(0) }, 10), Some(0..1));
        assert_eq!(resolve(RangeSpec::FromTo { first: 5, last: None }, 10), Some(5..10));
        assert_eq!(resolve(RangeSpec::FromTo { first: 5, last: Some(100) }, 10), Some(5..10));
        assert_eq!(resolve(RangeSpec::Suffix(3), 10), Some(7..10));
        assert_eq!(resolve(RangeSpec::Suffix(30), 10), Some(0..10));
        assert!(RangeSpec::FromTo { first: 10, last: None }.resolve(10).is_err());
        assert!(RangeSpec::FromTo { first: 0, last: None }.resolve(0).is_err());
        assert!(RangeSpec::Suffix(0).resolve(10).is_err());
        // What S3 ignores: the whole object, 200.
        assert_eq!(resolve(RangeSpec::FromTo { first: 5, last: Some(3) }, 10), None);
        assert_eq!(resolve(RangeSpec::Suffix(3), 0), None);
    }

    proptest! {
        #[test]
        fn resolved_ranges_are_inside_the_object(first in 0u64..100, len in proptest::option::of(0u64..100), suffix in 0u64..100, size in 1u64..100) {
            for spec in [RangeSpec::FromTo { first, last: len.map(|l| first + l) }, RangeSpec::Suffix(suffix)] {
                if let Ok(Some(r)) = spec.resolve(size) {
                    prop_assert!(r.start < r.end && r.end <= size);
                }
            }
        }
    }

    #[test]
    fn conditions_follow_rfc_9110_precedence() {
        let t = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let earlier = t - time::Duration::seconds(10);
        let tag = |s: &str| Some(ETagMatch::Tag(s.into()));
        let c = |m, n, ms, us| ReadConditions {
            if_match: m,
            if_none_match: n,
            if_modified_since: ms,
            if_unmodified_since: us,
            customer_key: None,
        };
        assert!(c(tag("e"), None, None, None).check("e", t).is_ok());
        assert!(matches!(c(tag("x"), None, None, None).check("e", t), Err(EngineError::PreconditionFailed)));
        assert!(matches!(c(None, tag("e"), None, None).check("e", t), Err(EngineError::NotModified { .. })));
        assert!(matches!(c(None, None, Some(t), None).check("e", t), Err(EngineError::NotModified { .. })));
        assert!(c(None, None, Some(earlier), None).check("e", t).is_ok());
        assert!(matches!(c(None, None, None, Some(earlier)).check("e", t), Err(EngineError::PreconditionFailed)));
        // If-Match true overrides If-Unmodified-Since false; If-None-Match false overrides If-Modified-Since.
        assert!(c(tag("e"), None, None, Some(earlier)).check("e", t).is_ok());
        assert!(c(None, tag("x"), Some(t), None).check("e", t).is_ok());
    }

    #[tokio::test]
    async fn ranged_reads_of_inline_and_blob_bodies() {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        for (key, data) in [("small", &b"0123456789"[..]), ("big", &big[..])] {
            e.put_object(&alice(), "bkt", key, body(data), PutRequest::default(), None).await.unwrap();
            let whole = e.get_object(&alice(), "bkt", key, None, &ReadConditions::default(), None, None).await.unwrap();
            assert_eq!(collect(whole.body).await, data);
            let r = e
                .get_object(&alice(), "bkt", key, None, &ReadConditions::default(), Some(RangeSpec::Suffix(4)), None)
                .await
                .unwrap();
            assert_eq!(r.range, Some(data.len() as u64 - 4..data.len() as u64));
            assert_eq!(collect(r.body).await, &data[data.len() - 4..]);
        }
        assert!(matches!(
            e.get_object(&alice(), "bkt", "nope", None, &ReadConditions::default(), None, None).await,
            Err(EngineError::NoSuchKey)
        ));
    }
}
