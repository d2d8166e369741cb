//! DescribeTags: the tags of every volume and snapshot, one entry per (resource, key), filtered and
//! paged as EC2 does it.

use super::VolumeEngine;
use super::describe::{Filter, Page, glob_match};
use super::error::{EngineError, EngineResult};

/// One tag of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagEntry {
    pub resource_id: String,
    /// `volume` or `snapshot`, as EC2 names them.
    pub resource_type: &'static str,
    pub key: String,
    pub value: String,
}

impl TagEntry {
    /// Unique and in listing order: what a page token points after.
    fn position(&self) -> String {
        format!("{}\t{}", self.resource_id, self.key)
    }
}

/// Does `entry` pass `filter`? Values are OR-ed with EC2's `*`/`?` wildcards; unknown names are an error.
fn tag_matches(entry: &TagEntry, filter: &Filter) -> EngineResult<bool> {
    let any = |candidate: &str| filter.values.iter().any(|v| glob_match(v, candidate));
    Ok(match filter.name.as_str() {
        "key" => any(&entry.key),
        "value" => any(&entry.value),
        "resource-id" => any(&entry.resource_id),
        "resource-type" => any(entry.resource_type),
        name => match name.strip_prefix("tag:") {
            Some(key) => entry.key == key && any(&entry.value),
            None => return Err(EngineError::InvalidParameterValue(format!("The filter '{name}' is invalid"))),
        },
    })
}

impl VolumeEngine {
    pub fn describe_tags(&self, filters: &[Filter], page: &Page) -> EngineResult<(Vec<TagEntry>, Option<String>)> {
        // DescribeTags takes MaxResults 5–1,000, as DescribeSnapshots does.
        page.validate_snapshots(false)?;
        let mut entries = Vec::new();
        for v in self.meta.list()? {
            entries.extend(v.tags.into_iter().map(|(key, value)| TagEntry {
                resource_id: v.id.clone(),
                resource_type: "volume",
                key,
                value,
            }));
        }
        for s in self.meta.snapshots()? {
            entries.extend(s.tags.into_iter().map(|(key, value)| TagEntry {
                resource_id: s.id.clone(),
                resource_type: "snapshot",
                key,
                value,
            }));
        }
        let mut kept = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut keep = true;
            for f in filters {
                keep &= tag_matches(&entry, f)?;
            }
            if keep {
                kept.push((entry.position(), entry));
            }
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let next = page.apply(&mut kept, |(position, _)| position.as_str())?;
        Ok((kept.into_iter().map(|(_, entry)| entry).collect(), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, kind: &'static str, key: &str, value: &str) -> TagEntry {
        TagEntry { resource_id: id.into(), resource_type: kind, key: key.into(), value: value.into() }
    }

    fn filter(name: &str, values: &[&str]) -> Filter {
        Filter { name: name.into(), values: values.iter().map(|v| v.to_string()).collect() }
    }

    #[test]
    fn filters_select_by_key_value_resource_and_tag() {
        let e = entry("vol-1", "volume", "env", "prod");
        assert!(tag_matches(&e, &filter("key", &["env", "team"])).unwrap());
        assert!(tag_matches(&e, &filter("value", &["pr*"])).unwrap());
        assert!(tag_matches(&e, &filter("resource-type", &["volume"])).unwrap());
        assert!(!tag_matches(&e, &filter("resource-type", &["snapshot"])).unwrap());
        assert!(tag_matches(&e, &filter("resource-id", &["vol-?"])).unwrap());
        assert!(tag_matches(&e, &filter("tag:env", &["prod"])).unwrap());
        assert!(!tag_matches(&e, &filter("tag:team", &["prod"])).unwrap());
        assert!(tag_matches(&e, &filter("colour", &["x"])).is_err());
    }
}
