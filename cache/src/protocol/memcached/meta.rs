//! memcached's meta commands (mg, ms, md, ma, me; mn is answered inline), replying byte for byte
//! as memcached 1.6.18 does, including its quirks (checked by differential runs against it).

use base64::Engine as _;
use bytes::{BufMut, BytesMut};

use super::flags::{FlagError, Flags};
use super::{MAX_ITEM, Server, Step, key_ok, line, view};
use crate::engine::memcache::{self as mc, IncrResult, Mode, StoreResult};

/// memcached's item header (`sizeof(item)` on 64-bit), for the sizes `me` reports.
const ITEM_HEADER: usize = 48;
/// memcached's defaults: `-n 48`, `-f 1.25`, 1 MiB pages with chunks up to half a page.
const CHUNK_SIZE: usize = 48;
const GROWTH_FACTOR: f64 = 1.25;
const SLAB_CHUNK_MAX: usize = 512 * 1024;
const CHUNK_ALIGN: usize = 8;

const OPAQUE_TOO_LONG: &str = "CLIENT_ERROR opaque token too long";

/// Whole seconds left, counted as memcached does on its one-second clock: the difference of the
/// two times in seconds, so a TTL set in this second reads back whole.
fn ttl_left(expire_at: u64, now: u64) -> i64 {
    if expire_at == 0 { -1 } else { (expire_at / 1000).saturating_sub(now / 1000) as i64 }
}

fn secs(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32
}

/// The bytes memcached would allocate for the item (`item_make_header` plus the CAS): what its
/// `me` calls `size`.
fn item_size(key_len: usize, flags: u32, data_len: usize) -> usize {
    let suffix = if flags == 0 { 0 } else { 4 };
    ITEM_HEADER + key_len + 1 + suffix + data_len + 2 + 8
}

/// The slab class memcached (with its default settings) would store an item of `size` bytes in:
/// the classes grow by the factor from 96 bytes, 8-byte aligned, and the last one takes the
/// header of every chunked (larger) item.
fn slab_class(size: usize) -> u32 {
    let mut class_size = ITEM_HEADER + CHUNK_SIZE;
    let mut class = 1;
    loop {
        if class_size as f64 >= SLAB_CHUNK_MAX as f64 / GROWTH_FACTOR {
            return class;
        }
        if !class_size.is_multiple_of(CHUNK_ALIGN) {
            class_size += CHUNK_ALIGN - class_size % CHUNK_ALIGN;
        }
        if size <= class_size {
            return class;
        }
        // (memcached keeps the size in an unsigned int: the product is truncated)
        class_size = (class_size as f64 * GROWTH_FACTOR) as usize;
        class += 1;
    }
}

/// Parses the flags of md and ma, which word every flag error alike.
fn md_ma_flags<'a>(w: &[&'a str], out: &mut BytesMut) -> Option<Flags<'a>> {
    if !key_ok(w[1]) {
        line(out, "CLIENT_ERROR bad command line format");
        return None;
    }
    match Flags::parse(w[1], &w[2..]) {
        Ok(f) if f.opaque_too_long() => line(out, OPAQUE_TOO_LONG),
        Ok(f) => return Some(f),
        Err(_) => line(out, FlagError::MD_MA),
    }
    None
}

pub(super) fn get(srv: &Server, w: &[&str], out: &mut BytesMut) {
    if !key_ok(w[1]) {
        return line(out, "CLIENT_ERROR bad command line format");
    }
    let token = w[1];
    let f = match Flags::parse(token, &w[2..]) {
        Ok(f) => f,
        Err(e) => return line(out, e.message()),
    };
    if f.opaque_too_long() {
        return line(out, OPAQUE_TOO_LONG);
    }
    let key = &*f.key;
    let mut v = view(srv, key);
    let now = v.now;
    let mut created = false;
    if let Some(ttl) = f.vivify
        && mc::peek(&mut v, key).is_none()
    {
        // A miss under N creates an empty item: this client wins the right to fill it.
        let (r, _) = mc::store(&mut v, key, Mode::Add, 0, mc::exptime_to_ms(now, ttl), b"", None);
        created = r == StoreResult::Stored && mc::peek(&mut v, key).is_some();
    }
    let Some(item) = mc::fetch(&mut v, key, !f.no_update) else {
        if !f.quiet {
            let mut s = "EN".to_string();
            f.returned(token, &mut s, |_| None);
            line(out, &s);
        }
        return;
    };
    let (flags, cas, len, bits, atime) = (item.flags, item.cas, item.data.len(), item.bits, item.atime);
    let mut expire_at = item.expire_at;
    let mut win = created;
    // The flags act in request order: a `t` before the `T` reports the TTL the item had before
    // this request touched it.
    let mut reply = String::new();
    f.returned(token, &mut reply, |c| match c {
        b'T' => {
            let at = mc::exptime_to_ms(now, f.ttl.unwrap_or(0));
            expire_at = at.unwrap_or(now);
            if let Some(at) = at {
                mc::touch(&mut v, key, Some(at));
            }
            None
        }
        b'R' => {
            let recache_at = mc::exptime_to_ms(now, f.recache.unwrap_or(0)).unwrap_or(0);
            if !created && bits & mc::TOKEN_SENT == 0 && expire_at != 0 && expire_at < recache_at {
                win = true;
            }
            None
        }
        b'f' => Some(format!("f{flags}")),
        b'c' => Some(format!("c{cas}")),
        b't' => Some(format!("t{}", ttl_left(expire_at, now))),
        b's' => Some(format!("s{len}")),
        b'h' => Some(format!("h{}", u8::from(bits & mc::FETCHED != 0))),
        b'l' => Some(format!("l{}", secs(now).saturating_sub(atime))),
        _ => None,
    });
    if bits & mc::TOKEN_SENT != 0 {
        reply.push_str(" Z");
    }
    if bits & mc::STALE != 0 {
        reply.push_str(" X");
        win |= bits & mc::TOKEN_SENT == 0;
    }
    if win {
        reply.push_str(" W");
        mc::add_bits(&mut v, key, mc::TOKEN_SENT);
    }
    if f.value {
        let mut num = itoa::Buffer::new();
        out.put_slice(b"VA ");
        out.put_slice(num.format(len).as_bytes());
        line(out, &reply);
        if let Some(item) = mc::peek(&mut v, key) {
            out.put_slice(item.data);
        }
        out.put_slice(b"\r\n");
    } else {
        line(out, &format!("HD{reply}"));
    }
    // A past T expires the item only once it has been returned, as in memcached.
    if f.ttl.is_some_and(|t| mc::exptime_to_ms(now, t).is_none()) {
        mc::touch(&mut v, key, None);
    }
}

pub(super) fn set(srv: &Server, w: &[&str], buf: &[u8], consumed: usize, out: &mut BytesMut) -> Step {
    // A bad key refuses the line before the data length is read: the data block is then read as
    // the next command, as memcached does.
    if w.len() < 3 || !key_ok(w[1]) {
        line(out, "CLIENT_ERROR bad command line format");
        return Step::Done(consumed);
    }
    let Ok(len) = w[2].parse::<usize>() else {
        line(out, "CLIENT_ERROR bad command line format");
        return Step::Done(consumed);
    };
    if len > MAX_ITEM {
        line(out, "SERVER_ERROR object too large for cache");
        return if buf.len() >= consumed + len + 2 { Step::Done(consumed + len + 2) } else { Step::Close };
    }
    if buf.len() < consumed + len + 2 {
        return Step::More;
    }
    if &buf[consumed + len..consumed + len + 2] != b"\r\n" {
        // memcached drops the len + 2 bytes it read and goes on with what follows.
        line(out, "CLIENT_ERROR bad data chunk");
        return Step::Done(consumed + len + 2);
    }
    let data = &buf[consumed..consumed + len];
    let total = consumed + len + 2;
    let token = w[1];
    // (a refused flag line still swallows its data block)
    let f = match Flags::parse(token, &w[3..]) {
        Ok(f) => f,
        Err(e) => {
            line(out, e.message());
            return Step::Done(total);
        }
    };
    // (memcached writes the reply's flags, refusing a long opaque, before it stores anything)
    if f.opaque_too_long() {
        line(out, OPAQUE_TOO_LONG);
        return Step::Done(total);
    }
    // (1.6.18 takes the modes in upper case only)
    let mode = match f.mode {
        None | Some(b'S') => Mode::Set,
        Some(b'E') => Mode::Add,
        Some(b'A') => Mode::Append,
        Some(b'P') => Mode::Prepend,
        Some(b'R') => Mode::Replace,
        Some(_) => {
            line(out, "CLIENT_ERROR invalid mode for ms M token");
            return Step::Done(total);
        }
    };
    if srv.engine.ensure_memory().is_err() {
        line(out, "SERVER_ERROR out of memory storing object");
        return Step::Done(total);
    }
    let key = &*f.key;
    let mut v = view(srv, key);
    let expire = mc::exptime_to_ms(v.now, f.ttl.unwrap_or(0));
    let flags = f.client_flags.unwrap_or(0);
    let (r, new_cas) = mc::store_meta(&mut v, key, mode, flags, expire, data, f.cas, f.invalidate, f.binary_key);
    drop(v);
    let word = match r {
        StoreResult::Stored => "HD",
        StoreResult::NotStored => "NS",
        StoreResult::Exists => "EX",
        StoreResult::NotFound => "NF",
    };
    // (q silences only the nominal reply)
    if f.quiet && r == StoreResult::Stored {
        return Step::Done(total);
    }
    // (memcached returns c0 when nothing was stored)
    let mut s = word.to_string();
    f.returned(token, &mut s, |c| (c == b'c').then(|| format!("c{new_cas}")));
    line(out, &s);
    Step::Done(total)
}

pub(super) fn delete(srv: &Server, w: &[&str], out: &mut BytesMut) {
    let Some(f) = md_ma_flags(w, out) else { return };
    let key = &*f.key;
    let mut v = view(srv, key);
    let r = if f.invalidate {
        // I keeps the item, stale; its T (if any) is the TTL it keeps meanwhile.
        let exp = f.ttl.map(|t| mc::exptime_to_ms(v.now, t));
        mc::invalidate(&mut v, key, f.cas, exp)
    } else {
        mc::delete(&mut v, key, f.cas)
    };
    drop(v);
    if f.quiet && r == StoreResult::Stored {
        return;
    }
    let mut s = match r {
        StoreResult::Stored => "HD",
        StoreResult::Exists => "EX",
        _ => "NF",
    }
    .to_string();
    f.returned(w[1], &mut s, |_| None);
    line(out, &s);
}

pub(super) fn arithmetic(srv: &Server, w: &[&str], out: &mut BytesMut) {
    let Some(f) = md_ma_flags(w, out) else { return };
    let decr = match f.mode {
        None | Some(b'I' | b'+') => false,
        Some(b'D' | b'-') => true,
        Some(_) => return line(out, "CLIENT_ERROR invalid mode for ma M token"),
    };
    let key = &*f.key;
    let mut v = view(srv, key);
    let now = v.now;
    // A CAS is checked against an existing counter only (a vivified one is created regardless).
    if let Some(want) = f.cas
        && mc::peek(&mut v, key).is_some_and(|i| i.cas != want)
    {
        drop(v);
        let mut s = "EX".to_string();
        f.returned(w[1], &mut s, |_| None);
        return line(out, &s);
    }
    let mut r = mc::incr(&mut v, key, f.delta.unwrap_or(1), decr);
    // memcached answers a created (autovivified) counter even under q.
    let vivified = matches!(r, IncrResult::NotFound) && f.vivify.is_some();
    if vivified {
        let init = f.initial.unwrap_or(0);
        let (_, cas) = mc::store(&mut v, key, Mode::Add, 0, Some(0), init.to_string().as_bytes(), None);
        r = IncrResult::Value(init, cas);
    }
    let IncrResult::Value(n, cas) = r else {
        drop(v);
        return match r {
            IncrResult::NonNumeric => line(out, "CLIENT_ERROR cannot increment or decrement non-numeric value"),
            _ => {
                let mut s = "NF".to_string();
                f.returned(w[1], &mut s, |_| None);
                line(out, &s)
            }
        };
    };
    // The flags act in request order, as in mg: N (on a created counter) and T set the TTL that
    // a later t reports.
    let mut exp = v.peek(key).map_or(0, |e| e.expire_at);
    let mut flags = String::new();
    f.returned(w[1], &mut flags, |c| match c {
        b'N' | b'T' => {
            let ttl = if c == b'N' { f.vivify.filter(|_| vivified) } else { f.ttl };
            if let Some(ttl) = ttl {
                let at = mc::exptime_to_ms(now, ttl);
                exp = at.unwrap_or(now);
                mc::touch(&mut v, key, at);
            }
            None
        }
        b't' => Some(format!("t{}", ttl_left(exp, now))),
        b'c' => Some(format!("c{cas}")),
        _ => None,
    });
    drop(v);
    if f.quiet && !vivified {
        return;
    }
    if f.value {
        let s = n.to_string();
        line(out, &format!("VA {}{flags}", s.len()));
        line(out, &s);
    } else {
        line(out, &format!("HD{flags}"));
    }
}

/// `me <key> [b]`: memcached's debug line for an item, from what this engine keeps of it. The
/// slab class and size are what memcached would use for the same item.
pub(super) fn debug(srv: &Server, w: &[&str], out: &mut BytesMut) {
    let Some(&token) = w.get(1).filter(|k| key_ok(k)) else {
        return line(out, "CLIENT_ERROR bad command line format");
    };
    // (only a `b` right after the key counts; anything else is ignored)
    let key = if w.get(2) == Some(&"b") {
        match Flags::parse(token, &["b"]) {
            Ok(f) => f.key.into_owned(),
            Err(_) => return line(out, "CLIENT_ERROR bad command line format"),
        }
    } else {
        token.as_bytes().to_vec()
    };
    let mut v = view(srv, &key);
    let now = v.now;
    let Some(item) = mc::peek(&mut v, &key) else { return line(out, "EN") };
    let size = item_size(key.len(), item.flags, item.data.len());
    // (the key as it was stored: encoded if a `b` command stored it, whatever this one says)
    out.put_slice(b"ME ");
    if item.bits & mc::KEY_BINARY != 0 {
        out.put_slice(base64::engine::general_purpose::STANDARD.encode(&key).as_bytes());
    } else {
        out.put_slice(&key);
    }
    let s = format!(
        " exp={} la={} cas={} fetch={} cls={} size={size}",
        // (memcached 1.6.18 prints the remaining TTL negated)
        if item.expire_at == 0 { -1 } else { -ttl_left(item.expire_at, now) },
        secs(now).saturating_sub(item.atime),
        item.cas,
        if item.bits & mc::FETCHED != 0 { "yes" } else { "no" },
        slab_class(size),
    );
    line(out, &s);
}

#[cfg(test)]
mod tests {
    use super::{item_size, slab_class};

    #[test]
    fn sizes_and_classes_match_memcached_defaults() {
        // (me replies of memcached 1.6.18 with default settings)
        assert_eq!(item_size(1, 0, 1), 61);
        assert_eq!(item_size(3, 0, 1), 63);
        assert_eq!(item_size(3, 5, 1000), 1066);
        for (size, class) in [(61, 1), (96, 1), (97, 2), (1066, 12), (100063, 32), (600063, 39)] {
            assert_eq!(slab_class(size), class, "size {size}");
        }
    }
}
