//! Conversions between command replies and Lua values, as Redis documents them ("Lua to RESP2/RESP3
//! type conversion"). `redis.call` runs a command into a scratch [`Out`], so the reply is parsed
//! back from RESP ([`parse`]) rather than threading a typed reply through every command.

use mlua::{Lua, Table, Value};

use crate::protocol::resp::{Out, format_double};

/// One RESP2/RESP3 reply, as our own encoder writes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(Vec<u8>),
    /// The error line without its `-`.
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1` / `*-1`: Lua `false`.
    Nil,
    /// RESP3 `_`: Lua `nil`.
    Null,
    Array(Vec<Reply>),
    Bool(bool),
    Double(f64),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>, Vec<u8>),
}

/// Most nested levels a reply or a returned table may have (a self-referencing table would
/// otherwise recurse until the stack overflows).
const MAX_DEPTH: usize = 200;

/// Parses the reply at the front of `buf`: the reply and the bytes it took, `None` if malformed.
pub fn parse(buf: &[u8]) -> Option<(Reply, usize)> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Option<(Reply, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let nl = memchr::memchr(b'\n', buf)?;
    if nl < 2 || buf[nl - 1] != b'\r' {
        return None;
    }
    let line = &buf[1..nl - 1];
    let head = nl + 1;
    let num = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    let bulk = |n: i64| -> Option<(Vec<u8>, usize)> {
        let n = usize::try_from(n).ok()?;
        let body = buf.get(head..head + n)?;
        (buf.get(head + n..head + n + 2)? == b"\r\n").then(|| (body.to_vec(), head + n + 2))
    };
    let items = |n: usize, pos: &mut usize| -> Option<Vec<Reply>> {
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let (r, used) = parse_at(&buf[*pos..], depth + 1)?;
            v.push(r);
            *pos += used;
        }
        Some(v)
    };
    Some(match buf[0] {
        b'+' => (Reply::Status(line.to_vec()), head),
        b'-' => (Reply::Error(line.to_vec()), head),
        b':' => (Reply::Int(num()?), head),
        b'_' => (Reply::Null, head),
        b'#' => (Reply::Bool(line == b"t"), head),
        b',' => (Reply::Double(parse_double(line)?), head),
        b'(' => (Reply::BigNumber(line.to_vec()), head),
        b'$' => match num()? {
            -1 => (Reply::Nil, head),
            n => {
                let (b, used) = bulk(n)?;
                (Reply::Bulk(b), used)
            }
        },
        b'=' => {
            let (b, used) = bulk(num()?)?;
            let (format, text) =
                if b.len() >= 4 && b[3] == b':' { (b[..3].to_vec(), b[4..].to_vec()) } else { (b"txt".to_vec(), b) };
            (Reply::Verbatim(format, text), used)
        }
        b'*' | b'~' | b'>' => match num()? {
            -1 => (Reply::Nil, head),
            n => {
                let mut pos = head;
                let v = items(usize::try_from(n).ok()?, &mut pos)?;
                (if buf[0] == b'~' { Reply::Set(v) } else { Reply::Array(v) }, pos)
            }
        },
        b'%' => {
            let mut pos = head;
            let flat = items(usize::try_from(num()?).ok()?.checked_mul(2)?, &mut pos)?;
            let mut pairs = Vec::with_capacity(flat.len() / 2);
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            (Reply::Map(pairs), pos)
        }
        _ => return None,
    })
}

fn parse_double(s: &[u8]) -> Option<f64> {
    match s {
        b"inf" => Some(f64::INFINITY),
        b"-inf" => Some(f64::NEG_INFINITY),
        b"nan" => Some(f64::NAN),
        _ => std::str::from_utf8(s).ok()?.parse().ok(),
    }
}

/// A one-field table (`{ok=…}`, `{err=…}`, `{double=…}`…).
pub fn single_field(lua: &Lua, field: &str, v: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(field, v)?;
    Ok(Value::Table(t))
}

/// A reply as the Lua value `redis.call` returns.
pub fn reply_to_lua(lua: &Lua, r: &Reply) -> mlua::Result<Value> {
    Ok(match r {
        Reply::Status(s) => single_field(lua, "ok", lua.create_string(s)?)?,
        Reply::Error(e) => single_field(lua, "err", lua.create_string(e)?)?,
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Nil => Value::Boolean(false),
        Reply::Null => Value::Nil,
        Reply::Bool(b) => Value::Boolean(*b),
        Reply::Double(d) => single_field(lua, "double", *d)?,
        Reply::BigNumber(b) => single_field(lua, "big_number", lua.create_string(b)?)?,
        Reply::Verbatim(format, text) => {
            let t = lua.create_table_with_capacity(0, 2)?;
            t.raw_set("format", lua.create_string(format)?)?;
            t.raw_set("string", lua.create_string(text)?)?;
            single_field(lua, "verbatim_string", t)?
        }
        Reply::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                t.raw_set(reply_to_lua(lua, k)?, reply_to_lua(lua, v)?)?;
            }
            single_field(lua, "map", t)?
        }
        Reply::Set(items) => {
            let t = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                t.raw_set(reply_to_lua(lua, item)?, true)?;
            }
            single_field(lua, "set", t)?
        }
    })
}

/// A Lua number as the integer reply Redis gives it: a C cast, which on x86 turns NaN and
/// out-of-range values into i64::MIN.
pub fn number_to_int(n: f64) -> i64 {
    // i64::MIN as f64 is exact (-2^63); 2^63 is the first value past i64::MAX.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&n) { n as i64 } else { i64::MIN }
}

/// A command argument from a Lua value: strings as they are, numbers as `%.17g` (what Redis 7.0
/// uses: Lua's own `%.14g` would lose precision). Anything else is refused.
pub fn lua_to_arg(v: &Value) -> Option<bytes::Bytes> {
    match v {
        Value::String(s) => Some(bytes::Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Some(bytes::Bytes::from(format_double(*i as f64))),
        Value::Number(n) => Some(bytes::Bytes::from(format_double(*n))),
        _ => None,
    }
}

/// Text with CR and LF turned into spaces (status and error lines).
fn one_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace(['\r', '\n'], " ")
}

/// Writes a script's return value as the reply. `script_resp3` is what `redis.setresp` chose:
/// booleans become RESP3 booleans only then.
pub fn lua_to_reply(v: &Value, out: &mut Out, script_resp3: bool) {
    write_value(v, out, script_resp3, 0)
}

fn write_value(v: &Value, out: &mut Out, resp3: bool, depth: usize) {
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(true) if resp3 => out.boolean(true),
        Value::Boolean(true) => out.int(1),
        Value::Boolean(false) if resp3 => out.boolean(false),
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(number_to_int(*n)),
        Value::Table(t) if depth >= MAX_DEPTH => {
            let _ = t;
            out.error("ERR reached lua stack limit");
        }
        Value::Table(t) => write_table(t, out, resp3, depth),
        _ => out.null(),
    }
}

fn write_table(t: &Table, out: &mut Out, resp3: bool, depth: usize) {
    let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
    if let Value::String(e) = field("err") {
        // Written as is (Redis's "-%s"): the table carries its own error code.
        let text = one_line(&e.as_bytes());
        out.raw(format!("-{text}\r\n").as_bytes());
        return;
    }
    if let Value::String(s) = field("ok") {
        out.simple(&one_line(&s.as_bytes()));
        return;
    }
    if let Value::Number(d) = field("double") {
        out.double(d);
        return;
    }
    if let Value::Integer(d) = field("double") {
        out.double(d as f64);
        return;
    }
    if let Value::String(s) = field("big_number") {
        if out.resp3 {
            out.raw(format!("({}\r\n", one_line(&s.as_bytes())).as_bytes());
        } else {
            out.bulk(&s.as_bytes());
        }
        return;
    }
    if let Value::Table(m) = field("map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            write_value(k, out, resp3, depth + 1);
            write_value(v, out, resp3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field("set") {
        let members: Vec<Value> = s.pairs::<Value, Value>().filter_map(|p| p.ok().map(|(k, _)| k)).collect();
        out.set(members.len());
        for m in &members {
            write_value(m, out, resp3, depth + 1);
        }
        return;
    }
    // An array: the elements up to the first nil.
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        write_value(v, out, resp3, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &[u8]) -> Reply {
        let (r, used) = parse(bytes).expect("parses");
        assert_eq!(used, bytes.len());
        r
    }

    fn written(lua: &Lua, src: &str, resp3: bool) -> Vec<u8> {
        let v: Value = lua.load(src).eval().unwrap();
        let mut out = Out::new(resp3);
        lua_to_reply(&v, &mut out, false);
        out.buf.to_vec()
    }

    #[test]
    fn parses_every_reply_type() {
        assert_eq!(parsed(b"+OK\r\n"), Reply::Status(b"OK".to_vec()));
        assert_eq!(parsed(b"-ERR bad\r\n"), Reply::Error(b"ERR bad".to_vec()));
        assert_eq!(parsed(b":-12\r\n"), Reply::Int(-12));
        assert_eq!(parsed(b"$3\r\na\r\n\r\n"), Reply::Bulk(b"a\r\n".to_vec()));
        assert_eq!(parsed(b"$-1\r\n"), Reply::Nil);
        assert_eq!(parsed(b"*-1\r\n"), Reply::Nil);
        assert_eq!(parsed(b"_\r\n"), Reply::Null);
        assert_eq!(parsed(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(parsed(b",1.5\r\n"), Reply::Double(1.5));
        assert_eq!(
            parsed(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
            Reply::Array(vec![Reply::Int(1), Reply::Array(vec![Reply::Bulk(b"x".to_vec())])])
        );
        assert_eq!(parsed(b"%1\r\n+a\r\n:2\r\n"), Reply::Map(vec![(Reply::Status(b"a".to_vec()), Reply::Int(2))]));
        assert_eq!(parsed(b"~1\r\n:2\r\n"), Reply::Set(vec![Reply::Int(2)]));
        assert_eq!(parsed(b"=7\r\ntxt:abc\r\n"), Reply::Verbatim(b"txt".to_vec(), b"abc".to_vec()));
        assert!(parse(b"$5\r\nab\r\n").is_none());
        assert!(parse(b"*2\r\n:1\r\n").is_none());
    }

    #[test]
    fn replies_become_lua_values() {
        let lua = Lua::new();
        let g = lua.globals();
        let set = |name: &str, r: Reply| g.set(name, reply_to_lua(&lua, &r).unwrap()).unwrap();
        set("i", Reply::Int(7));
        set("b", Reply::Bulk(b"v".to_vec()));
        set("n", Reply::Nil);
        set("a", Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"x".to_vec()), Reply::Nil]));
        set("s", Reply::Status(b"PONG".to_vec()));
        set("e", Reply::Error(b"ERR no".to_vec()));
        set("m", Reply::Map(vec![(Reply::Bulk(b"k".to_vec()), Reply::Int(1))]));
        set("d", Reply::Double(2.5));
        let ok: bool = lua
            .load(
                "return i == 7 and b == 'v' and n == false and #a == 3 and a[2] == 'x' and a[3] == false \
                 and s.ok == 'PONG' and e.err == 'ERR no' and m.map.k == 1 and d.double == 2.5",
            )
            .eval()
            .unwrap();
        assert!(ok);
    }

    #[test]
    fn lua_values_become_replies() {
        let lua = Lua::new();
        assert_eq!(written(&lua, "return 3.99", false), b":3\r\n");
        assert_eq!(written(&lua, "return -3.99", false), b":-3\r\n");
        assert_eq!(written(&lua, "return 'hi'", false), b"$2\r\nhi\r\n");
        assert_eq!(written(&lua, "return true", false), b":1\r\n");
        assert_eq!(written(&lua, "return false", false), b"$-1\r\n");
        assert_eq!(written(&lua, "return false", true), b"_\r\n");
        assert_eq!(written(&lua, "return nil", false), b"$-1\r\n");
        assert_eq!(written(&lua, "return {1, 2, nil, 4}", false), b"*2\r\n:1\r\n:2\r\n");
        assert_eq!(written(&lua, "return {1, {'a'}, false}", false), b"*3\r\n:1\r\n*1\r\n$1\r\na\r\n$-1\r\n");
        assert_eq!(written(&lua, "return {ok='fine'}", false), b"+fine\r\n");
        assert_eq!(written(&lua, "return {ok='a\\r\\nb'}", false), b"+a  b\r\n");
        assert_eq!(written(&lua, "return {err='MY bad'}", false), b"-MY bad\r\n");
        assert_eq!(written(&lua, "return {double=3.5}", false), b"$3\r\n3.5\r\n");
        assert_eq!(written(&lua, "return 0/0", false), b":-9223372036854775808\r\n");
        assert_eq!(written(&lua, "return 2^53", false), b":9007199254740992\r\n");
        // A self-referencing table is cut off, not a stack overflow.
        let deep = written(&lua, "local t = {} t[1] = t return t", false);
        assert!(deep.ends_with(b"-ERR reached lua stack limit\r\n"));
    }

    #[test]
    fn arguments_from_lua() {
        let lua = Lua::new();
        let s = Value::String(lua.create_string("x").unwrap());
        assert_eq!(lua_to_arg(&s).unwrap(), "x");
        assert_eq!(lua_to_arg(&Value::Number(0.1)).unwrap(), "0.10000000000000001");
        assert_eq!(lua_to_arg(&Value::Number(3.0)).unwrap(), "3");
        assert_eq!(lua_to_arg(&Value::Integer(1_000_000_000_000_000)).unwrap(), "1000000000000000");
        assert!(lua_to_arg(&Value::Boolean(true)).is_none());
        assert!(lua_to_arg(&Value::Nil).is_none());
    }
}
