//! String values: number parsing as Redis does it, and the read-modify-write string commands.

use super::keyspace::{Value, View};
use super::small::SmallBytes;
use super::{CacheError, CacheResult};

/// Largest string value (Redis's `proto-max-bulk-len`).
pub const MAX_STRING: usize = 512 * 1024 * 1024;

/// Redis's string2ll: optional '-', digits, no leading zeros, no spaces, fits in i64.
pub fn parse_int(s: &[u8]) -> Option<i64> {
    crate::protocol::resp::parse_i64(s)
}

/// Redis's string → long double: decimal or exponent notation, `inf`; no spaces, no NaN.
pub fn parse_float(s: &[u8]) -> Option<f64> {
    // Plain integers (ZADD's usual scores) convert exactly without the text checks below, which
    // allocate a lowercase copy; 15 digits stay below 2^53, so the result is the one `parse` gives.
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if (1..=15).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
        let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64;
        return Some(if neg { -n } else { n });
    }
    let t = std::str::from_utf8(s).ok()?;
    if t.is_empty() || t.starts_with(char::is_whitespace) || t.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            if lower.contains("inf") || lower.contains("nan") {
                return None;
            }
            let unsigned = lower.trim_start_matches(['+', '-']);
            if let Some(hex) = unsigned.strip_prefix("0x")
                && lower.len() - unsigned.len() <= 1
            {
                // strtod reads C99 hex floats too (Redis accepts `ZADD z 0x10 m`).
                let v = parse_hex_float(hex)?;
                return v.is_finite().then_some(if lower.starts_with('-') { -v } else { v });
            }
            let v = t.parse::<f64>().ok()?;
            // strtod's ERANGE, which Redis refuses: a finite literal beyond f64, or a nonzero one
            // that underflows to zero.
            let mantissa = unsigned.split('e').next().unwrap_or("");
            if v.is_infinite() || (v == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b))) {
                return None;
            }
            v
        }
    };
    if v.is_nan() { None } else { Some(v) }
}

/// The digits of a C99 hex float after `0x`: `h[.h][p±d]` with at least one hex digit.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (digits, exp) = match s.split_once('p') {
        Some((d, e)) => (d, e.parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int_part, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    let (mut m, mut shift) = (0u128, exp);
    for (i, c) in int_part.chars().chain(frac.chars()).enumerate() {
        let d = c.to_digit(16)? as u128;
        if m >> 120 == 0 {
            m = m * 16 + d;
            if i >= int_part.len() {
                shift -= 4;
            }
        } else if i < int_part.len() {
            shift += 4;
        }
    }
    Some(if m == 0 { 0.0 } else { m as f64 * 2f64.powi(shift) })
}

/// INCRBYFLOAT's output. Redis computes in `long double` and prints 17 significant digits in fixed
/// point, so 0.1 + 0.2 prints as 0.3; in f64 we get the same text by rounding to 15 significant
/// digits (all an f64 holds reliably) and printing the shortest fixed-point form.
pub fn format_long_double(v: f64) -> String {
    // An integral result is exact in f64 (and in long double): print every digit, as `%.17Lf`
    // does, rather than rounding 2^62 to 4611686018427390000.
    if v == v.trunc() && v.abs() < 1.8446744073709552e19 {
        return (v as i128).to_string();
    }
    let rounded: f64 = format!("{v:.14e}").parse().unwrap_or(v);
    let s = format!("{rounded}");
    if s == "-0" { "0".into() } else { s }
}

fn string_value<'v>(view: &'v mut View<'_>, key: &[u8]) -> CacheResult<Option<&'v mut SmallBytes>> {
    match view.write(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Str(s) => Ok(Some(s)),
            _ => Err(CacheError::WrongType),
        },
    }
}

/// INCR / DECR / INCRBY / DECRBY.
pub fn incr_by(view: &mut View<'_>, key: &[u8], delta: i64) -> CacheResult<i64> {
    let current = match string_value(view, key)? {
        None => 0,
        Some(s) => parse_int(s).ok_or(CacheError::NotInteger)?,
    };
    let next = current.checked_add(delta).ok_or(CacheError::Overflow)?;
    let mut buf = itoa::Buffer::new();
    view.replace_value(key, Value::Str(buf.format(next).as_bytes().into()));
    Ok(next)
}

/// INCRBYFLOAT: returns the new value as text. As in Redis, the key's type and current value are
/// checked before the increment is parsed.
pub fn incr_by_float(view: &mut View<'_>, key: &[u8], delta: &[u8]) -> CacheResult<String> {
    let current = match string_value(view, key)? {
        None => 0.0,
        Some(s) => parse_float(s).ok_or(CacheError::NotFloat)?,
    };
    let delta = parse_float(delta).ok_or(CacheError::NotFloat)?;
    let next = current + delta;
    if !next.is_finite() {
        return Err(CacheError::NanOrInfinity);
    }
    let text = format_long_double(next);
    view.replace_value(key, Value::Str(text.as_bytes().into()));
    Ok(text)
}

/// APPEND: returns the new length.
pub fn append(view: &mut View<'_>, key: &[u8], tail: &[u8]) -> CacheResult<usize> {
    match string_value(view, key)? {
        None => {
            view.insert(key, Value::Str(tail.into()), 0);
            Ok(tail.len())
        }
        Some(s) => {
            if s.len() + tail.len() > MAX_STRING {
                return Err(CacheError::StringTooLong);
            }
            let mut v = std::mem::take(s).into_vec();
            v.extend_from_slice(tail);
            let len = v.len();
            *s = v.into();
            Ok(len)
        }
    }
}

/// SETRANGE: returns the new length.
pub fn set_range(view: &mut View<'_>, key: &[u8], offset: usize, data: &[u8]) -> CacheResult<usize> {
    // As Redis: the type, then an empty `data` (a no-op), and only then the size limit.
    let too_long = offset.saturating_add(data.len()) > MAX_STRING;
    match string_value(view, key)? {
        None => {
            if data.is_empty() {
                return Ok(0);
            }
            if too_long {
                return Err(CacheError::StringTooLong);
            }
            let mut v = vec![0u8; offset];
            v.extend_from_slice(data);
            let len = v.len();
            view.insert(key, Value::Str(v.into()), 0);
            Ok(len)
        }
        Some(s) => {
            if data.is_empty() {
                return Ok(s.len());
            }
            if too_long {
                return Err(CacheError::StringTooLong);
            }
            let mut v = std::mem::take(s).into_vec();
            if v.len() < offset + data.len() {
                v.resize(offset + data.len(), 0);
            }
            v[offset..offset + data.len()].copy_from_slice(data);
            let len = v.len();
            *s = v.into();
            Ok(len)
        }
    }
}

/// Normalises a list's or sorted set's (start, end) ranks, negative counting from the end, into an
/// inclusive range of `len`: an end before the first element is an empty range (LRANGE l 0 -4 of
/// three elements is empty, and LTRIM with it empties the list), unlike GETRANGE's.
pub fn normalise_rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let end = if end < 0 { end.saturating_add(len as i64) } else { end };
    if end < 0 {
        return None;
    }
    normalise_range(start, end, len)
}

/// Normalises GETRANGE's (start, end) pair with negative indexes into an inclusive range of `len`
/// (an end before the first byte reads as 0, as in Redis).
pub fn normalise_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    if s < 0 {
        s = 0;
    }
    if e < 0 {
        e = 0;
    }
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return None;
    }
    Some((s as usize, e as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_int(b"-12"), Some(-12));
        assert_eq!(parse_int(b"012"), None);
        assert_eq!(parse_int(b" 1"), None);
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_float(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        // The integer fast path gives what the general parser gives, sign of zero included.
        for t in ["0", "-0", "+7", "007", "-42", "999999999999999", "1000000000000000", "12345678901234567890"] {
            let got = parse_float(t.as_bytes()).map(f64::to_bits);
            assert_eq!(got, t.parse::<f64>().ok().map(f64::to_bits), "{t}");
        }
        for t in ["", "-", "+", "1 ", "--1", "1-"] {
            assert_eq!(parse_float(t.as_bytes()), None, "{t:?}");
        }
        // As strtod (redis-server 7.0 checked): C99 hex floats are read; literals out of f64's
        // range are refused rather than becoming inf or 0.
        for (t, want) in
            [("0x10", 16.0), ("-0x10", -16.0), ("0X1A", 26.0), ("0x1p3", 8.0), ("0x.8", 0.5), ("1e-320", 1e-320)]
        {
            assert_eq!(parse_float(t.as_bytes()), Some(want), "{t}");
        }
        for t in ["0x", "0xg", "1e400", "-1e400", "1e-400", "0x1p", "+-0x1"] {
            assert_eq!(parse_float(t.as_bytes()), None, "{t:?}");
        }
        assert_eq!(format_long_double(10.5), "10.5");
        assert_eq!(format_long_double(3.0), "3");
        assert_eq!(format_long_double(5.0e3), "5000");
        // Large integral results keep all their digits (redis-server 7.0: INCRBYFLOAT of
        // -4611686018427387904 by 0.1 prints -4611686018427387904).
        assert_eq!(format_long_double(-4611686018427387904.0), "-4611686018427387904");
        assert_eq!(format_long_double(-9223372036854775808.0), "-9223372036854775808");
        assert_eq!(format_long_double(-0.0), "0");
        assert_eq!(format_long_double(0.1 + 0.2), "0.3");
        assert_eq!(format_long_double(1e20), "100000000000000000000");
        assert_eq!(normalise_range(0, -1, 5), Some((0, 4)));
        assert_eq!(normalise_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(normalise_range(3, 1, 5), None);
        assert_eq!(normalise_range(0, -4, 3), Some((0, 0)), "GETRANGE clamps the end to 0");
        assert_eq!(normalise_rank_range(0, -4, 3), None, "LRANGE / ZRANGE do not");
        assert_eq!(normalise_rank_range(0, -3, 3), Some((0, 0)));
        assert_eq!(normalise_rank_range(i64::MIN, i64::MIN, 3), None);
        assert_eq!(normalise_rank_range(-100, 100, 5), Some((0, 4)));
    }
}
