//! ListObjectVersions: keys in byte order from a range scan of current versions, and under each key
//! its current version then its older ones newest first (a range scan of that key's versions). A
//! delimiter rolls keys up into common prefixes, and the scan jumps past them as ListObjects does.

use time::OffsetDateTime;

use super::versioning::{VersionRef, sort_key};
use super::{Caller, Engine, EngineError, Result, ms_to_time};
use crate::store::meta::ObjectRecord;

#[derive(Debug, Clone, Default)]
pub struct VersionsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// 0..=1000 (the protocol clamps).
    pub max_keys: usize,
    /// Start after this key, or inside it after `version_id_marker`.
    pub key_marker: Option<String>,
    pub version_id_marker: Option<VersionRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSummary {
    pub key: String,
    /// `None` is the `null` version.
    pub version_id: Option<String>,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub size: u64,
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub owner: String,
    pub storage_class: String,
    pub checksum_algorithm: Option<String>,
}

impl VersionSummary {
    fn new(key: &str, rec: &ObjectRecord, is_latest: bool) -> Self {
        Self {
            key: key.into(),
            version_id: rec.version_id.clone(),
            is_latest,
            delete_marker: rec.delete_marker,
            size: rec.size,
            etag: rec.etag.clone(),
            last_modified: ms_to_time(rec.last_modified_ms),
            owner: rec.owner.clone(),
            storage_class: rec.storage_class.clone(),
            checksum_algorithm: rec.checksum.as_ref().map(|c| c.algorithm.clone()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionsPage {
    /// Versions and delete markers in order.
    pub versions: Vec<VersionSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    /// `None` with a next key marker means the page ended on a common prefix.
    pub next_version_id_marker: Option<String>,
}

/// Collects entries until the page is full; the entry that does not fit marks it truncated.
struct Pager {
    page: VersionsPage,
    max: usize,
    count: usize,
}

impl Pager {
    /// False once full (the caller stops).
    fn push(&mut self, v: VersionSummary) -> bool {
        if self.count == self.max {
            self.page.is_truncated = true;
            return false;
        }
        self.page.next_key_marker = Some(v.key.clone());
        self.page.next_version_id_marker = Some(v.version_id.clone().unwrap_or_else(|| "null".into()));
        self.page.versions.push(v);
        self.count += 1;
        true
    }

    fn push_prefix(&mut self, p: String) -> bool {
        if self.count == self.max {
            self.page.is_truncated = true;
            return false;
        }
        self.page.next_key_marker = Some(p.clone());
        self.page.next_version_id_marker = None;
        self.page.common_prefixes.push(p);
        self.count += 1;
        true
    }
}

impl Engine {
    pub fn list_object_versions(&self, caller: &Caller, bucket: &str, q: &VersionsQuery) -> Result<VersionsPage> {
        self.owned_bucket(caller, bucket)?;
        if q.version_id_marker.is_some() && q.key_marker.as_deref().is_none_or(str::is_empty) {
            return Err(EngineError::InvalidArgument(
                "A version-id marker cannot be specified without a key marker.".into(),
            ));
        }
        let mut pager = Pager { page: VersionsPage::default(), max: q.max_keys, count: 0 };
        if q.max_keys == 0 {
            return Ok(pager.page);
        }
        let prefix = q.prefix.as_bytes();
        let end = common::kv::prefix_successor(prefix);
        let mut start = prefix.to_vec();
        if let Some(marker) = q.key_marker.as_deref().filter(|m| !m.is_empty()) {
            // Resume inside the marker's key first, then continue after it.
            if let Some(vm) = &q.version_id_marker
                && marker.starts_with(&q.prefix)
                && !self.versions_after(bucket, marker, vm, &mut pager)?
            {
                return Ok(self.finish(pager));
            }
            let mut past = marker.as_bytes().to_vec();
            past.push(0);
            if past > start {
                start = past;
            }
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        'scan: loop {
            if end.as_deref().is_some_and(|e| start.as_slice() >= e) {
                break;
            }
            for item in self.meta.scan_objects(bucket, &start, end.as_deref())? {
                let (key, rec) = item?;
                let rolled = delimiter.and_then(|d| {
                    key[q.prefix.len()..].find(d).map(|i| key[..q.prefix.len() + i + d.len()].to_string())
                });
                if let Some(cp) = rolled {
                    if q.key_marker.as_deref().is_none_or(|m| cp.as_str() > m) && !pager.push_prefix(cp.clone()) {
                        break 'scan;
                    }
                    match common::kv::prefix_successor(cp.as_bytes()) {
                        Some(next) => {
                            start = next;
                            continue 'scan;
                        }
                        None => break 'scan,
                    }
                }
                if !pager.push(VersionSummary::new(&key, &rec, true)) {
                    break 'scan;
                }
                for older in self.meta.scan_versions(bucket, &key, None)? {
                    let (_, rec, _) = older?;
                    if !pager.push(VersionSummary::new(&key, &rec, false)) {
                        break 'scan;
                    }
                }
            }
            break;
        }
        Ok(self.finish(pager))
    }

    fn finish(&self, pager: Pager) -> VersionsPage {
        let mut page = pager.page;
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_version_id_marker = None;
        }
        page
    }

    /// The versions of `key` older than `marker`; false once the page is full.
    fn versions_after(&self, bucket: &str, key: &str, marker: &VersionRef, pager: &mut Pager) -> Result<bool> {
        let Some((current, _)) = self.meta.object(bucket, key)? else { return Ok(true) };
        let after = match marker {
            VersionRef::Id(id) if current.version_id.as_deref() == Some(id) => None,
            VersionRef::Null if current.version_id.is_none() => None,
            VersionRef::Id(id) => Some(id.clone()),
            VersionRef::Null => {
                let mut found = None;
                for item in self.meta.scan_versions(bucket, key, None)? {
                    let (sk, rec, _) = item?;
                    if rec.version_id.is_none() {
                        found = Some(sk);
                        break;
                    }
                }
                // A marker that no longer exists: nothing of this key is left to list.
                match found {
                    Some(sk) => Some(sk),
                    None => return Ok(true),
                }
            }
        };
        for item in self.meta.scan_versions(bucket, key, after.as_deref())? {
            let (_, rec, _) = item?;
            debug_assert!(after.as_deref().is_none_or(|a| sort_key(&rec).as_str() > a));
            if !pager.push(VersionSummary::new(key, &rec, false)) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
