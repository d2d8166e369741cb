//! Attribute values, items, DynamoDB's size accounting and the order between values of one type.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::error::{Result, invalid};
use super::number::Number;

pub type Item = BTreeMap<String, AttrValue>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<AttrValue>),
    M(Item),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

impl AttrValue {
    /// The type descriptor as DynamoDB spells it.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttrValue::S(_) => "S",
            AttrValue::N(_) => "N",
            AttrValue::B(_) => "B",
            AttrValue::Bool(_) => "BOOL",
            AttrValue::Null => "NULL",
            AttrValue::L(_) => "L",
            AttrValue::M(_) => "M",
            AttrValue::Ss(_) => "SS",
            AttrValue::Ns(_) => "NS",
            AttrValue::Bs(_) => "BS",
        }
    }

    /// Bytes DynamoDB counts for this value (the attribute name is counted by the caller).
    pub fn size(&self) -> usize {
        match self {
            AttrValue::S(s) => s.len(),
            AttrValue::N(n) => n.size(),
            AttrValue::B(b) => b.len(),
            AttrValue::Bool(_) | AttrValue::Null => 1,
            AttrValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttrValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttrValue::Ss(s) => s.iter().map(|s| s.len()).sum(),
            AttrValue::Ns(s) => s.iter().map(|n| n.size()).sum(),
            AttrValue::Bs(s) => s.iter().map(|b| b.len()).sum(),
        }
    }

    /// Order for comparisons in expressions: defined only between two S, two N or two B values.
    pub fn compare(&self, other: &AttrValue) -> Option<Ordering> {
        match (self, other) {
            (AttrValue::S(a), AttrValue::S(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (AttrValue::N(a), AttrValue::N(b)) => Some(a.cmp(b)),
            (AttrValue::B(a), AttrValue::B(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// Equality as DynamoDB defines it: sets compare as sets, everything else structurally.
    pub fn equals(&self, other: &AttrValue) -> bool {
        match (self, other) {
            (AttrValue::Ss(a), AttrValue::Ss(b)) => same_set(a, b),
            (AttrValue::Ns(a), AttrValue::Ns(b)) => same_set(a, b),
            (AttrValue::Bs(a), AttrValue::Bs(b)) => same_set(a, b),
            (AttrValue::L(a), AttrValue::L(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equals(y)),
            (AttrValue::M(a), AttrValue::M(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v.equals(w)))
            }
            _ => self == other,
        }
    }
}

fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Size of a whole item: every attribute's name plus its value.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// Checks the rules DynamoDB applies to every value it receives (sets non-empty and duplicate-free,
/// nesting depth).
pub fn validate_value(value: &AttrValue, depth: usize) -> Result<()> {
    if depth > 32 {
        return Err(invalid("Nesting Levels have exceeded supported limits: Nesting levels are limited to 32"));
    }
    fn has_dup<T: Ord + Clone>(items: &[T]) -> bool {
        let mut sorted = items.to_vec();
        sorted.sort();
        sorted.windows(2).any(|w| w[0] == w[1])
    }
    const PREFIX: &str = "One or more parameter values were invalid:";
    // DynamoDB's own wording differs per set type (double space, "]of type BS", no prefix for NS).
    match value {
        AttrValue::Ss(s) if s.is_empty() => Err(invalid(format!("{PREFIX} An string set  may not be empty"))),
        AttrValue::Ns(s) if s.is_empty() => Err(invalid(format!("{PREFIX} An number set  may not be empty"))),
        AttrValue::Bs(s) if s.is_empty() => Err(invalid(format!("{PREFIX} Binary sets should not be empty"))),
        AttrValue::Ss(s) if has_dup(s) => {
            Err(invalid(format!("{PREFIX} Input collection [{}] contains duplicates.", s.join(", "))))
        }
        AttrValue::Ns(s) if has_dup(s) => Err(invalid("Input collection contains duplicates")),
        AttrValue::Bs(s) if has_dup(s) => {
            use base64::Engine as _;
            let listed: Vec<String> = s.iter().map(|b| base64::engine::general_purpose::STANDARD.encode(b)).collect();
            Err(invalid(format!("{PREFIX} Input collection [{}]of type BS contains duplicates.", listed.join(", "))))
        }
        AttrValue::L(l) => l.iter().try_for_each(|v| validate_value(v, depth + 1)),
        AttrValue::M(m) => m.values().try_for_each(|v| validate_value(v, depth + 1)),
        _ => Ok(()),
    }
}
