//! GetObjectAttributes: what HEAD tells, chosen by `x-amz-object-attributes`, in XML, plus a page of
//! a multipart object's parts (the only way to learn their sizes without reading them).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::convert::{self, version};
use super::service::S3Api;
use super::sse;
use crate::engine::Caller;
use crate::engine::read::ReadConditions;

const NAMES: [&str; 5] = [
    ObjectAttributes::ETAG,
    ObjectAttributes::CHECKSUM,
    ObjectAttributes::OBJECT_PARTS,
    ObjectAttributes::STORAGE_CLASS,
    ObjectAttributes::OBJECT_SIZE,
];
/// Parts per page when the request names no `x-amz-max-parts`.
const DEFAULT_MAX_PARTS: usize = 1000;

/// Part numbers after `marker`, at most `max` of them: (page, whether more follow).
fn parts_page(sizes: &[u64], marker: u32, max: usize) -> (Vec<(u32, u64)>, bool) {
    let mut rest = (1u32..).zip(sizes.iter().copied()).skip(marker as usize);
    let page: Vec<(u32, u64)> = rest.by_ref().take(max).collect();
    (page, rest.next().is_some())
}

pub async fn get_object_attributes(
    api: &S3Api,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    // One header, comma-separated (s3s hands it over unsplit), or repeated.
    let wanted: Vec<&str> = input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).map(str::trim).collect();
    if wanted.iter().any(|w| !NAMES.contains(w)) {
        return Err(s3_error!(InvalidArgument, "Invalid attribute name specified."));
    }
    let version = version(input.version_id.as_deref())?;
    let cond = ReadConditions { customer_key: sse::customer_key_of!(api, input)?, ..Default::default() };
    let attributes =
        |who: &Caller| api.engine.object_attributes(who, &input.bucket, &input.key, version.as_ref(), &cond);
    let (info, parts) =
        super::objects::read_granted(api, &caller, &input.bucket, &input.key, version.as_ref(), attributes, |f| &f.0)?;
    let wants = |name: &str| wanted.contains(&name);
    let checksum = info.checksum.as_ref().filter(|_| wants(ObjectAttributes::CHECKSUM)).map(|c| {
        let (crc32, crc32c, crc64, sha1, sha256, kind) = convert::checksum_fields(Some(c));
        Checksum {
            checksum_crc32: crc32,
            checksum_crc32c: crc32c,
            checksum_crc64nvme: crc64,
            checksum_sha1: sha1,
            checksum_sha256: sha256,
            checksum_type: kind,
        }
    });
    let part_checksums = info.checksum.as_ref().map(|c| (c.algorithm.as_str(), c.parts.as_slice()));
    let object_parts = parts.filter(|_| wants(ObjectAttributes::OBJECT_PARTS)).map(|sizes| {
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let max = input.max_parts.map_or(DEFAULT_MAX_PARTS, |m| m.clamp(0, 1000) as usize);
        let (page, truncated) = parts_page(&sizes, marker, max);
        GetObjectAttributesParts {
            total_parts_count: Some(sizes.len() as i32),
            part_number_marker: Some(marker as i32),
            next_part_number_marker: page.last().map(|(n, _)| *n as i32),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(
                page.into_iter()
                    .map(|(n, size)| {
                        let sum = part_checksums.and_then(|(algo, values)| Some((algo, values.get(n as usize - 1)?)));
                        let (crc32, crc32c, crc64, sha1, sha256) = convert::checksum_by_algorithm(sum);
                        ObjectPart {
                            part_number: Some(n as i32),
                            size: Some(size as i64),
                            checksum_crc32: crc32,
                            checksum_crc32c: crc32c,
                            checksum_crc64nvme: crc64,
                            checksum_sha1: sha1,
                            checksum_sha256: sha256,
                        }
                    })
                    .collect(),
            ),
        }
    });
    let mut resp = S3Response::new(GetObjectAttributesOutput {
        e_tag: wants(ObjectAttributes::ETAG).then(|| convert::etag(&info.etag)),
        checksum,
        object_parts,
        storage_class: wants(ObjectAttributes::STORAGE_CLASS).then(|| StorageClass::from(info.storage_class.clone())),
        object_size: wants(ObjectAttributes::OBJECT_SIZE).then_some(info.size as i64),
        last_modified: Some(convert::timestamp(info.last_modified)),
        version_id: info.version_id.clone().or_else(|| version.as_ref().map(|v| v.as_str().to_string())),
        ..Default::default()
    });
    resp.extensions.insert(UnquotedEtag);
    Ok(resp)
}

/// Marks a GetObjectAttributes answer: S3 sends its ETag element unquoted (the only place it does),
/// while s3s's XML always quotes ETags, so the body is corrected on its way out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnquotedEtag;

/// Largest GetObjectAttributes body corrected (1,000 parts with every checksum is ~200 KB).
const MAX_ATTRIBUTES_BODY: usize = 1 << 20;

/// Drops the quotes around the value of the body's `<ETag>` element.
pub(crate) async fn unquote_etag(response: axum::response::Response) -> axum::response::Response {
    use http_body_util::BodyExt;
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = http_body_util::Limited::new(body, MAX_ATTRIBUTES_BODY).collect().await else {
        parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        return axum::response::Response::from_parts(parts, axum::body::Body::empty());
    };
    let xml = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    parts.headers.remove(http::header::CONTENT_LENGTH);
    axum::response::Response::from_parts(parts, axum::body::Body::from(unquoted(&xml)))
}

fn unquoted(xml: &str) -> String {
    for quote in ["&quot;", "\""] {
        let (open, close) = (format!("<ETag>{quote}"), format!("{quote}</ETag>"));
        if let Some(start) = xml.find(&open)
            && let Some(len) = xml[start + open.len()..].find(&close)
        {
            let value = &xml[start + open.len()..start + open.len() + len];
            return format!("{}<ETag>{value}</ETag>{}", &xml[..start], &xml[start + open.len() + len + close.len()..]);
        }
    }
    xml.to_string()
}

#[cfg(test)]
mod tests {
    use super::{parts_page, unquoted};

    #[test]
    fn the_etag_element_loses_its_quotes_and_nothing_else_changes() {
        let xml = "<GetObjectAttributesOutput><ETag>&quot;abc-2&quot;</ETag><ObjectSize>3</ObjectSize>";
        assert_eq!(unquoted(xml), "<GetObjectAttributesOutput><ETag>abc-2</ETag><ObjectSize>3</ObjectSize>");
        assert_eq!(unquoted("<A><ETag>\"d41d\"</ETag></A>"), "<A><ETag>d41d</ETag></A>");
        assert_eq!(unquoted("<A><ObjectSize>3</ObjectSize></A>"), "<A><ObjectSize>3</ObjectSize></A>");
    }

    #[test]
    fn parts_come_in_pages_after_the_marker() {
        let sizes = [5, 5, 5, 2];
        assert_eq!(parts_page(&sizes, 0, 1000), (vec![(1, 5), (2, 5), (3, 5), (4, 2)], false));
        assert_eq!(parts_page(&sizes, 0, 2), (vec![(1, 5), (2, 5)], true));
        assert_eq!(parts_page(&sizes, 2, 2), (vec![(3, 5), (4, 2)], false));
        assert_eq!(parts_page(&sizes, 4, 2), (vec![], false));
        assert_eq!(parts_page(&sizes, 0, 0), (vec![], true));
    }
}
