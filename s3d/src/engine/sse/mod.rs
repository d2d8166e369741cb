//! Server-side encryption: which key protects a new body (SSE-S3, SSE-KMS, SSE-C, or the bucket's
//! default), how that data key is kept (wrapped by the master keyring, as a KMS ciphertext blob, or
//! not at all for SSE-C), and getting it back for a read. The bytes themselves are sealed in
//! segments (see [`segment`]) as they stream in and out.

pub mod bucket;
#[cfg(test)]
mod engine_tests;
pub mod kms;
pub mod read;
pub mod segment;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, KeyInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use md5::Digest;
use sha2::Sha256;

use self::kms::{Context, Kms, KmsError};
use super::{Engine, EngineError, Result};
use crate::store::encryption::{BucketEncryptionRecord, EncryptionRecord};
use crate::store::keys::{Keyring, KmsFile};
use crate::store::meta::BucketRecord;

/// A body's data key (or an SSE-C customer key).
pub type DataKey = [u8; 32];

/// The keys s3d holds: the SSE-S3 master keyring and the local KMS.
pub struct KeyService {
    master: Keyring,
    kms: Arc<Kms>,
}

impl KeyService {
    /// Keys in memory only (unit tests).
    pub fn ephemeral() -> Self {
        Self { master: Keyring::ephemeral(), kms: Arc::new(Kms::memory()) }
    }

    /// The keyring from `master_file` (else `dir/master.keys`, created on first start) and the KMS
    /// state in `dir/kms.json`; `rotate` adds a new current master key.
    pub fn open(dir: &Path, master_file: Option<PathBuf>, rotate: bool) -> std::io::Result<Self> {
        let master = Keyring::open(&master_file.unwrap_or_else(|| dir.join("master.keys")), rotate)?;
        let kms = Kms::open(KmsFile { path: Some(dir.join("kms.json")) })?;
        Ok(Self { master, kms: Arc::new(kms) })
    }
}

/// An SSE-C key as presented with a request (already checked against its MD5).
#[derive(Clone, PartialEq, Eq)]
pub struct CustomerKey {
    key: DataKey,
    /// Base64 MD5 of the key, echoed in responses.
    pub md5: String,
}

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomerKey").field("md5", &self.md5).finish_non_exhaustive()
    }
}

impl CustomerKey {
    pub fn new(key: DataKey) -> Self {
        let md5 = B64.encode(md5::Md5::digest(key));
        Self { key, md5 }
    }

    /// The keyed digest kept instead of the key: HMAC-SHA256(key, label ‖ salt).
    fn mac(&self, salt: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(b"s3d sse-c check");
        mac.update(salt);
        mac
    }
}

/// How a write asks for its body to be encrypted.
#[derive(Debug, Clone)]
pub enum SseRequest {
    /// `x-amz-server-side-encryption: AES256`.
    S3,
    /// `aws:kms`, with the key as given (id, ARN, alias; `None` = `aws/s3`) and the caller's context.
    Kms {
        key_id: Option<String>,
        context: Context,
        bucket_key: bool,
    },
    Customer(CustomerKey),
}

/// How an object is encrypted, as responses describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptionSummary {
    S3,
    Kms { key_arn: String, bucket_key: bool },
    Customer,
}

impl EncryptionSummary {
    pub fn of(rec: &EncryptionRecord) -> Self {
        match rec {
            EncryptionRecord::S3 { .. } => Self::S3,
            EncryptionRecord::Kms { key_arn, bucket_key, .. } => {
                Self::Kms { key_arn: key_arn.clone(), bucket_key: *bucket_key }
            }
            EncryptionRecord::Customer { .. } => Self::Customer,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SseError {
    #[error(transparent)]
    Kms(#[from] KmsError),
    #[error(
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
    )]
    CustomerKeyRequired,
    #[error("Access Denied")]
    WrongCustomerKey,
    #[error("The encryption parameters are not applicable to this object.")]
    NotApplicable,
    #[error("The server side encryption configuration was not found")]
    NoBucketEncryption,
    #[error("the SSE-S3 master key {0} is not in the keyring")]
    MasterKeyMissing(String),
    #[error("stored encryption parameters are corrupt")]
    Corrupt,
}

/// A new body's encryption: what its record keeps, and the data key to seal it with.
pub struct Sealing {
    pub record: EncryptionRecord,
    pub data_key: DataKey,
}

impl Sealing {
    /// S3's ETag: the plaintext MD5 for SSE-S3, something else (here a keyed digest of it) for
    /// SSE-KMS and SSE-C, whose ETags must not reveal the plaintext's MD5.
    pub fn etag(sealing: Option<&Sealing>, md5: &[u8; 16]) -> String {
        match sealing {
            None | Some(Sealing { record: EncryptionRecord::S3 { .. }, .. }) => hex::encode(md5),
            Some(s) => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&s.data_key).expect("any key length");
                mac.update(b"s3d etag");
                mac.update(md5);
                hex::encode(&mac.finalize().into_bytes()[..16])
            }
        }
    }
}

fn s3_context(bucket: &str, key: &str, extra: &Context) -> Context {
    let mut ctx = extra.clone();
    ctx.insert("aws:s3:arn".into(), format!("arn:aws:s3:::{bucket}/{key}"));
    ctx
}

/// The request a bucket's default encryption makes for writes that ask for none.
fn default_request(rule: &BucketEncryptionRecord) -> SseRequest {
    if rule.algorithm == "aws:kms" {
        SseRequest::Kms {
            key_id: rule.kms_key_id.clone(),
            context: Context::new(),
            bucket_key: rule.bucket_key_enabled,
        }
    } else {
        SseRequest::S3
    }
}

impl Engine {
    /// The local KMS (also served on the API port by the protocol layer).
    pub fn kms(&self) -> Arc<Kms> {
        self.keys.kms.clone()
    }

    /// The encryption of a new body of `bucket/key`: as requested, else the bucket's default.
    pub(crate) fn seal_for(
        &self,
        bucket_rec: &BucketRecord,
        bucket: &str,
        key: &str,
        requested: Option<SseRequest>,
    ) -> Result<Option<Sealing>> {
        let Some(req) = requested.or_else(|| bucket_rec.encryption.as_ref().map(default_request)) else {
            return Ok(None);
        };
        let sealing = match req {
            SseRequest::S3 => {
                let data_key: DataKey = rand::random();
                let (id, master) = self.keys.master.current();
                let nonce: [u8; 12] = rand::random();
                let sealed = Aes256Gcm::new_from_slice(master)
                    .expect("32-byte key")
                    .encrypt(&nonce.into(), aes_gcm::aead::Payload { msg: &data_key, aad: id.as_bytes() })
                    .expect("a data key encrypts");
                let wrapped = B64.encode([nonce.as_slice(), &sealed].concat());
                Sealing { record: EncryptionRecord::S3 { key_id: id.to_string(), wrapped }, data_key }
            }
            SseRequest::Kms { key_id, context, bucket_key } => {
                let kms_key = match key_id {
                    Some(k) => k,
                    None => self.keys.kms.s3_default_key().map_err(SseError::from)?,
                };
                let ctx = s3_context(bucket, key, &context);
                let (plain, blob, key_arn) =
                    self.keys.kms.generate_data_key(&kms_key, 32, &ctx).map_err(SseError::from)?;
                let data_key: DataKey = plain.try_into().map_err(|_| SseError::Corrupt)?;
                let context = serde_json::to_string(&context).expect("a string map serialises");
                Sealing {
                    record: EncryptionRecord::Kms { key_arn, blob: B64.encode(blob), context, bucket_key },
                    data_key,
                }
            }
            SseRequest::Customer(c) => {
                let salt: [u8; 16] = rand::random();
                let check = c.mac(&salt).finalize().into_bytes();
                Sealing {
                    record: EncryptionRecord::Customer { salt: B64.encode(salt), check: B64.encode(check) },
                    data_key: c.key,
                }
            }
        };
        Ok(Some(sealing))
    }

    /// The data key of a stored body. SSE-C needs the right key presented; SSE-KMS needs its key
    /// enabled. Presenting an SSE-C key for anything else is an error, as in S3.
    pub(crate) fn unlock(
        &self,
        bucket: &str,
        key: &str,
        rec: &EncryptionRecord,
        presented: Option<&CustomerKey>,
    ) -> Result<DataKey> {
        check_presented(Some(rec), presented)?;
        let key: DataKey = match rec {
            EncryptionRecord::S3 { key_id, wrapped } => {
                let master = self.keys.master.get(key_id).ok_or_else(|| SseError::MasterKeyMissing(key_id.clone()))?;
                let raw = B64.decode(wrapped).map_err(|_| SseError::Corrupt)?;
                if raw.len() < 12 {
                    return Err(SseError::Corrupt.into());
                }
                let (nonce, sealed) = raw.split_at(12);
                let nonce: [u8; 12] = nonce.try_into().expect("12 bytes");
                let plain = Aes256Gcm::new_from_slice(master)
                    .expect("32-byte key")
                    .decrypt(&nonce.into(), aes_gcm::aead::Payload { msg: sealed, aad: key_id.as_bytes() })
                    .map_err(|_| SseError::Corrupt)?;
                plain.try_into().map_err(|_| SseError::Corrupt)?
            }
            EncryptionRecord::Kms { blob, context, .. } => {
                let extra: Context = serde_json::from_str(context).map_err(|_| SseError::Corrupt)?;
                let blob = B64.decode(blob).map_err(|_| SseError::Corrupt)?;
                let (plain, _) =
                    self.keys.kms.decrypt(&blob, &s3_context(bucket, key, &extra), None).map_err(SseError::from)?;
                plain.try_into().map_err(|_| SseError::Corrupt)?
            }
            EncryptionRecord::Customer { .. } => presented.expect("checked above").key,
        };
        Ok(key)
    }
}

/// SSE-C's rules for a read or a part upload: an SSE-C body needs its key, and only it; a key
/// presented for a body that is not SSE-C is refused.
pub(crate) fn check_presented(rec: Option<&EncryptionRecord>, presented: Option<&CustomerKey>) -> Result<()> {
    match (rec, presented) {
        (Some(EncryptionRecord::Customer { salt, check }), Some(k)) => {
            let salt = B64.decode(salt).map_err(|_| SseError::Corrupt)?;
            let want = B64.decode(check).map_err(|_| SseError::Corrupt)?;
            k.mac(&salt).verify_slice(&want).map_err(|_| EngineError::Sse(SseError::WrongCustomerKey))
        }
        (Some(EncryptionRecord::Customer { .. }), None) => Err(SseError::CustomerKeyRequired.into()),
        (_, Some(_)) => Err(SseError::NotApplicable.into()),
        (_, None) => Ok(()),
    }
}
