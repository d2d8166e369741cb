//! SCAN cursors. Every shard (and every hash/set/zset) is an insertion-ordered table whose deletes move
//! the last entry into the hole, so a cursor walks each table from its end towards index 0: an entry
//! moved by a delete comes from a position already visited and lands either on a visited position or
//! ahead of the cursor (then it is returned twice, which SCAN allows). Every element present for the
//! whole scan is therefore returned. The cursor packs `shard << 40 | (MASK - next_upper_bound)`, so a new
//! scan (cursor 0) starts at the end of shard 0 and 0 again means "done".

use super::glob;
use super::keyspace::{Blob, Value, View};

const SHIFT: u32 = 40;
const MASK: u64 = (1 << SHIFT) - 1;

/// Type filter of SCAN ... TYPE.
pub fn type_matches(v: &Value, ty: Option<&str>) -> bool {
    ty.is_none_or(|t| t.eq_ignore_ascii_case(v.type_name()))
}

/// One SCAN step over the current database of `view` (which must hold the whole database).
pub fn scan_keys(
    view: &mut View<'_>,
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
    ty: Option<&str>,
) -> (u64, Vec<Blob>) {
    let now = view.now;
    let mut shards: Vec<_> = view.db_shards().collect();
    let n = shards.len() as u64;
    let mut shard = cursor >> SHIFT;
    let mut upper = MASK - (cursor & MASK);
    let mut out = Vec::new();
    let mut examined = 0;
    while shard < n && examined < count.max(1) {
        let s = &mut shards[shard as usize];
        upper = upper.min(s.map.len() as u64);
        while upper > 0 && examined < count.max(1) {
            upper -= 1;
            examined += 1;
            let (k, e) = s.map.get_index(upper as usize).expect("index below len");
            if e.expire_at != 0 && e.expire_at <= now {
                continue;
            }
            if pattern.is_none_or(|p| glob::matches(p, k)) && type_matches(&e.value, ty) {
                out.push(Blob::from(k));
            }
        }
        if upper == 0 {
            shard += 1;
            upper = MASK;
        }
    }
    let next = if shard >= n { 0 } else { (shard << SHIFT) | (MASK - upper) };
    (next, out)
}

/// One step over an indexed collection of `len` elements; `visit(idx)` is called per element.
pub fn scan_indexed(len: usize, cursor: u64, count: usize, mut visit: impl FnMut(usize)) -> u64 {
    if cursor >> SHIFT != 0 {
        return 0;
    }
    let mut upper = (MASK - (cursor & MASK)).min(len as u64);
    let mut examined = 0;
    while upper > 0 && examined < count.max(1) {
        upper -= 1;
        examined += 1;
        visit(upper as usize);
    }
    if upper == 0 { 0 } else { MASK - upper }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexSet;

    proptest::proptest! {
        /// Elements present for the whole scan are returned even when others are deleted mid-scan.
        #[test]
        fn scan_returns_every_stable_element(n in 1usize..300, deletes in proptest::collection::vec(0usize..300, 0..50), count in 1usize..20) {
            let mut set: IndexSet<usize> = (0..n).collect();
            let doomed: std::collections::HashSet<usize> = deletes.iter().copied().filter(|d| *d < n).collect();
            let mut seen = std::collections::HashSet::new();
            let mut cursor = 0;
            let mut step = 0;
            let mut pending: Vec<usize> = doomed.iter().copied().collect();
            loop {
                let snapshot: Vec<usize> = set.iter().copied().collect();
                cursor = scan_indexed(set.len(), cursor, count, |i| { seen.insert(snapshot[i]); });
                if let Some(d) = pending.pop() { set.swap_remove(&d); }
                step += 1;
                if cursor == 0 || step > 10_000 { break; }
            }
            for i in 0..n {
                if !doomed.contains(&i) { proptest::prop_assert!(seen.contains(&i), "missed {}", i); }
            }
        }
    }
}
