//! Hash commands.

use bytes::Bytes;

use super::keys::{parse_cursor, scan_options};
use super::{Command, Ctx, DENYOOM, FAST, READONLY, WRITE, float, int, keyed};
use crate::engine::eviction::fast_rand;
use crate::engine::keyspace::Map;
use crate::engine::small::SmallBytes;
use crate::engine::strings::{format_long_double, parse_float, parse_int};
use crate::engine::{CacheError, CacheResult, Value, View, glob, scan};

pub fn commands() -> Vec<Command> {
    let g = "hash";
    vec![
        keyed(g, "hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hset),
        keyed(g, "hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hset),
        keyed(g, "hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hsetnx),
        keyed(g, "hget", 3, READONLY | FAST, (1, 1, 1), hget),
        keyed(g, "hmget", -3, READONLY | FAST, (1, 1, 1), hmget),
        keyed(g, "hdel", -3, WRITE | FAST, (1, 1, 1), hdel),
        keyed(g, "hgetall", 2, READONLY, (1, 1, 1), hgetall),
        keyed(g, "hkeys", 2, READONLY, (1, 1, 1), hkeys),
        keyed(g, "hvals", 2, READONLY, (1, 1, 1), hvals),
        keyed(g, "hlen", 2, READONLY | FAST, (1, 1, 1), hlen),
        keyed(g, "hstrlen", 3, READONLY | FAST, (1, 1, 1), hstrlen),
        keyed(g, "hexists", 3, READONLY | FAST, (1, 1, 1), hexists),
        keyed(g, "hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hincrby),
        keyed(g, "hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hincrbyfloat),
        keyed(g, "hscan", -3, READONLY, (1, 1, 1), hscan),
        keyed(g, "hrandfield", -2, READONLY, (1, 1, 1), hrandfield),
    ]
}

fn hash_for_write<'v>(v: &'v mut View<'_>, key: &[u8]) -> CacheResult<&'v mut Map<SmallBytes, SmallBytes>> {
    if v.hash(key, true)?.is_none() {
        v.insert(key, Value::Hash(Box::default()), 0);
    }
    Ok(v.hash(key, true)?.expect("created above"))
}

fn hset(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if !a.len().is_multiple_of(2) {
        return Err(CacheError::WrongArity(super::text(&a[0]).to_ascii_lowercase()));
    }
    let h = hash_for_write(v, &a[1])?;
    let mut added = 0;
    for pair in a[2..].chunks(2) {
        if h.insert(pair[0].as_ref().into(), pair[1].as_ref().into()).is_none() {
            added += 1;
        }
    }
    if super::eq(&a[0], "hmset") {
        c.out.ok()
    } else {
        c.out.int(added)
    }
    Ok(())
}

fn hsetnx(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let h = hash_for_write(v, &a[1])?;
    if h.contains_key(a[2].as_ref()) {
        c.out.int(0);
    } else {
        h.insert(a[2].as_ref().into(), a[3].as_ref().into());
        c.out.int(1);
    }
    Ok(())
}

fn hget(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let val = v.hash(&a[1], false)?.and_then(|h| h.get(a[2].as_ref()));
    c.out.opt_bulk(val.map(|b| &b[..]));
    Ok(())
}

fn hmget(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let h = v.hash(&a[1], false)?;
    c.out.array(a.len() - 2);
    for f in &a[2..] {
        c.out.opt_bulk(h.as_ref().and_then(|h| h.get(f.as_ref())).map(|b| &b[..]));
    }
    Ok(())
}

fn hdel(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut n = 0;
    if let Some(h) = v.hash(&a[1], true)? {
        for f in &a[2..] {
            n += h.swap_remove(f.as_ref()).is_some() as i64;
        }
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n);
    Ok(())
}

fn hgetall(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    match v.hash(&a[1], false)? {
        None => c.out.map(0),
        Some(h) => {
            c.out.map(h.len());
            for (k, val) in h.iter() {
                c.out.bulk(k);
                c.out.bulk(val);
            }
        }
    }
    Ok(())
}

fn hkeys(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let h = v.hash(&a[1], false)?;
    let n = h.as_ref().map_or(0, |h| h.len());
    c.out.array(n);
    for k in h.iter().flat_map(|h| h.keys()) {
        c.out.bulk(k);
    }
    Ok(())
}

fn hvals(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let h = v.hash(&a[1], false)?;
    let n = h.as_ref().map_or(0, |h| h.len());
    c.out.array(n);
    for val in h.iter().flat_map(|h| h.values()) {
        c.out.bulk(val);
    }
    Ok(())
}

fn hlen(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.hash(&a[1], false)?.map_or(0, |h| h.len());
    c.out.int(n as i64);
    Ok(())
}

fn hstrlen(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.hash(&a[1], false)?.and_then(|h| h.get(a[2].as_ref())).map_or(0, |b| b.len());
    c.out.int(n as i64);
    Ok(())
}

fn hexists(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.hash(&a[1], false)?.is_some_and(|h| h.contains_key(a[2].as_ref()));
    c.out.int(n as i64);
    Ok(())
}

fn hincrby(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let d = int(&a[3])?;
    let h = hash_for_write(v, &a[1])?;
    let cur = match h.get(a[2].as_ref()) {
        None => 0,
        Some(b) => parse_int(b).ok_or(CacheError::Other("ERR hash value is not an integer".into()))?,
    };
    let next = cur.checked_add(d).ok_or(CacheError::Overflow)?;
    h.insert(a[2].as_ref().into(), next.to_string().into_bytes().into());
    c.out.int(next);
    Ok(())
}

fn hincrbyfloat(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let d = float(&a[3])?;
    if !d.is_finite() {
        return Err(CacheError::Other("ERR value is NaN or Infinity".into()));
    }
    let h = hash_for_write(v, &a[1])?;
    let cur = match h.get(a[2].as_ref()) {
        None => 0.0,
        Some(b) => parse_float(b).ok_or(CacheError::Other("ERR hash value is not a float".into()))?,
    };
    let next = cur + d;
    if !next.is_finite() {
        return Err(CacheError::NanOrInfinity);
    }
    let t = format_long_double(next);
    h.insert(a[2].as_ref().into(), t.as_bytes().into());
    c.propagate = Some(vec![vec![Bytes::from_static(b"HSET"), a[1].clone(), a[2].clone(), Bytes::from(t.clone())]]);
    c.out.bulk(t.as_bytes());
    Ok(())
}

fn hscan(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cursor = parse_cursor(&a[2])?;
    let (pattern, n, _) = scan_options(a, 3, false)?;
    let mut items = Vec::new();
    let next = match v.hash(&a[1], false)? {
        None => 0,
        Some(h) => scan::scan_indexed(h.len(), cursor, n, |i| {
            let (k, val) = h.get_index(i).expect("in range");
            if pattern.as_ref().is_none_or(|p| glob::matches(p, k)) {
                items.push((k.clone(), val.clone()));
            }
        }),
    };
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(items.len() * 2);
    for (k, val) in items {
        c.out.bulk(&k);
        c.out.bulk(&val);
    }
    Ok(())
}

fn hrandfield(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let count = if a.len() >= 3 { Some(random_count(&a[2])?) } else { None };
    let withvalues = a.len() == 4 && super::eq(&a[3], "withvalues");
    if a.len() > 4 || (a.len() == 4 && !withvalues) {
        return Err(CacheError::Syntax);
    }
    // Twice as many replies as picks: Redis bounds the count so that cannot overflow.
    if withvalues && count.is_some_and(|n| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) {
        return Err(CacheError::Other("ERR value is out of range".into()));
    }
    let h = v.hash(&a[1], false)?;
    let Some(h) = h else {
        if count.is_some() {
            c.out.array(0)
        } else {
            c.out.null()
        }
        return Ok(());
    };
    let picks = random_indexes(h.len(), count);
    if count.is_none() {
        c.out.bulk(h.get_index(picks[0]).expect("in range").0);
        return Ok(());
    }
    if withvalues && c.out.resp3 {
        c.out.array(picks.len());
    } else {
        c.out.array(picks.len() * if withvalues { 2 } else { 1 });
    }
    for i in picks {
        let (k, val) = h.get_index(i).expect("in range");
        if withvalues && c.out.resp3 {
            c.out.array(2);
        }
        c.out.bulk(k);
        if withvalues {
            c.out.bulk(val);
        }
    }
    Ok(())
}

/// The count of SRANDMEMBER/HRANDFIELD: any i64 but the one whose negation overflows.
pub fn random_count(arg: &[u8]) -> CacheResult<i64> {
    match int(arg)? {
        i64::MIN => Err(CacheError::Other(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807".into(),
        )),
        n => Ok(n),
    }
}

/// SRANDMEMBER/HRANDFIELD semantics: no count → one; positive → distinct up to len; negative → |n|
/// picks with repetition.
pub fn random_indexes(len: usize, count: Option<i64>) -> Vec<usize> {
    match count {
        None => vec![fast_rand() as usize % len],
        Some(n) if n < 0 => (0..n.unsigned_abs().min(1 << 24)).map(|_| fast_rand() as usize % len).collect(),
        Some(n) => {
            let n = (n as usize).min(len);
            if n == len {
                return (0..len).collect();
            }
            let mut chosen = std::collections::HashSet::new();
            while chosen.len() < n {
                chosen.insert(fast_rand() as usize % len);
            }
            chosen.into_iter().collect()
        }
    }
}
