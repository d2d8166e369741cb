//! List commands, including the blocking pops.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::{BLOCKING, Blocked, Command, Ctx, DENYOOM, FAST, READONLY, WRITE, count, eq, int, keyed};
use crate::engine::small::SmallBytes;
use crate::engine::strings::normalise_rank_range;
use crate::engine::{CacheError, CacheResult, Value, View};

pub fn commands() -> Vec<Command> {
    let g = "list";
    vec![
        keyed(g, "lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), push),
        keyed(g, "rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), push),
        keyed(g, "lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), push),
        keyed(g, "rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), push),
        keyed(g, "lpop", -2, WRITE | FAST, (1, 1, 1), pop),
        keyed(g, "rpop", -2, WRITE | FAST, (1, 1, 1), pop),
        keyed(g, "llen", 2, READONLY | FAST, (1, 1, 1), llen),
        keyed(g, "lrange", 4, READONLY, (1, 1, 1), lrange),
        keyed(g, "lindex", 3, READONLY, (1, 1, 1), lindex),
        keyed(g, "lpos", -3, READONLY, (1, 1, 1), lpos),
        keyed(g, "lset", 4, WRITE | DENYOOM, (1, 1, 1), lset),
        keyed(g, "lrem", 4, WRITE, (1, 1, 1), lrem),
        keyed(g, "ltrim", 4, WRITE, (1, 1, 1), ltrim),
        keyed(g, "linsert", 5, WRITE | DENYOOM, (1, 1, 1), linsert),
        keyed(g, "rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), rpoplpush),
        keyed(g, "lmove", 5, WRITE | DENYOOM, (1, 2, 1), lmove),
        keyed(g, "blpop", -3, WRITE | BLOCKING, (1, -2, 1), bpop),
        keyed(g, "brpop", -3, WRITE | BLOCKING, (1, -2, 1), bpop),
    ]
}

fn push(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    // The name as bytes: LPUSH on one hot key is a benchmark staple, so no allocation per call.
    let left = a[0].first().is_some_and(|c| c.eq_ignore_ascii_case(&b'l'));
    let only_existing = a[0].last().is_some_and(|c| c.eq_ignore_ascii_case(&b'x'));
    let l = match v.list(&a[1], true)? {
        Some(l) => l,
        None if only_existing => {
            c.out.int(0);
            c.propagate = Some(vec![]);
            return Ok(());
        }
        None => {
            v.insert(&a[1], Value::List(Box::default()), 0);
            v.list(&a[1], true)?.expect("created above")
        }
    };
    for item in &a[2..] {
        let item = SmallBytes::new(item);
        if left { l.push_front(item) } else { l.push_back(item) }
    }
    let n = l.len();
    v.eng.blocking.signal(v.db, &a[1]);
    c.out.int(n as i64);
    Ok(())
}

fn pop_n(l: &mut VecDeque<SmallBytes>, left: bool, n: usize) -> Vec<SmallBytes> {
    (0..n).map_while(|_| if left { l.pop_front() } else { l.pop_back() }).collect()
}

fn pop(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let left = eq(&a[0], "lpop");
    if a.len() > 3 {
        return Err(CacheError::Syntax);
    }
    let n = if a.len() == 3 { Some(count(&a[2])?) } else { None };
    let Some(l) = v.list(&a[1], true)? else {
        if n.is_some() {
            c.out.null_array()
        } else {
            c.out.null()
        }
        c.propagate = Some(vec![]);
        return Ok(());
    };
    let items = pop_n(l, left, n.unwrap_or(1));
    v.drop_if_empty(&a[1]);
    match n {
        None => c.out.opt_bulk(items.first().map(|b| &b[..])),
        Some(_) => {
            c.out.array(items.len());
            for i in items {
                c.out.bulk(&i);
            }
        }
    }
    Ok(())
}

fn llen(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.list(&a[1], false)?.map_or(0, |l| l.len());
    c.out.int(n as i64);
    Ok(())
}

fn lrange(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let Some(l) = v.list(&a[1], false)? else {
        c.out.array(0);
        return Ok(());
    };
    match normalise_rank_range(s, e, l.len()) {
        None => c.out.array(0),
        Some((s, e)) => {
            c.out.array(e - s + 1);
            for item in l.range(s..=e) {
                c.out.bulk(item);
            }
        }
    }
    Ok(())
}

fn index_of(len: usize, i: i64) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (i >= 0 && (i as usize) < len).then_some(i as usize)
}

// LINDEX and LSET look the key up (nil / "no such key", WRONGTYPE) before parsing the index, as Redis.
fn lindex(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let Some(l) = v.list(&a[1], false)? else {
        c.out.null();
        return Ok(());
    };
    let i = int(&a[2])?;
    let item = index_of(l.len(), i).and_then(|i| l.get(i));
    c.out.opt_bulk(item.map(|b| &b[..]));
    Ok(())
}

fn lset(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let l = v.list(&a[1], true)?.ok_or(CacheError::NoSuchKey)?;
    let i = int(&a[2])?;
    let i = index_of(l.len(), i).ok_or(CacheError::IndexOutOfRange)?;
    l[i] = a[3].as_ref().into();
    c.out.ok();
    Ok(())
}

fn lrem(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = int(&a[2])?;
    let target = a[3].as_ref();
    let mut removed = 0usize;
    if let Some(l) = v.list(&a[1], true)? {
        let limit = if n == 0 { usize::MAX } else { n.unsigned_abs() as usize };
        let mut keep: Vec<bool> = vec![true; l.len()];
        let order: Box<dyn Iterator<Item = usize>> =
            if n < 0 { Box::new((0..l.len()).rev()) } else { Box::new(0..l.len()) };
        for i in order {
            if removed >= limit {
                break;
            }
            if &l[i][..] == target {
                keep[i] = false;
                removed += 1;
            }
        }
        let mut i = 0;
        l.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
    v.drop_if_empty(&a[1]);
    c.out.int(removed as i64);
    Ok(())
}

fn ltrim(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    if let Some(l) = v.list(&a[1], true)? {
        match normalise_rank_range(s, e, l.len()) {
            None => l.clear(),
            Some((s, e)) => {
                l.truncate(e + 1);
                l.drain(..s);
            }
        }
    }
    v.drop_if_empty(&a[1]);
    c.out.ok();
    Ok(())
}

fn linsert(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let before = if eq(&a[2], "before") {
        true
    } else if eq(&a[2], "after") {
        false
    } else {
        return Err(CacheError::Syntax);
    };
    let Some(l) = v.list(&a[1], true)? else {
        c.out.int(0);
        return Ok(());
    };
    match l.iter().position(|x| &x[..] == a[3].as_ref()) {
        None => c.out.int(-1),
        Some(p) => {
            l.insert(if before { p } else { p + 1 }, a[4].as_ref().into());
            c.out.int(l.len() as i64);
        }
    }
    Ok(())
}

fn move_item(
    c: &mut Ctx<'_>,
    v: &mut View<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> CacheResult<()> {
    // As Redis: a missing source is nil whatever the destination holds; otherwise the destination
    // is type-checked before popping, so a WRONGTYPE loses nothing.
    if v.list(src, true)?.is_none() {
        c.out.null();
        return Ok(());
    }
    v.list(dst, false)?;
    let l = v.list(src, true)?.expect("checked above");
    let item = if from_left { l.pop_front() } else { l.pop_back() }.expect("lists are never empty");
    v.drop_if_empty(src);
    if v.list(dst, true)?.is_none() {
        v.insert(dst, Value::List(Box::default()), 0);
    }
    let d = v.list(dst, true)?.expect("created above");
    if to_left {
        d.push_front(item.clone())
    } else {
        d.push_back(item.clone())
    }
    v.eng.blocking.signal(v.db, dst);
    c.out.bulk(&item);
    Ok(())
}

fn rpoplpush(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    move_item(c, v, &a[1], &a[2], false, true)
}

fn lmove(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let side = |b: &[u8]| {
        if eq(b, "left") {
            Ok(true)
        } else if eq(b, "right") {
            Ok(false)
        } else {
            Err(CacheError::Syntax)
        }
    };
    let (from, to) = (side(&a[3])?, side(&a[4])?);
    move_item(c, v, &a[1], &a[2], from, to)
}

/// BLPOP/BRPOP: pops from the first non-empty list, else blocks (inside MULTI: replies nil at once).
fn bpop(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let left = eq(&a[0], "blpop");
    let arg = &a[a.len() - 1];
    let t = crate::engine::strings::parse_float(arg)
        // Redis reads the timeout as a long double: a literal beyond f64 (1e400) is just huge.
        .or_else(|| std::str::from_utf8(arg).ok()?.parse::<f64>().ok().filter(|t| t.is_infinite()))
        .ok_or(CacheError::BadTimeout)?;
    // Redis 7.0 takes ceil(t * 1000) as a long long: beyond its range (inf included) the cast comes
    // out negative, so huge timeouts are "negative" too, while -0.0001 rounds up to 0 (forever).
    let ms = (t * 1000.0).ceil();
    if !(0.0..9.223_372_036_854_775e18).contains(&ms) {
        return Err(CacheError::Other("ERR timeout is negative".into()));
    }
    let keys = &a[1..a.len() - 1];
    // In key order, as Redis: WRONGTYPE only for a key before the first non-empty list.
    for k in keys {
        if let Some(l) = v.list(k, true)? {
            let item = if left { l.pop_front() } else { l.pop_back() }.expect("lists are never empty");
            v.drop_if_empty(k);
            c.propagate = Some(vec![vec![Bytes::from_static(if left { b"LPOP" } else { b"RPOP" }), k.clone()]]);
            c.out.array(2);
            c.out.bulk(k);
            c.out.bulk(&item);
            return Ok(());
        }
    }
    if c.in_exec {
        c.out.null_array();
        return Ok(());
    }
    let timeout = if ms == 0.0 { None } else { Some(Duration::from_millis(ms.min(1e15) as u64)) };
    c.block = Some(Blocked {
        keys: keys.iter().map(|k| k.as_ref().into()).collect(),
        timeout,
        args: a.to_vec(),
        quiet: false,
    });
    Ok(())
}

/// A non-negative option value: Redis's `getPositiveLongFromObjectOrReply` with a message, which
/// it gives for a non-integer too.
fn non_negative(arg: &[u8], msg: &str) -> CacheResult<i64> {
    match crate::engine::strings::parse_int(arg) {
        Some(n) if n >= 0 => Ok(n),
        _ => Err(CacheError::Other(msg.into())),
    }
}

/// The positions LPOS reports, as Redis's loop finds them: `rank` counts matches from the head
/// (or, negative, from the tail), `count` (0 = all) bounds the matches kept, `maxlen` (0 = no
/// limit) the elements compared. Redis negates the rank with C's wrap-around (LONG_MIN stays
/// negative, so every match qualifies) and compares the match count the same way.
fn lpos_find<'l>(
    list: impl DoubleEndedIterator<Item = &'l SmallBytes> + ExactSizeIterator,
    ele: &[u8],
    rank: i64,
    count: i64,
    maxlen: usize,
) -> Vec<usize> {
    let llen = list.len();
    let from_tail = rank < 0;
    let rank = if from_tail { rank.wrapping_neg() } else { rank };
    let iter: Box<dyn Iterator<Item = &SmallBytes>> = if from_tail { Box::new(list.rev()) } else { Box::new(list) };
    let (mut matches, mut out) = (0i64, Vec::new());
    for (index, e) in iter.enumerate() {
        if maxlen != 0 && index >= maxlen {
            break;
        }
        if **e != *ele {
            continue;
        }
        matches += 1;
        if matches >= rank {
            out.push(if from_tail { llen - index - 1 } else { index });
            if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                break;
            }
        }
    }
    out
}

fn lpos(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (mut rank, mut cnt, mut maxlen) = (1i64, None, 0i64);
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        if eq(&a[j], "rank") && more {
            j += 1;
            rank = int(&a[j])?;
            if rank == 0 {
                return Err(CacheError::Other(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list".into(),
                ));
            }
        } else if eq(&a[j], "count") && more {
            j += 1;
            cnt = Some(non_negative(&a[j], "ERR COUNT can't be negative")?);
        } else if eq(&a[j], "maxlen") && more {
            j += 1;
            maxlen = non_negative(&a[j], "ERR MAXLEN can't be negative")?;
        } else {
            return Err(CacheError::Syntax);
        }
        j += 1;
    }
    let Some(l) = v.list(&a[1], false)? else {
        match cnt {
            Some(_) => c.out.array(0),
            None => c.out.null(),
        }
        return Ok(());
    };
    // Without COUNT the first qualifying match ends the search.
    let found = lpos_find(l.iter(), &a[2], rank, cnt.unwrap_or(1), maxlen as usize);
    match cnt {
        Some(_) => {
            c.out.array(found.len());
            for i in found {
                c.out.int(i as i64);
            }
        }
        None => match found.first() {
            Some(&i) => c.out.int(i as i64),
            None => c.out.null(),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(items: &[&str], ele: &str, rank: i64, count: i64, maxlen: usize) -> Vec<usize> {
        let l: VecDeque<SmallBytes> = items.iter().map(|s| SmallBytes::new(s.as_bytes())).collect();
        lpos_find(l.iter(), ele.as_bytes(), rank, count, maxlen)
    }

    #[test]
    fn lpos_ranks_counts_and_maxlen() {
        let l = ["a", "b", "c", "1", "2", "3", "c", "c"];
        assert_eq!(find(&l, "c", 1, 1, 0), vec![2]);
        assert_eq!(find(&l, "c", 2, 1, 0), vec![6]);
        assert_eq!(find(&l, "c", -1, 1, 0), vec![7]);
        assert_eq!(find(&l, "c", -3, 1, 0), vec![2]);
        assert_eq!(find(&l, "c", 1, 0, 0), vec![2, 6, 7]);
        assert_eq!(find(&l, "c", 1, 2, 0), vec![2, 6]);
        assert_eq!(find(&l, "c", -1, 0, 0), vec![7, 6, 2]);
        assert_eq!(find(&l, "c", 2, 0, 0), vec![6, 7]);
        assert_eq!(find(&l, "c", 1, 0, 3), vec![2]);
        assert_eq!(find(&l, "c", -1, 0, 2), vec![7, 6]);
        assert_eq!(find(&l, "c", 4, 0, 0), Vec::<usize>::new());
        assert_eq!(find(&l, "x", 1, 0, 0), Vec::<usize>::new());
        // Redis negates i64::MIN with wrap-around: every match from the tail qualifies, and the
        // wrapped match count never reaches COUNT (LPOS ... RANK <i64::MIN> COUNT 1 lists them all).
        assert_eq!(find(&l, "c", i64::MIN, 1, 0), vec![7, 6, 2]);
    }
}
