//! ListObjects (v1 and v2): one page at a time from a range scan of the bucket's keys, in UTF-8 byte
//! order. A delimiter rolls keys up into common prefixes; after emitting one, the scan jumps past every
//! key under it, so a page costs O(page) reads however many keys the bucket holds.

use time::OffsetDateTime;

use super::{Caller, Engine, Result, ms_to_time};

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// 0..=1000 (the protocol clamps).
    pub max_keys: usize,
    /// Only keys (and common prefixes) strictly after this (v1 marker, v2 start-after / token).
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: OffsetDateTime,
    pub owner: String,
    pub storage_class: String,
    pub checksum_algorithm: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix on this page: where the next page starts (exclusive).
    pub last: Option<String>,
}

/// The smallest string greater than every string that starts with `prefix`, as bytes.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    common::kv::prefix_successor(prefix)
}

impl Engine {
    pub fn list_objects(&self, caller: &Caller, bucket: &str, q: &ListQuery) -> Result<ListPage> {
        self.owned_bucket(caller, bucket)?;
        let mut page = ListPage::default();
        if q.max_keys == 0 {
            return Ok(page);
        }
        let prefix = q.prefix.as_bytes();
        let end = successor(prefix);
        // Start at the prefix, or just after the marker if that is later.
        let mut start: Vec<u8> = prefix.to_vec();
        if let Some(after) = &q.after {
            let mut past = after.as_bytes().to_vec();
            past.push(0);
            if past > start {
                start = past;
            }
        }
        let delimiter = q.delimiter.as_deref().filter(|d| !d.is_empty());
        let mut count = 0;
        'scan: loop {
            if end.as_deref().is_some_and(|e| start.as_slice() >= e) {
                break;
            }
            for item in self.meta.scan_objects(bucket, &start, end.as_deref())? {
                let (key, rec) = item?;
                // A key whose current version is a delete marker is not listed.
                if rec.delete_marker {
                    continue;
                }
                let rolled = delimiter.and_then(|d| {
                    key[q.prefix.len()..].find(d).map(|i| key[..q.prefix.len() + i + d.len()].to_string())
                });
                if count == q.max_keys {
                    page.is_truncated = true;
                    break 'scan;
                }
                match rolled {
                    Some(cp) => {
                        let skip_to = successor(cp.as_bytes());
                        // A prefix at or before the marker was returned on an earlier page.
                        if q.after.as_deref().is_none_or(|a| cp.as_str() > a) {
                            page.common_prefixes.push(cp.clone());
                            page.last = Some(cp);
                            count += 1;
                        }
                        match skip_to {
                            Some(next) => {
                                start = next;
                                continue 'scan;
                            }
                            None => break 'scan,
                        }
                    }
                    None => {
                        page.objects.push(ObjectSummary {
                            key: key.clone(),
                            size: rec.size,
                            etag: rec.etag.clone(),
                            last_modified: ms_to_time(rec.last_modified_ms),
                            owner: rec.owner.clone(),
                            storage_class: rec.storage_class.clone(),
                            checksum_algorithm: rec.checksum.as_ref().map(|c| c.algorithm.clone()),
                        });
                        page.last = Some(key);
                        count += 1;
                    }
                }
            }
            break;
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::super::object::PutRequest;
    use super::super::testing::*;
    use super::*;

    async fn engine_with(keys: &[&str]) -> Engine {
        let e = engine();
        e.create_bucket(&alice(), "bkt", None).await.unwrap();
        for k in keys {
            e.put_object(&alice(), "bkt", k, body(b"x"), PutRequest::default(), None).await.unwrap();
        }
        e
    }

    fn q(prefix: &str, delimiter: Option<&str>, max: usize, after: Option<&str>) -> ListQuery {
        ListQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            max_keys: max,
            after: after.map(Into::into),
        }
    }

    #[tokio::test]
    async fn delimiter_rolls_up_and_pages_resume_after_prefixes() {
        let e = engine_with(&["a/1", "a/2", "a/3", "b", "c/x/1", "c/y", "d", "é"]).await;
        let p = e.list_objects(&alice(), "bkt", &q("", Some("/"), 1000, None)).unwrap();
        assert_eq!(p.common_prefixes, vec!["a/", "c/"]);
        assert_eq!(p.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), vec!["b", "d", "é"]);
        assert!(!p.is_truncated);

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = e.list_objects(&alice(), "bkt", &q("", Some("/"), 2, after.as_deref())).unwrap();
            seen.extend(p.common_prefixes.iter().cloned());
            seen.extend(p.objects.iter().map(|o| o.key.clone()));
            if !p.is_truncated {
                break;
            }
            after = p.last.clone();
        }
        seen.sort();
        assert_eq!(seen, vec!["a/", "b", "c/", "d", "é"]);

        let p = e.list_objects(&alice(), "bkt", &q("c/", Some("/"), 1000, None)).unwrap();
        assert_eq!(p.common_prefixes, vec!["c/x/"]);
        assert_eq!(p.objects.len(), 1);
        let p = e.list_objects(&alice(), "bkt", &q("a/", None, 2, Some("a/1"))).unwrap();
        assert_eq!(p.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), vec!["a/2", "a/3"]);
        assert!(!p.is_truncated);
    }

    #[tokio::test]
    async fn pages_of_many_keys_come_out_complete_and_in_order() {
        let keys: Vec<String> = (0..250).map(|i| format!("k{i:04}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let e = engine_with(&refs).await;
        let mut got = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let p = e.list_objects(&alice(), "bkt", &q("k", None, 100, after.as_deref())).unwrap();
            pages += 1;
            got.extend(p.objects.into_iter().map(|o| o.key));
            if !p.is_truncated {
                break;
            }
            after = p.last;
        }
        assert_eq!(got, keys);
        assert_eq!(pages, 3);
    }
}
