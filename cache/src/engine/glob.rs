//! Redis's glob matching (KEYS, SCAN MATCH, PSUBSCRIBE): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`.

pub fn matches(pattern: &[u8], s: &[u8]) -> bool {
    matches_at(pattern, s, 0)
}

fn matches_at(mut p: &[u8], mut s: &[u8], depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    while !p.is_empty() {
        match p[0] {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                for i in 0..=s.len() {
                    if matches_at(&p[1..], &s[i..], depth + 1) {
                        return true;
                    }
                }
                return false;
            }
            b'?' => {
                if s.is_empty() {
                    return false;
                }
                s = &s[1..];
            }
            b'[' => {
                if s.is_empty() {
                    return false;
                }
                p = &p[1..];
                let negate = !p.is_empty() && p[0] == b'^';
                if negate {
                    p = &p[1..];
                }
                let mut matched = false;
                loop {
                    if p.is_empty() {
                        break;
                    }
                    if p[0] == b'\\' && p.len() >= 2 {
                        if p[1] == s[0] {
                            matched = true;
                        }
                        p = &p[2..];
                    } else if p[0] == b']' {
                        break;
                    } else if p.len() >= 3 && p[1] == b'-' {
                        let (mut lo, mut hi) = (p[0], p[2]);
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        if s[0] >= lo && s[0] <= hi {
                            matched = true;
                        }
                        p = &p[3..];
                    } else {
                        if p[0] == s[0] {
                            matched = true;
                        }
                        p = &p[1..];
                    }
                }
                if matched == negate {
                    return false;
                }
                s = &s[1..];
                if p.is_empty() {
                    return s.is_empty();
                }
            }
            b'\\' if p.len() >= 2 => {
                if s.is_empty() || s[0] != p[1] {
                    return false;
                }
                p = &p[1..];
                s = &s[1..];
            }
            c => {
                if s.is_empty() || s[0] != c {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::matches;

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
    }
}
