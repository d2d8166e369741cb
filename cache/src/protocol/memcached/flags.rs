//! Meta command flags, parsed as memcached 1.6.18's `_meta_flag_preparse` does: every command
//! accepts the same set of letters (those a command has no use for are ignored), a repeated or
//! unknown letter fails at once, and a bad token fails the command once every flag has been read.

use std::borrow::Cow;

use base64::Engine as _;
use smallvec::SmallVec;

/// Longest opaque token memcached echoes (its `MFLAG_MAX_OPAQUE_LENGTH`, counting the `O`).
pub const MAX_OPAQUE: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagError {
    Duplicate,
    Invalid,
    BadToken,
    /// A bad `F` token: memcached sets no message of its own for it.
    BadFormat,
    ModeLength,
    InitialValue,
    DeltaValue,
    KeyDecode,
}

impl FlagError {
    /// The reply of mg and ms (md and ma word every flag error the same way, see
    /// [`FlagError::MD_MA`]).
    pub fn message(self) -> &'static str {
        match self {
            FlagError::Duplicate => "CLIENT_ERROR duplicate flag",
            FlagError::Invalid => "CLIENT_ERROR invalid flag",
            FlagError::BadToken => "CLIENT_ERROR bad token in command line format",
            FlagError::BadFormat => "CLIENT_ERROR bad command line format",
            FlagError::ModeLength => "CLIENT_ERROR incorrect length for M token",
            FlagError::InitialValue => "CLIENT_ERROR invalid numeric initial value",
            FlagError::DeltaValue => "CLIENT_ERROR invalid numeric delta value",
            FlagError::KeyDecode => "CLIENT_ERROR error decoding key",
        }
    }

    pub const MD_MA: &'static str = "CLIENT_ERROR invalid or duplicate flag";
}

#[derive(Default)]
pub struct Flags<'a> {
    /// Every flag in request order: return flags are answered in this order.
    pub order: SmallVec<[(u8, &'a str); 8]>,
    /// The key as stored (base64-decoded under `b`).
    pub key: Cow<'a, [u8]>,
    pub binary_key: bool,
    pub quiet: bool,
    pub value: bool,
    pub no_update: bool,
    pub invalidate: bool,
    pub ttl: Option<i64>,
    pub vivify: Option<i64>,
    pub recache: Option<i64>,
    pub cas: Option<u64>,
    pub client_flags: Option<u32>,
    pub mode: Option<u8>,
    pub initial: Option<u64>,
    pub delta: Option<u64>,
}

/// memcached's `safe_strtol`: a 32-bit signed number and nothing else.
fn int32(t: &str) -> Option<i64> {
    t.parse::<i32>().ok().map(i64::from)
}

impl<'a> Flags<'a> {
    pub fn parse(key: &'a str, words: &[&'a str]) -> Result<Flags<'a>, FlagError> {
        let mut f = Flags { key: Cow::Borrowed(key.as_bytes()), ..Flags::default() };
        let mut seen = 0u128;
        // Token errors are remembered and the flags read on, as memcached does: a later
        // duplicate or unknown flag is what gets reported then.
        let mut err = None;
        for w in words {
            let c = w.as_bytes()[0];
            if c >= 127 || seen & (1 << c) != 0 {
                return Err(FlagError::Duplicate);
            }
            // Only now is `c` known to be ASCII, so the token after it starts on a char boundary.
            let token = &w[1..];
            seen |= 1 << c;
            match c {
                b'b' => {
                    f.binary_key = true;
                    match base64::engine::general_purpose::STANDARD.decode(key) {
                        Ok(k) if !k.is_empty() => f.key = Cow::Owned(k),
                        _ => err = Some(FlagError::KeyDecode),
                    }
                }
                b'N' | b'T' | b'R' => match int32(token) {
                    Some(n) => {
                        *(match c {
                            b'N' => &mut f.vivify,
                            b'T' => &mut f.ttl,
                            _ => &mut f.recache,
                        }) = Some(n)
                    }
                    None => err = Some(FlagError::BadToken),
                },
                b'v' => f.value = true,
                b'u' => f.no_update = true,
                b'q' => f.quiet = true,
                b'I' => f.invalidate = true,
                b'F' => match token.parse() {
                    Ok(n) => f.client_flags = Some(n),
                    Err(_) => {
                        err.get_or_insert(FlagError::BadFormat);
                    }
                },
                b'C' => match token.parse() {
                    Ok(n) => f.cas = Some(n),
                    Err(_) => err = Some(FlagError::BadToken),
                },
                b'M' => match token.as_bytes() {
                    [m] => f.mode = Some(*m),
                    _ => err = Some(FlagError::ModeLength),
                },
                b'J' => match token.parse() {
                    Ok(n) => f.initial = Some(n),
                    Err(_) => err = Some(FlagError::InitialValue),
                },
                b'D' => match token.parse() {
                    Ok(n) => f.delta = Some(n),
                    Err(_) => err = Some(FlagError::DeltaValue),
                },
                b'k' | b's' | b't' | b'c' | b'f' | b'h' | b'l' | b'O' | b'P' | b'L' => {}
                _ => return Err(FlagError::Invalid),
            }
            f.order.push((c, token));
        }
        match err {
            Some(e) => Err(e),
            None => Ok(f),
        }
    }

    /// memcached refuses a long opaque while writing the reply, after the command has acted.
    pub fn opaque_too_long(&self) -> bool {
        self.order.iter().any(|(f, t)| *f == b'O' && t.len() + 1 > MAX_OPAQUE)
    }

    /// The `O` and `k` return flags, the only ones a miss or a write echoes besides those the
    /// caller answers through `value`; the key is echoed as the client sent it (still base64
    /// under `b`, then marked with a `b`).
    pub fn returned(&self, key: &str, out: &mut String, mut value: impl FnMut(u8) -> Option<String>) {
        for (c, token) in &self.order {
            match c {
                b'O' => {
                    out.push_str(" O");
                    out.push_str(token);
                }
                b'k' => {
                    out.push_str(" k");
                    out.push_str(key);
                    if self.binary_key {
                        out.push_str(" b");
                    }
                }
                c => {
                    if let Some(v) = value(*c) {
                        out.push(' ');
                        out.push_str(&v);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &str) -> Result<Flags<'_>, FlagError> {
        let w: Vec<&str> = words.split_ascii_whitespace().collect();
        Flags::parse(w[0], &w[1..])
    }

    #[test]
    fn duplicates_and_unknown_letters_fail_at_once() {
        assert_eq!(parse("k v v").err(), Some(FlagError::Duplicate));
        assert_eq!(parse("k T1 T2").err(), Some(FlagError::Duplicate));
        assert_eq!(parse("k O1 O2").err(), Some(FlagError::Duplicate));
        assert_eq!(parse("k x").err(), Some(FlagError::Invalid));
        assert_eq!(parse("k E5").err(), Some(FlagError::Invalid), "1.6.18 has no E flag");
        // (a bad token is reported only if nothing worse follows)
        assert_eq!(parse("k Tx v v").err(), Some(FlagError::Duplicate));
        assert_eq!(parse("k Tx").err(), Some(FlagError::BadToken));
        // A flag that starts with a multi-byte character is refused, not sliced inside it (a panic
        // in the connection's task before).
        assert_eq!(parse("k é").err(), Some(FlagError::Duplicate));
        assert_eq!(parse("k v éx").err(), Some(FlagError::Duplicate));
    }

    #[test]
    fn token_errors_keep_memcached_precedence() {
        assert_eq!(parse("k F").err(), Some(FlagError::BadFormat));
        assert_eq!(parse("k Tx F").err(), Some(FlagError::BadToken), "F sets no message of its own");
        assert_eq!(parse("k F Tx").err(), Some(FlagError::BadToken));
        assert_eq!(parse("k M").err(), Some(FlagError::ModeLength));
        assert_eq!(parse("k MSS").err(), Some(FlagError::ModeLength));
        assert_eq!(parse("k D").err(), Some(FlagError::DeltaValue));
        assert_eq!(parse("k J-1").err(), Some(FlagError::InitialValue));
        assert_eq!(parse("k T2147483648").err(), Some(FlagError::BadToken), "32-bit as memcached");
    }

    #[test]
    fn values_and_order() {
        let f = parse("k T30 N-1 R5 C7 F9 MA D3 J4 q v u I Oab t").unwrap();
        assert_eq!((f.ttl, f.vivify, f.recache), (Some(30), Some(-1), Some(5)));
        assert_eq!(
            (f.cas, f.client_flags, f.mode, f.delta, f.initial),
            (Some(7), Some(9), Some(b'A'), Some(3), Some(4))
        );
        assert!(f.quiet && f.value && f.no_update && f.invalidate);
        assert_eq!(f.order.last(), Some(&(b't', "")));
        assert!(!f.opaque_too_long());
    }

    #[test]
    fn base64_keys() {
        let f = parse("a2V5 b").unwrap();
        assert_eq!(&*f.key, b"key");
        assert!(f.binary_key);
        assert_eq!(parse("### b").err(), Some(FlagError::KeyDecode));
        assert_eq!(parse("### b x").err(), Some(FlagError::Invalid));
        let mut s = String::new();
        f.returned("a2V5", &mut s, |_| None);
        assert_eq!(s, "", "b alone is not echoed");
        let f = parse("a2V5 b k").unwrap();
        f.returned("a2V5", &mut s, |_| None);
        assert_eq!(s, " ka2V5 b");
    }

    #[test]
    fn opaque_limit_counts_the_letter() {
        let ok = format!("k O{}", "a".repeat(MAX_OPAQUE - 1));
        let long = format!("k O{}", "a".repeat(MAX_OPAQUE));
        assert!(!parse(&ok).unwrap().opaque_too_long());
        assert!(parse(&long).unwrap().opaque_too_long());
    }
}
