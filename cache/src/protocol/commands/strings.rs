//! String commands.

use bytes::Bytes;

use super::{Command, Ctx, DENYOOM, FAST, READONLY, WRITE, eq, int, keyed};
use crate::engine::strings as s;
use crate::engine::{CacheError, CacheResult, Value, View};

pub fn commands() -> Vec<Command> {
    let g = "string";
    vec![
        keyed(g, "get", 2, READONLY | FAST, (1, 1, 1), get),
        keyed(g, "set", -3, WRITE | DENYOOM, (1, 1, 1), set),
        keyed(g, "setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), setnx),
        keyed(g, "setex", 4, WRITE | DENYOOM, (1, 1, 1), setex),
        keyed(g, "psetex", 4, WRITE | DENYOOM, (1, 1, 1), psetex),
        keyed(g, "getex", -2, WRITE | FAST, (1, 1, 1), getex),
        keyed(g, "getdel", 2, WRITE | FAST, (1, 1, 1), getdel),
        keyed(g, "getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), getset),
        keyed(g, "mget", -2, READONLY | FAST, (1, -1, 1), mget),
        keyed(g, "mset", -3, WRITE | DENYOOM, (1, -1, 2), mset),
        keyed(g, "msetnx", -3, WRITE | DENYOOM, (1, -1, 2), msetnx),
        keyed(g, "incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), incr),
        keyed(g, "decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), decr),
        keyed(g, "incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrby),
        keyed(g, "decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), decrby),
        keyed(g, "incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrbyfloat),
        keyed(g, "append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), append),
        keyed(g, "strlen", 2, READONLY | FAST, (1, 1, 1), strlen),
        keyed(g, "getrange", 4, READONLY, (1, 1, 1), getrange),
        keyed(g, "substr", 4, READONLY, (1, 1, 1), getrange),
        keyed(g, "setrange", 4, WRITE | DENYOOM, (1, 1, 1), setrange),
    ]
}

fn get(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let val = v.string(&a[1])?;
    c.out.opt_bulk(val);
    Ok(())
}

/// Expiry options shared by SET and GETEX. An expire option keeps its argument's index: the
/// number is only checked after parsing (and, for GETEX, after the key lookup), as Redis does.
#[derive(Clone, Copy, PartialEq)]
enum Ttl {
    None,
    Keep,
    Persist,
    Expire { unit_ms: i64, absolute: bool, arg: usize },
}

impl Ttl {
    /// The absolute Unix ms an `Expire` option stands for (`None` for the other options).
    fn resolve(self, now: u64, a: &[Bytes]) -> CacheResult<Option<u64>> {
        match self {
            Ttl::Expire { unit_ms, absolute, arg } => Ok(Some(expire_at(now, int(&a[arg])?, unit_ms, absolute)?)),
            _ => Ok(None),
        }
    }
}

/// Converts `n` seconds / milliseconds (relative or absolute) into absolute Unix ms.
pub fn expire_at(now: u64, n: i64, unit_ms: i64, absolute: bool) -> CacheResult<u64> {
    if n <= 0 {
        return Err(CacheError::InvalidExpire);
    }
    let ms = n.checked_mul(unit_ms).ok_or(CacheError::InvalidExpire)?;
    let at = if absolute { ms } else { ms.checked_add(now as i64).ok_or(CacheError::InvalidExpire)? };
    Ok(at as u64)
}

/// EX / PX / EXAT / PXAT at `a[*i]`. As in Redis, the same option may repeat (the last one wins)
/// but two different ones, or one with KEEPTTL / PERSIST, are a syntax error.
fn parse_ttl_option(a: &[Bytes], i: &mut usize, ttl: &mut Ttl) -> CacheResult<bool> {
    let (unit_ms, absolute) = if eq(&a[*i], "ex") {
        (1000, false)
    } else if eq(&a[*i], "px") {
        (1, false)
    } else if eq(&a[*i], "exat") {
        (1000, true)
    } else if eq(&a[*i], "pxat") {
        (1, true)
    } else {
        return Ok(false);
    };
    let same_kind = matches!(*ttl, Ttl::Expire { unit_ms: u, absolute: ab, .. } if u == unit_ms && ab == absolute);
    if (*ttl != Ttl::None && !same_kind) || *i + 1 >= a.len() {
        return Err(CacheError::Syntax);
    }
    *ttl = Ttl::Expire { unit_ms, absolute, arg: *i + 1 };
    *i += 1;
    Ok(true)
}

fn pxat_line(key: &Bytes, at: u64) -> Vec<Bytes> {
    vec![Bytes::from_static(b"PEXPIREAT"), key.clone(), Bytes::from(at.to_string())]
}

fn set(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut ttl = Ttl::None;
    let mut i = 3;
    while i < a.len() {
        if eq(&a[i], "nx") && !xx {
            nx = true;
        } else if eq(&a[i], "xx") && !nx {
            xx = true;
        } else if eq(&a[i], "get") {
            get = true;
        } else if eq(&a[i], "keepttl") && matches!(ttl, Ttl::None | Ttl::Keep) {
            ttl = Ttl::Keep;
        } else if !parse_ttl_option(a, &mut i, &mut ttl)? {
            return Err(CacheError::Syntax);
        }
        i += 1;
    }
    let at = ttl.resolve(v.now, a)?;
    let key = &a[1];
    let old: Option<Option<Box<[u8]>>> = if get { Some(v.string(key)?.map(Box::from)) } else { None };
    let exists = match &old {
        Some(o) => o.is_some(),
        None => v.exists(key),
    };
    if (nx && exists) || (xx && !exists) {
        c.propagate = Some(vec![]);
        match old {
            Some(o) => c.out.opt_bulk(o.as_deref()),
            None => c.out.null(),
        }
        return Ok(());
    }
    let value = Value::Str(a[2].as_ref().into());
    match (ttl, at) {
        (Ttl::Keep, _) => v.replace_value(key, value),
        (_, Some(at)) => {
            v.insert(key, value, at);
            c.propagate = Some(vec![vec![a[0].clone(), key.clone(), a[2].clone()], pxat_line(key, at)]);
        }
        _ => v.insert(key, value, 0),
    }
    match old {
        Some(o) => c.out.opt_bulk(o.as_deref()),
        None => c.out.ok(),
    }
    Ok(())
}

fn setnx(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if v.exists(&a[1]) {
        c.propagate = Some(vec![]);
        c.out.int(0);
    } else {
        v.insert(&a[1], Value::Str(a[2].as_ref().into()), 0);
        c.out.int(1);
    }
    Ok(())
}

fn setex_with(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes], unit: i64) -> CacheResult<()> {
    let n = int(&a[2])?;
    let at = expire_at(v.now, n, unit, false)?;
    v.insert(&a[1], Value::Str(a[3].as_ref().into()), at);
    c.propagate = Some(vec![vec![Bytes::from_static(b"SET"), a[1].clone(), a[3].clone()], pxat_line(&a[1], at)]);
    c.out.ok();
    Ok(())
}
fn setex(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    setex_with(c, v, a, 1000)
}
fn psetex(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    setex_with(c, v, a, 1)
}

fn getex(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut ttl = Ttl::None;
    let mut i = 2;
    while i < a.len() {
        if eq(&a[i], "persist") && matches!(ttl, Ttl::None | Ttl::Persist) {
            ttl = Ttl::Persist;
        } else if !parse_ttl_option(a, &mut i, &mut ttl)? {
            return Err(CacheError::Syntax);
        }
        i += 1;
    }
    let val: Option<Box<[u8]>> = v.string(&a[1])?.map(Box::from);
    c.propagate = Some(vec![]);
    if val.is_some() {
        // Redis checks the expire time only once it has found the key (a missing one is nil).
        match (ttl, ttl.resolve(v.now, a)?) {
            (_, Some(at)) => {
                v.set_expire(&a[1], at);
                c.propagate = Some(vec![pxat_line(&a[1], at)]);
            }
            (Ttl::Persist, _) => {
                v.set_expire(&a[1], 0);
                c.propagate = Some(vec![vec![Bytes::from_static(b"PERSIST"), a[1].clone()]]);
            }
            _ => {}
        }
    }
    c.out.opt_bulk(val.as_deref());
    Ok(())
}

fn getdel(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let val: Option<Box<[u8]>> = v.string(&a[1])?.map(Box::from);
    if val.is_some() {
        v.remove(&a[1]);
    }
    c.out.opt_bulk(val.as_deref());
    Ok(())
}

fn getset(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let val: Option<Box<[u8]>> = v.string(&a[1])?.map(Box::from);
    v.insert(&a[1], Value::Str(a[2].as_ref().into()), 0);
    c.out.opt_bulk(val.as_deref());
    Ok(())
}

fn mget(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    c.out.array(a.len() - 1);
    for k in &a[1..] {
        match v.read(k) {
            Some(crate::engine::Entry { value: Value::Str(s), .. }) => c.out.bulk(s),
            _ => c.out.null(),
        }
    }
    Ok(())
}

fn mset(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len().is_multiple_of(2) {
        return Err(CacheError::WrongArity(super::text(&a[0]).to_lowercase()));
    }
    for pair in a[1..].chunks(2) {
        v.insert(&pair[0], Value::Str(pair[1].as_ref().into()), 0);
    }
    c.out.ok();
    Ok(())
}

fn msetnx(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    if a.len().is_multiple_of(2) {
        return Err(CacheError::WrongArity("msetnx".into()));
    }
    if a[1..].chunks(2).any(|p| v.exists(&p[0])) {
        c.propagate = Some(vec![]);
        c.out.int(0);
        return Ok(());
    }
    for pair in a[1..].chunks(2) {
        v.insert(&pair[0], Value::Str(pair[1].as_ref().into()), 0);
    }
    c.out.int(1);
    Ok(())
}

fn incr_common(c: &mut Ctx<'_>, v: &mut View<'_>, key: &[u8], delta: i64) -> CacheResult<()> {
    let n = s::incr_by(v, key, delta)?;
    c.out.int(n);
    Ok(())
}
fn incr(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    incr_common(c, v, &a[1], 1)
}
fn decr(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    incr_common(c, v, &a[1], -1)
}
fn incrby(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let d = int(&a[2])?;
    incr_common(c, v, &a[1], d)
}
fn decrby(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let d = int(&a[2])?;
    let d = d.checked_neg().ok_or(CacheError::Other("ERR decrement would overflow".into()))?;
    incr_common(c, v, &a[1], d)
}

fn incrbyfloat(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let text = s::incr_by_float(v, &a[1], &a[2])?;
    // Replayed as a SET of the result, so rounding cannot drift (KEEPTTL keeps any TTL).
    c.propagate = Some(vec![vec![
        Bytes::from_static(b"SET"),
        a[1].clone(),
        Bytes::from(text.clone()),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    c.out.bulk(text.as_bytes());
    Ok(())
}

fn append(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = s::append(v, &a[1], &a[2])?;
    c.out.int(n as i64);
    Ok(())
}

fn strlen(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = v.string(&a[1])?.map_or(0, |s| s.len());
    c.out.int(n as i64);
    Ok(())
}

fn getrange(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let (start, end) = (int(&a[2])?, int(&a[3])?);
    let val = v.string(&a[1])?.unwrap_or(b"");
    if start < 0 && end < 0 && start > end {
        c.out.bulk(b"");
        return Ok(());
    }
    match s::normalise_range(start, end, val.len()) {
        Some((s, e)) => c.out.bulk(&val[s..=e]),
        None => c.out.bulk(b""),
    }
    Ok(())
}

fn setrange(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let off = int(&a[2])?;
    if off < 0 {
        return Err(CacheError::Other("ERR offset is out of range".into()));
    }
    let n = s::set_range(v, &a[1], off as usize, &a[3])?;
    c.out.int(n as i64);
    Ok(())
}
