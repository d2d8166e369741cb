//! KeyConditionExpression (and the legacy KeyConditions, once translated): which operators it may
//! use, how it splits into the partition value and a sort-key condition, and the store key range
//! that condition reads, so a Query is one range scan of one partition.

use common::kv::{KeyRange, prefix_successor};

use super::error::{EngineError, Result, invalid};
use super::expr::ast::{CmpOp, Condition, Operand};
use super::tables::{KeyAttr, ScalarType, TableMeta};
use super::value::AttrValue;
use crate::store::keys::encode_component;

/// The sort-key part of a key condition.
pub(super) enum SortCond {
    Cmp(CmpOp, AttrValue),
    Between(AttrValue, AttrValue),
    BeginsWith(AttrValue),
}

/// Whether sort key value `v` satisfies the key condition's sort part.
pub(super) fn sort_matches(sc: &SortCond, v: &AttrValue) -> bool {
    match sc {
        SortCond::Cmp(op, w) => v.compare(w).is_some_and(|o| match op {
            CmpOp::Eq => o.is_eq(),
            CmpOp::Lt => o.is_lt(),
            CmpOp::Le => o.is_le(),
            CmpOp::Gt => o.is_gt(),
            CmpOp::Ge => o.is_ge(),
            CmpOp::Ne => o.is_ne(),
        }),
        SortCond::Between(lo, hi) => {
            v.compare(lo).is_some_and(|o| o.is_ge()) && v.compare(hi).is_some_and(|o| o.is_le())
        }
        SortCond::BeginsWith(p) => match (v, p) {
            (AttrValue::S(v), AttrValue::S(p)) => v.starts_with(p.as_str()),
            (AttrValue::B(v), AttrValue::B(p)) => v.starts_with(p),
            _ => false,
        },
    }
}

fn type_ok(v: &AttrValue, attr: &KeyAttr) -> bool {
    matches!(
        (v, attr.ty),
        (AttrValue::S(_), ScalarType::S) | (AttrValue::N(_), ScalarType::N) | (AttrValue::B(_), ScalarType::B)
    )
}

fn unsupported() -> EngineError {
    invalid("Query key condition not supported")
}

/// Operators a KeyConditionExpression cannot use (only `=`, comparisons, BETWEEN and begins_with joined
/// by AND), named as DynamoDB names them.
pub(super) fn key_condition_operators(cond: &Condition) -> Result<()> {
    let bad = |op: &str| Err(invalid(format!("Invalid operator used in KeyConditionExpression: {op}")));
    match cond {
        Condition::And(a, b) => {
            key_condition_operators(a)?;
            key_condition_operators(b)
        }
        Condition::Or(..) => bad("OR"),
        Condition::Not(..) => bad("NOT"),
        Condition::In(..) => bad("IN"),
        Condition::Cmp(_, CmpOp::Ne, _) => bad("<>"),
        Condition::Exists(_) => bad("attribute_exists"),
        Condition::NotExists(_) => bad("attribute_not_exists"),
        Condition::AttrType(..) => bad("attribute_type"),
        Condition::Contains(..) => bad("contains"),
        _ => Ok(()),
    }
}

/// Splits a key condition into the partition value and an optional sort-key condition.
pub(super) fn split_key_condition(meta: &TableMeta, cond: Condition) -> Result<(AttrValue, Option<SortCond>)> {
    let parts = cond.conjuncts();
    if parts.len() > 2 {
        return Err(invalid("Conditions can be of length 1 or 2 only"));
    }
    let mut partition = None;
    let mut sort = None;
    for part in parts {
        let (operand, sc) = match part {
            Condition::Cmp(a, op, Operand::Value(v)) if op != CmpOp::Ne => (a, SortCond::Cmp(op, v)),
            Condition::Between(a, Operand::Value(lo), Operand::Value(hi)) => (a, SortCond::Between(lo, hi)),
            Condition::BeginsWith(a, Operand::Value(p)) => (a, SortCond::BeginsWith(p)),
            _ => return Err(unsupported()),
        };
        let Some(name) = operand.top_attribute() else { return Err(unsupported()) };
        if name == meta.hash.name {
            if partition.is_some() {
                return Err(invalid("KeyConditionExpressions must only contain one condition per key"));
            }
            let SortCond::Cmp(CmpOp::Eq, v) = sc else { return Err(unsupported()) };
            if !type_ok(&v, &meta.hash) {
                return Err(invalid(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type",
                ));
            }
            partition = Some(v);
        } else if meta.range.as_ref().is_some_and(|r| r.name == name) {
            let range = meta.range.as_ref().expect("checked");
            let values: Vec<&AttrValue> = match &sc {
                SortCond::Cmp(_, v) | SortCond::BeginsWith(v) => vec![v],
                SortCond::Between(a, b) => vec![a, b],
            };
            if values.iter().any(|v| !type_ok(v, range)) {
                return Err(invalid(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type",
                ));
            }
            if let SortCond::BeginsWith(AttrValue::N(_)) = sc {
                return Err(invalid(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
                ));
            }
            if let SortCond::Between(a, b) = &sc
                && a.compare(b).is_some_and(|o| o.is_gt())
            {
                return Err(invalid(
                    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                ));
            }
            if sort.is_some() {
                return Err(invalid("KeyConditionExpressions must only contain one condition per key"));
            }
            sort = Some(sc);
        } else {
            return Err(invalid(format!("Query condition missed key schema element: {}", meta.hash.name)));
        }
    }
    let partition =
        partition.ok_or_else(|| invalid(format!("Query condition missed key schema element: {}", meta.hash.name)))?;
    Ok((partition, sort))
}

fn enc(prefix: &[u8], v: &AttrValue) -> Vec<u8> {
    let mut k = prefix.to_vec();
    encode_component(&mut k, v);
    k
}

/// The smallest key after `key` (keys are prefix-free, so nothing lies between).
pub(super) fn after(key: &[u8]) -> Vec<u8> {
    let mut k = key.to_vec();
    k.push(0);
    k
}

/// The first key past every key starting with `key`: index entries continue after the index sort key
/// with the table key, so "sort key <= v" must include all of `enc(v)`'s extensions. (In the table
/// itself keys are prefix-free, so this is the key right after `key`.)
fn past(key: &[u8]) -> Vec<u8> {
    prefix_successor(key).unwrap_or_else(|| after(key))
}

pub(super) fn sort_range(prefix: &[u8], sort: Option<&SortCond>) -> KeyRange {
    let end = || prefix_successor(prefix);
    match sort {
        None => KeyRange { start: prefix.to_vec(), end: end() },
        Some(SortCond::Cmp(op, v)) => {
            let k = enc(prefix, v);
            match op {
                CmpOp::Eq => KeyRange { start: k.clone(), end: Some(past(&k)) },
                CmpOp::Lt => KeyRange { start: prefix.to_vec(), end: Some(k) },
                CmpOp::Le => KeyRange { start: prefix.to_vec(), end: Some(past(&k)) },
                CmpOp::Gt => KeyRange { start: past(&k), end: end() },
                CmpOp::Ge => KeyRange { start: k, end: end() },
                CmpOp::Ne => unreachable!("rejected when parsing"),
            }
        }
        Some(SortCond::Between(lo, hi)) => KeyRange { start: enc(prefix, lo), end: Some(past(&enc(prefix, hi))) },
        Some(SortCond::BeginsWith(p)) => {
            // The escaped bytes without the terminator: every longer value starts with them.
            let mut k = enc(prefix, p);
            k.truncate(k.len() - 2);
            KeyRange { start: k.clone(), end: prefix_successor(&k) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::number::Number;
    use proptest::prelude::*;

    fn in_range(r: &KeyRange, key: &[u8]) -> bool {
        key >= r.start.as_slice() && r.end.as_ref().is_none_or(|e| key < e.as_slice())
    }

    fn condition(op: u8, a: AttrValue, b: AttrValue) -> SortCond {
        match op % 7 {
            0 => SortCond::Cmp(CmpOp::Eq, a),
            1 => SortCond::Cmp(CmpOp::Lt, a),
            2 => SortCond::Cmp(CmpOp::Le, a),
            3 => SortCond::Cmp(CmpOp::Gt, a),
            4 => SortCond::Cmp(CmpOp::Ge, a),
            5 => SortCond::Between(a, b),
            _ => SortCond::BeginsWith(a),
        }
    }

    proptest! {
        // The range a Query scans holds exactly the sort keys its condition matches: no item is
        // missed, none read that the condition would then have to drop.
        #[test]
        fn sort_range_holds_exactly_the_matching_strings(op in 0u8..7, a in "[ab\\x00]{0,4}", b in "[ab\\x00]{0,4}", v in "[ab\\x00]{1,5}") {
            let prefix = b"p\x01".to_vec();
            let sc = condition(op, AttrValue::S(a), AttrValue::S(b));
            let key = enc(&prefix, &AttrValue::S(v.clone()));
            prop_assert_eq!(in_range(&sort_range(&prefix, Some(&sc)), &key), sort_matches(&sc, &AttrValue::S(v)));
        }

        #[test]
        fn sort_range_holds_exactly_the_matching_numbers(op in 0u8..6, a in -30i64..30, b in -30i64..30, v in -30i64..30, scale in 0u32..3) {
            let n = |i: i64| AttrValue::N(Number::parse(&format!("{}e-{scale}", i)).unwrap());
            let prefix = b"p\x01".to_vec();
            let sc = condition(op, n(a), n(b));
            let key = enc(&prefix, &n(v));
            prop_assert_eq!(in_range(&sort_range(&prefix, Some(&sc)), &key), sort_matches(&sc, &n(v)));
        }
    }
}
