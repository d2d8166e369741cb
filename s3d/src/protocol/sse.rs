//! Server-side encryption on the wire: the `x-amz-server-side-encryption*` request headers (SSE-S3,
//! SSE-KMS, SSE-C and their copy-source forms) checked as S3 checks them, the response headers that
//! describe an object's encryption, and Put/Get/DeleteBucketEncryption.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::Digest;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::errors::to_s3;
use super::service::S3Api;
use crate::engine::sse::kms::Context;
use crate::engine::sse::{CustomerKey, EncryptionSummary, SseRequest};
use crate::store::encryption::BucketEncryptionRecord;

fn invalid_argument(msg: &str) -> S3Error {
    s3_error!(InvalidArgument, "{msg}")
}

/// The SSE-C key of a request (`x-amz-server-side-encryption-customer-*`, or the `copy-source`
/// forms), checked like S3: all three headers, AES256, a 32-byte key matching its MD5, over TLS.
pub fn customer_key(
    api: &S3Api,
    algorithm: Option<&str>,
    key: Option<&str>,
    key_md5: Option<&str>,
) -> S3Result<Option<CustomerKey>> {
    if algorithm.is_none() && key.is_none() && key_md5.is_none() {
        return Ok(None);
    }
    if !api.sse_c_allowed {
        return Err(s3_error!(
            InvalidRequest,
            "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
        ));
    }
    let algorithm = algorithm.ok_or_else(|| {
        invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
        )
    })?;
    if algorithm != "AES256" {
        return Err(S3Error::with_message(
            S3ErrorCode::InvalidEncryptionAlgorithmError,
            "The Encryption request you specified is not valid. Supported value: AES256.",
        ));
    }
    let key = key.ok_or_else(|| {
        invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
        )
    })?;
    let key_md5 = key_md5.ok_or_else(|| {
        invalid_argument(
            "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
        )
    })?;
    let raw: [u8; 32] = B64
        .decode(key.trim())
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| invalid_argument("The secret key was invalid for the specified algorithm."))?;
    if B64.encode(md5::Md5::digest(raw)) != key_md5.trim() {
        return Err(invalid_argument("The calculated MD5 hash of the key did not match the hash that was provided."));
    }
    Ok(Some(CustomerKey::new(raw)))
}

const SSE_C_WITH_OTHER: &str =
    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified";

/// The headers that choose SSE-S3 / SSE-KMS on a write.
const WRITE_ONLY_HEADERS: [&str; 3] = [
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
];

/// A read (GET/HEAD) names no encryption method of its own: S3 answers 400 to one that sends the
/// headers choosing SSE-S3 / SSE-KMS ("the encryption method can't be changed when you retrieve the
/// object"), whatever the object's encryption; alongside an SSE-C key, with the message a write gets.
/// (s3s's read inputs have no such fields, so the headers are read from the request.)
pub fn check_read_headers(headers: &http::HeaderMap, customer: Option<&CustomerKey>) -> S3Result<()> {
    let Some(name) = WRITE_ONLY_HEADERS.into_iter().find(|h| headers.contains_key(*h)) else { return Ok(()) };
    if customer.is_some() {
        return Err(invalid_argument(SSE_C_WITH_OTHER));
    }
    Err(invalid_argument(&format!("{name} header is not supported for this operation.")))
}

/// `x-amz-server-side-encryption-context`: base64 of a JSON object of strings.
fn kms_context(value: Option<&str>) -> S3Result<Context> {
    let Some(v) = value else { return Ok(Context::new()) };
    B64.decode(v.trim())
        .ok()
        .and_then(|raw| serde_json::from_slice::<Context>(&raw).ok())
        .ok_or_else(|| {
            invalid_argument(
                "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 string holding JSON which represents a string-string map",
            )
        })
}

/// The encryption a write asks for; `None` leaves it to the bucket's default.
pub fn write_request(
    sse: Option<&ServerSideEncryption>,
    kms_key_id: Option<&str>,
    kms_context_header: Option<&str>,
    bucket_key: Option<bool>,
    customer: Option<CustomerKey>,
) -> S3Result<Option<SseRequest>> {
    let requested = match sse.map(|s| s.as_str()) {
        None => None,
        Some(ServerSideEncryption::AES256) => Some(false),
        Some(ServerSideEncryption::AWS_KMS) => Some(true),
        Some(_) => return Err(invalid_argument("The encryption method specified is not supported")),
    };
    if customer.is_some() && requested.is_some() {
        return Err(invalid_argument(SSE_C_WITH_OTHER));
    }
    if requested != Some(true) && (kms_key_id.is_some() || kms_context_header.is_some()) {
        return Err(invalid_argument(
            "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
        ));
    }
    Ok(match (requested, customer) {
        (_, Some(c)) => Some(SseRequest::Customer(c)),
        (Some(false), None) => Some(SseRequest::S3),
        (Some(true), None) => Some(SseRequest::Kms {
            key_id: kms_key_id.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()),
            context: kms_context(kms_context_header)?,
            bucket_key: bucket_key.unwrap_or(false),
        }),
        (None, None) => None,
    })
}

/// The response headers that describe an object's encryption.
#[derive(Default)]
pub struct SseOut {
    pub sse: Option<ServerSideEncryption>,
    pub kms_key_id: Option<String>,
    pub c_alg: Option<String>,
    pub c_md5: Option<String>,
    pub bucket_key: Option<bool>,
}

pub fn out(summary: Option<&EncryptionSummary>, presented: Option<&CustomerKey>) -> SseOut {
    match summary {
        None => SseOut::default(),
        Some(EncryptionSummary::S3) => {
            SseOut { sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AES256)), ..Default::default() }
        }
        Some(EncryptionSummary::Kms { key_arn, bucket_key }) => SseOut {
            sse: Some(ServerSideEncryption::from_static(ServerSideEncryption::AWS_KMS)),
            kms_key_id: Some(key_arn.clone()),
            bucket_key: bucket_key.then_some(true),
            ..Default::default()
        },
        Some(EncryptionSummary::Customer) => {
            SseOut { c_alg: Some("AES256".into()), c_md5: presented.map(|k| k.md5.clone()), ..Default::default() }
        }
    }
}

/// Copies an [`SseOut`] into an output DTO that has all five fields.
macro_rules! set_sse {
    ($output:expr, $out:expr) => {{
        let o: $crate::protocol::sse::SseOut = $out;
        $output.server_side_encryption = o.sse;
        $output.ssekms_key_id = o.kms_key_id;
        $output.sse_customer_algorithm = o.c_alg;
        $output.sse_customer_key_md5 = o.c_md5;
        $output.bucket_key_enabled = o.bucket_key;
    }};
}
pub(crate) use set_sse;

/// The SSE-C key of a request DTO with the three `sse_customer_*` fields (s3s gives each operation its
/// own input type, with these fields under the same names). `copy_source` reads the
/// `copy_source_sse_customer_*` ones.
macro_rules! customer_key_of {
    ($api:expr, $input:expr) => {
        $crate::protocol::sse::customer_key(
            $api,
            $input.sse_customer_algorithm.as_deref(),
            $input.sse_customer_key.as_deref(),
            $input.sse_customer_key_md5.as_deref(),
        )
    };
    ($api:expr, $input:expr, copy_source) => {
        $crate::protocol::sse::customer_key(
            $api,
            $input.copy_source_sse_customer_algorithm.as_deref(),
            $input.copy_source_sse_customer_key.as_deref(),
            $input.copy_source_sse_customer_key_md5.as_deref(),
        )
    };
}
pub(crate) use customer_key_of;

/// `(customer key, encryption request)` of a write DTO (PutObject, CopyObject, CreateMultipartUpload).
macro_rules! write_encryption_of {
    ($api:expr, $input:expr) => {
        match $crate::protocol::sse::customer_key_of!($api, $input) {
            Ok(customer) => $crate::protocol::sse::write_request(
                $input.server_side_encryption.as_ref(),
                $input.ssekms_key_id.as_deref(),
                $input.ssekms_encryption_context.as_deref(),
                $input.bucket_key_enabled,
                customer.clone(),
            )
            .map(|encryption| (customer, encryption)),
            Err(e) => Err(e),
        }
    };
}
pub(crate) use write_encryption_of;

pub async fn put_bucket_encryption(
    api: &S3Api,
    req: S3Request<PutBucketEncryptionInput>,
) -> S3Result<S3Response<PutBucketEncryptionOutput>> {
    let caller = api.caller(&req)?;
    let input = req.input;
    let malformed = || {
        s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        )
    };
    let rules = input.server_side_encryption_configuration.rules;
    if rules.len() != 1 {
        return Err(malformed());
    }
    let rule = rules.into_iter().next().expect("one rule");
    let default = rule.apply_server_side_encryption_by_default.ok_or_else(malformed)?;
    let record = BucketEncryptionRecord {
        algorithm: default.sse_algorithm.as_str().to_string(),
        kms_key_id: default.kms_master_key_id.filter(|k| !k.is_empty()),
        bucket_key_enabled: rule.bucket_key_enabled.unwrap_or(false),
    };
    api.engine.set_bucket_encryption(&caller, &input.bucket, Some(record)).await.map_err(to_s3)?;
    Ok(S3Response::new(PutBucketEncryptionOutput::default()))
}

pub async fn get_bucket_encryption(
    api: &S3Api,
    req: S3Request<GetBucketEncryptionInput>,
) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
    let caller = api.caller(&req)?;
    let rec = api.engine.get_bucket_encryption(&caller, &req.input.bucket).map_err(to_s3)?;
    let rule = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: Some(ServerSideEncryptionByDefault {
            kms_master_key_id: rec.kms_key_id,
            sse_algorithm: ServerSideEncryption::from(rec.algorithm),
        }),
        bucket_key_enabled: Some(rec.bucket_key_enabled),
    };
    Ok(S3Response::new(GetBucketEncryptionOutput {
        server_side_encryption_configuration: Some(ServerSideEncryptionConfiguration { rules: vec![rule] }),
    }))
}

pub async fn delete_bucket_encryption(
    api: &S3Api,
    req: S3Request<DeleteBucketEncryptionInput>,
) -> S3Result<S3Response<DeleteBucketEncryptionOutput>> {
    let caller = api.caller(&req)?;
    api.engine.set_bucket_encryption(&caller, &req.input.bucket, None).await.map_err(to_s3)?;
    let mut resp = S3Response::new(DeleteBucketEncryptionOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
