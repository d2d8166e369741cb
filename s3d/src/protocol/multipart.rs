//! Multipart upload operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, etag, etag_match};
use super::errors::to_s3;
use super::listing::{encode, url_mode};
use super::objects::{copy_source, declared_length, trailer_reader};
use super::service::S3Api;
use super::sse::{self, set_sse};
use crate::engine::checksum::ClaimedChecksum;
use crate::engine::checksum::{ChecksumAlgorithm as Algo, ChecksumType as ChecksumKind};
use crate::engine::ingest::Integrity;
use crate::engine::multipart::{CreateUpload, UploadListQuery};
use crate::engine::names::parse_tagging_header;
use crate::engine::object::WriteCondition;
use crate::engine::read::ReadConditions;

pub async fn create_multipart_upload(
    api: &S3Api,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let algorithm = match &input.checksum_algorithm {
        Some(a) => Some(
            Algo::parse(a.as_str())
                .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported."))?,
        ),
        None => None,
    };
    let requested_type = checksum_type_of(input.checksum_type.as_ref())?;
    let tags = match input.tagging.as_deref() {
        Some(h) => parse_tagging_header(h).map_err(to_s3)?,
        None => Vec::new(),
    };
    let (customer, encryption) = sse::write_encryption_of!(api, input)?;
    let acl = super::acl::acl_request_of!(api, input)?;
    let create = CreateUpload {
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
        checksum_algorithm: algorithm,
        checksum_type: requested_type,
        storage_class: input.storage_class.map(|s| s.as_str().to_string()),
        encryption,
        acl,
    };
    let created =
        api.engine.create_multipart_upload_sse(&caller, &input.bucket, &input.key, create).await.map_err(to_s3)?;
    let mut output = CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(created.id),
        checksum_algorithm: input.checksum_algorithm,
        checksum_type: created.checksum_type.map(|t| ChecksumType::from(t.as_str().to_string())),
        ..Default::default()
    };
    set_sse!(output, sse::out(created.encryption.as_ref(), customer.as_ref()));
    Ok(S3Response::new(output))
}

pub async fn upload_part(api: &S3Api, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let caller = api.caller(&req)?;
    let declared = declared_length(&req);
    let checksum = convert::request_checksum_of!(req)?;
    let trailer = if checksum.value.is_none() { trailer_reader(&req, checksum.trailer.as_deref()) } else { None };
    let input = req.input;
    let customer = sse::customer_key_of!(api, input)?;
    let integrity = Integrity {
        content_md5: input.content_md5,
        algorithm: checksum.algorithm,
        expected: checksum.value,
        declared_length: declared,
    };
    let part = api
        .engine
        .upload_part_sse(
            &caller,
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number as i64,
            convert::body_in(input.body),
            integrity,
            trailer,
            customer.as_ref(),
        )
        .await
        .map_err(to_s3)?;
    let (crc32, crc32c, crc64, sha1, sha256, _) = convert::checksum_fields(part.checksum.as_ref());
    let mut output = UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        ..Default::default()
    };
    set_sse!(output, sse::out(part.encryption.as_ref(), customer.as_ref()));
    Ok(S3Response::new(output))
}

pub async fn upload_part_copy(
    api: &S3Api,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let (src_bucket, src_key, src_version) = copy_source(&input.copy_source)?;
    let range =
        input.copy_source_range.as_deref().map(crate::engine::Engine::parse_copy_range).transpose().map_err(to_s3)?;
    let customer = sse::customer_key_of!(api, input)?;
    let cond = ReadConditions {
        if_match: etag_match(input.copy_source_if_match),
        if_none_match: etag_match(input.copy_source_if_none_match),
        if_modified_since: convert::time(input.copy_source_if_modified_since),
        if_unmodified_since: convert::time(input.copy_source_if_unmodified_since),
        customer_key: sse::customer_key_of!(api, input, copy_source)?,
    };
    let part = api
        .engine
        .upload_part_copy(
            &caller,
            (&src_bucket, &src_key, src_version.as_ref()),
            &input.bucket,
            &input.key,
            &input.upload_id,
            input.part_number as i64,
            range,
            &cond,
            customer.as_ref(),
        )
        .await
        .map_err(to_s3)?;
    let result = CopyPartResult {
        e_tag: Some(etag(&part.etag)),
        last_modified: Some(convert::timestamp(part.last_modified)),
        ..Default::default()
    };
    let mut output = UploadPartCopyOutput {
        copy_part_result: Some(result),
        copy_source_version_id: src_version.map(|v| v.as_str().to_string()),
        ..Default::default()
    };
    set_sse!(output, sse::out(part.encryption.as_ref(), customer.as_ref()));
    Ok(S3Response::new(output))
}

pub async fn complete_multipart_upload(
    api: &S3Api,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let claimed = claimed_checksum(&input)?;
    let parts = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
    let chosen = parts
        .into_iter()
        .map(|p| match (p.part_number, p.e_tag) {
            (Some(n), Some(e)) => Ok((n as i64, e.value().to_string())),
            _ => Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )),
        })
        .collect::<S3Result<Vec<_>>>()?;
    let cond = WriteCondition { if_match: etag_match(input.if_match), if_none_match: etag_match(input.if_none_match) };
    let customer = sse::customer_key_of!(api, input)?;
    let info = api
        .engine
        .complete_multipart_upload_sse(
            &caller,
            &input.bucket,
            &input.key,
            &input.upload_id,
            &chosen,
            &cond,
            customer.as_ref(),
            &claimed,
        )
        .await
        .map_err(to_s3)?;
    let (crc32, crc32c, crc64, sha1, sha256, kind) = convert::checksum_fields(info.checksum.as_ref());
    let encryption = sse::out(info.encryption.as_ref(), customer.as_ref());
    // s3s's output has no SSE-C members; S3 answers them as headers, as for the upload's other calls.
    let mut headers = http::HeaderMap::new();
    for (name, value) in [
        ("x-amz-server-side-encryption-customer-algorithm", &encryption.c_alg),
        ("x-amz-server-side-encryption-customer-key-md5", &encryption.c_md5),
    ] {
        if let Some(v) = value.as_deref().and_then(|v| http::HeaderValue::from_str(v).ok()) {
            headers.insert(name, v);
        }
    }
    let mut resp = S3Response::new(CompleteMultipartUploadOutput {
        server_side_encryption: encryption.sse,
        ssekms_key_id: encryption.kms_key_id,
        bucket_key_enabled: encryption.bucket_key,
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(etag(&info.etag)),
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_crc64nvme: crc64,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_type: kind,
        version_id: info.version_id.clone(),
        ..Default::default()
    });
    resp.headers = headers;
    Ok(resp)
}

/// The object checksum a Complete request states (`x-amz-checksum-type`, `x-amz-checksum-<algorithm>`).
fn claimed_checksum(input: &CompleteMultipartUploadInput) -> S3Result<ClaimedChecksum> {
    let checksum_type = checksum_type_of(input.checksum_type.as_ref())?;
    let value = first_checksum(convert::checksum_members!(input));
    let parts = input.multipart_upload.iter().flat_map(|m| m.parts.iter().flatten());
    let parts = parts
        .filter_map(|p| {
            let sum = first_checksum(convert::checksum_members!(p))?;
            Some((i64::from(p.part_number?), sum))
        })
        .collect();
    Ok(ClaimedChecksum { checksum_type, value, parts })
}

/// `x-amz-checksum-type`, parsed.
fn checksum_type_of(header: Option<&ChecksumType>) -> S3Result<Option<ChecksumKind>> {
    header
        .map(|t| {
            ChecksumKind::parse(t.as_str())
                .ok_or_else(|| s3_error!(InvalidRequest, "Value for x-amz-checksum-type header is invalid."))
        })
        .transpose()
}

/// The first checksum given among S3's five members.
fn first_checksum(members: [(Algo, &Option<String>); 5]) -> Option<(Algo, String)> {
    members.into_iter().find_map(|(algo, v)| v.clone().map(|v| (algo, v)))
}

pub async fn abort_multipart_upload(
    api: &S3Api,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let caller = api.caller(&req)?;
    let i = &req.input;
    api.engine.abort_multipart_upload(&caller, &i.bucket, &i.key, &i.upload_id).await.map_err(to_s3)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_parts(api: &S3Api, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let (upload, parts, truncated) =
        api.engine.list_parts(&caller, &input.bucket, &input.key, &input.upload_id, marker, max).map_err(to_s3)?;
    let next = parts.last().map(|p| p.number as i32);
    let parts = parts
        .into_iter()
        .map(|p| {
            let (crc32, crc32c, crc64, sha1, sha256, _) = convert::checksum_fields(p.checksum.as_ref());
            Part {
                e_tag: Some(etag(&p.etag)),
                last_modified: Some(convert::timestamp(p.last_modified)),
                part_number: Some(p.number as i32),
                size: Some(p.size as i64),
                checksum_crc32: crc32,
                checksum_crc32c: crc32c,
                checksum_crc64nvme: crc64,
                checksum_sha1: sha1,
                checksum_sha256: sha256,
            }
        })
        .collect();
    let owner = convert::owner(&upload.owner);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        max_parts: Some(max as i32),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next,
        is_truncated: Some(truncated),
        parts: Some(parts),
        initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
        owner: Some(owner),
        storage_class: Some(StorageClass::from(upload.storage_class)),
        checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
        checksum_type: upload.checksum_type.map(ChecksumType::from),
        ..Default::default()
    }))
}

pub async fn list_multipart_uploads(
    api: &S3Api,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    // With `encoding-type=url` S3 URL-encodes every key-bearing field of the answer (Key, Prefix,
    // Delimiter, KeyMarker, NextKeyMarker, CommonPrefixes), as in ListObjects.
    let url = url_mode(input.encoding_type.as_ref())?;
    let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
    let q = UploadListQuery {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone(),
        key_marker: input.key_marker.clone().filter(|m| !m.is_empty()),
        upload_id_marker: input.upload_id_marker.clone().filter(|m| !m.is_empty()),
        max_uploads: max,
    };
    let page = api.engine.list_multipart_uploads(&caller, &input.bucket, &q).map_err(to_s3)?;
    let last = page.uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
    let uploads = page
        .uploads
        .into_iter()
        .map(|u| {
            let owner = convert::owner(&u.owner);
            MultipartUpload {
                initiated: Some(convert::timestamp(u.initiated)),
                initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
                key: Some(encode(u.key, url)),
                owner: Some(owner),
                storage_class: Some(StorageClass::from(u.storage_class)),
                upload_id: Some(u.upload_id),
                checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                checksum_type: u.checksum_type.map(ChecksumType::from),
            }
        })
        .collect();
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix.map(|p| encode(p, url)),
        delimiter: input.delimiter.map(|d| encode(d, url)),
        key_marker: input.key_marker.map(|k| encode(k, url)),
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        next_key_marker: page.is_truncated.then(|| last.as_ref().map(|l| encode(l.0.clone(), url))).flatten(),
        next_upload_id_marker: page.is_truncated.then(|| last.as_ref().map(|l| l.1.clone())).flatten(),
        uploads: Some(uploads),
        common_prefixes: Some(
            page.common_prefixes.into_iter().map(|p| CommonPrefix { prefix: Some(encode(p, url)) }).collect(),
        ),
        encoding_type: input.encoding_type,
        request_charged: None,
    }))
}
