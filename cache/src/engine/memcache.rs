//! memcached semantics over the shared keyspace: items carry client flags and a CAS unique in a
//! 12-byte header in front of the data; expiry follows memcached's exptime rules.

use std::sync::atomic::{AtomicU64, Ordering};

use super::keyspace::View;
use super::{Entry, Value};

static CAS: AtomicU64 = AtomicU64::new(1);
const HEADER: usize = 12;
/// Relative exptimes are at most 30 days; larger values are absolute Unix times.
pub const RELATIVE_LIMIT: i64 = 60 * 60 * 24 * 30;

pub struct Item<'a> {
    pub flags: u32,
    pub cas: u64,
    pub data: &'a [u8],
    pub expire_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreResult {
    Stored,
    NotStored,
    Exists,
    NotFound,
}

/// Absolute expiry (Unix ms) for a memcached exptime; `None` = already expired (negative exptime).
pub fn exptime_to_ms(now_ms: u64, exptime: i64) -> Option<u64> {
    if exptime == 0 {
        Some(0)
    } else if exptime < 0 {
        None
    } else if exptime <= RELATIVE_LIMIT {
        Some(now_ms + exptime as u64 * 1000)
    } else if (exptime as u64).saturating_mul(1000) <= now_ms {
        None
    } else {
        Some((exptime as u64).saturating_mul(1000))
    }
}

fn encode(flags: u32, data: &[u8]) -> (Box<[u8]>, u64) {
    let cas = CAS.fetch_add(1, Ordering::Relaxed);
    let mut v = Vec::with_capacity(HEADER + data.len());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&cas.to_be_bytes());
    v.extend_from_slice(data);
    (v.into_boxed_slice(), cas)
}

fn decode(e: &Entry) -> Option<Item<'_>> {
    match &e.value {
        Value::Str(s) if s.len() >= HEADER => Some(Item {
            flags: u32::from_be_bytes(s[0..4].try_into().ok()?),
            cas: u64::from_be_bytes(s[4..12].try_into().ok()?),
            data: &s[HEADER..],
            expire_at: e.expire_at,
        }),
        _ => None,
    }
}

pub fn get<'v>(view: &'v mut View<'_>, key: &[u8]) -> Option<Item<'v>> {
    view.read(key).and_then(|e| decode(e))
}

/// Sets a new expiry on an existing item (touch / gat); false if missing.
pub fn touch(view: &mut View<'_>, key: &[u8], expire_at: Option<u64>) -> bool {
    if !view.exists(key) {
        return false;
    }
    match expire_at {
        Some(at) => {
            view.set_expire(key, at);
        }
        None => {
            view.remove(key);
        }
    }
    true
}

/// set/add/replace/append/prepend/cas. `expire_at` None = an exptime in the past (stored then gone).
pub fn store(
    view: &mut View<'_>,
    key: &[u8],
    mode: Mode,
    flags: u32,
    expire_at: Option<u64>,
    data: &[u8],
    cas: Option<u64>,
) -> (StoreResult, u64) {
    // The old data is copied only when it becomes part of the new value.
    let keep_data = matches!(mode, Mode::Append | Mode::Prepend);
    let existing =
        get(view, key).map(|i| (i.flags, i.cas, if keep_data { i.data.to_vec() } else { Vec::new() }, i.expire_at));
    // With a CAS (checked against memcached 1.6): a missing item is stored by add, NOT_STORED
    // for append/prepend and NOT_FOUND otherwise; an existing one is NOT_STORED by add and
    // EXISTS for any other mode when the CAS differs.
    if let Some(want) = cas {
        match (&existing, mode) {
            (None, Mode::Add) | (Some(_), Mode::Add) => {}
            (None, Mode::Append | Mode::Prepend) => return (StoreResult::NotStored, 0),
            (None, _) => return (StoreResult::NotFound, 0),
            (Some((_, have, _, _)), _) if *have != want => return (StoreResult::Exists, 0),
            _ => {}
        }
    }
    let (flags, body, expire_at) = match (mode, &existing) {
        (Mode::Add, Some(_)) | (Mode::Replace | Mode::Append | Mode::Prepend, None) => {
            return (StoreResult::NotStored, 0);
        }
        (Mode::Append, Some((f, _, old, exp))) => (*f, [old.as_slice(), data].concat(), Some(*exp)),
        (Mode::Prepend, Some((f, _, old, exp))) => (*f, [data, old.as_slice()].concat(), Some(*exp)),
        _ => (flags, data.to_vec(), expire_at),
    };
    let Some(expire_at) = expire_at else {
        view.remove(key);
        return (StoreResult::Stored, 0);
    };
    let (blob, new_cas) = encode(flags, &body);
    view.insert(key, Value::Str(blob.into()), expire_at);
    (StoreResult::Stored, new_cas)
}

pub enum IncrResult {
    Value(u64, u64),
    NotFound,
    NonNumeric,
}

/// A counter as memcached's `safe_strtoull` reads it: leading whitespace, an optional sign
/// (`-` only for zero), digits, then the end or whitespace (whatever follows is ignored).
fn parse_counter(data: &[u8]) -> Option<u64> {
    let s = data.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || digits.get(n).is_some_and(|b| !b.is_ascii_whitespace()) {
        return None;
    }
    let v: u64 = std::str::from_utf8(&digits[..n]).ok()?.parse().ok()?;
    if neg && v != 0 { None } else { Some(v) }
}

/// incr/decr: unsigned 64-bit, incr wraps, decr stops at 0. Keeps flags and expiry. Like
/// memcached, a result no longer than the old value is written over it, padded with spaces
/// (100 decr 95 reads back as "5  ").
pub fn incr(view: &mut View<'_>, key: &[u8], delta: u64, decr: bool) -> IncrResult {
    let Some((flags, old_len, cur, exp)) =
        get(view, key).map(|i| (i.flags, i.data.len(), parse_counter(i.data), i.expire_at))
    else {
        return IncrResult::NotFound;
    };
    let Some(cur) = cur else {
        return IncrResult::NonNumeric;
    };
    let next = if decr { cur.saturating_sub(delta) } else { cur.wrapping_add(delta) };
    let mut text = next.to_string().into_bytes();
    if text.len() < old_len {
        text.resize(old_len, b' ');
    }
    let (blob, cas) = encode(flags, &text);
    view.insert(key, Value::Str(blob.into()), exp);
    IncrResult::Value(next, cas)
}

pub fn delete(view: &mut View<'_>, key: &[u8], cas: Option<u64>) -> StoreResult {
    let Some(have) = get(view, key).map(|i| i.cas) else { return StoreResult::NotFound };
    if cas.is_some_and(|c| c != have) {
        return StoreResult::Exists;
    }
    view.remove(key);
    StoreResult::Stored
}

#[cfg(test)]
mod tests {
    use super::parse_counter;

    #[test]
    fn counters_parse_as_memcached_strtoull() {
        for (text, want) in [
            (&b"5"[..], Some(5)),
            (b" 5", Some(5)),
            (b"5  ", Some(5)),
            (b"5 x", Some(5)),
            (b"+5", Some(5)),
            (b"-0", Some(0)),
            (b"-5", None),
            (b"12a", None),
            (b"", None),
            (b" ", None),
            (b"18446744073709551615", Some(u64::MAX)),
            (b"18446744073709551616", None),
        ] {
            assert_eq!(parse_counter(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
