//! Default bucket encryption (Put/Get/DeleteBucketEncryption): applied to new objects, uploads and
//! copies that ask for no encryption of their own.

use super::SseError;
use crate::engine::{Caller, Engine, EngineError, Result};
use crate::store::encryption::BucketEncryptionRecord;
use crate::store::meta::MetaBatch;

impl Engine {
    pub fn get_bucket_encryption(&self, caller: &Caller, bucket: &str) -> Result<BucketEncryptionRecord> {
        self.owned_bucket(caller, bucket)?.encryption.ok_or(EngineError::Sse(SseError::NoBucketEncryption))
    }

    /// Sets (`Some`) or removes (`None`) the bucket's default encryption.
    pub async fn set_bucket_encryption(
        &self,
        caller: &Caller,
        bucket: &str,
        rule: Option<BucketEncryptionRecord>,
    ) -> Result<()> {
        if let Some(r) = &rule {
            match (r.algorithm.as_str(), &r.kms_key_id) {
                ("AES256", None) | ("aws:kms", _) => {}
                ("AES256", Some(_)) => {
                    return Err(EngineError::InvalidArgument(
                        "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms".into(),
                    ));
                }
                _ => return Err(EngineError::MalformedXml),
            }
        }
        self.owned_bucket(caller, bucket)?;
        let _writers = self.bucket_lock(bucket).write().await;
        let mut rec = self.meta.bucket(bucket)?.ok_or(EngineError::NoSuchBucket)?;
        rec.encryption = rule;
        let mut batch = MetaBatch::new();
        batch.put_bucket(bucket, &rec);
        self.commit(batch).await
    }
}
