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
    let page = api.engine.list_object_versions(&caller, &input.bucket, &query).map_err(to_s3)?;
    let mut versions = Vec::new();
    let mut delete_markers = Vec::new();
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
    Ok(S3Response::new(ListObjectVersionsOutput {
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
    }))
}
