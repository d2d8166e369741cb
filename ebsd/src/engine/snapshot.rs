//! A snapshot's record as DescribeSnapshots reports it, and EC2's snapshot filters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::describe::{Filter, glob_match};
use super::error::{EngineError, EngineResult};

/// The account every snapshot belongs to. The suite is one account (all users in users.toml share
/// it), so `OwnerIds=self` and this id select the same snapshots.
pub const ACCOUNT_ID: &str = "111122223333";
/// What AWS shows as the volume of snapshots made through the EBS direct APIs (and copies).
pub const NO_VOLUME: &str = "vol-ffffffff";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    Pending,
    Completed,
    Error,
}

impl SnapshotState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Error => "error",
        }
    }
}

/// How a snapshot came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// CreateSnapshot of a volume.
    Volume,
    /// CopySnapshot of another snapshot.
    Copy { source: String },
    /// StartSnapshot of the EBS direct APIs; blocks arrive with PutSnapshotBlock.
    Direct { parent: Option<String>, client_token: Option<String>, timeout_minutes: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub volume_id: String,
    /// Snapshots with the same lineage descend from the same volume (ListChangedBlocks compares them).
    pub lineage: String,
    pub state: SnapshotState,
    pub state_message: Option<String>,
    /// 0–100; while pending, the engine reports live progress instead.
    pub progress: u8,
    pub start_time: String,
    pub completion_time: Option<String>,
    pub description: String,
    pub volume_size_gib: u64,
    pub tags: BTreeMap<String, String>,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub origin: Origin,
    /// Bytes of the volume the snapshot holds data for (non-zero blocks).
    pub full_size_bytes: u64,
    /// Bytes of block data this snapshot added to the store (what an incremental snapshot costs).
    pub stored_bytes: u64,
}

pub fn check_snapshot_id(id: &str) -> EngineResult<()> {
    let ok = id.strip_prefix("snap-").is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok { Ok(()) } else { Err(EngineError::MalformedSnapshotId(id.into())) }
}

/// Does `snapshot` (with its current `progress`) pass `filter`?
pub fn snapshot_matches(s: &Snapshot, progress: u8, filter: &Filter) -> EngineResult<bool> {
    let one = |v: String| vec![v];
    let candidates: Vec<String> = match filter.name.as_str() {
        "snapshot-id" => one(s.id.clone()),
        "volume-id" => one(s.volume_id.clone()),
        "status" => one(s.state.as_str().into()),
        "progress" => one(format!("{progress}%")),
        "description" => one(s.description.clone()),
        "encrypted" => one(s.encrypted.to_string()),
        "owner-id" => one(ACCOUNT_ID.into()),
        "owner-alias" => Vec::new(),
        "start-time" => one(s.start_time.clone()),
        "storage-tier" => one("standard".into()),
        "volume-size" => one(s.volume_size_gib.to_string()),
        "tag-key" => s.tags.keys().cloned().collect(),
        "tag-value" => s.tags.values().cloned().collect(),
        name => match name.strip_prefix("tag:") {
            Some(key) => s.tags.get(key).cloned().into_iter().collect(),
            None => return Err(EngineError::InvalidParameterValue(format!("The filter '{name}' is invalid"))),
        },
    };
    Ok(candidates.iter().any(|c| filter.values.iter().any(|v| glob_match(v, c))))
}

/// `OwnerIds`: `self` or our account select every snapshot; other owners (and `amazon`) own none here.
pub fn owner_matches(owners: &[String]) -> bool {
    owners.is_empty() || owners.iter().any(|o| o == "self" || o == ACCOUNT_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_filters_and_owners() {
        assert!(check_snapshot_id("snap-0123456789abcdef0").is_ok());
        assert!(check_snapshot_id("snap-1234abcd").is_ok());
        assert!(check_snapshot_id("vol-0123456789abcdef0").is_err());
        let s = Snapshot {
            id: "snap-0123456789abcdef0".into(),
            volume_id: "vol-0123456789abcdef0".into(),
            lineage: "vol-0123456789abcdef0".into(),
            state: SnapshotState::Completed,
            state_message: None,
            progress: 100,
            start_time: "2026-01-01T00:00:00.000Z".into(),
            completion_time: None,
            description: "nightly backup".into(),
            volume_size_gib: 8,
            tags: [("env".to_string(), "prod".to_string())].into(),
            encrypted: false,
            kms_key_id: None,
            origin: Origin::Volume,
            full_size_bytes: 0,
            stored_bytes: 0,
        };
        let f = |n: &str, v: &str| Filter { name: n.into(), values: vec![v.into()] };
        assert!(snapshot_matches(&s, 100, &f("description", "nightly*")).unwrap());
        assert!(snapshot_matches(&s, 100, &f("tag:env", "prod")).unwrap());
        assert!(!snapshot_matches(&s, 100, &f("status", "pending")).unwrap());
        assert!(snapshot_matches(&s, 100, &f("progress", "100%")).unwrap());
        assert!(snapshot_matches(&s, 100, &f("colour", "x")).is_err());
        assert!(owner_matches(&["self".into()]) && owner_matches(&[]) && !owner_matches(&["amazon".into()]));
    }
}
