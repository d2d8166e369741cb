//! Sorted-set commands.

use bytes::Bytes;

use super::keys::{parse_cursor, scan_options};
use super::{Command, Ctx, DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE, count, eq, float, int, keyed};
use crate::engine::keyspace::Blob;
use crate::engine::keyspace::drop_value;
use crate::engine::strings::{normalise_rank_range, parse_float};
use crate::engine::zset::{self, Aggregate, Input, LexBound, ScoreBound, SetOp, ZSet};
use crate::engine::{CacheError, CacheResult, Value, View, glob, scan};

pub fn commands() -> Vec<Command> {
    let g = "sorted-set";
    vec![
        keyed(g, "zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), zadd),
        keyed(g, "zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), zincrby),
        keyed(g, "zrem", -3, WRITE | FAST, (1, 1, 1), zrem),
        keyed(g, "zscore", 3, READONLY | FAST, (1, 1, 1), zscore),
        keyed(g, "zmscore", -3, READONLY | FAST, (1, 1, 1), zmscore),
        keyed(g, "zcard", 2, READONLY | FAST, (1, 1, 1), zcard),
        keyed(g, "zcount", 4, READONLY | FAST, (1, 1, 1), zcount),
        keyed(g, "zrank", 3, READONLY | FAST, (1, 1, 1), zrank),
        keyed(g, "zrevrank", 3, READONLY | FAST, (1, 1, 1), zrank),
        keyed(g, "zrange", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zrevrange", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zrangebyscore", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zrevrangebyscore", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zrangebylex", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zrevrangebylex", -4, READONLY, (1, 1, 1), zrange),
        keyed(g, "zpopmin", -2, WRITE | FAST, (1, 1, 1), zpop),
        keyed(g, "zpopmax", -2, WRITE | FAST, (1, 1, 1), zpop),
        keyed(g, "zremrangebyscore", 4, WRITE, (1, 1, 1), zremrangebyscore),
        keyed(g, "zremrangebyrank", 4, WRITE, (1, 1, 1), zremrangebyrank),
        keyed(g, "zscan", -3, READONLY, (1, 1, 1), zscan),
        keyed(g, "zlexcount", 4, READONLY | FAST, (1, 1, 1), zlexcount),
        keyed(g, "zremrangebylex", 4, WRITE, (1, 1, 1), zremrangebylex),
        // The keys follow a count: every argument from the first key on is locked (a few spare shards).
        keyed(g, "zunionstore", -4, WRITE | DENYOOM | MOVABLEKEYS, (1, -1, 1), zsetop).info_keys((1, 1, 1)),
        keyed(g, "zinterstore", -4, WRITE | DENYOOM | MOVABLEKEYS, (1, -1, 1), zsetop).info_keys((1, 1, 1)),
        keyed(g, "zdiffstore", -4, WRITE | DENYOOM | MOVABLEKEYS, (1, -1, 1), zsetop).info_keys((1, 1, 1)),
        keyed(g, "zunion", -3, READONLY | MOVABLEKEYS, (2, -1, 1), zsetop).info_keys((0, 0, 0)),
        keyed(g, "zinter", -3, READONLY | MOVABLEKEYS, (2, -1, 1), zsetop).info_keys((0, 0, 0)),
        keyed(g, "zdiff", -3, READONLY | MOVABLEKEYS, (2, -1, 1), zsetop).info_keys((0, 0, 0)),
        keyed(g, "zintercard", -3, READONLY | MOVABLEKEYS, (2, -1, 1), zsetop).info_keys((0, 0, 0)),
    ]
}

fn zset_for_write<'v>(v: &'v mut View<'_>, key: &[u8]) -> CacheResult<&'v mut ZSet> {
    if v.zset(key, true)?.is_none() {
        v.insert(key, Value::ZSet(Box::default()), 0);
    }
    Ok(v.zset(key, true)?.expect("created above"))
}

/// The score kept for a member: Redis 7.0 replies ZINCRBY / ZADD INCR with a computed -0, but its
/// (listpack) sorted sets store it as 0, which ZSCORE and ZRANGE then show.
fn stored_score(s: f64) -> f64 {
    if s == 0.0 { 0.0 } else { s }
}

fn zadd(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) = (false, false, false, false, false, false);
    let mut i = 2;
    while i < a.len() {
        let o = &a[i];
        if eq(o, "nx") {
            nx = true
        } else if eq(o, "xx") {
            xx = true
        } else if eq(o, "gt") {
            gt = true
        } else if eq(o, "lt") {
            lt = true
        } else if eq(o, "ch") {
            ch = true
        } else if eq(o, "incr") {
            incr = true
        } else {
            break;
        }
        i += 1;
    }
    let pairs = &a[i..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(CacheError::Syntax);
    }
    if nx && xx {
        return Err(CacheError::Other("ERR XX and NX options at the same time are not compatible".into()));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(CacheError::Other("ERR GT, LT, and/or NX options at the same time are not compatible".into()));
    }
    if incr && pairs.len() > 2 {
        return Err(CacheError::Other("ERR INCR option supports a single increment-element pair".into()));
    }
    // Parsed up front so a bad score fails the whole command; one pair (the usual ZADD) stays inline.
    let mut scores: smallvec::SmallVec<[(f64, Bytes); 1]> = smallvec::SmallVec::with_capacity(pairs.len() / 2);
    for p in pairs.chunks(2) {
        scores.push((float(&p[0])?, p[1].clone()));
    }
    if xx && v.zset(&a[1], true)?.is_none() {
        c.propagate = Some(vec![]);
        if incr {
            c.out.null()
        } else {
            c.out.int(0)
        }
        return Ok(());
    }
    let z = zset_for_write(v, &a[1])?;
    let (mut added, mut changed) = (0, 0);
    let mut result = None;
    for (score, member) in scores {
        let found = z.lookup(&member);
        let cur = found.map(|(_, s)| s);
        if (nx && cur.is_some()) || (xx && cur.is_none()) {
            continue;
        }
        let new = match (incr, cur) {
            (true, Some(c)) => c + score,
            _ => score,
        };
        if new.is_nan() {
            return Err(CacheError::Other("ERR resulting score is not a number (NaN)".into()));
        }
        if let Some(c) = cur
            && ((gt && new <= c) || (lt && new >= c))
        {
            continue;
        }
        match found {
            Some((idx, c)) => {
                z.set_score_at(idx, stored_score(new));
                changed += (c != new) as i64;
            }
            None => {
                z.insert_new(&member, stored_score(new));
                added += 1;
            }
        }
        result = Some(new);
    }
    v.drop_if_empty(&a[1]);
    if incr {
        match result {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    } else {
        c.out.int(if ch { added + changed } else { added });
    }
    Ok(())
}

fn zincrby(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let d = float(&a[2])?;
    let z = zset_for_write(v, &a[1])?;
    // A new member's score is the increment itself (so -0 stays -0, as in Redis).
    let new = z.score(&a[3]).map_or(d, |s| s + d);
    if new.is_nan() {
        return Err(CacheError::Other("ERR resulting score is not a number (NaN)".into()));
    }
    z.insert(&a[3], stored_score(new));
    c.out.double(new);
    Ok(())
}

fn zrem(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut n = 0;
    if let Some(z) = v.zset(&a[1], true)? {
        n = a[2..].iter().filter(|m| z.remove(m)).count();
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n as i64);
    Ok(())
}

fn zscore(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    match v.zset(&a[1], false)?.and_then(|z| z.score(&a[2])) {
        Some(s) => c.out.double(s),
        None => c.out.null(),
    }
    Ok(())
}

fn zmscore(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let z = v.zset(&a[1], false)?;
    let scores: Vec<Option<f64>> = a[2..].iter().map(|m| z.as_ref().and_then(|z| z.score(m))).collect();
    c.out.array(scores.len());
    for s in scores {
        match s {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    }
    Ok(())
}

fn zcard(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.zset(&a[1], false)?.map_or(0, |z| z.len());
    c.out.int(n as i64);
    Ok(())
}

fn score_bound(b: &[u8]) -> CacheResult<ScoreBound> {
    let bad = || CacheError::Other("ERR min or max is not a float".into());
    let (exclusive, rest) = if b.first() == Some(&b'(') { (true, &b[1..]) } else { (false, b) };
    let value = parse_float(rest).ok_or_else(bad)?;
    Ok(ScoreBound { value, exclusive })
}

fn lex_bound(b: &[u8]) -> CacheResult<LexBound> {
    match b.first() {
        Some(b'-') if b.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if b.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(b[1..].to_vec())),
        Some(b'(') => Ok(LexBound::Excl(b[1..].to_vec())),
        _ => Err(CacheError::Other("ERR min or max not valid string range item".into())),
    }
}

fn zcount(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (min, max) = (score_bound(&a[2])?, score_bound(&a[3])?);
    let n = v.zset(&a[1], false)?.map_or(0, |z| z.count(min, max));
    c.out.int(n as i64);
    Ok(())
}

fn zrank(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let rev = eq(&a[0], "zrevrank");
    match v.zset(&a[1], false)?.and_then(|z| z.rank(&a[2], rev)) {
        Some(r) => c.out.int(r as i64),
        None => c.out.null(),
    }
    Ok(())
}

#[derive(PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

fn write_pairs(c: &mut Ctx<'_>, items: &[(Blob, f64)], withscores: bool) {
    if withscores && c.out.resp3 {
        c.out.array(items.len());
        for (m, s) in items {
            c.out.array(2);
            c.out.bulk(m);
            c.out.double(*s);
        }
        return;
    }
    c.out.array(items.len() * if withscores { 2 } else { 1 });
    for (m, s) in items {
        c.out.bulk(m);
        if withscores {
            c.out.double(*s);
        }
    }
}

/// ZRANGE and its legacy forms (ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, …).
fn zrange(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let name = super::text(&a[0]).to_ascii_lowercase();
    let (mut by, mut rev) = match name.as_str() {
        "zrevrange" => (By::Rank, true),
        "zrangebyscore" => (By::Score, false),
        "zrevrangebyscore" => (By::Score, true),
        "zrangebylex" => (By::Lex, false),
        "zrevrangebylex" => (By::Lex, true),
        _ => (By::Rank, false),
    };
    let generic = name == "zrange";
    let (mut withscores, mut limit) = (false, None);
    let mut i = 4;
    while i < a.len() {
        if eq(&a[i], "withscores") {
            withscores = true;
        } else if eq(&a[i], "limit") && i + 2 < a.len() {
            limit = Some((int(&a[i + 1])?, int(&a[i + 2])?));
            i += 2;
        } else if generic && eq(&a[i], "byscore") && by == By::Rank {
            by = By::Score;
        } else if generic && eq(&a[i], "bylex") && by == By::Rank {
            by = By::Lex;
        } else if generic && eq(&a[i], "rev") && !rev {
            rev = true;
        } else {
            return Err(CacheError::Syntax);
        }
        i += 1;
    }
    // As Redis: only a LIMIT count other than -1 is refused for a rank range.
    if by == By::Rank && matches!(limit, Some((_, n)) if n != -1) {
        return Err(CacheError::Other(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX".into(),
        ));
    }
    if withscores && by == By::Lex {
        return Err(CacheError::Other("ERR syntax error, WITHSCORES not supported in combination with BYLEX".into()));
    }
    // With REV, BYSCORE/BYLEX take (max, min).
    let (lo, hi) = if rev && by != By::Rank { (&a[3], &a[2]) } else { (&a[2], &a[3]) };
    // A negative offset selects nothing, but (as in Redis) only once the range and the key's type
    // have been checked.
    let (offset, cnt) = match limit {
        None => (Some(0), None),
        Some((o, n)) => ((o >= 0).then_some(o as usize), if n < 0 { None } else { Some(n as usize) }),
    };
    let items = match by {
        By::Rank => {
            let (s, e) = (int(lo)?, int(hi)?);
            match v.zset(&a[1], false)? {
                None => Vec::new(),
                Some(z) => match normalise_rank_range(s, e, z.len()) {
                    None => Vec::new(),
                    Some((s, e)) => z.range_by_rank(s, e, rev),
                },
            }
        }
        By::Score => {
            let (min, max) = (score_bound(lo)?, score_bound(hi)?);
            match (v.zset(&a[1], false)?, offset) {
                (Some(z), Some(offset)) => z.range_by_score(min, max, rev, offset, cnt),
                _ => Vec::new(),
            }
        }
        By::Lex => {
            let (min, max) = (lex_bound(lo)?, lex_bound(hi)?);
            match (v.zset(&a[1], false)?, offset) {
                (Some(z), Some(offset)) => z.range_by_lex(&min, &max, rev, offset, cnt),
                _ => Vec::new(),
            }
        }
    };
    write_pairs(c, &items, withscores);
    Ok(())
}

fn zpop(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let max = eq(&a[0], "zpopmax");
    if a.len() > 3 {
        return Err(CacheError::Syntax);
    }
    let n = if a.len() == 3 { Some(count(&a[2])?) } else { None };
    let items = match v.zset(&a[1], true)? {
        None => Vec::new(),
        Some(z) => z.pop(max, n.unwrap_or(1)),
    };
    v.drop_if_empty(&a[1]);
    if n.is_none() && c.out.resp3 {
        // RESP3 without count: a flat [member, score] pair.
        if let Some((m, s)) = items.first() {
            c.out.array(2);
            c.out.bulk(m);
            c.out.double(*s);
        } else {
            c.out.array(0);
        }
        return Ok(());
    }
    write_pairs(c, &items, true);
    Ok(())
}

fn zremrangebyscore(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (min, max) = (score_bound(&a[2])?, score_bound(&a[3])?);
    let mut n = 0;
    if let Some(z) = v.zset(&a[1], true)? {
        for (m, _) in z.range_by_score(min, max, false, 0, None) {
            n += z.remove(&m) as i64;
        }
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n);
    Ok(())
}

fn zremrangebyrank(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (s, e) = (int(&a[2])?, int(&a[3])?);
    let mut n = 0;
    if let Some(z) = v.zset(&a[1], true)?
        && let Some((s, e)) = normalise_rank_range(s, e, z.len())
    {
        for (m, _) in z.range_by_rank(s, e, false) {
            n += z.remove(&m) as i64;
        }
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n);
    Ok(())
}

fn zscan(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cursor = parse_cursor(&a[2])?;
    let (pattern, n, _) = scan_options(a, 3, false)?;
    let mut items = Vec::new();
    let next = match v.zset(&a[1], false)? {
        None => 0,
        Some(z) => scan::scan_indexed(z.len(), cursor, n, |i| {
            let (m, s) = z.get_index(i).expect("in range");
            if pattern.as_ref().is_none_or(|p| glob::matches(p, m)) {
                items.push((m.to_vec(), s));
            }
        }),
    };
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(items.len() * 2);
    for (m, s) in items {
        c.out.bulk(&m);
        c.out.bulk(crate::protocol::resp::format_double(s).as_bytes());
    }
    Ok(())
}

fn zlexcount(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (min, max) = (lex_bound(&a[2])?, lex_bound(&a[3])?);
    let n = v.zset(&a[1], false)?.map_or(0, |z| z.range_by_lex(&min, &max, false, 0, None).len());
    c.out.int(n as i64);
    Ok(())
}

fn zremrangebylex(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (min, max) = (lex_bound(&a[2])?, lex_bound(&a[3])?);
    let mut n = 0;
    if let Some(z) = v.zset(&a[1], true)? {
        for (m, _) in z.range_by_lex(&min, &max, false, 0, None) {
            n += z.remove(&m) as i64;
        }
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n);
    Ok(())
}

/// ZUNION / ZINTER / ZDIFF, their *STORE forms and ZINTERCARD, checked in Redis's order: the key
/// count, then every input's type, then the options.
fn zsetop(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let name = super::text(&a[0]).to_ascii_lowercase();
    let store = name.ends_with("store");
    let card = name == "zintercard";
    let op = if name.starts_with("zunion") {
        SetOp::Union
    } else if name.starts_with("zinter") {
        SetOp::Inter
    } else {
        SetOp::Diff
    };
    let ni = if store { 2 } else { 1 };
    let n = int(&a[ni])?;
    if n < 1 {
        return Err(CacheError::Other(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    if n as u64 > (a.len() - ni - 1) as u64 {
        return Err(CacheError::Syntax);
    }
    let n = n as usize;
    let mut inputs = Vec::with_capacity(n);
    for k in &a[ni + 1..ni + 1 + n] {
        let input = match v.read(k) {
            None => Input::Missing,
            Some(e) => match &e.value {
                Value::ZSet(z) => Input::ZSet((**z).clone()),
                Value::Set(s) => Input::Set((**s).clone()),
                _ => return Err(CacheError::WrongType),
            },
        };
        inputs.push((input, 1.0));
    }
    let (mut agg, mut withscores, mut limit) = (Aggregate::Sum, false, 0);
    let mut j = ni + 1 + n;
    while j < a.len() {
        let remaining = a.len() - j;
        if card && remaining >= 2 && eq(&a[j], "limit") {
            limit = match crate::engine::strings::parse_int(&a[j + 1]) {
                Some(l) if l >= 0 => l as usize,
                _ => return Err(CacheError::Other("ERR LIMIT can't be negative".into())),
            };
            j += 2;
        } else if op != SetOp::Diff && !card && remaining > n && eq(&a[j], "weights") {
            for (i, input) in inputs.iter_mut().enumerate() {
                input.1 = parse_float(&a[j + 1 + i])
                    .ok_or_else(|| CacheError::Other("ERR weight value is not a float".into()))?;
            }
            j += n + 1;
        } else if op != SetOp::Diff && !card && remaining >= 2 && eq(&a[j], "aggregate") {
            agg = if eq(&a[j + 1], "sum") {
                Aggregate::Sum
            } else if eq(&a[j + 1], "min") {
                Aggregate::Min
            } else if eq(&a[j + 1], "max") {
                Aggregate::Max
            } else {
                return Err(CacheError::Syntax);
            };
            j += 2;
        } else if !store && !card && eq(&a[j], "withscores") {
            withscores = true;
            j += 1;
        } else {
            return Err(CacheError::Syntax);
        }
    }
    let items = zset::combine(op, inputs, agg);
    if card {
        c.out.int(if limit == 0 { items.len() } else { items.len().min(limit) } as i64);
        return Ok(());
    }
    if !store {
        write_pairs(c, &items, withscores);
        return Ok(());
    }
    if let Some(e) = v.remove(&a[1]) {
        drop_value(e.value);
    }
    if !items.is_empty() {
        let mut z = ZSet::default();
        for (m, s) in &items {
            z.insert_new(m, *s);
        }
        v.insert(&a[1], Value::ZSet(Box::new(z)), 0);
    }
    c.out.int(items.len() as i64);
    Ok(())
}
