//! Sorted sets: a member → score map plus an ordered index of (score, member).

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

use super::keyspace::{Blob, Map, Set};
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

#[derive(Default, Clone)]
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
    /// Redis's `zslLexValueGteMin`: `m` is at or above the lower bound.
    fn gte_min(m: &[u8], min: &LexBound) -> bool {
        match min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Incl(v) => m >= v.as_slice(),
            LexBound::Excl(v) => m > v.as_slice(),
        }
    }
    /// Redis's `zslLexValueLteMax`: `m` is at or below the upper bound.
    fn lte_max(m: &[u8], max: &LexBound) -> bool {
        match max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Incl(v) => m <= v.as_slice(),
            LexBound::Excl(v) => m < v.as_slice(),
        }
    }
    /// Redis's `zzlIsInLexRange`: the range is not empty by itself (`sdscmplex` of the bounds,
    /// `-` and `+` counting as exclusive), the last member reaches the minimum and the first the
    /// maximum.
    fn may_hold_lex(&self, min: &LexBound, max: &LexBound) -> bool {
        use LexBound::*;
        let (cmp, ex) = match (min, max) {
            (Min, Min) | (Max, Max) => (Ordering::Equal, true),
            (Min, _) | (_, Max) => (Ordering::Less, false),
            (Max, _) | (_, Min) => (Ordering::Greater, false),
            (Incl(a) | Excl(a), Incl(b) | Excl(b)) => (a.cmp(b), matches!(min, Excl(_)) || matches!(max, Excl(_))),
        };
        if cmp == Ordering::Greater || (cmp == Ordering::Equal && ex) {
            return false;
        }
        match (self.order.last(), self.order.first()) {
            (Some(last), Some(first)) => Self::gte_min(&last.member, min) && Self::lte_max(&first.member, max),
            _ => false,
        }
    }
    /// A lex range, walked as Redis walks its listpack: from the first member (in the walk's
    /// direction) past the near bound, which must be within the far bound, on until a member is
    /// past the far bound. Lex ranges assume equal scores (as Redis documents); with mixed scores
    /// this is the run Redis returns for sets it keeps as listpacks (up to 128 members).
    pub fn range_by_lex(
        &self,
        min: &LexBound,
        max: &LexBound,
        rev: bool,
        offset: usize,
        count: Option<usize>,
    ) -> Vec<(Blob, f64)> {
        if !self.may_hold_lex(min, max) {
            return Vec::new();
        }
        let near = |m: &[u8]| if rev { Self::lte_max(m, max) } else { Self::gte_min(m, min) };
        let far = |m: &[u8]| if rev { Self::gte_min(m, min) } else { Self::lte_max(m, max) };
        let mut it = self.iter(rev).skip_while(|(m, _)| !near(m)).peekable();
        if !it.peek().is_some_and(|(m, _)| far(m)) {
            return Vec::new();
        }
        // As Redis, the offset skips members without checking them against the range.
        it.skip(offset)
            .take(count.unwrap_or(usize::MAX))
            .take_while(|(m, _)| far(m))
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

/// How ZUNION / ZINTER combine the scores of a member found in several inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SetOp {
    Union,
    Inter,
    Diff,
}

/// An input of ZUNION / ZINTER / ZDIFF: a missing key, a plain set (every member scores 1), or a
/// sorted set.
pub enum Input {
    Missing,
    Set(Set<Blob>),
    ZSet(ZSet),
}

impl Input {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Set(s) => s.len(),
            Input::ZSet(z) => z.len(),
        }
    }
    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Set(s) => s.contains(m).then_some(1.0),
            Input::ZSet(z) => z.score(m),
        }
    }
    fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            Input::Missing => Box::new(std::iter::empty()),
            Input::Set(s) => Box::new(s.iter().map(|m| (&**m, 1.0))),
            Input::ZSet(z) => z.iter(false),
        }
    }
}

/// Redis's `zunionInterAggregate`: a SUM of +inf and -inf is 0, not NaN.
pub fn aggregate(target: &mut f64, val: f64, agg: Aggregate) {
    match agg {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val
            }
        }
    }
}

/// A weighted score as Redis computes it (`inf * 0` is 0, not NaN).
fn weighted(score: f64, weight: f64) -> f64 {
    let s = score * weight;
    if s.is_nan() { 0.0 } else { s }
}

/// ZUNION / ZINTER / ZDIFF over `(input, weight)` pairs, in Redis's order of work: union and
/// intersection visit the inputs from the smallest to the largest (a stable sort, as glibc's
/// qsort is), which decides the order floating-point sums are taken in. The result is sorted by
/// score, then member; a computed -0 is kept (ZUNION replies it; a stored set keeps 0).
pub fn combine(op: SetOp, mut inputs: Vec<(Input, f64)>, agg: Aggregate) -> Vec<(Blob, f64)> {
    let mut out: Vec<(Blob, f64)> = Vec::new();
    if inputs.is_empty() {
        return out;
    }
    if op != SetOp::Diff {
        inputs.sort_by_key(|(i, _)| i.len());
    }
    match op {
        SetOp::Inter => {
            let (first, w0) = &inputs[0];
            'members: for (m, s) in first.iter() {
                let mut score = weighted(s, *w0);
                for (other, w) in &inputs[1..] {
                    match other.find(m) {
                        Some(v) => aggregate(&mut score, v * w, agg),
                        None => continue 'members,
                    }
                }
                out.push((m.into(), score));
            }
        }
        SetOp::Union => {
            let mut acc: Map<Blob, f64> = Map::default();
            for (input, w) in &inputs {
                for (m, s) in input.iter() {
                    let score = weighted(s, *w);
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, score, agg),
                        None => {
                            acc.insert(m.into(), score);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (first, rest) = inputs.split_first().expect("not empty");
            out = first
                .0
                .iter()
                .filter(|(m, _)| rest.iter().all(|(i, _)| i.find(m).is_none()))
                .map(|(m, s)| (Blob::from(m), s))
                .collect();
        }
    }
    out.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: f64) -> ScoreBound {
        ScoreBound { value: v, exclusive: false }
    }

    fn zs(items: &[(&str, f64)]) -> Input {
        let mut z = ZSet::default();
        for (m, s) in items {
            z.insert(m.as_bytes(), *s);
        }
        Input::ZSet(z)
    }

    fn names(r: &[(Blob, f64)]) -> Vec<(String, f64)> {
        r.iter().map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), *s)).collect()
    }

    #[test]
    fn union_inter_diff_aggregate() {
        let a = || zs(&[("a", 1.0), ("b", 2.0), ("c", f64::INFINITY)]);
        let b = || zs(&[("b", 3.0), ("c", f64::NEG_INFINITY), ("d", 4.0)]);
        let set = || Input::Set([Blob::from(&b"a"[..]), Blob::from(&b"z"[..])].into_iter().collect());
        let u = combine(SetOp::Union, vec![(a(), 1.0), (b(), 1.0)], Aggregate::Sum);
        // inf + -inf sums to 0.
        assert_eq!(names(&u), vec![("c".into(), 0.0), ("a".into(), 1.0), ("d".into(), 4.0), ("b".into(), 5.0)]);
        let i = combine(SetOp::Inter, vec![(a(), 2.0), (b(), 1.0)], Aggregate::Max);
        assert_eq!(names(&i), vec![("b".into(), 4.0), ("c".into(), f64::INFINITY)]);
        let i = combine(SetOp::Inter, vec![(a(), 1.0), (set(), 5.0)], Aggregate::Min);
        assert_eq!(names(&i), vec![("a".into(), 1.0)]);
        let d = combine(SetOp::Diff, vec![(a(), 1.0), (set(), 1.0), (Input::Missing, 1.0)], Aggregate::Sum);
        assert_eq!(names(&d), vec![("b".into(), 2.0), ("c".into(), f64::INFINITY)]);
        // A weight of 0 times inf is 0, and a missing input empties an intersection.
        let u = combine(SetOp::Union, vec![(a(), 0.0)], Aggregate::Sum);
        assert!(u.iter().all(|(_, s)| *s == 0.0));
        assert!(combine(SetOp::Inter, vec![(a(), 1.0), (Input::Missing, 1.0)], Aggregate::Sum).is_empty());
        // A negative weight on 0 keeps -0 (ZUNION replies it), ordered before 0's ties by member.
        let u = combine(SetOp::Union, vec![(zs(&[("x", 0.0), ("y", 1.0)]), -1.0)], Aggregate::Sum);
        assert!(u[1].1 == 0.0 && u[1].1.is_sign_negative());
    }

    #[test]
    fn lex_ranges_walk_like_a_listpack() {
        let mut z = ZSet::default();
        for (m, s) in [("b", 1.0), ("a", 2.0), ("d", 3.0), ("c", 4.0), ("e", 5.0)] {
            z.insert(m.as_bytes(), s);
        }
        let incl = |m: &str| LexBound::Incl(m.as_bytes().to_vec());
        let got =
            |r: Vec<(Blob, f64)>| r.iter().map(|(m, _)| String::from_utf8_lossy(m).into_owned()).collect::<Vec<_>>();
        // From the first member at or past the minimum until one is past the maximum.
        assert_eq!(got(z.range_by_lex(&incl("b"), &incl("d"), false, 0, None)), ["b", "a", "d", "c"]);
        assert_eq!(got(z.range_by_lex(&LexBound::Min, &incl("c"), false, 0, None)), ["b", "a"]);
        assert_eq!(got(z.range_by_lex(&incl("b"), &incl("d"), true, 0, None)), ["c", "d"]);
        assert_eq!(got(z.range_by_lex(&LexBound::Min, &LexBound::Max, false, 3, Some(10))), ["c", "e"]);
        // Empty by the bounds alone.
        assert!(z.range_by_lex(&LexBound::Min, &LexBound::Min, false, 0, None).is_empty());
        let excl = LexBound::Excl(b"c".to_vec());
        assert!(z.range_by_lex(&excl, &excl, false, 0, None).is_empty());
        assert_eq!(got(z.range_by_lex(&incl("c"), &incl("c"), false, 0, None)), Vec::<String>::new());
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
