//! The one place where engine errors become S3 wire errors (code, HTTP status, message).

use s3s::{S3Error, S3ErrorCode};

use crate::engine::EngineError;
use crate::engine::sse::SseError;
use crate::engine::sse::kms::KmsError;

/// S3's code for a body whose SHA-256 is not the request's `x-amz-content-sha256`.
pub const PAYLOAD_HASH_MISMATCH: &str = "XAmzContentSHA256Mismatch";

pub fn to_s3(err: EngineError) -> S3Error {
    use EngineError as E;
    use S3ErrorCode as C;
    let message = err.to_string();
    let (code, status) = match &err {
        E::NoSuchBucket => (C::NoSuchBucket, 404),
        E::NoSuchKey => (C::NoSuchKey, 404),
        E::NoSuchUpload => (C::NoSuchUpload, 404),
        E::NoSuchVersion => (C::NoSuchVersion, 404),
        E::LatestIsDeleteMarker { version_id } => {
            let mut e = S3Error::with_message(C::NoSuchKey, message);
            e.set_status_code(http::StatusCode::NOT_FOUND);
            e.set_headers(delete_marker_headers(version_id, None));
            return e;
        }
        E::VersionIsDeleteMarker { version_id, last_modified } => {
            let mut e = S3Error::with_message(C::MethodNotAllowed, message);
            e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
            e.set_headers(delete_marker_headers(version_id, Some(*last_modified)));
            return e;
        }
        E::BucketAlreadyExists => (C::BucketAlreadyExists, 409),
        E::BucketAlreadyOwnedByYou => (C::BucketAlreadyOwnedByYou, 409),
        E::BucketNotEmpty => (C::BucketNotEmpty, 409),
        E::InvalidBucketName(_) => (C::InvalidBucketName, 400),
        E::AccessDenied => (C::AccessDenied, 403),
        E::InvalidRange { size } => {
            let mut e = S3Error::with_message(C::InvalidRange, message);
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = format!("bytes */{size}").parse() {
                headers.insert(http::header::CONTENT_RANGE, v);
            }
            e.set_headers(headers);
            return e;
        }
        E::PreconditionFailed => (C::PreconditionFailed, 412),
        E::NotModified { etag, last_modified } => {
            let mut e = S3Error::with_message(C::NotModified, message);
            e.set_status_code(http::StatusCode::NOT_MODIFIED);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = format!("\"{etag}\"").parse() {
                headers.insert(http::header::ETAG, v);
            }
            if let Ok(v) = httpdate_of(*last_modified).parse() {
                headers.insert(http::header::LAST_MODIFIED, v);
            }
            e.set_headers(headers);
            return e;
        }
        E::BadDigest | E::ChecksumMismatch(_) => (C::BadDigest, 400),
        E::InvalidDigest => (C::InvalidDigest, 400),
        E::MalformedTrailer => (C::Custom("MalformedTrailerError".into()), 400),
        E::InvalidArgument(_) => (C::InvalidArgument, 400),
        E::InvalidRequest(_) | E::NotArchivable(_) => (C::InvalidRequest, 400),
        E::MetadataTooLarge => (C::MetadataTooLarge, 400),
        E::InvalidTag(_) => (C::InvalidTag, 400),
        E::EntityTooSmall => (C::EntityTooSmall, 400),
        E::EntityTooLarge => (C::EntityTooLarge, 400),
        E::InvalidPart(_) => (C::InvalidPart, 400),
        E::InvalidPartOrder => (C::InvalidPartOrder, 400),
        E::MalformedXml => (C::MalformedXML, 400),
        E::IncompleteBody => (C::IncompleteBody, 400),
        E::PayloadHashMismatch => (C::Custom(PAYLOAD_HASH_MISMATCH.into()), 400),
        E::RequestTimeout => (C::RequestTimeout, 400),
        E::InvalidStorageClass => (C::InvalidStorageClass, 400),
        E::InvalidPartNumber => (C::Custom("InvalidPartNumber".into()), 416),
        E::KeyTooLong => (C::KeyTooLongError, 400),
        E::Sse(e) => sse_code(e),
        E::InvalidObjectState(_) => (C::InvalidObjectState, 403),
        E::RestoreAlreadyInProgress => (C::RestoreAlreadyInProgress, 409),
        E::NoSuchLifecycleConfiguration => (C::NoSuchLifecycleConfiguration, 404),
        E::NoSuchTagSet => (C::NoSuchTagSet, 404),
        E::NoSuchCorsConfiguration => (C::NoSuchCORSConfiguration, 404),
        E::AccessControlListNotSupported => (C::AccessControlListNotSupported, 400),
        E::InvalidBucketAclWithObjectOwnership => (C::InvalidBucketAclWithObjectOwnership, 400),
        E::OwnershipControlsNotFound => (C::OwnershipControlsNotFoundError, 404),
        E::MalformedAcl => (C::MalformedACLError, 400),
        E::UnresolvableGrantByEmailAddress => (C::UnresolvableGrantByEmailAddress, 400),
        E::MissingSecurityHeader => (C::MissingSecurityHeader, 400),
        E::UnexpectedContent => (C::UnexpectedContent, 400),
        E::Io(_) | E::Meta(_) => {
            tracing::error!(error = %err, "internal error");
            (C::InternalError, 500)
        }
    };
    let mut e = S3Error::with_message(
        code,
        if status == 500 { "We encountered an internal error. Please try again.".to_string() } else { message },
    );
    if let Ok(s) = http::StatusCode::from_u16(status) {
        e.set_status_code(s);
    }
    e
}

/// Encryption errors as S3 reports them; the local KMS's errors carry S3's `KMS.` prefix.
fn sse_code(e: &SseError) -> (S3ErrorCode, u16) {
    use S3ErrorCode as C;
    match e {
        SseError::Kms(k) => match k {
            KmsError::NotFound(_) => (C::Custom("KMS.NotFoundException".into()), 400),
            KmsError::Disabled(_) => (C::Custom("KMS.DisabledException".into()), 400),
            KmsError::InvalidCiphertext(_) => (C::Custom("KMS.InvalidCiphertextException".into()), 400),
            KmsError::IncorrectKey(_) => (C::Custom("KMS.IncorrectKeyException".into()), 400),
            KmsError::Io(_) => {
                tracing::error!(error = %e, "KMS storage error");
                (C::InternalError, 500)
            }
            _ => (C::InvalidArgument, 400),
        },
        SseError::CustomerKeyRequired | SseError::NotApplicable => (C::InvalidRequest, 400),
        SseError::WrongCustomerKey => (C::AccessDenied, 403),
        SseError::NoBucketEncryption => (C::ServerSideEncryptionConfigurationNotFoundError, 404),
        SseError::MasterKeyMissing(_) | SseError::Corrupt => {
            tracing::error!(error = %e, "cannot unwrap a data key");
            (C::InternalError, 500)
        }
    }
}

/// What S3 sends with an answer about a delete marker.
fn delete_marker_headers(version_id: &Option<String>, last_modified: Option<time::OffsetDateTime>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = super::convert::version_out(version_id).parse() {
        headers.insert("x-amz-version-id", v);
    }
    if let Some(t) = last_modified
        && let Ok(v) = httpdate_of(t).parse()
    {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    headers
}

fn httpdate_of(t: time::OffsetDateTime) -> String {
    let secs = t.unix_timestamp().max(0) as u64;
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_s3() {
        let cases = [
            (EngineError::NoSuchBucket, 404, "NoSuchBucket"),
            (EngineError::BucketNotEmpty, 409, "BucketNotEmpty"),
            (EngineError::InvalidRange { size: 3 }, 416, "InvalidRange"),
            (EngineError::PreconditionFailed, 412, "PreconditionFailed"),
            (EngineError::ChecksumMismatch("CRC32"), 400, "BadDigest"),
            (EngineError::AccessDenied, 403, "AccessDenied"),
            (EngineError::EntityTooSmall, 400, "EntityTooSmall"),
            (EngineError::AccessControlListNotSupported, 400, "AccessControlListNotSupported"),
            (EngineError::InvalidBucketAclWithObjectOwnership, 400, "InvalidBucketAclWithObjectOwnership"),
            (EngineError::OwnershipControlsNotFound, 404, "OwnershipControlsNotFoundError"),
            (EngineError::LatestIsDeleteMarker { version_id: None }, 404, "NoSuchKey"),
            (
                EngineError::VersionIsDeleteMarker {
                    version_id: None,
                    last_modified: time::OffsetDateTime::UNIX_EPOCH,
                },
                405,
                "MethodNotAllowed",
            ),
        ];
        for (err, status, code) in cases {
            let e = to_s3(err);
            assert_eq!(e.status_code().unwrap().as_u16(), status);
            assert_eq!(e.code().as_str(), code);
        }
    }
}
