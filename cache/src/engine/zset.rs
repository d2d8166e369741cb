//! Sorted sets: a member → score map plus an ordered index of (score, member).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

use super::keyspace::{Blob, Map};
use super::small::SmallBytes;

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

/// An entry of the ordered index. Members are stored inline when short (as keys are), so the tie
/// break between equal scores compares bytes already in the B-tree node instead of chasing a heap
/// pointer per comparison, and adding or re-scoring a short member allocates nothing.
#[derive(Clone, PartialEq, Eq)]
struct Ranked {
    score: Score,
    member: SmallBytes,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.cmp(&other.score).then_with(|| (*self.member).cmp(&*other.member))
    }
}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Default)]
pub struct ZSet {
    scores: Map<SmallBytes, f64>,
    order: BTreeSet<Ranked>,
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
    /// Where `member` is in the member table and its score: one lookup that ZADD follows with
    /// [`ZSet::set_score_at`] instead of looking the member up again.
    pub fn lookup(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.scores.get_full(member).map(|(i, _, s)| (i, *s))
    }
    /// Sets `member`'s score; true if the member is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self.scores.get_index_of(member) {
            Some(idx) => {
                self.set_score_at(idx, score);
                false
            }
            None => {
                self.insert_new(member, score);
                true
            }
        }
    }
    /// Adds a member that is not present (callers looked it up first).
    pub fn insert_new(&mut self, member: &[u8], score: f64) {
        let score = norm(score);
        let member = SmallBytes::new(member);
        self.order.insert(Ranked { score: Score(score), member: member.clone() });
        self.scores.insert(member, score);
    }
    /// Re-scores the member at position `idx` of the member table (from [`ZSet::lookup`]). The
    /// index entry is taken out and put back with the new score, so its member is not copied.
    pub fn set_score_at(&mut self, idx: usize, score: f64) {
        let score = norm(score);
        let Some((member, old)) = self.scores.get_index_mut(idx) else { return };
        if *old == score {
            return;
        }
        let probe = Ranked { score: Score(*old), member: member.clone() };
        *old = score;
        let mut entry = self.order.take(&probe).unwrap_or(probe);
        entry.score = Score(score);
        self.order.insert(entry);
    }
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.swap_remove_entry(member) {
            Some((member, score)) => {
                self.order.remove(&Ranked { score: Score(score), member });
                true
            }
            None => false,
        }
    }
    /// 0-based rank in ascending (or descending) order.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<usize> {
        let score = *self.scores.get(member)?;
        let below = self.order.range(..Ranked { score: Score(score), member: SmallBytes::new(member) }).count();
        Some(if rev { self.len() - 1 - below } else { below })
    }
    pub fn iter(&self, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let it = self.order.iter().map(|r| (&*r.member, r.score.0));
        if rev { Box::new(it.rev()) } else { Box::new(it) }
    }
    /// Members with rank in `[start, stop]` (already normalised, inclusive).
    pub fn range_by_rank(&self, start: usize, stop: usize, rev: bool) -> Vec<(Blob, f64)> {
        if start > stop || start >= self.len() {
            return Vec::new();
        }
        self.iter(rev).skip(start).take(stop - start + 1).map(|(m, s)| (Blob::from(m), s)).collect()
    }
    fn score_range(&self, min: ScoreBound, max: ScoreBound) -> impl Iterator<Item = (&[u8], f64)> {
        let lo = Bound::Included(Ranked { score: Score(min.value), member: SmallBytes::default() });
        self.order
            .range((lo, Bound::Unbounded))
            .map(|r| (&*r.member, r.score.0))
            .take_while(move |&(_, s)| if max.exclusive { s < max.value } else { s <= max.value })
            .filter(move |&(_, s)| if min.exclusive { s > min.value } else { s >= min.value })
    }
    pub fn range_by_score(
        &self,
        min: ScoreBound,
        max: ScoreBound,
        rev: bool,
        offset: usize,
        count: Option<usize>,
    ) -> Vec<(Blob, f64)> {
        let items: Vec<(&[u8], f64)> = self.score_range(min, max).collect();
        let it: Box<dyn Iterator<Item = &(&[u8], f64)>> =
            if rev { Box::new(items.iter().rev()) } else { Box::new(items.iter()) };
        it.skip(offset).take(count.unwrap_or(usize::MAX)).map(|&(m, s)| (Blob::from(m), s)).collect()
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
            .map(|(m, s)| (Blob::from(m), s))
            .collect()
    }
    pub fn pop(&mut self, max: bool, count: usize) -> Vec<(Blob, f64)> {
        let mut out = Vec::new();
        for _ in 0..count {
            let first = if max { self.order.pop_last() } else { self.order.pop_first() };
            let Some(Ranked { score, member }) = first else { break };
            self.scores.swap_remove(&*member);
            out.push((Blob::from(member), score.0));
        }
        out
    }
    pub fn members_scores(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.iter(false)
    }
    /// The member at position `idx` of the member table (for random picks and scans).
    pub fn get_index(&self, idx: usize) -> Option<(&[u8], f64)> {
        self.scores.get_index(idx).map(|(m, s)| (&**m, *s))
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

    proptest::proptest! {
        /// Long members (boxed) and short ones (inline) order by score, then by bytes, through every
        /// way of changing a score (ZADD's lookup + set_score_at, insert, remove, pop).
        #[test]
        fn matches_a_sorted_model(ops in proptest::collection::vec((0u8..4, 0u8..12, -3i8..4, proptest::bool::ANY), 1..300)) {
            let mut z = ZSet::default();
            let mut model: std::collections::HashMap<Vec<u8>, f64> = Default::default();
            for (op, m, score, long) in ops {
                let member = if long { format!("member-with-a-long-name-{m:03}") } else { format!("m{m}") }.into_bytes();
                let score = f64::from(score) * 0.5;
                match op {
                    0 => {
                        let was = model.insert(member.clone(), score);
                        proptest::prop_assert_eq!(z.insert(&member, score), was.is_none());
                    }
                    1 => match z.lookup(&member) {
                        Some((idx, cur)) => {
                            proptest::prop_assert_eq!(Some(cur), model.get(&member).copied());
                            z.set_score_at(idx, score);
                            model.insert(member, score);
                        }
                        None => {
                            proptest::prop_assert!(!model.contains_key(&member));
                            z.insert_new(&member, score);
                            model.insert(member, score);
                        }
                    },
                    2 => proptest::prop_assert_eq!(z.remove(&member), model.remove(&member).is_some()),
                    _ => {
                        let popped = z.pop(long, 1);
                        let mut sorted: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
                        sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                        let want = if long { sorted.last() } else { sorted.first() };
                        proptest::prop_assert_eq!(popped.first().map(|(m, s)| (m.to_vec(), *s)), want.cloned());
                        if let Some((m, _)) = want {
                            model.remove(m);
                        }
                    }
                }
                proptest::prop_assert_eq!(z.len(), model.len());
            }
            let mut sorted: Vec<_> = model.into_iter().collect();
            sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let got: Vec<_> = z.iter(false).map(|(m, s)| (m.to_vec(), s)).collect();
            proptest::prop_assert_eq!(&got, &sorted);
            for (rank, (m, s)) in sorted.iter().enumerate() {
                proptest::prop_assert_eq!(z.rank(m, false), Some(rank));
                proptest::prop_assert_eq!(z.score(m), Some(*s));
            }
            let all = z.range_by_score(b(f64::NEG_INFINITY), b(f64::INFINITY), true, 0, None);
            proptest::prop_assert_eq!(all.len(), sorted.len());
            proptest::prop_assert!(all.iter().zip(sorted.iter().rev()).all(|((m, s), (wm, ws))| **m == **wm && s == ws));
        }
    }
}
