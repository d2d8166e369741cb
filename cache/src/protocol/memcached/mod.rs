//! memcached's text protocol (get/gets/gat/gats, set/add/replace/append/prepend/cas, delete,
//! incr/decr, touch, flush_all, stats, version, verbosity, quit); the meta commands are in [`meta`].

mod flags;
mod meta;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::Server;
use crate::engine::memcache::{self as mc, IncrResult, Mode, StoreResult};
use crate::engine::{MEMCACHED_DB, View};

/// memcached's default item size limit (-I 1m).
const MAX_ITEM: usize = 1024 * 1024;
const MAX_LINE: usize = 8192;
const MAX_KEY: usize = 250;
pub const VERSION: &str = "1.6.18";

pub async fn serve_client(srv: Arc<Server>, mut stream: TcpStream, addr: SocketAddr) {
    let info = srv.register_client(addr, stream.local_addr().unwrap_or(addr));
    if let Err(e) = run(&srv, &mut stream).await {
        tracing::debug!(%addr, error = %e, "memcached connection ended");
    }
    srv.unregister_client(info.id);
}

enum Step {
    /// Need more input.
    More,
    /// Consumed this many bytes.
    Done(usize),
    Close,
}

async fn run(srv: &Server, stream: &mut TcpStream) -> std::io::Result<()> {
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    // Created once, not per request (registering a waiter takes a lock).
    let cancelled = srv.shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        loop {
            // A Redis script holds (or is taking) every shard: wait for it without blocking this
            // thread, whose other connections may include the SCRIPT KILL that ends it.
            if !rbuf.is_empty() && srv.scripts.pending() {
                flush(stream, &mut out).await?;
                srv.scripts.wait_idle().await;
            }
            match step(srv, &rbuf, &mut out) {
                Step::More => break,
                Step::Done(n) => rbuf.advance(n),
                Step::Close => {
                    flush(stream, &mut out).await?;
                    return Ok(());
                }
            }
        }
        flush(stream, &mut out).await?;
        rbuf.reserve(16 * 1024);
        tokio::select! {
            n = stream.read_buf(&mut rbuf) => if n? == 0 { return Ok(()) },
            _ = &mut cancelled => return Ok(()),
        }
    }
}

async fn flush(stream: &mut TcpStream, out: &mut BytesMut) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    super::write_all_or_idle(stream, out).await?;
    out.clear();
    Ok(())
}

/// An exptime or flush_all delay: memcached reads them as 32-bit integers and refuses the rest
/// (`CLIENT_ERROR bad command line format`), rather than letting a huge value wrap to "now".
fn exptime(word: &str) -> Option<i64> {
    word.parse::<i32>().ok().map(i64::from)
}

/// The error for a bad touch / gat / flush_all exptime: memcached words a non-number as
/// `invalid exptime argument`; an out-of-range number (which memcached would wrap) is refused
/// as a bad command line.
fn bad_exptime(out: &mut BytesMut, word: &str) {
    let digits = word.strip_prefix('-').unwrap_or(word);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        bad_format(out)
    } else {
        line(out, "CLIENT_ERROR invalid exptime argument")
    }
}

fn line(out: &mut BytesMut, s: &str) {
    out.put_slice(s.as_bytes());
    out.put_slice(b"\r\n");
}

/// Parses and executes one command from the front of `buf`.
fn step(srv: &Server, buf: &[u8], out: &mut BytesMut) -> Step {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_LINE {
            line(out, "CLIENT_ERROR line too long");
            return Step::Close;
        }
        return Step::More;
    };
    let end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    let Ok(text) = std::str::from_utf8(&buf[..end]) else {
        line(out, "CLIENT_ERROR bad command line format");
        return Step::Done(nl + 1);
    };
    // Inline for the usual handful of words: no allocation per request.
    let words: smallvec::SmallVec<[&str; 8]> = text.split_ascii_whitespace().collect();
    let Some(&cmd) = words.first() else {
        line(out, "ERROR");
        return Step::Done(nl + 1);
    };
    let consumed = nl + 1;
    match cmd {
        "set" | "add" | "replace" | "append" | "prepend" | "cas" => storage(srv, cmd, &words, buf, consumed, out),
        "ms" => meta::set(srv, &words, buf, consumed, out),
        _ => {
            match cmd {
                "quit" => return Step::Close,
                _ => simple(srv, cmd, &words, out),
            }
            Step::Done(consumed)
        }
    }
}

fn view<'s>(srv: &'s Server, key: &'s [u8]) -> View<'s> {
    srv.engine.lock_key(MEMCACHED_DB, key)
}

fn bad_format(out: &mut BytesMut) {
    line(out, "CLIENT_ERROR bad command line format");
}

fn key_ok(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEY
}

fn storage(srv: &Server, cmd: &str, w: &[&str], buf: &[u8], consumed: usize, out: &mut BytesMut) -> Step {
    let is_cas = cmd == "cas";
    let need = if is_cas { 6 } else { 5 };
    if w.len() < need || w.len() > need + 1 {
        line(out, "ERROR");
        return Step::Done(consumed);
    }
    let noreply = w.len() == need + 1 && w[need] == "noreply";
    // As in memcached, a bad key or number refuses the command line only: the data block that
    // follows is read as the next command (and the error is not sent under noreply).
    let (true, Ok(flags), Some(exptime), Ok(len)) =
        (key_ok(w[1]), w[2].parse::<u32>(), exptime(w[3]), w[4].parse::<usize>())
    else {
        if !noreply {
            bad_format(out);
        }
        return Step::Done(consumed);
    };
    let cas = if is_cas {
        match w[5].parse::<u64>() {
            Ok(c) => Some(c),
            Err(_) => {
                if !noreply {
                    bad_format(out);
                }
                return Step::Done(consumed);
            }
        }
    } else {
        None
    };
    if len > MAX_ITEM {
        line(out, "SERVER_ERROR object too large for cache");
        // The data block is swallowed only if it is already here; otherwise the connection is closed.
        return if buf.len() >= consumed + len + 2 { Step::Done(consumed + len + 2) } else { Step::Close };
    }
    if buf.len() < consumed + len + 2 {
        return Step::More;
    }
    let data = &buf[consumed..consumed + len];
    if &buf[consumed + len..consumed + len + 2] != b"\r\n" {
        // memcached drops the len + 2 bytes it read and goes on with what follows.
        line(out, "CLIENT_ERROR bad data chunk");
        return Step::Done(consumed + len + 2);
    }
    let total = consumed + len + 2;
    if srv.engine.ensure_memory().is_err() {
        line(out, "SERVER_ERROR out of memory storing object");
        return Step::Done(total);
    }
    let mode = match cmd {
        "add" => Mode::Add,
        "replace" => Mode::Replace,
        "append" => Mode::Append,
        "prepend" => Mode::Prepend,
        _ => Mode::Set,
    };
    let mut v = view(srv, w[1].as_bytes());
    let expire = mc::exptime_to_ms(v.now, exptime);
    let (r, _) = mc::store(&mut v, w[1].as_bytes(), mode, flags, expire, data, cas);
    drop(v);
    if !noreply {
        line(out, store_word(r));
    }
    Step::Done(total)
}

fn store_word(r: StoreResult) -> &'static str {
    match r {
        StoreResult::Stored => "STORED",
        StoreResult::NotStored => "NOT_STORED",
        StoreResult::Exists => "EXISTS",
        StoreResult::NotFound => "NOT_FOUND",
    }
}

fn write_value(out: &mut BytesMut, key: &str, item: &mc::Item<'_>, with_cas: bool) {
    // Written piecewise (no format! per hit: get is the hot command).
    let mut num = itoa::Buffer::new();
    out.put_slice(b"VALUE ");
    out.put_slice(key.as_bytes());
    out.put_u8(b' ');
    out.put_slice(num.format(item.flags).as_bytes());
    out.put_u8(b' ');
    out.put_slice(num.format(item.data.len()).as_bytes());
    if with_cas {
        out.put_u8(b' ');
        out.put_slice(num.format(item.cas).as_bytes());
    }
    out.put_slice(b"\r\n");
    out.put_slice(item.data);
    out.put_slice(b"\r\n");
}

fn simple(srv: &Server, cmd: &str, w: &[&str], out: &mut BytesMut) {
    let noreply = w.last() == Some(&"noreply");
    match cmd {
        "get" | "gets" | "gat" | "gats" => {
            let touch = cmd.starts_with("gat");
            let first = if touch { 2 } else { 1 };
            // (memcached answers a gat without keys with a bare END)
            if w.len() <= 1 || (!touch && w.len() <= first) {
                line(out, "ERROR");
                return;
            }
            let exptime = if touch {
                match exptime(w[1]) {
                    Some(e) => Some(e),
                    None => return bad_exptime(out, w[1]),
                }
            } else {
                None
            };
            // A bad key fails the whole command: the values found before it are not sent either.
            let mark = out.len();
            for key in &w[first..] {
                if !key_ok(key) {
                    out.truncate(mark);
                    return bad_format(out);
                }
                let mut v = view(srv, key.as_bytes());
                // gat returns the item it found, then sets the new exptime (a past one expires it
                // only for later reads, as in memcached).
                if let Some(item) = mc::get(&mut v, key.as_bytes()) {
                    write_value(out, key, &item, cmd == "gets" || cmd == "gats");
                    if let Some(e) = exptime {
                        let at = mc::exptime_to_ms(v.now, e);
                        mc::touch(&mut v, key.as_bytes(), at);
                    }
                }
            }
            line(out, "END");
        }
        "delete" => {
            if w.len() < 2 || w.len() > 3 + noreply as usize {
                return line(out, "ERROR");
            }
            // Only the legacy `delete <key> 0` takes an argument.
            if w.len() == 3 + noreply as usize && w[2] != "0" {
                return line(out, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
            }
            if !key_ok(w[1]) {
                if !noreply {
                    bad_format(out);
                }
                return;
            }
            let r = mc::delete(&mut view(srv, w[1].as_bytes()), w[1].as_bytes(), None);
            if !noreply {
                line(out, if r == StoreResult::Stored { "DELETED" } else { "NOT_FOUND" });
            }
        }
        "incr" | "decr" => {
            if w.len() < 3 {
                return line(out, "ERROR");
            }
            if !key_ok(w[1]) {
                if !noreply {
                    bad_format(out);
                }
                return;
            }
            let Ok(delta) = w[2].parse::<u64>() else {
                if !noreply {
                    line(out, "CLIENT_ERROR invalid numeric delta argument");
                }
                return;
            };
            let r = mc::incr(&mut view(srv, w[1].as_bytes()), w[1].as_bytes(), delta, cmd == "decr");
            if noreply {
                return;
            }
            match r {
                IncrResult::Value(n, _) => line(out, &n.to_string()),
                IncrResult::NotFound => line(out, "NOT_FOUND"),
                IncrResult::NonNumeric => line(out, "CLIENT_ERROR cannot increment or decrement non-numeric value"),
            }
        }
        "touch" => {
            if w.len() < 3 {
                return line(out, "ERROR");
            }
            let (true, Some(e)) = (key_ok(w[1]), exptime(w[2])) else {
                if !noreply {
                    if key_ok(w[1]) { bad_exptime(out, w[2]) } else { bad_format(out) }
                }
                return;
            };
            let mut v = view(srv, w[1].as_bytes());
            let at = mc::exptime_to_ms(v.now, e);
            let found = mc::touch(&mut v, w[1].as_bytes(), at);
            if !noreply {
                line(out, if found { "TOUCHED" } else { "NOT_FOUND" });
            }
        }
        "flush_all" => {
            let delay = match w.get(1).filter(|d| **d != "noreply") {
                None => 0,
                Some(d) => match exptime(d) {
                    Some(delay) => delay,
                    None => return bad_exptime(out, d),
                },
            };
            let mut v = srv.engine.lock_db(MEMCACHED_DB);
            let now = v.now;
            for shard in v.db_shards() {
                if delay <= 0 {
                    shard.clear();
                } else {
                    let at = now.saturating_add(delay as u64 * 1000);
                    for (_, e) in shard.map.iter_mut() {
                        if e.expire_at == 0 || e.expire_at > at {
                            if e.expire_at == 0 {
                                shard.volatile += 1;
                            }
                            e.expire_at = at;
                        }
                    }
                }
            }
            if !noreply {
                line(out, "OK");
            }
        }
        "stats" => stats(srv, out),
        "version" => line(out, &format!("VERSION {VERSION}")),
        "verbosity" => {
            if w.len() < 2 {
                return line(out, "ERROR");
            }
            if !noreply {
                line(out, if w[1].parse::<u32>().is_ok() { "OK" } else { "CLIENT_ERROR bad command line format" });
            }
        }
        "mn" => line(out, "MN"),
        // (memcached reads a keyless mg / md / ma as an unknown command)
        "mg" | "md" | "ma" if w.len() < 2 => line(out, "ERROR"),
        "mg" => meta::get(srv, w, out),
        "md" => meta::delete(srv, w, out),
        "ma" => meta::arithmetic(srv, w, out),
        "me" => meta::debug(srv, w, out),
        _ => line(out, "ERROR"),
    }
}

fn stats(srv: &Server, out: &mut BytesMut) {
    let eng = &srv.engine;
    let st = &eng.stats;
    let items = eng.keyspace_sizes()[MEMCACHED_DB].0;
    let rows = [
        ("pid", std::process::id().to_string()),
        ("uptime", srv.uptime().as_secs().to_string()),
        ("time", (eng.now_ms() / 1000).to_string()),
        ("version", VERSION.to_string()),
        ("pointer_size", "64".into()),
        ("curr_connections", st.connected_clients.load(Ordering::Relaxed).to_string()),
        ("total_connections", st.connections_received.load(Ordering::Relaxed).to_string()),
        ("get_hits", eng.hits_misses().0.to_string()),
        ("get_misses", eng.hits_misses().1.to_string()),
        ("curr_items", items.to_string()),
        ("bytes", eng.used_memory().to_string()),
        ("limit_maxbytes", eng.config.maxmemory.load(Ordering::Relaxed).to_string()),
        ("evictions", st.evicted_keys.load(Ordering::Relaxed).to_string()),
        ("expired_unfetched", st.expired_keys.load(Ordering::Relaxed).to_string()),
        ("threads", std::thread::available_parallelism().map_or(2, |n| n.get()).to_string()),
    ];
    for (k, v) in rows {
        line(out, &format!("STAT {k} {v}"));
    }
    line(out, "END");
}
