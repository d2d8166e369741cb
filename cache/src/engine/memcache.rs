//! memcached semantics over the shared keyspace: items carry client flags, a CAS unique, the last
//! access time and the meta protocol's item bits in a 17-byte header in front of the data; expiry
//! follows memcached's exptime rules.

use std::sync::atomic::{AtomicU64, Ordering};

use super::keyspace::View;
use super::{Entry, Value};

static CAS: AtomicU64 = AtomicU64::new(1);
/// Items written before the access time and bits were kept (still found in old snapshots):
/// flags and CAS only.
const LEGACY_HEADER: usize = 12;
const HEADER: usize = 17;
/// Set in the stored CAS word of current-format items, which is how they are told from legacy
/// ones (the CAS counter never gets near it).
const EXTENDED: u64 = 1 << 63;
/// Fetched since stored (mg's `h`, me's `fetch`).
pub const FETCHED: u8 = 1;
/// Invalidated by `md I` or stored stale by `ms I`: readers get `X` and one of them the win.
pub const STALE: u8 = 2;
/// A win (`W`) has been handed out; later readers get `Z` until the item is replaced.
pub const TOKEN_SENT: u8 = 4;
/// Stored by a meta command under `b`: me shows the key base64-encoded.
pub const KEY_BINARY: u8 = 8;
/// Relative exptimes are at most 30 days; larger values are absolute Unix times.
pub const RELATIVE_LIMIT: i64 = 60 * 60 * 24 * 30;

pub struct Item<'a> {
    pub flags: u32,
    pub cas: u64,
    pub data: &'a [u8],
    pub expire_at: u64,
    /// Unix seconds of the last store or fetch.
    pub atime: u32,
    pub bits: u8,
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

fn secs(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

fn next_cas() -> u64 {
    CAS.fetch_add(1, Ordering::Relaxed)
}

fn encode(flags: u32, data: &[u8], now_ms: u64, bits: u8) -> (Box<[u8]>, u64) {
    let cas = next_cas();
    (encode_with_cas(flags, cas, secs(now_ms), bits, data), cas)
}

fn encode_with_cas(flags: u32, cas: u64, atime: u32, bits: u8, data: &[u8]) -> Box<[u8]> {
    let mut v = Vec::with_capacity(HEADER + data.len());
    v.extend_from_slice(&flags.to_be_bytes());
    v.extend_from_slice(&(cas | EXTENDED).to_be_bytes());
    v.extend_from_slice(&atime.to_be_bytes());
    v.push(bits);
    v.extend_from_slice(data);
    v.into_boxed_slice()
}

fn decode(e: &Entry) -> Option<Item<'_>> {
    let Value::Str(s) = &e.value else { return None };
    let word = u64::from_be_bytes(s.get(4..12)?.try_into().ok()?);
    let flags = u32::from_be_bytes(s[0..4].try_into().ok()?);
    if word & EXTENDED == 0 {
        // Legacy items are rewritten on their first fetch; until then nothing is known of them.
        return Some(Item { flags, cas: word, data: &s[LEGACY_HEADER..], expire_at: e.expire_at, atime: 0, bits: 0 });
    }
    Some(Item {
        flags,
        cas: word & !EXTENDED,
        data: s.get(HEADER..)?,
        expire_at: e.expire_at,
        atime: u32::from_be_bytes(s[12..16].try_into().ok()?),
        bits: s[16],
    })
}

fn is_legacy(e: &Entry) -> bool {
    matches!(&e.value, Value::Str(s) if s.len() >= LEGACY_HEADER && s[4] & 0x80 == 0)
}

/// Rewrites a legacy item in the current format, as if stored now (its access history is
/// unknown), keeping its CAS.
fn upgrade(view: &mut View<'_>, key: &[u8]) {
    let now = view.now;
    let Some((blob, exp)) = view
        .peek(key)
        .filter(|e| is_legacy(e))
        .and_then(|e| decode(e).map(|i| (encode_with_cas(i.flags, i.cas, secs(now), 0, i.data), i.expire_at)))
    else {
        return;
    };
    view.insert(key, Value::Str(blob.into()), exp);
}

/// Writes the item bits and access time of the entry in place (no reallocation).
fn set_state(e: &mut Entry, bits: u8, atime: u32) {
    if let Value::Str(s) = &mut e.value
        && s.len() >= HEADER
    {
        s[12..16].copy_from_slice(&atime.to_be_bytes());
        s[16] = bits;
    }
}

/// A fetch as memcached counts it: the item is marked fetched and its access time moves on.
/// Both are written only when they change, so a hot key's repeated gets stay read-only.
fn mark_fetched(e: &mut Entry, now_s: u32) {
    if let Value::Str(s) = &mut e.value
        && s.len() >= HEADER
        && s[4] & 0x80 != 0
        && (s[16] & FETCHED == 0 || s[12..16] != now_s.to_be_bytes())
    {
        s[12..16].copy_from_slice(&now_s.to_be_bytes());
        s[16] |= FETCHED;
    }
}

/// A plain get: counts as a fetch (see [`mark_fetched`]).
pub fn get<'v>(view: &'v mut View<'_>, key: &[u8]) -> Option<Item<'v>> {
    let now_s = secs(view.now);
    let e = view.read(key)?;
    mark_fetched(e, now_s);
    decode(e)
}

/// A meta get: the item comes back as it was before this fetch marked it (with `bump`), which is
/// what mg's `h` and `l` report. A legacy item is first rewritten so that it can be marked.
pub fn fetch<'v>(view: &'v mut View<'_>, key: &[u8], bump: bool) -> Option<Item<'v>> {
    upgrade(view, key);
    let now_s = secs(view.now);
    let e = view.read(key)?;
    let (bits, atime) = decode(e).map(|i| (i.bits, i.atime))?;
    if bump {
        mark_fetched(e, now_s);
    }
    decode(e).map(|i| Item { bits, atime, ..i })
}

/// Looks an item up without counting a fetch (me, and writers looking at the old item).
pub fn peek<'v>(view: &'v mut View<'_>, key: &[u8]) -> Option<Item<'v>> {
    upgrade(view, key);
    view.peek(key).and_then(|e| decode(e))
}

/// Adds item bits to an existing item (mg handing out a win).
pub fn add_bits(view: &mut View<'_>, key: &[u8], bits: u8) {
    if let Some(e) = view.peek(key)
        && let Some(i) = decode(e).map(|i| (i.bits, i.atime))
    {
        set_state(e, i.0 | bits, i.1);
    }
}

/// md with I: the item stays readable but stale, with a new CAS, and the next reader wins the
/// right to recache it.
pub fn invalidate(view: &mut View<'_>, key: &[u8], cas: Option<u64>, expire_at: Option<Option<u64>>) -> StoreResult {
    let Some(item) = peek(view, key) else { return StoreResult::NotFound };
    if cas.is_some_and(|c| c != item.cas) {
        return StoreResult::Exists;
    }
    let exp = match expire_at {
        None => item.expire_at,
        Some(Some(at)) => at,
        Some(None) => {
            view.remove(key);
            return StoreResult::Stored;
        }
    };
    let bits = (item.bits | STALE) & !TOKEN_SENT;
    let blob = encode_with_cas(item.flags, next_cas(), item.atime, bits, item.data);
    // (insert, not an in-place edit: the CAS changes and WATCHers must hear of it)
    view.insert(key, Value::Str(blob.into()), exp);
    StoreResult::Stored
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

/// The item as writers see it: no fetch is counted, and a legacy item is read as it is (the
/// write replaces it anyway).
fn current<'v>(view: &'v mut View<'_>, key: &[u8]) -> Option<Item<'v>> {
    view.read(key).and_then(|e| decode(e))
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
    store_meta(view, key, mode, flags, expire_at, data, cas, false, false)
}

/// [`store`] with ms's `I`: a CAS older than the item's still stores, but as a stale item that
/// keeps the old TTL and any win already handed out (as memcached 1.6 does).
#[allow(clippy::too_many_arguments)]
pub fn store_meta(
    view: &mut View<'_>,
    key: &[u8],
    mode: Mode,
    flags: u32,
    expire_at: Option<u64>,
    data: &[u8],
    cas: Option<u64>,
    invalidate: bool,
    binary_key: bool,
) -> (StoreResult, u64) {
    // The old data is copied only when it becomes part of the new value.
    let keep_data = matches!(mode, Mode::Append | Mode::Prepend);
    let existing = current(view, key)
        .map(|i| (i.flags, i.cas, if keep_data { i.data.to_vec() } else { Vec::new() }, i.expire_at, i.bits));
    let mut bits = 0;
    let mut expire_at = expire_at;
    // With a CAS (checked against memcached 1.6): a missing item is stored by add, NOT_STORED
    // for append/prepend and NOT_FOUND otherwise; an existing one is NOT_STORED by add and
    // EXISTS for any other mode when the CAS differs.
    if let Some(want) = cas {
        match (&existing, mode) {
            (None, Mode::Add) | (Some(_), Mode::Add) => {}
            (None, Mode::Append | Mode::Prepend) => return (StoreResult::NotStored, 0),
            (None, _) => return (StoreResult::NotFound, 0),
            (Some((_, have, _, exp, old_bits)), _) if *have != want => {
                if !(invalidate && want < *have) {
                    return (StoreResult::Exists, 0);
                }
                bits = STALE | (old_bits & TOKEN_SENT);
                expire_at = Some(*exp);
            }
            _ => {}
        }
    }
    let (flags, body, expire_at) = match (mode, &existing) {
        (Mode::Add, Some(_)) | (Mode::Replace | Mode::Append | Mode::Prepend, None) => {
            return (StoreResult::NotStored, 0);
        }
        (Mode::Append, Some((f, _, old, exp, _))) => (*f, [old.as_slice(), data].concat(), Some(*exp)),
        (Mode::Prepend, Some((f, _, old, exp, _))) => (*f, [data, old.as_slice()].concat(), Some(*exp)),
        _ => (flags, data.to_vec(), expire_at),
    };
    let Some(expire_at) = expire_at else {
        view.remove(key);
        return (StoreResult::Stored, 0);
    };
    if binary_key {
        bits |= KEY_BINARY;
    }
    let (blob, new_cas) = encode(flags, &body, view.now, bits);
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
    let Some((flags, old_len, cur, exp, atime, bits)) =
        current(view, key).map(|i| (i.flags, i.data.len(), parse_counter(i.data), i.expire_at, i.atime, i.bits))
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
    // (the counter changes in place in memcached: its access time and bits stay)
    let atime = if atime == 0 { secs(view.now) } else { atime };
    let cas = next_cas();
    let blob = encode_with_cas(flags, cas, atime, bits, &text);
    view.insert(key, Value::Str(blob.into()), exp);
    IncrResult::Value(next, cas)
}

pub fn delete(view: &mut View<'_>, key: &[u8], cas: Option<u64>) -> StoreResult {
    let Some(have) = current(view, key).map(|i| i.cas) else { return StoreResult::NotFound };
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
