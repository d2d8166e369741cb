//! How an object's (or an upload's) body is encrypted, as stored in its metadata record, and a
//! bucket's default encryption. Never holds a usable key: data keys are stored only wrapped (by the
//! SSE-S3 master keyring or by the local KMS), and an SSE-C key only as a salted HMAC.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum EncryptionRecord {
    /// SSE-S3: the data key wrapped by master key `key_id` (base64 nonce ‖ ciphertext ‖ tag).
    S3 { key_id: String, wrapped: String },
    /// SSE-KMS: the data key as the local KMS's ciphertext blob (base64), under the key `key_arn`,
    /// bound to `context` (the encryption context as JSON object text).
    Kms { key_arn: String, blob: String, context: String, bucket_key: bool },
    /// SSE-C: a random salt and HMAC-SHA256(key, salt), both base64: enough to check a presented key.
    Customer { salt: String, check: String },
}

/// `PutBucketEncryption`'s default rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryptionRecord {
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// The KMS key as given (id, ARN or alias); `None` = the `aws/s3` key.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub bucket_key_enabled: bool,
}
