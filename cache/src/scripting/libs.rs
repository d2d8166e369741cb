//! The libraries Redis bundles with its Lua that scripts commonly use, in Rust: `cjson`
//! (lua-cjson's encode/decode defaults), `bit` (LuaBitOp) and Redis's deterministic `math.random`.
//! (`struct` and `cmsgpack` are not provided.)
//!
//! Errors: mlua can only raise a Rust error (a userdata) from a Rust function, while scripts and
//! Redis's error handler expect the error *values* Redis raises (a positioned message, or an
//! `{err=…}` table). So a failing function parks the value in [`PendingError`] and raises; the
//! prelude's handler and `pcall` (in `vm.rs`) swap the userdata for the parked value.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{Lua, MultiValue, Table, Value, Variadic};

type Outcome = mlua::Result<Value>;

/// The error value the last failing Rust function meant to raise (kept as Lua app data).
#[derive(Default)]
pub struct PendingError(pub RefCell<Option<Value>>);

/// Raises `v` as the error value (see the module doc).
pub fn raise(lua: &Lua, v: Value) -> mlua::Error {
    if let Some(p) = lua.app_data_ref::<PendingError>() {
        *p.0.borrow_mut() = Some(v);
    }
    mlua::Error::runtime("script error")
}

/// `luaL_error`: the message prefixed with the calling script line (`user_script:3: …`).
pub fn raise_positioned(lua: &Lua, msg: &str) -> mlua::Error {
    let place = lua
        .inspect_stack(1, |d| {
            let line = d.current_line()?;
            let src = d.source().short_src?.into_owned();
            Some(format!("{src}:{line}: "))
        })
        .flatten()
        .unwrap_or_default();
    match lua.create_string(format!("{place}{msg}")) {
        Ok(s) => raise(lua, Value::String(s)),
        Err(e) => e,
    }
}

fn fail(lua: &Lua, msg: &str) -> Outcome {
    Err(raise_positioned(lua, msg))
}

/// Lua's `tostring` of a number (`%.14g`), which lua-cjson also prints numbers with.
fn number_text(lua: &Lua, n: f64) -> mlua::Result<String> {
    Ok(lua.coerce_string(Value::Number(n))?.map(|s| s.to_string_lossy()).unwrap_or_default())
}

// ---- cjson ----

/// lua-cjson's default nesting limit.
const JSON_MAX_DEPTH: usize = 1000;

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("encode", lua.create_function(|lua, v: Value| encode(lua, v))?)?;
    t.set("decode", lua.create_function(|lua, v: Value| decode(lua, v))?)?;
    // lua-cjson's null is a light userdata holding NULL.
    t.set("null", Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())))?;
    Ok(t)
}

fn encode(lua: &Lua, v: Value) -> Outcome {
    let mut out = Vec::new();
    match encode_value(lua, &v, &mut out, 0) {
        Ok(()) => Ok(Value::String(lua.create_string(&out)?)),
        Err(EncodeError::Lua(e)) => Err(e),
        Err(EncodeError::Msg(m)) => fail(lua, &m),
    }
}

enum EncodeError {
    Lua(mlua::Error),
    Msg(String),
}

impl From<mlua::Error> for EncodeError {
    fn from(e: mlua::Error) -> Self {
        EncodeError::Lua(e)
    }
}

fn encode_value(lua: &Lua, v: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), EncodeError> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(number_text(lua, *i as f64)?.as_bytes()),
        Value::Number(n) if !n.is_finite() => {
            return Err(EncodeError::Msg("Cannot serialise number: must not be NaN or Inf".into()));
        }
        Value::Number(n) => out.extend_from_slice(number_text(lua, *n)?.as_bytes()),
        Value::String(s) => escape(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth + 1 > JSON_MAX_DEPTH {
                return Err(EncodeError::Msg(format!("Cannot serialise, excessive nesting ({})", depth + 1)));
            }
            match array_length(t)? {
                Some(n) => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        encode_value(lua, &t.raw_get::<Value>(i)?, out, depth + 1)?;
                    }
                    out.push(b']');
                }
                None => {
                    out.push(b'{');
                    let mut first = true;
                    for pair in t.pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        match &k {
                            Value::String(s) => escape(&s.as_bytes(), out),
                            Value::Integer(i) => escape(number_text(lua, *i as f64)?.as_bytes(), out),
                            Value::Number(n) => escape(number_text(lua, *n)?.as_bytes(), out),
                            _ => {
                                return Err(EncodeError::Msg(
                                    "Cannot serialise table: table key must be a number or string".into(),
                                ));
                            }
                        }
                        out.push(b':');
                        encode_value(lua, &val, out, depth + 1)?;
                    }
                    out.push(b'}');
                }
            }
        }
        other => return Err(EncodeError::Msg(format!("Cannot serialise {}: type not supported", other.type_name()))),
    }
    Ok(())
}

/// lua-cjson's array test: every key a positive integer, and not "excessively sparse" (its
/// defaults: ratio 2, safe up to index 10). `None` for an object (an empty table is one).
fn array_length(t: &Table) -> Result<Option<usize>, EncodeError> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let n = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if max > 10 && max > items * 2 {
        return Err(EncodeError::Msg("Cannot serialise table: excessively sparse array".into()));
    }
    Ok((max > 0).then_some(max))
}

/// A JSON string the way lua-cjson escapes it (`/` included; other bytes as they are).
fn escape(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn decode(lua: &Lua, v: Value) -> Outcome {
    let text = match &v {
        Value::String(s) => s.as_bytes().to_vec(),
        _ => return fail(lua, "bad argument #1 to 'decode' (string expected)"),
    };
    let json: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(j) => j,
        // lua-cjson names what it expected and where it stopped; serde's column is that place.
        Err(e) => {
            let at = e.column().max(1);
            let text = if e.to_string().starts_with("key must be a string") {
                format!("Expected object key string but found invalid token at character {at}")
            } else if e.is_eof() {
                format!("Expected value but found T_END at character {}", e.column() + 1)
            } else {
                format!("Expected value but found invalid token at character {at}")
            };
            return fail(lua, &text);
        }
    };
    json_to_lua(lua, &json)
}

fn json_to_lua(lua: &Lua, j: &serde_json::Value) -> mlua::Result<Value> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, json_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        J::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(k.as_str(), json_to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

// ---- bit (LuaBitOp) ----

/// LuaBitOp's number normalisation: the low 32 bits of the number rounded to an integer (the
/// 2^52 + 2^51 addition trick, which also rounds halves to even).
pub fn tobit(n: f64) -> i32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type Op = fn(&[i32]) -> Option<i32>;
    let ops: [(&str, Op); 11] = [
        ("tobit", |a| a.first().copied()),
        ("bnot", |a| a.first().map(|x| !x)),
        ("band", |a| a.iter().copied().reduce(|x, y| x & y)),
        ("bor", |a| a.iter().copied().reduce(|x, y| x | y)),
        ("bxor", |a| a.iter().copied().reduce(|x, y| x ^ y)),
        ("lshift", |a| Some(a.first()?.wrapping_shl(*a.get(1)? as u32 & 31))),
        ("rshift", |a| Some(((*a.first()? as u32) >> (*a.get(1)? as u32 & 31)) as i32)),
        ("arshift", |a| Some(a.first()?.wrapping_shr(*a.get(1)? as u32 & 31))),
        ("rol", |a| Some((*a.first()? as u32).rotate_left(*a.get(1)? as u32 & 31) as i32)),
        ("ror", |a| Some((*a.first()? as u32).rotate_right(*a.get(1)? as u32 & 31) as i32)),
        ("bswap", |a| Some(a.first()?.swap_bytes())),
    ];
    for (name, op) in ops {
        let f = lua.create_function(move |lua, args: Variadic<Value>| -> Outcome {
            let nums: Option<Vec<i32>> = args.iter().map(|v| num(v).map(tobit)).collect();
            match nums.and_then(|n| op(&n)) {
                Some(r) => Ok(Value::Number(r as f64)),
                None => fail(lua, &format!("bad argument #1 to '{name}' (number expected)")),
            }
        })?;
        t.set(name, f)?;
    }
    let tohex = lua.create_function(|lua, args: Variadic<Value>| -> Outcome {
        let Some(x) = args.first().and_then(num).map(tobit) else {
            return fail(lua, "bad argument #1 to 'tohex' (number expected)");
        };
        let n = args.get(1).and_then(num).map_or(8, tobit);
        let (upper, digits) = (n < 0, n.unsigned_abs().min(8) as usize);
        let hex = format!("{:08x}", x as u32);
        let s = &hex[8 - digits..];
        let s = if upper { s.to_ascii_uppercase() } else { s.to_string() };
        Ok(Value::String(lua.create_string(s)?))
    })?;
    t.set("tohex", tohex)?;
    Ok(t)
}

// ---- math.random ----

/// Redis's `redisLrand48` (a 48-bit linear congruential generator), whose sequence `math.random`
/// follows. As in Redis 7.0 there is one state for the whole server, never reseeded per script
/// (scripts are replicated by their effects, so it need not repeat), and SCRIPT FLUSH keeps it.
pub struct Rand48(AtomicU64);

const RAND48_MAX: i64 = i32::MAX as i64;

/// The server's generator (scripts run one at a time: they hold every shard).
static RNG: Rand48 = Rand48::new();

impl Rand48 {
    /// The state C's `lrand48` starts from when never seeded (0x1234ABCD330E), as Redis's does.
    pub const fn new() -> Self {
        Rand48(AtomicU64::new(0x1234_ABCD_330E))
    }
    pub fn seed(&self, seed: i32) {
        self.0.store(((seed as u32 as u64) << 16) | 0x330E, Ordering::Relaxed);
    }
    pub fn next(&self) -> i32 {
        let x = (self.0.load(Ordering::Relaxed).wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        self.0.store(x, Ordering::Relaxed);
        (x >> 17) as i32
    }
    /// `math.random`'s float in [0, 1).
    pub fn unit(&self) -> f64 {
        (self.next() as i64 % RAND48_MAX) as f64 / RAND48_MAX as f64
    }
}

impl Default for Rand48 {
    fn default() -> Self {
        Self::new()
    }
}

/// `math.random` and `math.randomseed` as Redis replaces them.
pub fn install_random(lua: &Lua, math: &Table) -> mlua::Result<()> {
    let (r, rng) = (&RNG, &RNG);
    let random = lua.create_function(move |lua, args: MultiValue| -> Outcome {
        let x = r.unit();
        let ints: Vec<Option<f64>> = args.iter().map(num).collect();
        let int = |i: usize| ints.get(i).copied().flatten().map(|n| n as i32);
        let v = match args.len() {
            0 => x,
            1 => match int(0) {
                Some(u) if u >= 1 => (x * u as f64).floor() + 1.0,
                Some(_) => return fail(lua, "bad argument #1 to 'random' (interval is empty)"),
                None => return fail(lua, "bad argument #1 to 'random' (number expected)"),
            },
            2 => match (int(0), int(1)) {
                (Some(l), Some(u)) if l <= u => (x * (u as f64 - l as f64 + 1.0)).floor() + l as f64,
                (Some(_), Some(_)) => return fail(lua, "bad argument #2 to 'random' (interval is empty)"),
                _ => return fail(lua, "bad argument #1 to 'random' (number expected)"),
            },
            _ => return fail(lua, "wrong number of arguments"),
        };
        Ok(Value::Number(v))
    })?;
    let seed = lua.create_function(move |lua, v: Value| -> Outcome {
        match num(&v) {
            Some(n) => {
                rng.seed(n as i32);
                Ok(Value::Nil)
            }
            None => fail(lua, "bad argument #1 to 'randomseed' (number expected)"),
        }
    })?;
    math.raw_set("random", random)?;
    math.raw_set("randomseed", seed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rand48_follows_redis() {
        // redis-server 7.0.15, fresh: math.random() then random(10), random(10), random(1,100).
        let r = Rand48::new();
        assert!((r.unit() - 0.396_464_773_638_390_4).abs() < 1e-12);
        assert_eq!((r.unit() * 10.0).floor() + 1.0, 9.0);
        assert_eq!((r.unit() * 10.0).floor() + 1.0, 4.0);
        assert_eq!((r.unit() * 100.0).floor() + 1.0, 45.0);
        r.seed(1);
        assert_eq!((r.unit() * 1000.0).floor() + 1.0, 42.0);
    }

    #[test]
    fn tobit_wraps_and_rounds() {
        assert_eq!(tobit(4_294_967_301.0), 5);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2_147_483_648.0), i32::MIN);
        assert_eq!(tobit(2.5), 2);
    }

    #[test]
    fn json_escapes_like_cjson() {
        let mut out = Vec::new();
        escape(b"a/b\"\n\x01\xc3\xa9", &mut out);
        assert_eq!(out, b"\"a\\/b\\\"\\n\\u0001\xc3\xa9\"");
    }
}
