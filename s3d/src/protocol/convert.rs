//! Translations between s3s DTOs and the engine's types.

use crate::engine::versioning::VersionRef;
use std::collections::BTreeMap;
use std::io;

use futures::StreamExt;
use s3s::dto::{self, ETag, ETagCondition, StreamingBlob, Timestamp};
use s3s::{S3Result, s3_error};
use sha2::Digest;

use crate::engine::checksum::ChecksumAlgorithm;
use crate::engine::object::ETagMatch;
use crate::engine::read::RangeSpec;
use crate::engine::{ByteStream, time_to_ms};
use crate::store::meta::{ChecksumRecord, ContentHeaders};

pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

pub fn etag_match(cond: Option<ETagCondition>) -> Option<ETagMatch> {
    cond.map(|c| match c {
        ETagCondition::Any => ETagMatch::Any,
        ETagCondition::ETag(e) => ETagMatch::Tag(e.value().to_string()),
    })
}

pub fn time(t: Option<Timestamp>) -> Option<time::OffsetDateTime> {
    t.map(time::OffsetDateTime::from)
}

pub fn timestamp(t: time::OffsetDateTime) -> Timestamp {
    Timestamp::from(t)
}

pub fn range(r: Option<dto::Range>) -> Option<RangeSpec> {
    r.map(|r| match r {
        dto::Range::Int { first, last } => RangeSpec::FromTo { first, last },
        dto::Range::Suffix { length } => RangeSpec::Suffix(length),
    })
}

pub fn body_in(body: Option<StreamingBlob>) -> ByteStream {
    match body {
        Some(b) => Box::pin(b.map(|r| r.map_err(body_error))),
        None => Box::pin(futures::stream::empty()),
    }
}

/// s3s checks a body against its `x-amz-content-sha256` as it streams and fails it with an error
/// type it does not export: recognised by its text (s3s is pinned), it becomes the `InvalidData`
/// the engine reports as a payload hash mismatch.
fn body_error(e: s3s::StdError) -> io::Error {
    if e.to_string().contains("Sha256Mismatch") {
        io::Error::new(io::ErrorKind::InvalidData, e)
    } else {
        io::Error::other(e)
    }
}

pub fn body_out(body: ByteStream) -> StreamingBlob {
    StreamingBlob::wrap(sync_wrapper::SyncStream::new(body))
}

pub fn user_metadata(meta: Option<dto::Metadata>) -> BTreeMap<String, String> {
    meta.map(|m| m.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect()).unwrap_or_default()
}

pub fn metadata_out(meta: &BTreeMap<String, String>) -> Option<dto::Metadata> {
    (!meta.is_empty()).then(|| meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

#[allow(clippy::too_many_arguments)]
pub fn content_headers(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
) -> ContentHeaders {
    ContentHeaders {
        content_type,
        cache_control,
        content_disposition,
        content_encoding,
        content_language,
        expires_ms: time(expires).map(time_to_ms),
    }
}

/// S3 answers `binary/octet-stream` for objects stored without a type.
pub fn content_type_out(h: &ContentHeaders) -> Option<String> {
    Some(h.content_type.clone().unwrap_or_else(|| "binary/octet-stream".into()))
}

pub fn expires_out(h: &ContentHeaders) -> Option<Timestamp> {
    h.expires_ms.map(|ms| timestamp(crate::engine::ms_to_time(ms)))
}

/// The checksum a request carries: which algorithm, and the value if it came as a header.
pub struct RequestChecksum {
    pub algorithm: Option<ChecksumAlgorithm>,
    pub value: Option<String>,
    /// The trailer that will carry the value (`x-amz-trailer`).
    pub trailer: Option<String>,
}

/// The five `checksum_*` members S3's DTOs carry (PutObject, UploadPart, CompleteMultipartUpload and
/// each CompletedPart name them alike in different s3s types), paired with their algorithm, in
/// S3's order: CRC32, CRC32C, CRC64NVME, SHA1, SHA256.
macro_rules! checksum_members {
    ($dto:expr) => {{
        use $crate::engine::checksum::ChecksumAlgorithm as A;
        let d = &$dto;
        [
            (A::Crc32, &d.checksum_crc32),
            (A::Crc32c, &d.checksum_crc32c),
            (A::Crc64Nvme, &d.checksum_crc64nvme),
            (A::Sha1, &d.checksum_sha1),
            (A::Sha256, &d.checksum_sha256),
        ]
    }};
}
pub(crate) use checksum_members;

/// [`request_checksum`] of a write request with the five [`checksum_members`].
macro_rules! request_checksum_of {
    ($req:expr) => {{
        $crate::protocol::convert::request_checksum(
            $req.input.checksum_algorithm.as_ref(),
            $crate::protocol::convert::checksum_members!($req.input),
            &$req.headers,
        )
    }};
}
pub(crate) use request_checksum_of;

pub fn request_checksum(
    algorithm: Option<&dto::ChecksumAlgorithm>,
    values: [(ChecksumAlgorithm, &Option<String>); 5],
    headers: &http::HeaderMap,
) -> S3Result<RequestChecksum> {
    let trailer = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.starts_with("x-amz-checksum-"));
    let mut algo = match algorithm {
        Some(a) => Some(
            ChecksumAlgorithm::parse(a.as_str())
                .ok_or_else(|| s3_error!(InvalidRequest, "Value for x-amz-checksum-algorithm header is invalid."))?,
        ),
        None => None,
    };
    let mut value = None;
    for (a, v) in values {
        if let Some(v) = v {
            if value.is_some() {
                return Err(s3_error!(
                    InvalidRequest,
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                ));
            }
            if algo.is_some_and(|x| x != a) {
                return Err(s3_error!(InvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid."));
            }
            algo = Some(a);
            value = Some(v.clone());
        }
    }
    if algo.is_none()
        && let Some(t) = &trailer
    {
        algo = ChecksumAlgorithm::parse(t.trim_start_matches("x-amz-checksum-"));
    }
    Ok(RequestChecksum { algorithm: algo, value, trailer })
}

/// Puts a stored checksum into the five optional output fields (CRC32, CRC32C, CRC64NVME, SHA1, SHA256).
#[allow(clippy::type_complexity)]
pub fn checksum_fields(
    c: Option<&ChecksumRecord>,
) -> (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<dto::ChecksumType>) {
    let (crc32, crc32c, crc64, sha1, sha256) = checksum_by_algorithm(c.map(|c| (c.algorithm.as_str(), &c.value)));
    (crc32, crc32c, crc64, sha1, sha256, c.map(|c| dto::ChecksumType::from(c.kind.clone())))
}

/// `(algorithm name, base64 value)` in the one of the five output fields (CRC32, CRC32C, CRC64NVME,
/// SHA1, SHA256) its algorithm names.
#[allow(clippy::type_complexity)]
pub fn checksum_by_algorithm(
    sum: Option<(&str, &String)>,
) -> (Option<String>, Option<String>, Option<String>, Option<String>, Option<String>) {
    let mut out = (None, None, None, None, None);
    if let Some((algorithm, value)) = sum {
        let v = Some(value.clone());
        match ChecksumAlgorithm::parse(algorithm) {
            Some(ChecksumAlgorithm::Crc32) => out.0 = v,
            Some(ChecksumAlgorithm::Crc32c) => out.1 = v,
            Some(ChecksumAlgorithm::Crc64Nvme) => out.2 = v,
            Some(ChecksumAlgorithm::Sha1) => out.3 = v,
            Some(ChecksumAlgorithm::Sha256) => out.4 = v,
            None => {}
        }
    }
    out
}

/// An S3 canonical user id for a user: stable, 64 hex digits.
pub fn owner(user: &str) -> dto::Owner {
    dto::Owner { display_name: Some(user.to_string()), id: Some(hex::encode(sha2::Sha256::digest(user.as_bytes()))) }
}

/// `encoding-type=url`: percent-encode everything but unreserved characters and `/`.
pub fn url_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// Versioning arrives with issue #4: on unversioned buckets only the `null` version exists.
/// A `versionId` query parameter (`null` or one of our ids; anything else is InvalidArgument).
pub fn version(version_id: Option<&str>) -> S3Result<Option<VersionRef>> {
    version_id.map(VersionRef::parse).transpose().map_err(super::errors::to_s3)
}

/// The `x-amz-version-id` a response carries for a version (`None` = the `null` version).
pub fn version_out(version_id: &Option<String>) -> String {
    version_id.clone().unwrap_or_else(|| "null".into())
}
