//! Redis's glob matching (KEYS, SCAN MATCH, PSUBSCRIBE): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`.
//!
//! Every element but `*` matches exactly one byte, so only the most recent `*` ever needs to be
//! retried with a longer match: one backtrack point, O(pattern × string) at worst. (Trying every
//! split at every `*` recursively is exponential: `KEYS *a*a*a*…b` against a long key spun a
//! connection thread for minutes, the hole Redis closed in 7.0.9.)

pub fn matches(pattern: &[u8], s: &[u8]) -> bool {
    // Redis's matcher never enters its loop for an empty string, so only an empty pattern matches
    // it; but KEYS and SCAN take a lone `*` as "everything" without matching.
    if s.is_empty() {
        return pattern.is_empty() || pattern == b"*";
    }
    let (mut p, mut i) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the next byte it would take.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                resume = Some((p, i));
                continue;
            }
            if i < s.len() {
                let (hit, len) = single(&pattern[p..], s[i]);
                if hit {
                    p += len;
                    i += 1;
                    continue;
                }
            }
        } else if i == s.len() {
            return true;
        }
        // A mismatch: let the last `*` take one more byte, if there is one.
        match resume {
            Some((after_star, taken)) if taken < s.len() => {
                resume = Some((after_star, taken + 1));
                p = after_star;
                i = taken + 1;
            }
            _ => return false,
        }
    }
}

/// Whether the one-byte element at the front of `p` (not `*`) matches `c`, and its length.
fn single(p: &[u8], c: u8) -> (bool, usize) {
    match p[0] {
        b'?' => (true, 1),
        b'[' => class(&p[1..], c),
        b'\\' if p.len() >= 2 => (p[1] == c, 2),
        b => (b == c, 1),
    }
}

/// A `[…]` class after its `[`, read as Redis reads it: `^` negates, `\x` is x, `a-z` a range (ends
/// in either order), and an unterminated class ends with the pattern.
fn class(mut p: &[u8], c: u8) -> (bool, usize) {
    let start = p.len();
    let negate = p.first() == Some(&b'^');
    if negate {
        p = &p[1..];
    }
    let mut matched = false;
    loop {
        if p.is_empty() {
            break;
        }
        if p[0] == b'\\' && p.len() >= 2 {
            matched |= p[1] == c;
            p = &p[2..];
        } else if p[0] == b']' {
            p = &p[1..];
            break;
        } else if p.len() >= 3 && p[1] == b'-' {
            let (lo, hi) = if p[0] <= p[2] { (p[0], p[2]) } else { (p[2], p[0]) };
            matched |= (lo..=hi).contains(&c);
            p = &p[3..];
        } else {
            matched |= p[0] == c;
            p = &p[1..];
        }
    }
    (matched != negate, 1 + start - p.len())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{matches, single};

    #[test]
    fn globs() {
        assert!(matches(b"*", b"anything"));
        assert!(matches(b"h?llo", b"hello"));
        assert!(matches(b"h*llo", b"heeeello"));
        assert!(matches(b"h[ae]llo", b"hallo"));
        assert!(!matches(b"h[^e]llo", b"hello"));
        assert!(matches(b"h[a-b]llo", b"hbllo"));
        assert!(matches(b"user:*", b"user:1"));
        assert!(!matches(b"user:*", b"session:1"));
        assert!(matches(b"a\\*b", b"a*b"));
        assert!(!matches(b"a?", b"a"));
        assert!(matches(b"[z-a]", b"q"));
        assert!(matches(b"a[bc", b"ab"), "an unterminated class ends with the pattern");
        assert!(!matches(b"a[bc", b"abx"));
    }

    #[test]
    fn many_stars_against_a_long_string_take_no_time() {
        let pattern = format!("{}b", "*a".repeat(60));
        let key = "a".repeat(10_000);
        let started = std::time::Instant::now();
        assert!(!matches(pattern.as_bytes(), key.as_bytes()));
        assert!(matches(pattern.as_bytes(), format!("{key}b").as_bytes()));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    }

    /// The definition: every split at every `*`, tried recursively (exponential, fine for short input).
    fn reference(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| reference(&p[1..], &s[i..])),
            Some(_) => {
                let Some(&c) = s.first() else { return false };
                let (hit, len) = single(p, c);
                hit && reference(&p[len..], &s[1..])
            }
        }
    }

    proptest! {
        #[test]
        fn agrees_with_trying_every_split(
            p in proptest::collection::vec(prop::sample::select(b"ab*?[]^-\\".to_vec()), 0..10),
            s in proptest::collection::vec(prop::sample::select(b"ab-]*".to_vec()), 0..10),
        ) {
            prop_assert_eq!(matches(&p, &s), if s.is_empty() { p.is_empty() || p == b"*" } else { reference(&p, &s) });
        }
    }
}
