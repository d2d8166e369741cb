//! Records of the tiering and lifecycle features, next to the object metadata (same store, same
//! atomic batches):
//!
//! | cf | key | value |
//! |---|---|---|
//! | `lifecycle` | bucket name | the bucket's lifecycle configuration (JSON) |
//! | `restores` | due time (ms, u64 BE) + `bucket/key \0 version` | [`RestoreDue`]: a restore to finish or a restored copy to expire |
//! | `lcstate` | name | worker state: the scan cursor, usage snapshots (JSON) |

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::blob::BlobId;
use super::meta::{MetaBatch, MetaError, MetaStore, object_key};
use common::kv::{Direction, KeyRange};

pub const CF_LIFECYCLE: &str = "lifecycle";
pub const CF_RESTORES: &str = "restores";
pub const CF_LCSTATE: &str = "lcstate";

/// Where an archived version's body is, and its restore if one was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    /// The body's id in the cold tier.
    pub cold: BlobId,
    #[serde(default)]
    pub restore: Option<RestoreRecord>,
    /// A multipart body's part sizes (plaintext), in order; empty for a body archived as one stream
    /// (and in records from before parts were kept). The cold and restored copies hold the parts'
    /// stored bytes back to back, each part of an encrypted body a sealed stream of its own, so a
    /// read finds each part's stream from these (and `partNumber` its bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
}

impl ArchiveRecord {
    pub fn blobs(&self) -> Vec<BlobId> {
        let mut v = vec![self.cold.clone()];
        if let Some(copy) = self.restore.as_ref().and_then(|r| r.copy.clone()) {
            v.push(copy);
        }
        v
    }
}

/// A RestoreObject request: in progress until `copy` is set, then readable until `expiry_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRecord {
    /// `Expedited`, `Standard` or `Bulk`.
    pub tier: String,
    pub days: u32,
    pub requested_ms: i64,
    /// When the restore completes.
    pub ready_ms: i64,
    /// Set when it completed: the temporary hot copy's blob and when it goes away.
    #[serde(default)]
    pub copy: Option<BlobId>,
    #[serde(default)]
    pub expiry_ms: Option<i64>,
}

/// What is due in the `restores` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DueKind {
    /// Copy the body back from the cold tier.
    Complete,
    /// Drop the restored copy.
    Expire,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreDue {
    pub kind: DueKind,
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
}

fn due_key(due_ms: i64, due: &RestoreDue) -> Vec<u8> {
    let mut k = (due_ms.max(0) as u64).to_be_bytes().to_vec();
    k.extend_from_slice(&object_key(&due.bucket, &due.key));
    k.push(0);
    k.extend_from_slice(due.version_id.as_deref().unwrap_or("null").as_bytes());
    k
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialise")
}

fn parse<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, MetaError> {
    serde_json::from_slice(bytes)
        .map_err(|e| MetaError::Corrupt { key: String::from_utf8_lossy(key).into_owned(), reason: e.to_string() })
}

impl MetaBatch {
    pub fn put_lifecycle<T: Serialize>(&mut self, bucket: &str, config: &T) -> &mut Self {
        self.batch.put(CF_LIFECYCLE, bucket.as_bytes(), json(config));
        self
    }
    pub fn delete_lifecycle(&mut self, bucket: &str) -> &mut Self {
        self.batch.delete(CF_LIFECYCLE, bucket.as_bytes());
        self
    }
    pub fn put_due(&mut self, due_ms: i64, due: &RestoreDue) -> &mut Self {
        self.batch.put(CF_RESTORES, due_key(due_ms, due), json(due));
        self
    }
    pub fn delete_due(&mut self, due_ms: i64, due: &RestoreDue) -> &mut Self {
        self.batch.delete(CF_RESTORES, due_key(due_ms, due));
        self
    }
    pub fn put_state<T: Serialize>(&mut self, name: &str, value: &T) -> &mut Self {
        self.batch.put(CF_LCSTATE, name.as_bytes(), json(value));
        self
    }
}

impl MetaStore {
    pub fn lifecycle<T: DeserializeOwned>(&self, bucket: &str) -> Result<Option<T>, MetaError> {
        self.kv.get(CF_LIFECYCLE, bucket.as_bytes())?.map(|v| parse(bucket.as_bytes(), &v)).transpose()
    }

    /// Queue entries due at or before `now_ms`, oldest first, at most `limit`: `(due ms, entry)`.
    pub fn due_restores(&self, now_ms: i64, limit: usize) -> Result<Vec<(i64, RestoreDue)>, MetaError> {
        let end = ((now_ms.max(0) as u64) + 1).to_be_bytes().to_vec();
        let mut out = Vec::new();
        for item in self.kv.scan(CF_RESTORES, KeyRange { start: Vec::new(), end: Some(end) }, Direction::Forward)? {
            let (k, v) = item?;
            let due = k.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes).unwrap_or(0) as i64;
            out.push((due, parse(&k, &v)?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub fn state<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, MetaError> {
        self.kv.get(CF_LCSTATE, name.as_bytes())?.map(|v| parse(name.as_bytes(), &v)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_queue_is_ordered_by_due_time() {
        let meta = MetaStore::memory();
        let due =
            |key: &str| RestoreDue { kind: DueKind::Complete, bucket: "b".into(), key: key.into(), version_id: None };
        let mut batch = MetaBatch::new();
        batch.put_due(300, &due("late")).put_due(100, &due("early")).put_due(200, &due("mid"));
        meta.commit(batch).unwrap();
        let got: Vec<(i64, String)> =
            meta.due_restores(250, 10).unwrap().into_iter().map(|(t, d)| (t, d.key)).collect();
        assert_eq!(got, vec![(100, "early".to_string()), (200, "mid".to_string())]);
        assert_eq!(meta.due_restores(1000, 1).unwrap().len(), 1);
        let mut batch = MetaBatch::new();
        batch.delete_due(100, &due("early"));
        meta.commit(batch).unwrap();
        assert_eq!(meta.due_restores(250, 10).unwrap().len(), 1);
    }
}
