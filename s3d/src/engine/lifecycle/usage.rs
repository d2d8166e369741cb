//! The per-bucket storage report by class (objects, bytes, and bytes as billed with each class's
//! minimum size and per-object overhead). Like S3's daily storage metrics it is a snapshot: the
//! lifecycle pass counts every version while it walks a bucket and publishes the totals when it
//! finishes the bucket (also as Prometheus gauges).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::super::tier;
use crate::engine::{Caller, Engine, Result};
use crate::store::cold::ColdUsage;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassUsage {
    pub objects: u64,
    pub bytes: u64,
    pub billable_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketUsage {
    /// When the pass that produced it finished this bucket (Unix ms).
    pub as_of_ms: i64,
    pub classes: BTreeMap<String, ClassUsage>,
    pub delete_markers: u64,
}

impl BucketUsage {
    pub fn add(&mut self, class: &str, size: u64) {
        let c = self.classes.entry(class.to_string()).or_default();
        c.objects += 1;
        c.bytes += size;
        c.billable_bytes += tier::billable_bytes(class, size);
    }

    /// Sets the gauges of `bucket` (every class, so a class that emptied reads 0).
    pub fn publish(&self, bucket: &str) {
        for class in tier::CLASSES {
            let u = self.classes.get(class.name).cloned().unwrap_or_default();
            let labels = || {
                vec![
                    metrics::Label::new("bucket", bucket.to_string()),
                    metrics::Label::new("storage_class", class.name),
                ]
            };
            metrics::gauge!("s3d_bucket_objects", labels()).set(u.objects as f64);
            metrics::gauge!("s3d_bucket_bytes", labels()).set(u.bytes as f64);
            metrics::gauge!("s3d_bucket_billable_bytes", labels()).set(u.billable_bytes as f64);
        }
    }
}

pub fn usage_key(bucket: &str) -> String {
    format!("usage/{bucket}")
}

/// One class's documented rules, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRules {
    pub storage_class: &'static str,
    pub min_billable_bytes: u64,
    pub overhead_bytes: u64,
    pub min_storage_days: u32,
    pub archived: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub buckets: BTreeMap<String, Option<BucketUsage>>,
    pub classes: Vec<ClassRules>,
    pub cold_tier: ColdUsage,
}

pub fn publish_cold(u: &ColdUsage) {
    metrics::gauge!("s3d_cold_objects").set(u.objects as f64);
    metrics::gauge!("s3d_cold_raw_bytes").set(u.raw_bytes as f64);
    metrics::gauge!("s3d_cold_stored_bytes").set(u.stored_bytes as f64);
    metrics::gauge!("s3d_cold_pack_bytes").set(u.pack_bytes as f64);
}

impl Engine {
    /// The caller's buckets with their latest usage snapshot (`None` until a pass has counted it).
    pub fn storage_usage(&self, caller: &Caller) -> Result<UsageReport> {
        let mut buckets = BTreeMap::new();
        for (name, rec) in self.meta.buckets()? {
            if rec.owner == caller.user {
                let snapshot = self.meta.state::<BucketUsage>(&usage_key(&name))?;
                buckets.insert(name, snapshot.filter(|u| u.as_of_ms >= rec.created_ms));
            }
        }
        let classes = tier::CLASSES
            .iter()
            .map(|c| ClassRules {
                storage_class: c.name,
                min_billable_bytes: c.min_billable_bytes,
                overhead_bytes: c.overhead_bytes,
                min_storage_days: c.min_storage_days,
                archived: c.archived,
            })
            .collect();
        Ok(UsageReport { buckets, classes, cold_tier: self.cold_tier().usage() })
    }
}
