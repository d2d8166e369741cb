//! What a lifecycle configuration does to one object version at one instant: pure logic, no I/O.
//!
//! S3's timing: an action with `Days = n` is due at the first day boundary ("midnight UTC") at or after
//! `start + n days`, where `start` is the version's creation for current versions and the moment it
//! became noncurrent (its successor's creation) for noncurrent ones. With a configurable day length the
//! boundaries are multiples of that length since the epoch. When several rules apply, expiration wins
//! over transition, and of several due transitions the coldest class wins; lifecycle never moves an
//! object to a class it ranks at or below its current one.

use super::super::tier;
use super::{LifecycleConfig, MinSizePolicy, Rule};

/// What the evaluator needs to know about one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts<'a> {
    pub key: &'a str,
    pub size: u64,
    pub tags: &'a [(String, String)],
    pub storage_class: &'a str,
    pub delete_marker: bool,
    pub last_modified_ms: i64,
    /// `None` for the current version; for a noncurrent one, when it stopped being current.
    pub noncurrent_since_ms: Option<i64>,
    /// Noncurrent versions of the key newer than this one.
    pub newer_noncurrent: usize,
    /// The key has no noncurrent versions (a current delete marker is then "expired").
    pub no_noncurrent_versions: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Expire the current version: delete it (unversioned) or add a delete marker (versioned).
    ExpireCurrent,
    /// Remove a current delete marker that has no noncurrent versions left.
    RemoveExpiredDeleteMarker,
    /// Delete a noncurrent version permanently.
    DeleteNoncurrent,
    /// Move the version to this storage class.
    Transition(String),
}

/// Objects smaller than this do not transition unless the policy allows it for the class.
pub const SMALL_OBJECT: u64 = 128 * 1024;

/// The first day boundary at or after `start + days`.
pub fn due_ms(start_ms: i64, days: i64, day_ms: i64) -> i64 {
    let at = start_ms.saturating_add(days.saturating_mul(day_ms));
    at.div_euclid(day_ms).saturating_add(i64::from(at.rem_euclid(day_ms) != 0)).saturating_mul(day_ms)
}

pub fn matches(rule: &Rule, v: &VersionFacts) -> bool {
    if !rule.enabled {
        return false;
    }
    let c = rule.criteria();
    if !v.key.starts_with(&c.prefix) {
        return false;
    }
    if v.delete_marker {
        // Delete markers have neither tags nor a size: only prefix filters select them.
        return c.tags.is_empty() && c.size_greater_than.is_none() && c.size_less_than.is_none();
    }
    c.tags.iter().all(|t| v.tags.contains(t))
        && c.size_greater_than.is_none_or(|n| v.size > n)
        && c.size_less_than.is_none_or(|n| v.size < n)
}

fn may_transition(policy: MinSizePolicy, size: u64, class: &str) -> bool {
    size >= SMALL_OBJECT
        || (policy == MinSizePolicy::VariesByStorageClass && matches!(class, "GLACIER" | "DEEP_ARCHIVE"))
}

fn rank(class: &str) -> u8 {
    tier::class(class).map(|c| c.rank).unwrap_or(0)
}

pub fn evaluate(config: &LifecycleConfig, v: &VersionFacts, now_ms: i64, day_ms: i64) -> Action {
    let rules: Vec<&Rule> = config.rules.iter().filter(|r| matches(r, v)).collect();
    let due = |start: i64, days: Option<i32>, date: Option<i64>| match (days, date) {
        (Some(d), _) => due_ms(start, d as i64, day_ms) <= now_ms,
        (None, Some(t)) => t <= now_ms,
        (None, None) => false,
    };
    let mut coldest: Option<&str> = None;
    let mut consider = |class: &str| {
        if rank(class) > rank(v.storage_class)
            && may_transition(config.min_size, v.size, class)
            && coldest.is_none_or(|c| rank(class) > rank(c))
        {
            coldest = Some(tier::class(class).map(|c| c.name).unwrap_or("STANDARD"));
        }
    };
    match v.noncurrent_since_ms {
        None if v.delete_marker => {
            let expired = rules
                .iter()
                .any(|r| r.expiration.as_ref().is_some_and(|e| e.expired_object_delete_marker == Some(true)));
            if expired && v.no_noncurrent_versions {
                return Action::RemoveExpiredDeleteMarker;
            }
            return Action::None;
        }
        None => {
            for r in &rules {
                if let Some(e) = &r.expiration
                    && due(v.last_modified_ms, e.days, e.date_ms)
                {
                    return Action::ExpireCurrent;
                }
            }
            for r in &rules {
                for t in &r.transitions {
                    if due(v.last_modified_ms, t.days, t.date_ms) {
                        consider(&t.storage_class);
                    }
                }
            }
        }
        Some(since) => {
            for r in &rules {
                if let Some(e) = &r.noncurrent_expiration
                    && due(since, e.noncurrent_days, None)
                    && v.newer_noncurrent >= e.newer_noncurrent_versions.unwrap_or(0).max(0) as usize
                {
                    return Action::DeleteNoncurrent;
                }
            }
            if v.delete_marker {
                return Action::None;
            }
            for r in &rules {
                for t in &r.noncurrent_transitions {
                    if due(since, t.noncurrent_days, None)
                        && v.newer_noncurrent >= t.newer_noncurrent_versions.unwrap_or(0).max(0) as usize
                    {
                        consider(&t.storage_class);
                    }
                }
            }
        }
    }
    match coldest {
        Some(c) => Action::Transition(c.to_string()),
        None => Action::None,
    }
}

/// Whether an incomplete multipart upload started at `initiated_ms` is due to be aborted.
pub fn abort_due(config: &LifecycleConfig, key: &str, initiated_ms: i64, now_ms: i64, day_ms: i64) -> bool {
    config.rules.iter().any(|r| {
        r.enabled
            && key.starts_with(&r.criteria().prefix)
            && r.abort_incomplete_upload_days.is_some_and(|d| due_ms(initiated_ms, d as i64, day_ms) <= now_ms)
    })
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 1000;

    fn facts<'a>(key: &'a str, class: &'a str, modified: i64) -> VersionFacts<'a> {
        VersionFacts {
            key,
            size: 200_000,
            tags: &[],
            storage_class: class,
            delete_marker: false,
            last_modified_ms: modified,
            noncurrent_since_ms: None,
            newer_noncurrent: 0,
            no_noncurrent_versions: true,
        }
    }

    fn prefix_rule(prefix: &str) -> Rule {
        Rule {
            id: prefix.into(),
            enabled: true,
            filter: Some(Filter { prefix: Some(prefix.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn course() -> LifecycleConfig {
        let thumbs = Rule {
            transitions: vec![Transition { days: Some(30), date_ms: None, storage_class: "ONEZONE_IA".into() }],
            expiration: Some(Expiration { days: Some(45), ..Default::default() }),
            ..prefix_rule("thumbnails/")
        };
        let sources = Rule {
            transitions: vec![Transition { days: Some(45), date_ms: None, storage_class: "GLACIER".into() }],
            ..prefix_rule("images/")
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
            ..prefix_rule("")
        };
        LifecycleConfig { rules: vec![thumbs, sources, noncurrent], min_size: MinSizePolicy::default() }
    }

    #[test]
    fn days_round_up_to_the_next_day_boundary() {
        assert_eq!(due_ms(0, 1, DAY), 1000);
        assert_eq!(due_ms(1, 1, DAY), 2000);
        assert_eq!(due_ms(999, 0, DAY), 1000);
        assert_eq!(due_ms(2000, 0, DAY), 2000);
    }

    #[test]
    fn the_course_scenarios_play_out_day_by_day() {
        let c = course();
        let at = |day: i64, f: &VersionFacts| evaluate(&c, f, day * DAY, DAY);
        let thumb = facts("thumbnails/a.jpg", "STANDARD", 0);
        assert_eq!(at(29, &thumb), Action::None);
        assert_eq!(at(30, &thumb), Action::Transition("ONEZONE_IA".into()));
        let thumb_ia = facts("thumbnails/a.jpg", "ONEZONE_IA", 0);
        assert_eq!(at(44, &thumb_ia), Action::None);
        assert_eq!(at(45, &thumb_ia), Action::ExpireCurrent);
        let source = facts("images/a.png", "STANDARD", 0);
        assert_eq!(at(44, &source), Action::None);
        assert_eq!(at(45, &source), Action::Transition("GLACIER".into()));
        let old = VersionFacts { noncurrent_since_ms: Some(10 * DAY), ..facts("images/a.png", "STANDARD", 0) };
        assert_eq!(at(39, &old), Action::None, "noncurrent days count from when it became noncurrent");
        assert_eq!(at(40, &old), Action::Transition("STANDARD_IA".into()));
        let old_ia = VersionFacts { storage_class: "STANDARD_IA", ..old.clone() };
        assert_eq!(at(374, &old_ia), Action::None);
        assert_eq!(at(375, &old_ia), Action::Transition("DEEP_ARCHIVE".into()));
        assert_eq!(
            at(400, &old),
            Action::Transition("DEEP_ARCHIVE".into()),
            "a late pass goes straight to the coldest"
        );
    }

    #[test]
    fn filters_newer_versions_and_delete_markers() {
        let mut c = LifecycleConfig::default();
        c.rules.push(Rule {
            filter: Some(Filter {
                and: Some(AndFilter {
                    prefix: Some("logs/".into()),
                    tags: vec![("keep".into(), "no".into())],
                    size_greater_than: Some(10),
                    size_less_than: None,
                }),
                ..Default::default()
            }),
            expiration: Some(Expiration { days: Some(1), ..Default::default() }),
            ..prefix_rule("")
        });
        let tags = vec![("keep".to_string(), "no".to_string())];
        let tagged = VersionFacts { tags: &tags, ..facts("logs/x", "STANDARD", 0) };
        assert_eq!(evaluate(&c, &tagged, 5 * DAY, DAY), Action::ExpireCurrent);
        assert_eq!(evaluate(&c, &facts("logs/x", "STANDARD", 0), 5 * DAY, DAY), Action::None, "tag missing");
        let tiny = VersionFacts { size: 5, ..tagged.clone() };
        assert_eq!(evaluate(&c, &tiny, 5 * DAY, DAY), Action::None, "size filter");

        let mut c = LifecycleConfig::default();
        c.rules.push(Rule {
            noncurrent_expiration: Some(NoncurrentExpiration {
                noncurrent_days: Some(1),
                newer_noncurrent_versions: Some(2),
            }),
            expiration: Some(Expiration { expired_object_delete_marker: Some(true), ..Default::default() }),
            ..prefix_rule("")
        });
        let v =
            |newer| VersionFacts { noncurrent_since_ms: Some(0), newer_noncurrent: newer, ..facts("k", "STANDARD", 0) };
        assert_eq!(evaluate(&c, &v(1), 5 * DAY, DAY), Action::None, "the 2 newest noncurrent versions stay");
        assert_eq!(evaluate(&c, &v(2), 5 * DAY, DAY), Action::DeleteNoncurrent);
        let marker = VersionFacts { delete_marker: true, ..facts("k", "STANDARD", 0) };
        assert_eq!(evaluate(&c, &marker, DAY, DAY), Action::RemoveExpiredDeleteMarker);
        let shadowing = VersionFacts { no_noncurrent_versions: false, ..marker };
        assert_eq!(evaluate(&c, &shadowing, DAY, DAY), Action::None);
    }

    #[test]
    fn small_objects_stay_unless_the_policy_allows_archiving() {
        let mut c = LifecycleConfig::default();
        c.rules.push(Rule {
            transitions: vec![Transition { days: Some(0), date_ms: None, storage_class: "GLACIER".into() }],
            ..prefix_rule("")
        });
        let small = VersionFacts { size: 1000, ..facts("k", "STANDARD", 0) };
        assert_eq!(evaluate(&c, &small, DAY, DAY), Action::None);
        c.min_size = MinSizePolicy::VariesByStorageClass;
        assert_eq!(evaluate(&c, &small, DAY, DAY), Action::Transition("GLACIER".into()));
    }

    fn class_strategy() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(tier::CLASSES.iter().map(|c| c.name).collect::<Vec<_>>())
    }

    proptest! {
        /// Lifecycle only ever moves a version to a colder class, and what is due stays due.
        #[test]
        fn transitions_only_go_colder_and_stay_due(
            class in class_strategy(),
            target in class_strategy(),
            days in 0i32..100,
            modified in 0i64..100_000,
            now in 0i64..200_000,
            later in 0i64..100_000,
            noncurrent in proptest::option::of(0i64..100_000),
            newer in 0usize..5,
        ) {
            let mut c = LifecycleConfig::default();
            let rule = Rule {
                transitions: vec![Transition { days: Some(days), date_ms: None, storage_class: target.into() }],
                noncurrent_transitions: vec![NoncurrentTransition { noncurrent_days: Some(days), storage_class: target.into(), ..Default::default() }],
                ..prefix_rule("")
            };
            c.rules.push(rule);
            let f = VersionFacts { noncurrent_since_ms: noncurrent, newer_noncurrent: newer, ..facts("k", class, modified) };
            let first = evaluate(&c, &f, now, DAY);
            if let Action::Transition(to) = &first {
                prop_assert!(rank(to) > rank(class));
                prop_assert_eq!(evaluate(&c, &f, now + later, DAY), first.clone());
            }
            let mut disabled = c.clone();
            disabled.rules[0].enabled = false;
            prop_assert_eq!(evaluate(&disabled, &f, now, DAY), Action::None);
        }
    }
}
