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
                    .map(|(n, size)| ObjectPart {
                        part_number: Some(n as i32),
                        size: Some(size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
        }
    });
    Ok(S3Response::new(GetObjectAttributesOutput {
        // S3 sends this one ETag unquoted; s3s's XML always quotes ETags.
        e_tag: wants(ObjectAttributes::ETAG).then(|| convert::etag(&info.etag)),
        checksum,
        object_parts,
        storage_class: wants(ObjectAttributes::STORAGE_CLASS).then(|| StorageClass::from(info.storage_class.clone())),
        object_size: wants(ObjectAttributes::OBJECT_SIZE).then_some(info.size as i64),
        last_modified: Some(convert::timestamp(info.last_modified)),
        version_id: info.version_id.clone().or_else(|| version.as_ref().map(|v| v.as_str().to_string())),
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::parts_page;

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
