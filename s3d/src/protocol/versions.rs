//! Bucket versioning on the wire: Get/PutBucketVersioning and ListObjectVersions.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, version, version_out};
use super::errors::to_s3;
use super::listing::{encode, max_keys, url_mode};
use super::service::S3Api;
use crate::engine::versioning::Versioning;
use crate::engine::versions_list::VersionsQuery;

pub async fn get_bucket_versioning(
    api: &S3Api,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let caller = api.caller(&req)?;
    let state = api.engine.get_bucket_versioning(&caller, &req.input.bucket).map_err(to_s3)?;
    let status = match state {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
        Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
    };
    Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
}

pub async fn put_bucket_versioning(
    api: &S3Api,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let caller = api.caller(&req)?;
    let config = &req.input.versioning_configuration;
    if config.mfa_delete.as_ref().is_some_and(|m| m.as_str() == MFADelete::ENABLED) {
        return Err(s3_error!(NotImplemented, "MFA Delete is not supported"));
    }
    let state = match config.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
    };
    api.engine.put_bucket_versioning(&caller, &req.input.bucket, state).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}

pub async fn list_object_versions(
    api: &S3Api,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let url = url_mode(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let query = VersionsQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        max_keys: max,
        key_marker: input.key_marker.clone().filter(|m| !m.is_empty()),
        version_id_marker: version(input.version_id_marker.as_deref().filter(|m| !m.is_empty()))?,
    };
    // READ on the bucket (its ACL) lets others list it, as its owner would.
    let reader = api.engine.bucket_reader(&caller, &input.bucket).map_err(to_s3)?;
    let page = api.engine.list_object_versions(&reader, &input.bucket, &query).map_err(to_s3)?;
    let mut versions = Vec::new();
    let mut delete_markers = Vec::new();
    let order: String = page.versions.iter().map(|v| if v.delete_marker { 'D' } else { 'V' }).collect();
    for v in page.versions {
        let key = Some(encode(v.key, url));
        let last_modified = Some(convert::timestamp(v.last_modified));
        let owner = Some(convert::owner(&v.owner));
        let version_id = Some(version_out(&v.version_id));
        if v.delete_marker {
            delete_markers.push(DeleteMarkerEntry {
                is_latest: Some(v.is_latest),
                key,
                last_modified,
                owner,
                version_id,
            });
        } else {
            versions.push(ObjectVersion {
                checksum_algorithm: v.checksum_algorithm.map(|a| vec![ChecksumAlgorithm::from(a)]),
                checksum_type: None,
                e_tag: Some(convert::etag(&v.etag)),
                is_latest: Some(v.is_latest),
                key,
                last_modified,
                owner,
                restore_status: None,
                size: Some(v.size as i64),
                storage_class: Some(ObjectVersionStorageClass::from(v.storage_class)),
                version_id,
            });
        }
    }
    let common_prefixes =
        page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p, url)) }).collect();
    let mut resp = S3Response::new(ListObjectVersionsOutput {
        common_prefixes: Some(common_prefixes),
        delete_markers: Some(delete_markers),
        delimiter: input.delimiter.map(|d| encode(d, url)),
        encoding_type: input.encoding_type,
        is_truncated: Some(page.is_truncated),
        key_marker: Some(encode(input.key_marker.unwrap_or_default(), url)),
        max_keys: Some(max as i32),
        name: Some(input.bucket),
        next_key_marker: page.next_key_marker.map(|k| encode(k, url)),
        next_version_id_marker: page.next_version_id_marker,
        prefix: Some(encode(input.prefix.unwrap_or_default(), url)),
        request_charged: None,
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        versions: Some(versions),
    });
    if !order.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&order)
    {
        resp.headers.insert(ORDER_HEADER, v);
    }
    Ok(resp)
}

/// s3s writes every `<Version>` before every `<DeleteMarker>`; S3 lists a key's versions and delete
/// markers together, newest first. The handler notes the engine's order (`V`/`D` per entry) in this
/// internal header, and [`interleave`] puts the entries of the XML body back in that order.
pub(crate) const ORDER_HEADER: &str = "x-stratus-version-order";
/// A page holds at most 1000 entries of at most a few KiB each.
const MAX_LISTING_BODY: usize = 16 * 1024 * 1024;

pub(crate) async fn interleave(
    response: axum::response::Response,
    order: &http::HeaderValue,
) -> axum::response::Response {
    use http_body_util::BodyExt;
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = http_body_util::Limited::new(body, MAX_LISTING_BODY).collect().await else {
        tracing::error!("ListObjectVersions body too large to reorder");
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    let bytes = collected.to_bytes();
    let out = match std::str::from_utf8(&bytes) {
        Ok(xml) => reorder(xml, order.as_bytes()).map(String::into_bytes).unwrap_or_else(|| bytes.to_vec()),
        Err(_) => bytes.to_vec(),
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(out))
}

/// The XML with its `<Version>` and `<DeleteMarker>` elements merged in `order`; `None` if the body
/// does not hold exactly the entries `order` describes.
fn reorder(xml: &str, order: &[u8]) -> Option<String> {
    let (mut versions, mut markers) = (Vec::new(), Vec::new());
    let mut rest = String::with_capacity(xml.len());
    let mut at = None;
    let mut i = 0;
    loop {
        let next_v = xml[i..].find("<Version>").map(|p| (p + i, "</Version>", true));
        let next_d = xml[i..].find("<DeleteMarker>").map(|p| (p + i, "</DeleteMarker>", false));
        let next = match (next_v, next_d) {
            (Some(v), Some(d)) => Some(if v.0 < d.0 { v } else { d }),
            (v, d) => v.or(d),
        };
        let Some((start, close, is_version)) = next else { break };
        let end = xml[start..].find(close)? + start + close.len();
        rest.push_str(&xml[i..start]);
        at.get_or_insert(rest.len());
        if is_version {
            versions.push(&xml[start..end])
        } else {
            markers.push(&xml[start..end])
        }
        i = end;
    }
    rest.push_str(&xml[i..]);
    let want_v = order.iter().filter(|&&c| c == b'V').count();
    if want_v != versions.len() || order.len() - want_v != markers.len() {
        return None;
    }
    let (mut v, mut d) = (versions.into_iter(), markers.into_iter());
    let merged: String = order.iter().map(|&c| if c == b'V' { v.next() } else { d.next() }).collect::<Option<_>>()?;
    rest.insert_str(at?, &merged);
    Some(rest)
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_are_put_back_in_listing_order() {
        let xml = concat!(
            "<R><Name>b</Name><Version><Key>a</Key><VersionId>1</VersionId></Version><Version><Key>a</Key></Version>",
            "<DeleteMarker><Key>a</Key></DeleteMarker><Prefix></Prefix></R>"
        );
        let out = super::reorder(xml, b"VDV").unwrap();
        assert_eq!(
            out,
            concat!(
                "<R><Name>b</Name><Version><Key>a</Key><VersionId>1</VersionId></Version>",
                "<DeleteMarker><Key>a</Key></DeleteMarker><Version><Key>a</Key></Version><Prefix></Prefix></R>"
            )
        );
        assert!(super::reorder(xml, b"VV").is_none());
    }
}
