//! What S3 checks in a PutBucketLifecycleConfiguration, with the error codes it answers: schema-level
//! problems (a filter with two children, an Expiration with both Days and Date, an unknown storage
//! class) are MalformedXML; values S3 refuses are InvalidArgument; combinations it refuses are
//! InvalidRequest.

use std::collections::HashSet;

use super::super::tier;
use super::{LifecycleConfig, Rule};
use crate::engine::{EngineError, Result};

pub const MAX_RULES: usize = 1000;
pub const MAX_ID_LEN: usize = 255;
pub const MAX_NEWER_NONCURRENT: i32 = 100;
/// Objects must stay this many days before going to STANDARD_IA / ONEZONE_IA (and in those before
/// moving on).
pub const IA_MIN_DAYS: i32 = 30;
const DAY_MS: i64 = 86_400_000;

/// Classes a transition may name.
pub fn transition_class(name: &str) -> bool {
    tier::class(name).is_some_and(|c| c.name != "STANDARD")
}

fn infrequent_access(name: &str) -> bool {
    matches!(name, "STANDARD_IA" | "ONEZONE_IA")
}

fn rank(name: &str) -> u8 {
    tier::class(name).map(|c| c.rank).unwrap_or(0)
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument(msg.into())
}

fn request(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidRequest(msg.into())
}

fn midnight(ms: i64) -> bool {
    ms.rem_euclid(DAY_MS) == 0
}

pub fn validate(config: &LifecycleConfig) -> Result<()> {
    if config.rules.is_empty() || config.rules.len() > MAX_RULES {
        return Err(EngineError::MalformedXml);
    }
    let mut ids = HashSet::new();
    for rule in &config.rules {
        if rule.id.len() > MAX_ID_LEN {
            return Err(invalid("ID length should not exceed allowed limit of 255"));
        }
        if !ids.insert(rule.id.as_str()) {
            return Err(invalid("Rule ID must be unique. Found same ID for more than one rule"));
        }
        validate_rule(rule)?;
    }
    Ok(())
}

fn validate_filter(rule: &Rule) -> Result<()> {
    let Some(f) = &rule.filter else {
        // Without a Filter the deprecated rule-level Prefix is required.
        return if rule.prefix.is_some() { Ok(()) } else { Err(EngineError::MalformedXml) };
    };
    if rule.prefix.is_some() {
        return Err(EngineError::MalformedXml);
    }
    let children = [f.prefix.is_some(), f.tag.is_some(), f.size_greater_than.is_some(), f.size_less_than.is_some()]
        .into_iter()
        .filter(|b| *b)
        .count()
        + usize::from(f.and.is_some());
    if children > 1 {
        return Err(EngineError::MalformedXml);
    }
    if let Some(a) = &f.and {
        let predicates = usize::from(a.prefix.is_some())
            + a.tags.len()
            + usize::from(a.size_greater_than.is_some())
            + usize::from(a.size_less_than.is_some());
        if predicates < 2 {
            return Err(EngineError::MalformedXml);
        }
        let mut keys = HashSet::new();
        if !a.tags.iter().all(|(k, _)| keys.insert(k.as_str())) {
            return Err(invalid("Duplicate Tag Keys are not allowed."));
        }
    }
    let c = rule.criteria();
    let (gt, lt) = match &f.and {
        Some(a) => (a.size_greater_than, a.size_less_than),
        None => (f.size_greater_than, f.size_less_than),
    };
    if gt.is_some_and(|n| n < 0) || lt.is_some_and(|n| n <= 0) {
        return Err(invalid("ObjectSize values must be positive integers"));
    }
    if let (Some(gt), Some(lt)) = (c.size_greater_than, c.size_less_than)
        && gt >= lt
    {
        return Err(invalid("ObjectSizeGreaterThan must be less than ObjectSizeLessThan"));
    }
    Ok(())
}

/// Days or dates of one rule's transitions, by class rank: colder classes later, and 30 days in an
/// infrequent-access class before the next move.
fn check_order(what: &str, field: &str, filter: &str, mut steps: Vec<(&str, Option<i32>, Option<i64>)>) -> Result<()> {
    steps.sort_by_key(|(c, _, _)| rank(c));
    for pair in steps.windows(2) {
        let ((warm, wd, wt), (cold, cd, ct)) = (pair[0], pair[1]);
        if let (Some(wd), Some(cd)) = (wd, cd) {
            let gap = if infrequent_access(warm) { IA_MIN_DAYS } else { 1 };
            if cd < wd + gap {
                return Err(invalid(if infrequent_access(warm) {
                    format!(
                        "'{field}' in the {what} action for StorageClass '{cold}' for filter '{filter}' must be 30 days more than 'filter '{filter}'' in the {what} action for StorageClass '{warm}'"
                    )
                } else {
                    format!(
                        "'{field}' in the {what} action for StorageClass '{cold}' for filter '{filter}' must be greater than '{field}' in the {what} action for StorageClass '{warm}' for filter '{filter}'"
                    )
                }));
            }
        }
        if let (Some(wt), Some(ct)) = (wt, ct)
            && ct <= wt
        {
            return Err(invalid(format!(
                "'Date' in the {what} action for StorageClass '{cold}' for filter '{filter}' must be later than 'Date' in the {what} action for StorageClass '{warm}' for filter '{filter}'"
            )));
        }
    }
    Ok(())
}

fn validate_rule(rule: &Rule) -> Result<()> {
    validate_filter(rule)?;
    let filter = rule.filter_description();
    let criteria = rule.criteria();
    let has_action = rule.expiration.is_some()
        || !rule.transitions.is_empty()
        || !rule.noncurrent_transitions.is_empty()
        || rule.noncurrent_expiration.is_some()
        || rule.abort_incomplete_upload_days.is_some();
    if !has_action {
        return Err(request("At least one action needs to be specified in a rule"));
    }
    if let Some(e) = &rule.expiration {
        let set = usize::from(e.days.is_some())
            + usize::from(e.date_ms.is_some())
            + usize::from(e.expired_object_delete_marker.is_some());
        if set != 1 {
            return Err(EngineError::MalformedXml);
        }
        if e.days.is_some_and(|d| d <= 0) {
            return Err(invalid("'Days' for Expiration action must be a positive integer"));
        }
        if e.date_ms.is_some_and(|t| !midnight(t)) {
            return Err(invalid("'Date' must be at midnight GMT"));
        }
        if e.expired_object_delete_marker.is_some() && !criteria.tags.is_empty() {
            return Err(request("ExpiredObjectDeleteMarker cannot be specified with tags"));
        }
    }
    let mut classes = HashSet::new();
    for t in &rule.transitions {
        if !transition_class(&t.storage_class) || t.days.is_some() == t.date_ms.is_some() {
            return Err(EngineError::MalformedXml);
        }
        if !classes.insert(t.storage_class.as_str()) {
            return Err(request(format!(
                "'StorageClass' must be different for 'Transition' actions in same 'Rule' with filter '{filter}'"
            )));
        }
        if let Some(d) = t.days {
            if d < 0 {
                return Err(invalid("'Days' in Transition action must be nonnegative"));
            }
            if infrequent_access(&t.storage_class) && d < IA_MIN_DAYS {
                return Err(invalid(format!(
                    "'Days' in Transition action must be greater than or equal to 30 for storageClass '{}'",
                    t.storage_class
                )));
            }
        }
        if t.date_ms.is_some_and(|d| !midnight(d)) {
            return Err(invalid("'Date' must be at midnight GMT"));
        }
    }
    let by_days = rule.transitions.iter().filter(|t| t.days.is_some()).count();
    if by_days != 0 && by_days != rule.transitions.len() {
        return Err(request(format!(
            "Found mixed 'Date' and 'Days' based Transition actions in lifecycle rule for filter '{filter}'"
        )));
    }
    check_order(
        "Transition",
        "Days",
        &filter,
        rule.transitions.iter().map(|t| (t.storage_class.as_str(), t.days, t.date_ms)).collect(),
    )?;
    if let Some(e) = &rule.expiration {
        if let Some(days) = e.days
            && rule.transitions.iter().any(|t| t.days.is_some_and(|d| d >= days))
        {
            return Err(invalid(format!(
                "'Days' in the Expiration action for filter '{filter}' must be greater than 'Days' in the Transition action"
            )));
        }
        if let Some(date) = e.date_ms
            && rule.transitions.iter().any(|t| t.date_ms.is_some_and(|d| d >= date))
        {
            return Err(invalid(format!(
                "'Date' in the Expiration action for filter '{filter}' must be later than 'Date' in the Transition action"
            )));
        }
    }
    let mut classes = HashSet::new();
    for t in &rule.noncurrent_transitions {
        let Some(days) = t.noncurrent_days else { return Err(EngineError::MalformedXml) };
        if !transition_class(&t.storage_class) {
            return Err(EngineError::MalformedXml);
        }
        if !classes.insert(t.storage_class.as_str()) {
            return Err(request(format!(
                "'StorageClass' must be different for 'NoncurrentVersionTransition' actions in same 'Rule' with filter '{filter}'"
            )));
        }
        if days < 0 {
            return Err(invalid("'NoncurrentDays' in NoncurrentVersionTransition action must be nonnegative"));
        }
        if infrequent_access(&t.storage_class) && days < IA_MIN_DAYS {
            return Err(invalid(format!(
                "'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal to 30 for storageClass '{}'",
                t.storage_class
            )));
        }
        check_newer(t.newer_noncurrent_versions, "NoncurrentVersionTransition")?;
    }
    check_order(
        "NoncurrentVersionTransition",
        "NoncurrentDays",
        &filter,
        rule.noncurrent_transitions.iter().map(|t| (t.storage_class.as_str(), t.noncurrent_days, None)).collect(),
    )?;
    if let Some(e) = &rule.noncurrent_expiration {
        let Some(days) = e.noncurrent_days else { return Err(EngineError::MalformedXml) };
        if days <= 0 {
            return Err(invalid("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"));
        }
        check_newer(e.newer_noncurrent_versions, "NoncurrentVersionExpiration")?;
        if rule.noncurrent_transitions.iter().any(|t| t.noncurrent_days.is_some_and(|d| d >= days)) {
            return Err(invalid(format!(
                "'NoncurrentDays' in the NoncurrentVersionExpiration action for filter '{filter}' must be greater than 'NoncurrentDays' in the NoncurrentVersionTransition action"
            )));
        }
    }
    if let Some(days) = rule.abort_incomplete_upload_days {
        if days <= 0 {
            return Err(invalid(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            ));
        }
        if !criteria.tags.is_empty() {
            return Err(request("AbortIncompleteMultipartUpload cannot be specified with Tags"));
        }
        if criteria.size_greater_than.is_some() || criteria.size_less_than.is_some() {
            return Err(request("AbortIncompleteMultipartUpload cannot be specified with ObjectSize filters"));
        }
    }
    Ok(())
}

fn check_newer(n: Option<i32>, action: &str) -> Result<()> {
    match n {
        Some(n) if !(1..=MAX_NEWER_NONCURRENT).contains(&n) => Err(invalid(format!(
            "'NewerNoncurrentVersions' in {action} action must be a positive integer no greater than 100"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn rule(id: &str) -> Rule {
        Rule { id: id.into(), enabled: true, filter: Some(Filter::default()), ..Default::default() }
    }

    fn config(rules: Vec<Rule>) -> LifecycleConfig {
        LifecycleConfig { rules, min_size: MinSizePolicy::default() }
    }

    fn expire(days: i32) -> Option<Expiration> {
        Some(Expiration { days: Some(days), ..Default::default() })
    }

    fn transition(days: i32, class: &str) -> Transition {
        Transition { days: Some(days), date_ms: None, storage_class: class.into() }
    }

    fn code(r: Result<()>) -> &'static str {
        match r {
            Ok(()) => "ok",
            Err(EngineError::MalformedXml) => "MalformedXML",
            Err(EngineError::InvalidArgument(_)) => "InvalidArgument",
            Err(EngineError::InvalidRequest(_)) => "InvalidRequest",
            Err(_) => "other",
        }
    }

    #[test]
    fn the_course_scenarios_are_valid() {
        let thumbs = Rule {
            filter: Some(Filter { prefix: Some("thumbnails/".into()), ..Default::default() }),
            transitions: vec![transition(30, "ONEZONE_IA")],
            expiration: expire(45),
            ..rule("thumbs")
        };
        let sources = Rule {
            filter: Some(Filter { prefix: Some("images/".into()), ..Default::default() }),
            transitions: vec![transition(45, "GLACIER")],
            ..rule("sources")
        };
        let noncurrent = Rule {
            noncurrent_transitions: vec![
                NoncurrentTransition {
                    noncurrent_days: Some(30),
                    storage_class: "STANDARD_IA".into(),
                    ..Default::default()
                },
                NoncurrentTransition {
                    noncurrent_days: Some(365),
                    storage_class: "DEEP_ARCHIVE".into(),
                    ..Default::default()
                },
            ],
            ..rule("noncurrent")
        };
        assert_eq!(code(validate(&config(vec![thumbs, sources, noncurrent]))), "ok");
    }

    #[test]
    fn s3s_constraints_are_enforced_with_s3s_codes() {
        let cases: Vec<(Rule, &str)> = vec![
            (rule("no-action"), "InvalidRequest"),
            (Rule { expiration: expire(0), ..rule("zero") }, "InvalidArgument"),
            (
                Rule {
                    expiration: Some(Expiration { days: Some(1), date_ms: Some(0), ..Default::default() }),
                    ..rule("both")
                },
                "MalformedXML",
            ),
            (Rule { transitions: vec![transition(10, "STANDARD_IA")], ..rule("ia-early") }, "InvalidArgument"),
            (Rule { transitions: vec![transition(10, "STANDARD")], ..rule("to-standard") }, "MalformedXML"),
            (
                Rule { transitions: vec![transition(30, "STANDARD_IA"), transition(40, "GLACIER")], ..rule("ia-gap") },
                "InvalidArgument",
            ),
            (
                Rule { transitions: vec![transition(100, "GLACIER"), transition(90, "DEEP_ARCHIVE")], ..rule("order") },
                "InvalidArgument",
            ),
            (
                Rule { transitions: vec![transition(60, "GLACIER")], expiration: expire(60), ..rule("exp") },
                "InvalidArgument",
            ),
            (
                Rule {
                    noncurrent_transitions: vec![NoncurrentTransition {
                        noncurrent_days: Some(15),
                        storage_class: "STANDARD_IA".into(),
                        ..Default::default()
                    }],
                    ..rule("nc-ia-early")
                },
                "InvalidArgument",
            ),
            (
                Rule {
                    noncurrent_expiration: Some(NoncurrentExpiration {
                        noncurrent_days: Some(5),
                        newer_noncurrent_versions: Some(101),
                    }),
                    ..rule("newer")
                },
                "InvalidArgument",
            ),
            (
                Rule {
                    filter: Some(Filter {
                        prefix: Some("a".into()),
                        tag: Some(("k".into(), "v".into())),
                        ..Default::default()
                    }),
                    expiration: expire(1),
                    ..rule("two-children")
                },
                "MalformedXML",
            ),
            (Rule { filter: None, expiration: expire(1), ..rule("no-filter") }, "MalformedXML"),
            (
                Rule {
                    filter: Some(Filter { tag: Some(("k".into(), "v".into())), ..Default::default() }),
                    abort_incomplete_upload_days: Some(1),
                    ..rule("abort-tags")
                },
                "InvalidRequest",
            ),
            (
                Rule {
                    filter: Some(Filter {
                        and: Some(AndFilter {
                            size_greater_than: Some(10),
                            size_less_than: Some(5),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    expiration: expire(1),
                    ..rule("sizes")
                },
                "InvalidArgument",
            ),
        ];
        for (r, want) in cases {
            let id = r.id.clone();
            assert_eq!(code(validate(&config(vec![r]))), want, "rule {id}");
        }
        let dup =
            config(vec![Rule { expiration: expire(1), ..rule("x") }, Rule { expiration: expire(2), ..rule("x") }]);
        assert_eq!(code(validate(&dup)), "InvalidArgument");
        assert_eq!(code(validate(&config(vec![]))), "MalformedXML");
    }
}
