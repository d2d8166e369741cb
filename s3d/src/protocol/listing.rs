//! ListObjects v1 and v2: query parameters to an engine page, and back (with `encoding-type=url`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, url_encode};
use super::errors::to_s3;
use super::service::S3Api;
use crate::engine::list::{ListPage, ListQuery, ObjectSummary};

const MAX_KEYS: i32 = 1000;

pub(crate) fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

pub(crate) fn url_mode(e: Option<&EncodingType>) -> S3Result<bool> {
    match e {
        None => Ok(false),
        Some(e) if e.as_str() == EncodingType::URL => Ok(true),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid Encoding Method specified in Request")),
    }
}

pub(crate) fn encode(s: String, url: bool) -> String {
    if url { url_encode(&s) } else { s }
}

fn contents(objects: Vec<ObjectSummary>, url: bool, with_owner: bool) -> Vec<Object> {
    objects
        .into_iter()
        .map(|o| Object {
            checksum_algorithm: o.checksum_algorithm.map(|a| vec![ChecksumAlgorithm::from(a)]),
            checksum_type: None,
            e_tag: Some(convert::etag(&o.etag)),
            key: Some(encode(o.key, url)),
            last_modified: Some(convert::timestamp(o.last_modified)),
            owner: with_owner.then(|| convert::owner(&o.owner)),
            restore_status: None,
            size: Some(o.size as i64),
            storage_class: Some(ObjectStorageClass::from(o.storage_class)),
        })
        .collect()
}

fn prefixes(page: &ListPage, url: bool) -> Vec<CommonPrefix> {
    page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(encode(p.clone(), url)) }).collect()
}

pub async fn list_objects_v2(
    api: &S3Api,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let url = url_mode(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let token_marker = match input.continuation_token.as_deref() {
        Some(t) => Some(
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
        ),
        None => None,
    };
    let after = token_marker.or_else(|| input.start_after.clone()).filter(|s| !s.is_empty());
    let query = ListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        max_keys: max,
        after,
    };
    // READ on the bucket (its ACL) lets others list it, as its owner would.
    let reader = api.engine.bucket_reader(&caller, &input.bucket).map_err(to_s3)?;
    let page = api.engine.list_objects(&reader, &input.bucket, &query).map_err(to_s3)?;
    let key_count = (page.objects.len() + page.common_prefixes.len()) as i32;
    let next = page.is_truncated.then(|| page.last.as_ref().map(|l| URL_SAFE_NO_PAD.encode(l))).flatten();
    let common_prefixes = prefixes(&page, url);
    let output = ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encode(input.prefix.unwrap_or_default(), url)),
        max_keys: Some(max as i32),
        key_count: Some(key_count),
        continuation_token: input.continuation_token,
        is_truncated: Some(page.is_truncated),
        next_continuation_token: next,
        contents: Some(contents(page.objects, url, input.fetch_owner.unwrap_or(false))),
        common_prefixes: Some(common_prefixes),
        delimiter: input.delimiter.map(|d| encode(d, url)),
        encoding_type: input.encoding_type,
        start_after: input.start_after.map(|s| encode(s, url)),
        request_charged: None,
    };
    Ok(S3Response::new(output))
}

pub async fn list_objects(api: &S3Api, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let url = url_mode(input.encoding_type.as_ref())?;
    let max = max_keys(input.max_keys)?;
    let query = ListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        max_keys: max,
        after: input.marker.clone().filter(|m| !m.is_empty()),
    };
    // READ on the bucket (its ACL) lets others list it, as its owner would.
    let reader = api.engine.bucket_reader(&caller, &input.bucket).map_err(to_s3)?;
    let page = api.engine.list_objects(&reader, &input.bucket, &query).map_err(to_s3)?;
    // S3 returns NextMarker only when a delimiter is used (otherwise the last key is the marker).
    let next_marker =
        (page.is_truncated && input.delimiter.is_some()).then(|| page.last.clone()).flatten().map(|m| encode(m, url));
    let common_prefixes = prefixes(&page, url);
    let output = ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(input.prefix.unwrap_or_default(), url)),
        marker: Some(encode(input.marker.unwrap_or_default(), url)),
        max_keys: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        contents: Some(contents(page.objects, url, true)),
        common_prefixes: Some(common_prefixes),
        delimiter: input.delimiter.map(|d| encode(d, url)),
        next_marker,
        encoding_type: input.encoding_type,
        request_charged: None,
    };
    Ok(S3Response::new(output))
}
