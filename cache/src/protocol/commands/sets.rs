//! Set commands.

use bytes::Bytes;

use super::hashes::{random_count, random_indexes};
use super::keys::{parse_cursor, scan_options};
use super::{Command, Ctx, DENYOOM, FAST, MOVABLEKEYS, READONLY, WRITE, count, keyed};
use crate::engine::keyspace::{Blob, Set};
use crate::engine::{CacheError, CacheResult, Value, View, glob, scan};

pub fn commands() -> Vec<Command> {
    let g = "set";
    vec![
        keyed(g, "sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd),
        keyed(g, "srem", -3, WRITE | FAST, (1, 1, 1), srem),
        keyed(g, "smembers", 2, READONLY, (1, 1, 1), smembers),
        keyed(g, "sismember", 3, READONLY | FAST, (1, 1, 1), sismember),
        keyed(g, "smismember", -3, READONLY | FAST, (1, 1, 1), smismember),
        keyed(g, "scard", 2, READONLY | FAST, (1, 1, 1), scard),
        keyed(g, "sinter", -2, READONLY, (1, -1, 1), combine),
        keyed(g, "sunion", -2, READONLY, (1, -1, 1), combine),
        keyed(g, "sdiff", -2, READONLY, (1, -1, 1), combine),
        keyed(g, "sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), combine_store),
        keyed(g, "sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), combine_store),
        keyed(g, "sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), combine_store),
        keyed(g, "smove", 4, WRITE | FAST, (1, 2, 1), smove),
        keyed(g, "spop", -2, WRITE | FAST, (1, 1, 1), spop),
        keyed(g, "srandmember", -2, READONLY, (1, 1, 1), srandmember),
        keyed(g, "sscan", -3, READONLY, (1, 1, 1), sscan),
        keyed(g, "sintercard", -3, READONLY | MOVABLEKEYS, (2, -1, 1), sintercard).info_keys((0, 0, 0)),
    ]
}

fn set_for_write<'v>(v: &'v mut View<'_>, key: &[u8]) -> CacheResult<&'v mut Set<Blob>> {
    if v.set(key, true)?.is_none() {
        v.insert(key, Value::Set(Box::default()), 0);
    }
    Ok(v.set(key, true)?.expect("created above"))
}

fn sadd(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let s = set_for_write(v, &a[1])?;
    let n = a[2..].iter().filter(|m| s.insert(m.as_ref().into())).count();
    c.out.int(n as i64);
    Ok(())
}

fn srem(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut n = 0;
    if let Some(s) = v.set(&a[1], true)? {
        n = a[2..].iter().filter(|m| s.swap_remove(m.as_ref())).count();
    }
    v.drop_if_empty(&a[1]);
    c.out.int(n as i64);
    Ok(())
}

fn write_members<'m>(c: &mut Ctx<'_>, members: impl ExactSizeIterator<Item = &'m Blob>) {
    c.out.set(members.len());
    for m in members {
        c.out.bulk(m);
    }
}

fn smembers(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    match v.set(&a[1], false)? {
        None => c.out.set(0),
        Some(s) => write_members(c, s.iter()),
    }
    Ok(())
}

fn sismember(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.set(&a[1], false)?.is_some_and(|s| s.contains(a[2].as_ref()));
    c.out.int(n as i64);
    Ok(())
}

fn smismember(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let s = v.set(&a[1], false)?;
    c.out.array(a.len() - 2);
    for m in &a[2..] {
        c.out.int(s.as_ref().is_some_and(|s| s.contains(m.as_ref())) as i64);
    }
    Ok(())
}

fn scard(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.set(&a[1], false)?.map_or(0, |s| s.len());
    c.out.int(n as i64);
    Ok(())
}

/// The sets at `keys` (`None` for a missing key), every key's type checked first.
fn read_sets(v: &mut View<'_>, keys: &[Bytes]) -> CacheResult<Vec<Option<Set<Blob>>>> {
    keys.iter().map(|k| Ok(v.set(k, false)?.map(|s| s.clone()))).collect()
}

/// SINTER / SUNION / SDIFF over `keys` (missing keys are empty sets).
fn compute(v: &mut View<'_>, op: &str, keys: &[Bytes]) -> CacheResult<Set<Blob>> {
    let mut it = read_sets(v, keys)?.into_iter();
    let first = it.next().flatten().unwrap_or_default();
    Ok(match op {
        "inter" => it.fold(first, |acc, s| match s {
            None => Set::default(),
            Some(s) => acc.into_iter().filter(|m| s.contains(m)).collect(),
        }),
        "union" => it.flatten().fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        _ => it.flatten().fold(first, |acc, s| acc.into_iter().filter(|m| !s.contains(m)).collect()),
    })
}

fn op_of(a0: &[u8]) -> &'static str {
    let n = super::text(a0).to_ascii_lowercase();
    if n.starts_with("sinter") {
        "inter"
    } else if n.starts_with("sunion") {
        "union"
    } else {
        "diff"
    }
}

fn combine(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let result = compute(v, op_of(&a[0]), &a[1..])?;
    write_members(c, result.iter());
    Ok(())
}

fn combine_store(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let result = compute(v, op_of(&a[0]), &a[2..])?;
    let n = result.len();
    v.remove(&a[1]);
    if n > 0 {
        v.insert(&a[1], Value::Set(Box::new(result)), 0);
    }
    c.out.int(n as i64);
    Ok(())
}

fn smove(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    // As Redis: a missing source is 0 whatever the destination holds.
    if v.set(&a[1], false)?.is_none() {
        c.out.int(0);
        return Ok(());
    }
    v.set(&a[2], false)?;
    let moved = match v.set(&a[1], true)? {
        None => false,
        Some(s) => s.swap_remove(a[3].as_ref()),
    };
    if moved {
        v.drop_if_empty(&a[1]);
        set_for_write(v, &a[2])?.insert(a[3].as_ref().into());
    }
    c.out.int(moved as i64);
    Ok(())
}

fn spop(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len() > 3 {
        return Err(CacheError::Syntax);
    }
    let n = if a.len() == 3 { Some(count(&a[2])?) } else { None };
    let Some(s) = v.set(&a[1], true)? else {
        if n.is_some() {
            c.out.set(0)
        } else {
            c.out.null()
        }
        c.propagate = Some(vec![]);
        return Ok(());
    };
    let take = n.unwrap_or(1).min(s.len());
    let mut popped = Vec::with_capacity(take);
    for _ in 0..take {
        let i = crate::engine::eviction::fast_rand() as usize % s.len();
        popped.push(s.swap_remove_index(i).expect("in range"));
    }
    v.drop_if_empty(&a[1]);
    // Replayed as SREM of exactly what was popped.
    let mut line = vec![Bytes::from_static(b"SREM"), a[1].clone()];
    line.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
    c.propagate = Some(if popped.is_empty() { vec![] } else { vec![line] });
    match n {
        None => c.out.opt_bulk(popped.first().map(|b| &b[..])),
        Some(_) => write_members(c, popped.iter()),
    }
    Ok(())
}

fn srandmember(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len() > 3 {
        return Err(CacheError::Syntax);
    }
    let n = if a.len() == 3 { Some(random_count(&a[2])?) } else { None };
    let Some(s) = v.set(&a[1], false)? else {
        if n.is_some() {
            c.out.array(0)
        } else {
            c.out.null()
        }
        return Ok(());
    };
    let picks = random_indexes(s.len(), n);
    if n.is_none() {
        c.out.bulk(s.get_index(picks[0]).expect("in range"));
        return Ok(());
    }
    c.out.array(picks.len());
    for i in picks {
        c.out.bulk(s.get_index(i).expect("in range"));
    }
    Ok(())
}

fn sscan(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cursor = parse_cursor(&a[2])?;
    let (pattern, n, _) = scan_options(a, 3, false)?;
    let mut items = Vec::new();
    let next = match v.set(&a[1], false)? {
        None => 0,
        Some(s) => scan::scan_indexed(s.len(), cursor, n, |i| {
            let m = s.get_index(i).expect("in range");
            if pattern.as_ref().is_none_or(|p| glob::matches(p, m)) {
                items.push(m.clone());
            }
        }),
    };
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(items.len());
    for m in items {
        c.out.bulk(&m);
    }
    Ok(())
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: the intersection's size, counting stopped at a
/// non-zero LIMIT.
fn sintercard(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let numkeys = match crate::engine::strings::parse_int(&a[1]) {
        Some(n) if n >= 1 => n as u64,
        _ => return Err(CacheError::Other("ERR numkeys should be greater than 0".into())),
    };
    if numkeys > (a.len() - 2) as u64 {
        return Err(CacheError::Other("ERR Number of keys can't be greater than number of args".into()));
    }
    let keys = &a[2..2 + numkeys as usize];
    let mut limit = 0usize;
    let mut j = 2 + keys.len();
    while j < a.len() {
        if super::eq(&a[j], "limit") && j + 1 < a.len() {
            limit = match crate::engine::strings::parse_int(&a[j + 1]) {
                Some(n) if n >= 0 => n as usize,
                _ => return Err(CacheError::Other("ERR LIMIT can't be negative".into())),
            };
            j += 2;
        } else {
            return Err(CacheError::Syntax);
        }
    }
    let n = intersection_size(v, keys, limit)?;
    c.out.int(n as i64);
    Ok(())
}

/// How many members all of `keys` share (every key's type checked first), up to `limit` if not 0.
fn intersection_size(v: &mut View<'_>, keys: &[Bytes], limit: usize) -> CacheResult<usize> {
    let Some(mut sets) = read_sets(v, keys)?.into_iter().collect::<Option<Vec<_>>>() else { return Ok(0) };
    sets.sort_by_key(|s| s.len());
    let (first, rest) = sets.split_first().expect("numkeys >= 1");
    let mut n = 0;
    for m in first {
        if rest.iter().all(|s| s.contains(m)) {
            n += 1;
            if n == limit {
                break;
            }
        }
    }
    Ok(n)
}
