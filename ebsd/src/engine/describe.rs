//! DescribeVolumes / DescribeVolumesModifications: EC2 filters (values are OR-ed, filters AND-ed, `*`
//! and `?` wildcards) and pagination tokens.

use super::error::{EngineError, EngineResult};
use super::volume::{Modification, Volume};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Largest and smallest page EC2 accepts for these calls.
pub const MAX_RESULTS: usize = 500;
pub const MIN_RESULTS: usize = 5;

/// EC2's filter value matching: `*` any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn any(values: &[String], candidates: &[String]) -> bool {
    candidates.iter().any(|c| values.iter().any(|v| glob_match(v, c)))
}

/// Does `volume` pass `filter`? Unknown filter names are an error, as in EC2.
pub fn volume_matches(volume: &Volume, filter: &Filter) -> EngineResult<bool> {
    let one = |s: &str| vec![s.to_string()];
    let att = |f: &dyn Fn(&super::volume::Attachment) -> String| volume.attachments.iter().map(f).collect::<Vec<_>>();
    let candidates: Vec<String> = match filter.name.as_str() {
        "volume-id" => one(&volume.id),
        "volume-type" => one(volume.spec.volume_type.as_str()),
        "status" => one(volume.status()),
        "size" => one(&volume.spec.size_gib.to_string()),
        "availability-zone" => one(&volume.availability_zone),
        "encrypted" => one(&volume.encrypted.to_string()),
        "multi-attach-enabled" => one(&volume.spec.multi_attach.to_string()),
        "snapshot-id" => volume.snapshot_id.iter().cloned().collect(),
        "create-time" => one(&volume.create_time),
        "tag-key" => volume.tags.keys().cloned().collect(),
        "tag-value" => volume.tags.values().cloned().collect(),
        "attachment.instance-id" => att(&|a| a.instance_id.clone()),
        "attachment.device" => att(&|a| a.device.clone()),
        "attachment.status" => att(&|_| "attached".to_string()),
        "attachment.attach-time" => att(&|a| a.attach_time.clone()),
        "attachment.delete-on-termination" => att(&|a| a.delete_on_termination.to_string()),
        name => match name.strip_prefix("tag:") {
            Some(key) => volume.tags.get(key).cloned().into_iter().collect(),
            None => return Err(EngineError::InvalidParameterValue(format!("The filter '{name}' is invalid"))),
        },
    };
    Ok(any(&filter.values, &candidates))
}

pub fn modification_matches(volume_id: &str, m: &Modification, filter: &Filter) -> EngineResult<bool> {
    let candidates = match filter.name.as_str() {
        "volume-id" => volume_id.to_string(),
        "modification-state" => m.state.clone(),
        "target-size" => m.target.size_gib.to_string(),
        "target-volume-type" => m.target.volume_type.as_str().to_string(),
        "original-size" => m.original.size_gib.to_string(),
        "original-volume-type" => m.original.volume_type.as_str().to_string(),
        "target-iops" => m.target.reported_iops().map(|i| i.to_string()).unwrap_or_default(),
        "original-iops" => m.original.reported_iops().map(|i| i.to_string()).unwrap_or_default(),
        "start-time" => m.start_time.clone(),
        name => return Err(EngineError::InvalidParameterValue(format!("The filter '{name}' is invalid"))),
    };
    Ok(any(&filter.values, &[candidates]))
}

/// A page request: `max_results` (5–500) and the token of the previous page.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub max_results: Option<usize>,
    pub next_token: Option<String>,
}

impl Page {
    pub fn validate(&self, with_ids: bool) -> EngineResult<()> {
        if let Some(max) = self.max_results {
            if with_ids {
                return Err(EngineError::InvalidParameterCombination(
                    "The parameter volumeSet cannot be used with the parameter maxResults".into(),
                ));
            }
            // Above the maximum EC2 returns a full page; below the minimum it refuses.
            if max < MIN_RESULTS {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ( {max} ) for parameter maxResults is invalid. Expecting a value greater than {MIN_RESULTS}."
                )));
            }
        }
        Ok(())
    }

    /// DescribeSnapshots' rules: MaxResults 5–1,000, not together with snapshot ids.
    pub fn validate_snapshots(&self, with_ids: bool) -> EngineResult<()> {
        if let Some(max) = self.max_results {
            if with_ids {
                return Err(EngineError::InvalidParameterCombination(
                    "The parameter snapshotSet cannot be used with the parameter maxResults".into(),
                ));
            }
            if !(MIN_RESULTS..=1_000).contains(&max) {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ( {max} ) for parameter maxResults is invalid. Expecting a value between {MIN_RESULTS} and 1000."
                )));
            }
        }
        Ok(())
    }

    /// The id after which this page starts.
    pub fn start_after(&self) -> EngineResult<Option<String>> {
        let Some(token) = &self.next_token else { return Ok(None) };
        let bytes = hex::decode(token).map_err(|_| EngineError::InvalidNextToken)?;
        String::from_utf8(bytes).map(Some).map_err(|_| EngineError::InvalidNextToken)
    }

    /// Cuts `items` (sorted by key) to this page; returns the token of the next one.
    pub fn apply<T>(&self, items: &mut Vec<T>, key: impl Fn(&T) -> &str) -> EngineResult<Option<String>> {
        if let Some(after) = self.start_after()? {
            items.retain(|item| key(item) > after.as_str());
        }
        let Some(max) = self.max_results.map(|m| m.min(MAX_RESULTS)) else { return Ok(None) };
        if items.len() <= max {
            return Ok(None);
        }
        items.truncate(max);
        Ok(items.last().map(|last| hex::encode(key(last))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("gp*", "gp3"));
        assert!(glob_match("g?2", "gp2"));
        assert!(!glob_match("gp2", "gp3"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b", "ac"));
    }

    #[test]
    fn pages_walk_everything_once() {
        let all: Vec<String> = (0..23).map(|i| format!("vol-{i:017x}")).collect();
        let mut seen = Vec::new();
        let mut page = Page { max_results: Some(5), next_token: None };
        loop {
            let mut items = all.clone();
            let next = page.apply(&mut items, |s| s.as_str()).unwrap();
            seen.extend(items);
            match next {
                Some(token) => page.next_token = Some(token),
                None => break,
            }
        }
        assert_eq!(seen, all);
        assert!(Page { max_results: Some(4), next_token: None }.validate(false).is_err());
        assert!(Page { max_results: Some(5), next_token: None }.validate(true).is_err());
        assert!(Page { max_results: None, next_token: Some("zz".into()) }.start_after().is_err());
    }
}
