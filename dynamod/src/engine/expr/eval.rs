//! Evaluating conditions against an item, resolving document paths, and projecting items.

use super::ast::*;
use crate::engine::error::{Result, invalid};
use crate::engine::number::Number;
use crate::engine::value::{AttrValue, Item};

/// The value at `path` in `item`, if there is one.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttrValue> {
    let mut iter = path.iter();
    let Some(PathElem::Attr(first)) = iter.next() else { return None };
    let mut cur = item.get(first)?;
    for elem in iter {
        cur = match (elem, cur) {
            (PathElem::Attr(a), AttrValue::M(m)) => m.get(a)?,
            (PathElem::Index(i), AttrValue::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `size()`: characters of S, bytes of B, elements of sets, lists and maps.
fn size_of(v: &AttrValue) -> Option<usize> {
    Some(match v {
        AttrValue::S(s) => s.chars().count(),
        AttrValue::B(b) => b.len(),
        AttrValue::Ss(s) => s.len(),
        AttrValue::Ns(s) => s.len(),
        AttrValue::Bs(s) => s.len(),
        AttrValue::L(l) => l.len(),
        AttrValue::M(m) => m.len(),
        _ => return None,
    })
}

fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<std::borrow::Cow<'a, AttrValue>> {
    use std::borrow::Cow;
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(p) => {
            let n = size_of(resolve(item, p)?)?;
            Some(Cow::Owned(AttrValue::N(Number::parse(&n.to_string()).ok()?)))
        }
        _ => None,
    }
}

const TYPES: &[&str] = &["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];

/// Whether `cond` holds for `item` (an absent item is an empty one).
pub fn evaluate(cond: &Condition, item: &Item, kind: &str) -> Result<bool> {
    Ok(match cond {
        Condition::And(a, b) => evaluate(a, item, kind)? && evaluate(b, item, kind)?,
        Condition::Or(a, b) => evaluate(a, item, kind)? || evaluate(b, item, kind)?,
        Condition::Not(a) => !evaluate(a, item, kind)?,
        Condition::Exists(p) => resolve(item, p).is_some(),
        Condition::NotExists(p) => resolve(item, p).is_none(),
        Condition::Cmp(a, op, b) => {
            let (a, b) = (operand(item, a), operand(item, b));
            match (a, b, op) {
                (Some(a), Some(b), CmpOp::Eq) => a.equals(&b),
                (Some(a), Some(b), CmpOp::Ne) => !a.equals(&b),
                (None, _, CmpOp::Ne) | (_, None, CmpOp::Ne) => true,
                (Some(a), Some(b), op) => match a.compare(&b) {
                    Some(ord) => match op {
                        CmpOp::Lt => ord.is_lt(),
                        CmpOp::Le => ord.is_le(),
                        CmpOp::Gt => ord.is_gt(),
                        CmpOp::Ge => ord.is_ge(),
                        _ => unreachable!(),
                    },
                    None => false,
                },
                _ => false,
            }
        }
        Condition::Between(v, lo, hi) => {
            let (v, lo, hi) = (operand(item, v), operand(item, lo), operand(item, hi));
            match (v, lo, hi) {
                (Some(v), Some(lo), Some(hi)) => {
                    if lo.compare(&hi).is_some_and(|o| o.is_gt()) {
                        return Err(invalid(format!(
                            "Invalid {kind}: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}}}, upper bound operand: AttributeValue: {{{}}}",
                            describe(&lo),
                            describe(&hi)
                        )));
                    }
                    v.compare(&lo).is_some_and(|o| o.is_ge()) && v.compare(&hi).is_some_and(|o| o.is_le())
                }
                _ => false,
            }
        }
        Condition::In(v, list) => match operand(item, v) {
            Some(v) => list.iter().any(|o| operand(item, o).is_some_and(|w| v.equals(&w))),
            None => false,
        },
        Condition::AttrType(p, t) => {
            let Some(t) = operand(item, t) else { return Ok(false) };
            let AttrValue::S(t) = t.as_ref() else {
                return Err(invalid(format!(
                    "Invalid {kind}: Incorrect operand type for operator or function; operator or function: attribute_type, operand type: {}",
                    t.type_name()
                )));
            };
            if !TYPES.contains(&t.as_str()) {
                return Err(invalid(format!(
                    "Invalid {kind}: Invalid attribute type name found; type: {t}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}"
                )));
            }
            resolve(item, p).is_some_and(|v| v.type_name() == t)
        }
        Condition::BeginsWith(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => match (a.as_ref(), b.as_ref()) {
                (AttrValue::S(a), AttrValue::S(b)) => a.starts_with(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => a.starts_with(b),
                // A constant of another type is refused when parsing; an attribute of one is just false.
                _ => false,
            },
            _ => false,
        },
        Condition::Contains(a, b) => match (operand(item, a), operand(item, b)) {
            (Some(a), Some(b)) => match (a.as_ref(), b.as_ref()) {
                (AttrValue::S(a), AttrValue::S(b)) => a.contains(b.as_str()),
                (AttrValue::B(a), AttrValue::B(b)) => b.is_empty() || a.windows(b.len()).any(|w| w == b.as_slice()),
                (AttrValue::Ss(s), AttrValue::S(b)) => s.contains(b),
                (AttrValue::Ns(s), AttrValue::N(b)) => s.contains(b),
                (AttrValue::Bs(s), AttrValue::B(b)) => s.contains(b),
                (AttrValue::L(l), b) => l.iter().any(|x| x.equals(b)),
                _ => false,
            },
            _ => false,
        },
    })
}

fn long_type(v: &AttrValue) -> &'static str {
    match v {
        AttrValue::S(_) => "STRING",
        AttrValue::N(_) => "NUMBER",
        AttrValue::B(_) => "BINARY",
        AttrValue::Bool(_) => "BOOLEAN",
        AttrValue::Null => "NULL",
        AttrValue::L(_) => "LIST",
        AttrValue::M(_) => "MAP",
        AttrValue::Ss(_) => "STRING_SET",
        AttrValue::Ns(_) => "NUMBER_SET",
        AttrValue::Bs(_) => "BINARY_SET",
    }
}

pub fn operand_type_name(v: &AttrValue) -> &'static str {
    long_type(v)
}

fn describe(v: &AttrValue) -> String {
    match v {
        AttrValue::S(s) => format!("S:{s}"),
        AttrValue::N(n) => format!("N:{n}"),
        other => other.type_name().to_string(),
    }
}

/// A copy of `item` holding only `paths` (ProjectionExpression, UPDATED_OLD/NEW).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    for path in paths {
        let Some(PathElem::Attr(first)) = path.first() else { continue };
        let Some(value) = item.get(first) else { continue };
        match project_value(value, &path[1..]) {
            Some(v) => match out.get_mut(first) {
                Some(existing) => merge(existing, v),
                None => {
                    out.insert(first.clone(), v);
                }
            },
            None => continue,
        }
    }
    out
}

fn project_value(value: &AttrValue, rest: &[PathElem]) -> Option<AttrValue> {
    let Some((head, tail)) = rest.split_first() else { return Some(value.clone()) };
    match (head, value) {
        (PathElem::Attr(a), AttrValue::M(m)) => {
            let inner = project_value(m.get(a)?, tail)?;
            Some(AttrValue::M(Item::from([(a.clone(), inner)])))
        }
        (PathElem::Index(i), AttrValue::L(l)) => Some(AttrValue::L(vec![project_value(l.get(*i)?, tail)?])),
        _ => None,
    }
}

/// Merges two projections of the same attribute (e.g. `a.b, a.c`).
fn merge(into: &mut AttrValue, from: AttrValue) {
    match (into, from) {
        (AttrValue::M(a), AttrValue::M(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (AttrValue::L(a), AttrValue::L(b)) => a.extend(b),
        (into, from) => *into = from,
    }
}
