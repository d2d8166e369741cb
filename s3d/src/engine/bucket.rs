//! Buckets: create (global namespace, owned by their creator), delete (only when empty), head, list,
//! and their tag set.

use time::OffsetDateTime;

use super::acl::{AclRequest, ObjectOwnership};
use super::names::{validate_bucket_name, validate_bucket_tags};
use super::{Caller, Engine, EngineError, Result, ms_to_time};
use crate::store::meta::{BucketRecord, MetaBatch};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created: OffsetDateTime,
    /// `None` for us-east-1 (S3 returns an empty LocationConstraint for it).
    pub location: Option<String>,
}

impl Engine {
    pub async fn create_bucket(&self, caller: &Caller, name: &str, location: Option<String>) -> Result<()> {
        self.create_bucket_with(caller, name, location, None, None).await
    }

    /// CreateBucket with `x-amz-object-ownership` (default BucketOwnerEnforced) and an ACL.
    pub async fn create_bucket_with(
        &self,
        caller: &Caller,
        name: &str,
        location: Option<String>,
        ownership: Option<ObjectOwnership>,
        acl: Option<AclRequest>,
    ) -> Result<()> {
        validate_bucket_name(name)?;
        let (ownership, acl) = super::acl::for_new_bucket(ownership, acl, &caller.user)?;
        let _guard = self.locks.lock(name, "").await;
        if let Some(existing) = self.meta.bucket(name)? {
            return Err(if existing.owner == caller.user {
                EngineError::BucketAlreadyOwnedByYou
            } else {
                EngineError::BucketAlreadyExists
            });
        }
        let location = location.filter(|l| !l.is_empty() && l != "us-east-1");
        let mut batch = MetaBatch::new();
        batch.put_bucket(
            name,
            &BucketRecord {
                owner: caller.user.clone(),
                created_ms: self.now_ms(),
                location,
                versioning: None,
                encryption: None,
                ownership: Some(ownership),
                acl,
                tags: Vec::new(),
                cors: None,
            },
        );
        self.commit(batch).await
    }

    pub async fn delete_bucket(&self, caller: &Caller, name: &str) -> Result<()> {
        self.owned_bucket(caller, name)?;
        let _writers = self.bucket_lock(name).write().await;
        let _guard = self.locks.lock(name, "").await;
        if !self.meta.bucket_is_empty(name)? {
            return Err(EngineError::BucketNotEmpty);
        }
        // Unfinished multipart uploads go with the bucket, and so do their parts' blobs.
        let mut batch = MetaBatch::new();
        let mut released = Vec::new();
        for upload in self.meta.scan_uploads(name, b"")? {
            let (key, id, _) = upload?;
            batch.delete_upload(name, &key, &id);
            for part in self.meta.scan_parts(&id, 0)? {
                let (n, part) = part?;
                batch.delete_part(&id, n).release_blob(&part.blob);
                released.push(part.blob);
            }
        }
        // Its lifecycle rules too: a bucket created later under the name starts without any.
        batch.delete_bucket(name).delete_lifecycle(name);
        self.commit_releasing(batch, released).await
    }

    pub fn head_bucket(&self, caller: &Caller, name: &str) -> Result<BucketInfo> {
        let rec = self.owned_bucket(caller, name)?;
        Ok(BucketInfo { name: name.into(), created: ms_to_time(rec.created_ms), location: rec.location })
    }

    /// GetBucketTagging: NoSuchTagSet when the bucket has none.
    pub fn get_bucket_tagging(&self, caller: &Caller, name: &str) -> Result<Vec<(String, String)>> {
        let rec = self.owned_bucket(caller, name)?;
        if rec.tags.is_empty() {
            return Err(EngineError::NoSuchTagSet);
        }
        Ok(rec.tags)
    }

    /// PutBucketTagging replaces the whole tag set; an empty one (DeleteBucketTagging) removes it.
    pub async fn set_bucket_tagging(&self, caller: &Caller, name: &str, tags: Vec<(String, String)>) -> Result<()> {
        validate_bucket_tags(&tags)?;
        self.owned_bucket(caller, name)?;
        let _writers = self.bucket_lock(name).write().await;
        let mut rec = self.meta.bucket(name)?.ok_or(EngineError::NoSuchBucket)?;
        rec.tags = tags;
        let mut batch = MetaBatch::new();
        batch.put_bucket(name, &rec);
        self.commit(batch).await
    }

    /// The caller's buckets, by name.
    pub fn list_buckets(&self, caller: &Caller) -> Result<Vec<BucketInfo>> {
        Ok(self
            .meta
            .buckets()?
            .into_iter()
            .filter(|(_, rec)| rec.owner == caller.user)
            .map(|(name, rec)| BucketInfo { name, created: ms_to_time(rec.created_ms), location: rec.location })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[tokio::test]
    async fn buckets_belong_to_their_creator() {
        let e = engine();
        let bob = Caller { user: "bob".into() };
        e.create_bucket(&alice(), "photos", None).await.unwrap();
        assert!(matches!(e.create_bucket(&alice(), "photos", None).await, Err(EngineError::BucketAlreadyOwnedByYou)));
        assert!(matches!(e.create_bucket(&bob, "photos", None).await, Err(EngineError::BucketAlreadyExists)));
        assert!(matches!(e.head_bucket(&bob, "photos"), Err(EngineError::AccessDenied)));
        assert!(matches!(e.head_bucket(&bob, "nope"), Err(EngineError::NoSuchBucket)));
        assert_eq!(e.list_buckets(&alice()).unwrap().len(), 1);
        assert!(e.list_buckets(&bob).unwrap().is_empty());
        assert!(matches!(e.create_bucket(&bob, "Bad_Name", None).await, Err(EngineError::InvalidBucketName(_))));
        assert!(matches!(e.delete_bucket(&bob, "photos").await, Err(EngineError::AccessDenied)));
        e.delete_bucket(&alice(), "photos").await.unwrap();
        assert!(matches!(e.delete_bucket(&alice(), "photos").await, Err(EngineError::NoSuchBucket)));
    }

    #[tokio::test]
    async fn bucket_tags_are_the_owners_and_replaced_whole() {
        let e = engine();
        let bob = Caller { user: "bob".into() };
        let tags = |n: usize| (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect::<Vec<_>>();
        e.create_bucket(&alice(), "tagged", None).await.unwrap();
        assert!(matches!(e.get_bucket_tagging(&alice(), "tagged"), Err(EngineError::NoSuchTagSet)));
        e.set_bucket_tagging(&alice(), "tagged", tags(3)).await.unwrap();
        assert_eq!(e.get_bucket_tagging(&alice(), "tagged").unwrap(), tags(3));
        e.set_bucket_tagging(&alice(), "tagged", tags(50)).await.unwrap();
        assert_eq!(e.get_bucket_tagging(&alice(), "tagged").unwrap().len(), 50);
        assert!(matches!(e.set_bucket_tagging(&alice(), "tagged", tags(51)).await, Err(EngineError::InvalidTag(_))));
        let system = vec![("aws:createdBy".to_string(), "me".to_string())];
        assert!(matches!(e.set_bucket_tagging(&alice(), "tagged", system).await, Err(EngineError::InvalidTag(_))));
        assert!(matches!(e.get_bucket_tagging(&bob, "tagged"), Err(EngineError::AccessDenied)));
        assert!(matches!(e.set_bucket_tagging(&bob, "tagged", tags(1)).await, Err(EngineError::AccessDenied)));
        e.set_bucket_tagging(&alice(), "tagged", Vec::new()).await.unwrap();
        assert!(matches!(e.get_bucket_tagging(&alice(), "tagged"), Err(EngineError::NoSuchTagSet)));
    }
}
