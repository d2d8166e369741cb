//! The local KMS on the wire: KMS's JSON 1.1 protocol (`POST /`, `X-Amz-Target: TrentService.<Op>`,
//! SigV4 for service `kms`) on s3d's API port, picked out by its target header before s3s sees the
//! request. Errors are `{"__type": …, "message": …}` as KMS sends them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::CredentialStore;
use common::sigv4::{Verifier, WireFamily};
use serde_json::{Map, Value, json};

use crate::engine::sse::kms::{
    ACCOUNT, Context, ENCRYPTION_ALGORITHMS, KeyInfo, Kms, KmsError, MAX_DATA_KEY, number_of_bytes_error,
};

const TARGET_PREFIX: &str = "TrentService.";
/// KMS requests are small (at most 4 KiB of plaintext, base64, plus context).
const MAX_BODY: usize = 64 * 1024;

pub struct KmsApi {
    kms: Arc<Kms>,
    verifier: Verifier,
}

impl KmsApi {
    pub fn new(kms: Arc<Kms>, credentials: Arc<CredentialStore>) -> Self {
        Self { kms, verifier: Verifier::new(credentials, &["kms"]) }
    }
}

/// A KMS error as the wire carries it.
struct Failure {
    status: u16,
    code: &'static str,
    message: String,
}

impl Failure {
    fn validation(message: impl Into<String>) -> Self {
        Self { status: 400, code: "ValidationException", message: message.into() }
    }
}

impl From<KmsError> for Failure {
    fn from(e: KmsError) -> Self {
        let message = e.to_string();
        let (status, code) = match &e {
            KmsError::NotFound(_) => (400, "NotFoundException"),
            KmsError::Disabled(_) => (400, "DisabledException"),
            KmsError::InvalidCiphertext(_) => (400, "InvalidCiphertextException"),
            KmsError::IncorrectKey(_) => (400, "IncorrectKeyException"),
            KmsError::AlreadyExists(_) => (400, "AlreadyExistsException"),
            KmsError::Validation(_) => (400, "ValidationException"),
            KmsError::InvalidAliasName(_) => (400, "InvalidAliasNameException"),
            KmsError::InvalidMarker => (400, "InvalidMarkerException"),
            KmsError::AccessDenied(_) => (400, "AccessDeniedException"),
            KmsError::Unsupported(_) => (400, "UnsupportedOperationException"),
            KmsError::InvalidKeyUsage(_) => (400, "InvalidKeyUsageException"),
            KmsError::Io(_) => {
                tracing::error!(error = %e, "KMS storage error");
                (500, "KMSInternalException")
            }
        };
        Self { status, code, message }
    }
}

fn reply(status: u16, body: Value, error: Option<&str>) -> Response {
    let mut b = Response::builder().status(status).header("content-type", "application/x-amz-json-1.1");
    if let Some(code) = error {
        b = b.header("x-amzn-errortype", code);
    }
    b.body(Body::from(body.to_string())).expect("static response")
}

/// Serves requests addressed to KMS; passes everything else on to S3.
pub async fn route(State(api): State<Arc<KmsApi>>, req: Request, next: Next) -> Response {
    let target = req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    // A request signed for KMS is ours whatever its target (an unknown one is UnknownOperation, not
    // something for the S3 router to refuse with a 501).
    if !target.starts_with(TARGET_PREFIX) && !signed_for_kms(req.headers()) {
        return next.run(req).await;
    }
    let op = target.strip_prefix(TARGET_PREFIX).unwrap_or("").to_string();
    // Labelled by known operations only: a client-chosen label would grow the registry without bound.
    let label = OPERATIONS.iter().find(|o| **o == op).copied().unwrap_or("unknown");
    metrics::counter!("s3d_kms_operations_total", "op" => label).increment(1);
    match serve(&api, &op, req).await {
        Ok(v) => reply(200, v, None),
        Err(f) => reply(f.status, json!({"__type": f.code, "message": f.message}), Some(f.code)),
    }
}

/// The operations [`dispatch`] serves (for the metric label).
const OPERATIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "CreateAlias",
    "ListAliases",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "Encrypt",
    "Decrypt",
];

/// Whether the Authorization header's credential scope names the `kms` service.
fn signed_for_kms(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/kms/aws4_request"))
}

async fn serve(api: &Arc<KmsApi>, op: &str, req: Request) -> Result<Value, Failure> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| Failure {
        status: 413,
        code: "ValidationException",
        message: "Request is too large".into(),
    })?;
    if parts.method != http::Method::POST {
        return Err(Failure::validation("KMS requests are POST"));
    }
    api.verifier.verify(&parts, &bytes, time::OffsetDateTime::now_utc()).map_err(|e| {
        let w = e.wire(WireFamily::Json);
        Failure { status: w.status, code: w.code, message: w.message }
    })?;
    let request: Value = if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|_| Failure {
            status: 400,
            code: "SerializationException",
            message: "Start of structure or map found where not expected".into(),
        })?
    };
    let Value::Object(fields) = request else {
        return Err(Failure { status: 400, code: "SerializationException", message: "Expected a JSON object".into() });
    };
    let (api, op) = (api.clone(), op.to_string());
    // Changes rewrite the state file: run on the blocking pool.
    tokio::task::spawn_blocking(move || dispatch(&api.kms, &op, &fields)).await.map_err(|e| Failure {
        status: 500,
        code: "KMSInternalException",
        message: e.to_string(),
    })?
}

fn string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, Failure> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => {
            Err(Failure { status: 400, code: "SerializationException", message: format!("{name} must be a string") })
        }
    }
}

fn required(fields: &Map<String, Value>, name: &str) -> Result<String, Failure> {
    string(fields, name)?.filter(|s| !s.is_empty()).ok_or_else(|| {
        Failure::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_ascii_lowercase().to_string() + c.as_str()).unwrap_or_default()
}

fn limit(fields: &Map<String, Value>) -> Result<usize, Failure> {
    match fields.get("Limit") {
        None | Some(Value::Null) => Ok(100),
        Some(v) => v.as_u64().filter(|n| (1..=1000).contains(n)).map(|n| n as usize).ok_or_else(|| {
            Failure::validation("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 1000")
        }),
    }
}

fn context(fields: &Map<String, Value>) -> Result<Context, Failure> {
    match fields.get("EncryptionContext") {
        None | Some(Value::Null) => Ok(Context::new()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| Failure::validation("EncryptionContext must be a map of strings to strings")),
    }
}

fn blob(fields: &Map<String, Value>, name: &str) -> Result<Vec<u8>, Failure> {
    B64.decode(required(fields, name)?).map_err(|_| Failure {
        status: 400,
        code: "SerializationException",
        message: format!("{name} is not base64"),
    })
}

/// A ValidationException listing `errors` as KMS does ("2 validation errors detected: a; b").
fn validation_errors(errors: Vec<String>) -> Result<(), Failure> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(Failure::validation(format!("1 validation error detected: {}", errors[0]))),
        n => Err(Failure::validation(format!("{n} validation errors detected: {}", errors.join("; ")))),
    }
}

/// GenerateDataKey's length: its members checked against their constraints first (NumberOfBytes
/// 1..=1024, KeySpec AES_256 | AES_128), before the key is looked up; then exactly one of the two.
fn data_key_length(f: &Map<String, Value>) -> Result<usize, Failure> {
    let spec = string(f, "KeySpec")?;
    let number = match f.get("NumberOfBytes") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.as_i64().unwrap_or(i64::MAX)),
        Some(_) => {
            return Err(Failure {
                status: 400,
                code: "SerializationException",
                message: "NumberOfBytes must be an integer".into(),
            });
        }
    };
    let mut errors = Vec::new();
    if let Some(e) = number.and_then(number_of_bytes_error) {
        errors.push(e);
    }
    if let Some(s) = spec.as_deref().filter(|s| !matches!(*s, "AES_256" | "AES_128")) {
        errors.push(format!(
            "Value '{s}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        ));
    }
    validation_errors(errors)?;
    match (spec.as_deref(), number) {
        (Some("AES_128"), None) => Ok(16),
        (Some(_), None) => Ok(32),
        (None, Some(n)) => Ok(usize::try_from(n).unwrap_or(MAX_DATA_KEY)),
        // KMS answers both and neither alike.
        (Some(_), Some(_)) | (None, None) => {
            Err(Failure::validation("Please specify either number of bytes or key spec."))
        }
    }
}

/// `EncryptionAlgorithm`, which must be one KMS knows (checked before the key is looked up); whether
/// the key can use it is the engine's to say.
fn encryption_algorithm(f: &Map<String, Value>) -> Result<Option<String>, Failure> {
    let algorithm = string(f, "EncryptionAlgorithm")?;
    if let Some(a) = algorithm.as_deref().filter(|a| !ENCRYPTION_ALGORITHMS.contains(a)) {
        validation_errors(vec![format!(
            "Value '{a}' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            ENCRYPTION_ALGORITHMS.join(", ")
        )])?;
    }
    Ok(algorithm)
}

fn metadata(k: &KeyInfo) -> Value {
    json!({
        "AWSAccountId": ACCOUNT,
        "KeyId": k.id,
        "Arn": k.arn,
        "CreationDate": k.created,
        "Enabled": k.enabled,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": if k.enabled { "Enabled" } else { "Disabled" },
        "Origin": "AWS_KMS",
        "KeyManager": k.manager,
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    })
}

/// `Truncated` and, when more follow, `NextMarker`.
fn page(mut body: Map<String, Value>, truncated: bool, next: Option<String>) -> Value {
    body.insert("Truncated".into(), Value::Bool(truncated));
    if truncated && let Some(n) = next {
        body.insert("NextMarker".into(), Value::String(n));
    }
    Value::Object(body)
}

fn dispatch(kms: &Kms, op: &str, f: &Map<String, Value>) -> Result<Value, Failure> {
    let out = match op {
        "CreateKey" => {
            let spec = string(f, "KeySpec")?.or(string(f, "CustomerMasterKeySpec")?);
            let k = kms.create_key(string(f, "Description")?, string(f, "KeyUsage")?.as_deref(), spec.as_deref())?;
            json!({ "KeyMetadata": metadata(&k) })
        }
        "DescribeKey" => json!({ "KeyMetadata": metadata(&kms.describe_key(&required(f, "KeyId")?)?) }),
        "ListKeys" => {
            let (keys, more) = kms.list_keys(limit(f)?, string(f, "Marker")?.as_deref())?;
            let next = keys.last().map(|k| k.id.clone());
            let list: Vec<Value> = keys.iter().map(|k| json!({"KeyId": k.id, "KeyArn": k.arn})).collect();
            page([("Keys".to_string(), Value::Array(list))].into_iter().collect(), more, next)
        }
        "EnableKey" | "DisableKey" => {
            kms.set_enabled(&required(f, "KeyId")?, op == "EnableKey")?;
            json!({})
        }
        "CreateAlias" => {
            kms.create_alias(&required(f, "AliasName")?, &required(f, "TargetKeyId")?)?;
            json!({})
        }
        "ListAliases" => {
            let (aliases, more) =
                kms.list_aliases(string(f, "KeyId")?.as_deref(), limit(f)?, string(f, "Marker")?.as_deref())?;
            let next = aliases.last().map(|a| a.name.clone());
            let list: Vec<Value> = aliases
                .iter()
                .map(|a| {
                    json!({"AliasName": a.name, "AliasArn": a.arn, "TargetKeyId": a.target,
                           "CreationDate": a.created, "LastUpdatedDate": a.created})
                })
                .collect();
            page([("Aliases".to_string(), Value::Array(list))].into_iter().collect(), more, next)
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let bytes = data_key_length(f)?;
            let (plain, blob, arn) = kms.generate_data_key(&required(f, "KeyId")?, bytes, &context(f)?)?;
            let mut out = json!({ "CiphertextBlob": B64.encode(blob), "KeyId": arn });
            if op == "GenerateDataKey" {
                out["Plaintext"] = Value::String(B64.encode(plain));
            }
            out
        }
        "Encrypt" => {
            let algorithm = encryption_algorithm(f)?;
            let (ciphertext, arn) =
                kms.encrypt_with(&required(f, "KeyId")?, &blob(f, "Plaintext")?, &context(f)?, algorithm.as_deref())?;
            json!({ "CiphertextBlob": B64.encode(ciphertext), "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" })
        }
        "Decrypt" => {
            let algorithm = encryption_algorithm(f)?;
            let key = string(f, "KeyId")?;
            let (plain, arn) =
                kms.decrypt_with(&blob(f, "CiphertextBlob")?, &context(f)?, key.as_deref(), algorithm.as_deref())?;
            json!({ "Plaintext": B64.encode(plain), "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT" })
        }
        _ => {
            return Err(Failure {
                status: 400,
                code: "UnknownOperationException",
                message: format!("Operation {op} is not supported by this KMS"),
            });
        }
    };
    Ok(out)
}
