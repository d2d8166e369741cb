//! Object operations: PUT (incl. browser POST uploads, which s3s turns into PutObject), GET, HEAD,
//! DELETE, batch DELETE, COPY and tagging.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, etag, etag_match, version};
use super::errors::to_s3;
use super::post_form;
use super::service::S3Api;
use super::sse::{self, set_sse};
use crate::engine::ingest::{Integrity, TrailerReader};
use crate::engine::names::parse_tagging_header;
use crate::engine::object::{CopyRequest, ObjectInfo, PutRequest, WriteCondition};
use crate::engine::read::ReadConditions;
use crate::engine::versioning::VersionRef;
use crate::engine::{Caller, EngineError};

/// Reads the named checksum trailer once the body has been consumed (see [`TrailerReader`]): the
/// trailers must be that one alone, as S3 requires.
pub(crate) fn trailer_reader<T>(req: &S3Request<T>, name: Option<&str>) -> Option<TrailerReader> {
    let (handle, name) = (req.trailing_headers.clone()?, name?.to_string());
    Some(Box::new(move || {
        handle
            .read(|h| {
                let only = h.len() == 1 && h.keys_len() == 1;
                let value = h.get(name.as_str()).and_then(|v| v.to_str().ok());
                value.filter(|_| only).map(|s| s.trim().to_string())
            })
            .flatten()
    }))
}

/// The body length the client declared (decoded length for aws-chunked bodies).
pub(crate) fn declared_length<T>(req: &S3Request<T>) -> Option<u64> {
    if req.method == http::Method::POST {
        return None; // a browser upload's Content-Length is the whole form's
    }
    let h = &req.headers;
    let v = h.get("x-amz-decoded-content-length").or_else(|| h.get(http::header::CONTENT_LENGTH))?;
    v.to_str().ok()?.parse().ok()
}

pub async fn put_object(api: &S3Api, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let caller = api.caller(&req)?;
    let declared = declared_length(&req);
    let checksum = convert::request_checksum_of!(req)?;
    let trailer = if checksum.value.is_none() { trailer_reader(&req, checksum.trailer.as_deref()) } else { None };
    let form_key = post_form::key_with_filename(&req.input.key, req.extensions.get());
    let mut input = req.input;
    if let Some(key) = form_key {
        input.key = key;
    }
    let (customer, encryption) = sse::write_encryption_of!(api, input)?;
    let acl = super::acl::acl_request_of!(api, input)?;
    let tags = match input.tagging.as_deref() {
        Some(h) => parse_tagging_header(h).map_err(to_s3)?,
        None => Vec::new(),
    };
    let put = PutRequest {
        headers: convert::content_headers(
            input.content_type,
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires,
        ),
        user_metadata: convert::user_metadata(input.metadata),
        tags,
        integrity: Integrity {
            content_md5: input.content_md5,
            algorithm: checksum.algorithm,
            expected: checksum.value,
            declared_length: declared,
        },
        storage_class: input.storage_class.map(|s| s.as_str().to_string()),
        condition: WriteCondition {
            if_match: etag_match(input.if_match),
            if_none_match: etag_match(input.if_none_match),
        },
        encryption,
        acl,
    };
    let info = api
        .engine
        .put_object(&caller, &input.bucket, &input.key, convert::body_in(input.body), put, trailer)
        .await
        .map_err(to_s3)?;
    let (crc32, crc32c, crc64, sha1, sha256, kind) = convert::checksum_fields(info.checksum.as_ref());
    let mut output = PutObjectOutput {
        e_tag: Some(etag(&info.etag)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type: kind,
        version_id: info.version_id.clone(),
        ..Default::default()
    };
    set_sse!(output, sse::out(info.encryption.as_ref(), customer.as_ref()));
    Ok(S3Response::new(output))
}

fn conditions(
    m: Option<IfMatch>,
    n: Option<IfNoneMatch>,
    ms: Option<Timestamp>,
    us: Option<Timestamp>,
) -> ReadConditions {
    ReadConditions {
        if_match: etag_match(m),
        if_none_match: etag_match(n),
        if_modified_since: convert::time(ms),
        if_unmodified_since: convert::time(us),
        customer_key: None,
    }
}

fn part_number(n: Option<i32>) -> S3Result<Option<u32>> {
    n.map(|n| {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| s3_error!(InvalidArgument, "Part number must be an integer between 1 and 10000, inclusive"))
    })
    .transpose()
}

/// Checksums are returned for whole-object reads with `x-amz-checksum-mode: ENABLED`.
fn returned_checksum<'a>(
    info: &'a ObjectInfo,
    mode: Option<&ChecksumMode>,
    whole: bool,
) -> Option<&'a crate::store::meta::ChecksumRecord> {
    (whole && mode.is_some_and(|m| m.as_str() == ChecksumMode::ENABLED)).then_some(info.checksum.as_ref()).flatten()
}

pub async fn get_object(api: &S3Api, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let version = version(input.version_id.as_deref())?;
    let mut cond = conditions(input.if_match, input.if_none_match, input.if_modified_since, input.if_unmodified_since);
    cond.customer_key = sse::customer_key_of!(api, input)?;
    sse::check_read_headers(&req.headers, cond.customer_key.as_ref())?;
    let part = part_number(input.part_number)?;
    let range = convert::range(input.range);
    let get = |who| api.engine.get_object(who, &input.bucket, &input.key, version.as_ref(), &cond, range, part);
    let opened = match get(&caller).await {
        // Not the bucket's owner: an object ACL granting READ lets them read it as the owner would.
        Err(EngineError::AccessDenied) => {
            let reader =
                api.engine.object_reader(&caller, &input.bucket, &input.key, version.as_ref()).map_err(to_s3)?;
            let opened = get(&reader).await.map_err(to_s3)?;
            if !opened.info.readable_by(&caller.user) {
                return Err(to_s3(EngineError::AccessDenied)); // overwritten since the check
            }
            opened
        }
        other => other.map_err(to_s3)?,
    };
    let info = &opened.info;
    let (length, content_range) = match &opened.range {
        Some(r) => (r.end - r.start, Some(format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), info.size))),
        None => (info.size, None),
    };
    let (crc32, crc32c, crc64, sha1, sha256, kind) =
        convert::checksum_fields(returned_checksum(info, input.checksum_mode.as_ref(), opened.range.is_none()));
    let mut output = GetObjectOutput {
        accept_ranges: Some("bytes".into()),
        cache_control: info.headers.cache_control.clone(),
        content_disposition: info.headers.content_disposition.clone(),
        content_encoding: info.headers.content_encoding.clone(),
        content_language: info.headers.content_language.clone(),
        content_type: convert::content_type_out(&info.headers),
        expires: convert::expires_out(&info.headers),
        content_length: Some(length as i64),
        content_range,
        e_tag: Some(etag(&info.etag)),
        last_modified: Some(convert::timestamp(info.last_modified)),
        metadata: convert::metadata_out(&info.user_metadata),
        tag_count: (info.tag_count > 0).then_some(info.tag_count as i32),
        parts_count: part.and(info.parts_count.map(|n| n as i32)),
        storage_class: (info.storage_class != "STANDARD").then(|| StorageClass::from(info.storage_class.clone())),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type: kind,
        version_id: info.version_id.clone().or_else(|| version.as_ref().map(|v| v.as_str().to_string())),
        restore: info.restore.clone(),
        body: Some(convert::body_out(opened.body)),
        ..Default::default()
    };
    set_sse!(output, sse::out(info.encryption.as_ref(), cond.customer_key.as_ref()));
    Ok(S3Response::new(output))
}

/// `read` as the caller or, when the caller does not own the bucket, as its owner if the object's ACL
/// grants the caller READ (checked on the version read, so one overwritten in between is refused).
pub(super) fn read_granted<T>(
    api: &S3Api,
    caller: &Caller,
    bucket: &str,
    key: &str,
    version: Option<&VersionRef>,
    read: impl Fn(&Caller) -> Result<T, EngineError>,
    info: impl Fn(&T) -> &ObjectInfo,
) -> S3Result<T> {
    match read(caller) {
        Err(EngineError::AccessDenied) => {
            let reader = api.engine.object_reader(caller, bucket, key, version).map_err(to_s3)?;
            let found = read(&reader).map_err(to_s3)?;
            if !info(&found).readable_by(&caller.user) {
                return Err(to_s3(EngineError::AccessDenied));
            }
            Ok(found)
        }
        other => other.map_err(to_s3),
    }
}

pub async fn head_object(api: &S3Api, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let version = version(input.version_id.as_deref())?;
    let mut cond = conditions(input.if_match, input.if_none_match, input.if_modified_since, input.if_unmodified_since);
    cond.customer_key = sse::customer_key_of!(api, input)?;
    sse::check_read_headers(&req.headers, cond.customer_key.as_ref())?;
    let part = part_number(input.part_number)?;
    let range = convert::range(input.range);
    let head =
        |who: &Caller| api.engine.head_object(who, &input.bucket, &input.key, version.as_ref(), &cond, range, part);
    let (info, selected) =
        read_granted(api, &caller, &input.bucket, &input.key, version.as_ref(), head, |found| &found.0)?;
    let (length, content_range) = match &selected {
        Some(r) => (r.end - r.start, Some(format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), info.size))),
        None => (info.size, None),
    };
    let (crc32, crc32c, crc64, sha1, sha256, kind) =
        convert::checksum_fields(returned_checksum(&info, input.checksum_mode.as_ref(), selected.is_none()));
    let partial = content_range.is_some();
    let mut output = HeadObjectOutput {
        accept_ranges: Some("bytes".into()),
        cache_control: info.headers.cache_control.clone(),
        content_disposition: info.headers.content_disposition.clone(),
        content_encoding: info.headers.content_encoding.clone(),
        content_language: info.headers.content_language.clone(),
        content_type: convert::content_type_out(&info.headers),
        expires: convert::expires_out(&info.headers),
        content_length: Some(length as i64),
        content_range,
        e_tag: Some(etag(&info.etag)),
        last_modified: Some(convert::timestamp(info.last_modified)),
        metadata: convert::metadata_out(&info.user_metadata),
        parts_count: part.and(info.parts_count.map(|n| n as i32)),
        storage_class: (info.storage_class != "STANDARD").then(|| StorageClass::from(info.storage_class.clone())),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type: kind,
        version_id: info.version_id.clone().or_else(|| version.as_ref().map(|v| v.as_str().to_string())),
        restore: info.restore.clone(),
        ..Default::default()
    };
    set_sse!(output, sse::out(info.encryption.as_ref(), cond.customer_key.as_ref()));
    let mut resp = S3Response::new(output);
    if partial {
        // s3s sends every HeadObject as 200; S3 answers a ranged HEAD 206, as the GET it describes.
        resp.extensions.insert(super::StatusOverride(http::StatusCode::PARTIAL_CONTENT));
    }
    Ok(resp)
}

pub async fn delete_object(api: &S3Api, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
    let caller = api.caller(&req)?;
    let version = version(req.input.version_id.as_deref())?;
    let outcome =
        api.engine.delete_object(&caller, &req.input.bucket, &req.input.key, version.as_ref()).await.map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteObjectOutput {
        delete_marker: outcome.delete_marker.then_some(true),
        version_id: outcome.version_id,
        ..Default::default()
    });
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

/// S3 accepts at most 1000 keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_objects(
    api: &S3Api,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let objects = input.delete.objects;
    if objects.is_empty() || objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    let mut targets = Vec::new();
    let mut bad_versions = Vec::new();
    for o in &objects {
        match version(o.version_id.as_deref()) {
            Ok(v) => targets.push((o.key.clone(), v)),
            Err(_) => bad_versions.push(o),
        }
    }
    let results = api.engine.delete_objects(&caller, &input.bucket, &targets).await.map_err(to_s3)?;
    for ((key, asked), result) in targets.into_iter().zip(results) {
        match result {
            Ok(outcome) if !quiet => {
                // A removed version is reported as VersionId; a created or removed delete marker's id
                // as DeleteMarkerVersionId.
                deleted.push(DeletedObject {
                    key: Some(key),
                    version_id: asked.map(|v| v.as_str().to_string()),
                    delete_marker: outcome.delete_marker.then_some(true),
                    delete_marker_version_id: if outcome.delete_marker { outcome.version_id } else { None },
                })
            }
            Ok(_) => {}
            Err(e) => {
                let e = to_s3(e);
                errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(key),
                    message: e.message().map(String::from),
                    version_id: asked.map(|v| v.as_str().to_string()),
                });
            }
        }
    }
    for o in bad_versions {
        errors.push(Error {
            code: Some("NoSuchVersion".into()),
            key: Some(o.key.clone()),
            message: Some("The specified version does not exist.".into()),
            version_id: o.version_id.clone(),
        });
    }
    Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), ..Default::default() }))
}

pub(crate) fn copy_source(src: &CopySource) -> S3Result<(String, String, Option<VersionRef>)> {
    match src {
        CopySource::Bucket { bucket, key, version_id } => {
            let v = version(version_id.as_deref())?;
            Ok((bucket.to_string(), key.to_string(), v))
        }
        _ => Err(s3_error!(NotImplemented, "Access point and Outposts copy sources are not supported")),
    }
}

pub async fn copy_object(api: &S3Api, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
    let source_key = sse::customer_key_of!(api, input, copy_source)?;
    let (customer, encryption) = sse::write_encryption_of!(api, input)?;
    let acl = super::acl::acl_request_of!(api, input)?;
    let replace = input.metadata_directive.as_ref().is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let replace_tags = input.tagging_directive.as_ref().is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    let tags = match (replace_tags, input.tagging.as_deref()) {
        (true, Some(h)) => Some(parse_tagging_header(h).map_err(to_s3)?),
        (true, None) => Some(Vec::new()),
        (false, _) => None,
    };
    let req = CopyRequest {
        replace_metadata: replace.then(|| {
            (
                convert::content_headers(
                    input.content_type,
                    input.cache_control,
                    input.content_disposition,
                    input.content_encoding,
                    input.content_language,
                    input.expires,
                ),
                convert::user_metadata(input.metadata),
            )
        }),
        replace_tags: tags,
        source_conditions: ReadConditions {
            customer_key: source_key,
            ..conditions(
                input.copy_source_if_match,
                input.copy_source_if_none_match,
                input.copy_source_if_modified_since,
                input.copy_source_if_unmodified_since,
            )
        },
        storage_class: input.storage_class.map(|s| s.as_str().to_string()),
        encryption,
        acl,
    };
    let info = api
        .engine
        .copy_object(&caller, (&src_bucket, &src_key, src_version.as_ref()), (&input.bucket, &input.key), req)
        .await
        .map_err(to_s3)?;
    let (crc32, crc32c, crc64, sha1, sha256, kind) = convert::checksum_fields(info.checksum.as_ref());
    let result = CopyObjectResult {
        e_tag: Some(etag(&info.etag)),
        last_modified: Some(convert::timestamp(info.last_modified)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type: kind,
    };
    let mut output = CopyObjectOutput {
        copy_object_result: Some(result),
        copy_source_version_id: src_version.map(|v| v.as_str().to_string()),
        version_id: info.version_id.clone(),
        ..Default::default()
    };
    set_sse!(output, sse::out(info.encryption.as_ref(), customer.as_ref()));
    Ok(S3Response::new(output))
}

pub async fn get_object_tagging(
    api: &S3Api,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let caller = api.caller(&req)?;
    let version = version(req.input.version_id.as_deref())?;
    let (tags, version_id) =
        api.engine.get_object_tagging(&caller, &req.input.bucket, &req.input.key, version.as_ref()).map_err(to_s3)?;
    let tag_set = tags.into_iter().map(|(k, v)| Tag { key: Some(k), value: Some(v) }).collect();
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set, version_id: version_id.or(version.map(|_| "null".into())) }))
}

/// A Tagging body's tags as (key, value) pairs; a tag without a key is S3's InvalidTag.
pub(super) fn tag_pairs(tag_set: Vec<Tag>) -> S3Result<Vec<(String, String)>> {
    tag_set
        .into_iter()
        .map(|t| match (t.key, t.value) {
            (Some(k), v) => Ok((k, v.unwrap_or_default())),
            (None, _) => Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid")),
        })
        .collect()
}

pub async fn put_object_tagging(
    api: &S3Api,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let caller = api.caller(&req)?;
    let version = version(req.input.version_id.as_deref())?;
    let input = req.input;
    let tags = tag_pairs(input.tagging.tag_set)?;
    let version_id = api
        .engine
        .put_object_tagging(&caller, &input.bucket, &input.key, version.as_ref(), tags)
        .await
        .map_err(to_s3)?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
}

pub async fn delete_object_tagging(
    api: &S3Api,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let caller = api.caller(&req)?;
    let version = version(req.input.version_id.as_deref())?;
    let version_id = api
        .engine
        .put_object_tagging(&caller, &req.input.bucket, &req.input.key, version.as_ref(), Vec::new())
        .await
        .map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteObjectTaggingOutput { version_id });
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
