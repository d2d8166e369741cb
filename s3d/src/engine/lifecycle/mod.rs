//! Bucket lifecycle configuration: the rules as S3 models them, validated the way S3 validates a
//! PutBucketLifecycleConfiguration, stored per bucket. What a rule does to one object version is
//! decided in [`eval`] (pure logic); [`worker`] walks the buckets and applies it.

pub mod eval;
pub mod usage;
pub mod validate;
pub mod worker;

use serde::{Deserialize, Serialize};

use super::{Caller, Engine, EngineError, Result};
use crate::store::meta::MetaBatch;

/// `x-amz-transition-default-minimum-object-size`: which small objects lifecycle leaves in place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MinSizePolicy {
    /// S3's default since 2024: nothing under 128 KiB transitions.
    #[default]
    AllStorageClasses128K,
    /// Objects under 128 KiB may still go to GLACIER / DEEP_ARCHIVE.
    VariesByStorageClass,
}

impl MinSizePolicy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all_storage_classes_128K" => Some(Self::AllStorageClasses128K),
            "varies_by_storage_class" => Some(Self::VariesByStorageClass),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AllStorageClasses128K => "all_storage_classes_128K",
            Self::VariesByStorageClass => "varies_by_storage_class",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub min_size: MinSizePolicy,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    /// The deprecated rule-level `<Prefix>` (used instead of `<Filter>`).
    pub prefix: Option<String>,
    pub filter: Option<Filter>,
    pub expiration: Option<Expiration>,
    pub transitions: Vec<Transition>,
    pub noncurrent_transitions: Vec<NoncurrentTransition>,
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    pub abort_incomplete_upload_days: Option<i32>,
}

/// `<Filter>` as given: S3 allows exactly one of its children (or none: every object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub prefix: Option<String>,
    pub tag: Option<(String, String)>,
    pub size_greater_than: Option<i64>,
    pub size_less_than: Option<i64>,
    pub and: Option<AndFilter>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AndFilter {
    pub prefix: Option<String>,
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<i64>,
    pub size_less_than: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expiration {
    pub days: Option<i32>,
    /// Unix milliseconds (S3 requires midnight UTC).
    pub date_ms: Option<i64>,
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub days: Option<i32>,
    pub date_ms: Option<i64>,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentTransition {
    pub noncurrent_days: Option<i32>,
    pub newer_noncurrent_versions: Option<i32>,
    pub storage_class: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub noncurrent_days: Option<i32>,
    pub newer_noncurrent_versions: Option<i32>,
}

/// The effective filter of a rule: what an object must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    pub prefix: String,
    pub tags: Vec<(String, String)>,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
}

impl Rule {
    pub fn criteria(&self) -> Criteria {
        let mut c = Criteria { prefix: self.prefix.clone().unwrap_or_default(), ..Default::default() };
        if let Some(f) = &self.filter {
            if let Some(p) = &f.prefix {
                c.prefix = p.clone();
            }
            if let Some(t) = &f.tag {
                c.tags.push(t.clone());
            }
            c.size_greater_than = f.size_greater_than.map(|n| n.max(0) as u64);
            c.size_less_than = f.size_less_than.map(|n| n.max(0) as u64);
            if let Some(a) = &f.and {
                c.prefix = a.prefix.clone().unwrap_or_default();
                c.tags = a.tags.clone();
                c.size_greater_than = a.size_greater_than.map(|n| n.max(0) as u64);
                c.size_less_than = a.size_less_than.map(|n| n.max(0) as u64);
            }
        }
        c
    }

    /// How S3 names a rule's filter in its error messages: `(prefix=logs/)`.
    pub fn filter_description(&self) -> String {
        format!("(prefix={})", self.criteria().prefix)
    }
}

impl Engine {
    pub async fn put_bucket_lifecycle(&self, caller: &Caller, bucket: &str, mut config: LifecycleConfig) -> Result<()> {
        self.owned_bucket(caller, bucket)?;
        for rule in &mut config.rules {
            if rule.id.is_empty() {
                // S3 names unnamed rules itself.
                rule.id = super::super::store::blob::BlobId::generate().as_str()[..24].to_string();
            }
        }
        validate::validate(&config)?;
        let _bucket = self.bucket_alive(bucket).await?;
        let mut batch = MetaBatch::new();
        batch.put_lifecycle(bucket, &config);
        self.commit(batch).await?;
        metrics::counter!("s3d_lifecycle_configurations_put_total").increment(1);
        Ok(())
    }

    pub fn get_bucket_lifecycle(&self, caller: &Caller, bucket: &str) -> Result<LifecycleConfig> {
        self.owned_bucket(caller, bucket)?;
        self.meta.lifecycle(bucket)?.ok_or(EngineError::NoSuchLifecycleConfiguration)
    }

    pub async fn delete_bucket_lifecycle(&self, caller: &Caller, bucket: &str) -> Result<()> {
        self.owned_bucket(caller, bucket)?;
        let mut batch = MetaBatch::new();
        batch.delete_lifecycle(bucket);
        self.commit(batch).await
    }
}
