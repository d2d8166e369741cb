//! Generic key commands: existence, types, renames, TTLs, iteration, flushing.

use bytes::Bytes;

use super::{Command, Ctx, DENYOOM, FAST, READONLY, WRITE, eq, everything, int, keyed, text, whole_db};
use crate::engine::eviction::{self, fast_rand, lfu_decayed};
use crate::engine::keyspace::{Blob, drop_value};
use crate::engine::{CacheError, CacheResult, View, glob, scan};

pub fn commands() -> Vec<Command> {
    let g = "generic";
    vec![
        keyed(g, "del", -2, WRITE, (1, -1, 1), del),
        keyed(g, "unlink", -2, WRITE | FAST, (1, -1, 1), del),
        keyed(g, "exists", -2, READONLY | FAST, (1, -1, 1), exists),
        keyed(g, "touch", -2, READONLY | FAST, (1, -1, 1), touch),
        keyed(g, "type", 2, READONLY | FAST, (1, 1, 1), type_),
        keyed(g, "rename", 3, WRITE, (1, 2, 1), rename),
        keyed(g, "renamenx", 3, WRITE | FAST, (1, 2, 1), renamenx),
        // DB may name another database: every shard is locked.
        everything(g, "copy", -3, WRITE | DENYOOM, copy).info_keys((1, 2, 1)),
        keyed(g, "expire", -3, WRITE | FAST, (1, 1, 1), expire),
        keyed(g, "pexpire", -3, WRITE | FAST, (1, 1, 1), expire),
        keyed(g, "expireat", -3, WRITE | FAST, (1, 1, 1), expire),
        keyed(g, "pexpireat", -3, WRITE | FAST, (1, 1, 1), expire),
        keyed(g, "ttl", 2, READONLY | FAST, (1, 1, 1), ttl),
        keyed(g, "pttl", 2, READONLY | FAST, (1, 1, 1), ttl),
        keyed(g, "expiretime", 2, READONLY | FAST, (1, 1, 1), ttl),
        keyed(g, "pexpiretime", 2, READONLY | FAST, (1, 1, 1), ttl),
        keyed(g, "persist", 2, WRITE | FAST, (1, 1, 1), persist),
        keyed(g, "object", -2, READONLY, (2, 2, 1), object),
        whole_db(g, "keys", 2, READONLY, keys),
        whole_db(g, "scan", -2, READONLY, scan_cmd),
        whole_db(g, "randomkey", 1, READONLY, randomkey),
        whole_db("server", "dbsize", 1, READONLY | FAST, dbsize),
        whole_db("server", "flushdb", -1, WRITE, flushdb),
        everything("server", "flushall", -1, WRITE, flushall),
    ]
}

fn del(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let mut n = 0;
    for k in &a[1..] {
        if let Some(e) = v.remove(k) {
            drop_value(e.value);
            n += 1;
        }
    }
    c.out.int(n);
    Ok(())
}

fn exists(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = a[1..].iter().filter(|k| v.exists(k)).count();
    c.out.int(n as i64);
    Ok(())
}

fn touch(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let n = a[1..].iter().filter(|k| v.read(k).is_some()).count();
    c.out.int(n as i64);
    Ok(())
}

fn type_(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let t = v.peek(&a[1]).map_or("none", |e| e.value.type_name());
    c.out.simple(t);
    Ok(())
}

fn do_rename(v: &mut View<'_>, a: &[Bytes], nx: bool) -> CacheResult<bool> {
    if !v.exists(&a[1]) {
        return Err(CacheError::NoSuchKey);
    }
    if a[1] == a[2] {
        return Ok(!nx);
    }
    if nx && v.exists(&a[2]) {
        return Ok(false);
    }
    let e = v.remove(&a[1]).ok_or(CacheError::NoSuchKey)?;
    v.insert(&a[2], e.value, e.expire_at);
    Ok(true)
}

fn rename(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    do_rename(v, a, false)?;
    c.out.ok();
    Ok(())
}

fn renamenx(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let done = do_rename(v, a, true)?;
    c.out.int(done as i64);
    Ok(())
}

fn expire(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cmd = text(&a[0]).to_ascii_lowercase();
    let (unit, absolute) = match cmd.as_str() {
        "expire" => (1000, false),
        "pexpire" => (1, false),
        "expireat" => (1000, true),
        _ => (1, true),
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &a[3..] {
        match text(opt).to_ascii_lowercase().as_str() {
            "nx" => nx = true,
            "xx" => xx = true,
            "gt" => gt = true,
            "lt" => lt = true,
            _ => return Err(CacheError::Other(format!("ERR Unsupported option {}", text(opt)))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CacheError::Other("ERR NX and XX, GT or LT options at the same time are not compatible".into()));
    }
    if gt && lt {
        return Err(CacheError::Other("ERR GT and LT options at the same time are not compatible".into()));
    }
    let n = int(&a[2])?;
    let ms = n.checked_mul(unit).ok_or(CacheError::InvalidExpire)?;
    let at = if absolute { ms } else { ms.checked_add(v.now as i64).ok_or(CacheError::InvalidExpire)? };
    let Some(current) = v.peek(&a[1]).map(|e| e.expire_at) else {
        c.out.int(0);
        c.propagate = Some(vec![]);
        return Ok(());
    };
    // A key without TTL counts as an infinite TTL for GT/LT: GT always fails on it and LT always
    // succeeds (even for a time of i64::MAX ms, as in Redis).
    let cur = current as i64;
    let persistent = current == 0;
    if (nx && !persistent)
        || (xx && persistent)
        || (gt && (persistent || at <= cur))
        || (lt && !persistent && at >= cur)
    {
        c.out.int(0);
        c.propagate = Some(vec![]);
        return Ok(());
    }
    if at <= v.now as i64 {
        if let Some(e) = v.remove(&a[1]) {
            drop_value(e.value);
        }
        c.propagate = Some(vec![vec![Bytes::from_static(b"DEL"), a[1].clone()]]);
    } else {
        v.set_expire(&a[1], at as u64);
        c.propagate = Some(vec![vec![Bytes::from_static(b"PEXPIREAT"), a[1].clone(), Bytes::from(at.to_string())]]);
    }
    c.out.int(1);
    Ok(())
}

fn ttl(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cmd = text(&a[0]).to_ascii_lowercase();
    let now = v.now;
    let Some(e) = v.peek(&a[1]) else {
        c.out.int(-2);
        return Ok(());
    };
    if e.expire_at == 0 {
        c.out.int(-1);
        return Ok(());
    }
    let left = e.expire_at.saturating_sub(now) as i64;
    let n = match cmd.as_str() {
        "ttl" => (left + 500) / 1000,
        "pttl" => left,
        "expiretime" => (e.expire_at / 1000) as i64,
        _ => e.expire_at as i64,
    };
    c.out.int(n);
    Ok(())
}

fn persist(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let had = v.peek(&a[1]).is_some_and(|e| e.expire_at != 0);
    if had {
        v.set_expire(&a[1], 0);
    } else {
        c.propagate = Some(vec![]);
    }
    c.out.int(had as i64);
    Ok(())
}

const LFU_MSG: &str =
    "Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

fn object(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let sub = text(&a[1]).to_ascii_lowercase();
    if sub == "help" {
        let lines = [
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "FREQ <key>",
            "IDLETIME <key>",
            "REFCOUNT <key>",
            "HELP",
        ];
        c.out.array(lines.len());
        for l in lines {
            c.out.simple(l);
        }
        return Ok(());
    }
    if a.len() != 3 || !matches!(sub.as_str(), "encoding" | "freq" | "idletime" | "refcount") {
        return Err(super::subcommand_error("object", &a[1], &["encoding", "freq", "idletime", "refcount"]));
    }
    let policy = v.eng.config.policy();
    let lru_now = v.eng.lru_clock();
    let eng = v.eng;
    let Some(e) = v.peek(&a[2]) else {
        c.out.null();
        return Ok(());
    };
    match sub.as_str() {
        "encoding" => c.out.bulk(e.value.encoding().as_bytes()),
        "refcount" => c.out.int(1),
        "freq" => {
            if !policy.is_lfu() {
                return Err(CacheError::Other(format!(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. {LFU_MSG}"
                )));
            }
            c.out.int(lfu_decayed(eng, e.meta, lru_now) as i64)
        }
        _ => {
            if policy.is_lfu() {
                return Err(CacheError::Other(format!(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. {LFU_MSG}"
                )));
            }
            c.out.int((eviction::idle_ms(e.meta, lru_now) / 1000) as i64)
        }
    }
    Ok(())
}

fn keys(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let now = v.now;
    let pattern = &a[1];
    let all = pattern.as_ref() == b"*";
    let mut found = Vec::new();
    for shard in v.db_shards() {
        for (k, e) in shard.map.iter() {
            if (e.expire_at == 0 || e.expire_at > now) && (all || glob::matches(pattern, k)) {
                found.push(Blob::from(k));
            }
        }
    }
    c.out.array(found.len());
    for k in found {
        c.out.bulk(&k);
    }
    Ok(())
}

pub fn scan_options(
    a: &[Bytes],
    mut i: usize,
    allow_type: bool,
) -> CacheResult<(Option<Bytes>, usize, Option<String>)> {
    let (mut pattern, mut n, mut ty) = (None, 10, None);
    while i < a.len() {
        if eq(&a[i], "match") && i + 1 < a.len() {
            pattern = Some(a[i + 1].clone());
        } else if eq(&a[i], "count") && i + 1 < a.len() {
            n = int(&a[i + 1])?;
            if n < 1 {
                return Err(CacheError::Syntax);
            }
        } else if allow_type && eq(&a[i], "type") && i + 1 < a.len() {
            ty = Some(text(&a[i + 1]));
        } else {
            return Err(CacheError::Syntax);
        }
        i += 2;
    }
    Ok((pattern, n as usize, ty))
}

/// A SCAN cursor, read as Redis 7.0 reads it (`strtoul`): an optional sign, then decimal digits;
/// a negative cursor wraps (`-1` is 2^64 - 1) and an empty one is 0. Out of range, blanks or other
/// bytes: "ERR invalid cursor".
pub fn parse_cursor(arg: &[u8]) -> CacheResult<u64> {
    let invalid = || CacheError::Other("ERR invalid cursor".into());
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul read nothing: valid (0) only if there was nothing to read.
        return if arg.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut n: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(invalid());
        }
        n = n.checked_mul(10).and_then(|n| n.checked_add(u64::from(c - b'0'))).ok_or_else(invalid)?;
    }
    Ok(if neg { n.wrapping_neg() } else { n })
}

fn scan_cmd(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let cursor = parse_cursor(&a[1])?;
    let (pattern, n, ty) = scan_options(a, 2, true)?;
    let (next, keys) = scan::scan_keys(v, cursor, n, pattern.as_deref(), ty.as_deref());
    c.out.array(2);
    c.out.bulk(next.to_string().as_bytes());
    c.out.array(keys.len());
    for k in keys {
        c.out.bulk(&k);
    }
    Ok(())
}

fn randomkey(c: &mut Ctx<'_>, v: &mut View<'_>, _a: &[Bytes]) -> CacheResult<()> {
    let now = v.now;
    let mut shards: Vec<_> = v.db_shards().collect();
    let total: usize = shards.iter().map(|s| s.map.len()).sum();
    for _ in 0..100 {
        if total == 0 {
            break;
        }
        let mut pick = fast_rand() as usize % total;
        for s in shards.iter_mut() {
            if pick < s.map.len() {
                let (k, e) = s.map.get_index(pick).expect("in range");
                if e.expire_at == 0 || e.expire_at > now {
                    c.out.bulk(k);
                    return Ok(());
                }
                break;
            }
            pick -= s.map.len();
        }
    }
    c.out.null();
    Ok(())
}

fn dbsize(c: &mut Ctx<'_>, v: &mut View<'_>, _a: &[Bytes]) -> CacheResult<()> {
    let n = v.key_count();
    c.out.int(n as i64);
    Ok(())
}

fn flush_mode(a: &[Bytes]) -> CacheResult<bool> {
    match a.get(1) {
        None => Ok(false),
        Some(m) if eq(m, "async") => Ok(true),
        Some(m) if eq(m, "sync") && a.len() == 2 => Ok(false),
        _ => Err(CacheError::Syntax),
    }
}

fn flush_shards<'s>(shards: impl Iterator<Item = &'s mut crate::engine::Shard>, lazy: bool) {
    let mut old: Vec<crate::engine::table::Table> = Vec::new();
    for s in shards {
        old.push(std::mem::take(&mut s.map));
        s.clear();
    }
    if lazy {
        let _ = std::thread::Builder::new().name("cache-flush".into()).spawn(move || drop(old));
    }
}

fn flushdb(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let lazy = flush_mode(a)?;
    flush_shards(v.db_shards(), lazy);
    c.out.ok();
    Ok(())
}

fn flushall(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let lazy = flush_mode(a)?;
    flush_shards(v.all_shards().map(|(_, s)| s), lazy);
    c.out.ok();
    Ok(())
}

/// COPY source destination [DB destination-db] [REPLACE]: the value and its TTL.
fn copy(c: &mut Ctx<'_>, v: &mut View<'_>, a: &[Bytes]) -> CacheResult<()> {
    let src_db = v.db;
    let (mut dst_db, mut replace) = (src_db, false);
    let mut j = 3;
    while j < a.len() {
        if eq(&a[j], "replace") {
            replace = true;
        } else if eq(&a[j], "db") && j + 1 < a.len() {
            let id = int(&a[j + 1])?;
            if i32::try_from(id).is_err() {
                return Err(CacheError::Other(
                    "ERR value is out of range, value must between -2147483648 and 2147483647".into(),
                ));
            }
            if !(0..crate::engine::DATABASES as i64).contains(&id) {
                return Err(CacheError::Other("ERR DB index is out of range".into()));
            }
            dst_db = id as usize;
            j += 1;
        } else {
            return Err(CacheError::Syntax);
        }
        j += 1;
    }
    if dst_db == src_db && a[1] == a[2] {
        return Err(CacheError::Other("ERR source and destination objects are the same".into()));
    }
    let Some((value, expire_at)) = v.read(&a[1]).map(|e| (e.value.clone(), e.expire_at)) else {
        c.out.int(0);
        return Ok(());
    };
    v.db = dst_db;
    let copied = copy_into(v, &a[2], value, expire_at, replace);
    v.db = src_db;
    c.out.int(copied as i64);
    Ok(())
}

/// Stores a copy at `key` of the view's current database unless the key exists and `replace` is
/// off; wakes a pop blocked on the key if the copy is a list.
fn copy_into(v: &mut View<'_>, key: &[u8], value: crate::engine::Value, expire_at: u64, replace: bool) -> bool {
    if v.exists(key) {
        if !replace {
            return false;
        }
        if let Some(e) = v.remove(key) {
            drop_value(e.value);
        }
    }
    let list = matches!(value, crate::engine::Value::List(_));
    v.insert(key, value, expire_at);
    if list {
        v.eng.blocking.signal(v.db, key);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    /// Cursors read as Redis 7.0's `strtoul` reads them.
    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0").ok(), Some(0));
        assert_eq!(parse_cursor(b"").ok(), Some(0));
        assert_eq!(parse_cursor(b"01").ok(), Some(1));
        assert_eq!(parse_cursor(b"+7").ok(), Some(7));
        assert_eq!(parse_cursor(b"-0").ok(), Some(0));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615").ok(), Some(u64::MAX));
        for bad in
            [&b"18446744073709551616"[..], b"-18446744073709551616", b" 1", b"1 ", b"1.5", b"abc", b"-", b"+", b"+-1"]
        {
            assert!(parse_cursor(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
