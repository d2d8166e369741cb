//! Sorted sets: a member → score map plus an ordered index of (score, member).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

use super::keyspace::{Blob, Map};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score(pub f64);
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A score bound of ZRANGEBYSCORE / ZCOUNT: `1.5`, `(1.5`, `-inf`, `+inf`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

/// A lex bound: `[a`, `(a`, `-`, `+`.
#[derive(Debug, Clone, PartialEq)]
pub enum LexBound {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

#[derive(Default)]
pub struct ZSet {
    scores: Map<Blob, f64>,
    order: BTreeSet<(Score, Blob)>,
}

fn norm(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v }
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }
    /// Sets `member`'s score; true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        let score = norm(score);
        match self.scores.get_mut(member) {
            Some(old) => {
                if *old != score {
                    let key: Blob = member.into();
                    self.order.remove(&(Score(*old), key.clone()));
                    self.order.insert((Score(score), key));
                    *old = score;
                }
                false
            }
            None => {
                let key: Blob = member.into();
                self.scores.insert(key.clone(), score);
                self.order.insert((Score(score), key));
                true
            }
        }
    }
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove(member) {
            Some(score) => {
                self.order.remove(&(Score(score), Blob::from(member)));
                true
            }
            None => false,
        }
    }
    /// 0-based rank in ascending (or descending) order.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let score = *self.scores.get(member)?;
        let below = self.order.range(..(Score(score), Blob::from(member))).count();
        Some(if rev { self.len() - 1 - below } else { below })
    }
    pub fn iter(&self, rev: bool) -> Box<dyn Iterator<Item = (&Blob, f64)> + '_> {
        let it = self.order.iter().map(|(s, m)| (m, s.0));
        if rev { Box::new(it.rev()) } else { Box::new(it) }
    }
    /// Members with rank in `[start, stop]` (already normalised, inclusive).
    pub fn range_by_rank(&self, start: usize, stop: usize, rev: bool) -> Vec<(Blob, f64)> {
        if start > stop || start >= self.len() {
            return Vec::new();
        }
        self.iter(rev).skip(start).take(stop - start + 1).map(|(m, s)| (m.clone(), s)).collect()
    }
    fn score_range(&self, min: ScoreBound, max: ScoreBound) -> impl Iterator<Item = &(Score, Blob)> {
        let lo = Bound::Included((Score(min.value), Blob::default()));
        self.order
            .range((lo, Bound::Unbounded))
            .take_while(move |(s, _)| if max.exclusive { s.0 < max.value } else { s.0 <= max.value })
            .filter(move |(s, _)| if min.exclusive { s.0 > min.value } else { s.0 >= min.value })
    }
    pub fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
        rev: bool,
        offset: usize,
        count: Option<usize>,
    ) -> Vec<(Blob, f64)> {
        let items: Vec<&(Score, Blob)> = self.score_range(min, max).collect();
        let it: Box<dyn Iterator<Item = &&(Score, Blob)>> =
            if rev { Box::new(items.iter().rev()) } else { Box::new(items.iter()) };
        it.skip(offset).take(count.unwrap_or(usize::MAX)).map(|(s, m)| (m.clone(), s.0)).collect()
    }
    pub fn count(&self, min: ScoreBound, max: ScoreBound) -> usize {
        self.score_range(min, max).count()
    }
    fn in_lex(m: &[u8], min: &LexBound, max: &LexBound) -> bool {
        let lo = match min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(v) => m >= v.as_slice(),
            LexBound::Excl(v) => m > v.as_slice(),
        };
        let hi = match max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(v) => m <= v.as_slice(),
            LexBound::Excl(v) => m < v.as_slice(),
        };
        lo && hi
    }
    /// Lex ranges assume equal scores (as Redis documents); members are taken in index order.
    pub fn range_by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: usize,
        count: Option<usize>,
    ) -> Vec<(Blob, f64)> {
        self.iter(rev)
            .filter(|(m, _)| Self::in_lex(m, min, max))
            .skip(offset)
            .take(count.unwrap_or(usize::MAX))
            .map(|(m, s)| (m.clone(), s))
            .collect()
    }
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<(Blob, f64)> {
        let mut out = Vec::new();
        for _ in 0..count {
            let first = if max { self.order.pop_last() } else { self.order.pop_first() };
            let Some((s, m)) = first else { break };
            self.scores.swap_remove(&m);
            out.push((m, s.0));
        }
        out
    }
    pub fn members_scores(&self) -> impl Iterator<Item = (&Blob, f64)> {
        self.iter(false)
    }
    /// The member at position `idx` of the member table (for random picks and scans).
    pub fn get_index(&self, idx: usize) -> Option<(&Blob, f64)> {
        self.scores.get_index(idx).map(|(m, s)| (m, *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: f64) -> ScoreBound {
        ScoreBound { value: v, exclusive: false }
    }

    #[test]
    fn ranks_and_ranges() {
        let mut z = ZSet::default();
        for (m, s) in [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 2.0)] {
            assert!(z.insert(m.as_bytes(), s));
        }
        assert!(!z.insert(b"a", 5.0));
        assert_eq!(z.rank(b"b", false), Some(0));
        assert_eq!(z.rank(b"a", false), Some(3));
        assert_eq!(z.rank(b"a", true), Some(0));
        let r = z.range_by_score(b(2.0), ScoreBound { value: 3.0, exclusive: true }, false, 0, None);
        assert_eq!(r.iter().map(|(m, _)| &m[..]).collect::<Vec<_>>(), vec![&b"b"[..], b"d"]);
        assert_eq!(z.count(b(f64::NEG_INFINITY), b(f64::INFINITY)), 4);
        assert!(z.remove(b"b"));
        assert_eq!(z.len(), 3);
        assert_eq!(z.pop(false, 1)[0].0[..], b"d"[..]);
        assert_eq!(z.pop(true, 1)[0].0[..], b"a"[..]);
    }
}
