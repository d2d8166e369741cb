//! Tokens of DynamoDB's PartiQL subset: identifiers (bare or "double-quoted"), 'string' literals
//! (`''` escapes a quote), numbers, `?` parameters, punctuation including `<<` `>>` for sets.

use crate::engine::error::{Result, invalid};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare word: keyword or identifier (keywords are matched case-insensitively by the parser).
    Word(String),
    /// A "double-quoted" identifier: never a keyword.
    Quoted(String),
    Str(String),
    Num(String),
    Param,
    Punct(&'static str),
}

const PUNCT: &[&str] =
    &["<<", ">>", "<=", ">=", "<>", "!=", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "+", "-", "*"];

pub fn syntax_error(near: &str) -> crate::engine::error::EngineError {
    invalid(format!("Statement wasn't well formed, can't be processed: unexpected token {near}"))
}

pub fn tokenize(src: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(invalid(
                            "Statement wasn't well formed, can't be processed: unterminated quoted text",
                        ));
                    }
                    Some(&q) if q == c => {
                        if chars.get(i + 1) == Some(&c) {
                            s.push(c);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(if c == '\'' { Tok::Str(s) } else { Tok::Quoted(s) });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                i += 1;
                if i < chars.len() && matches!(chars[i], '+' | '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
            continue;
        }
        if c == '?' {
            out.push(Tok::Param);
            i += 1;
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match PUNCT.iter().find(|p| rest.starts_with(**p)) {
            Some(p) => {
                out.push(Tok::Punct(p));
                i += p.len();
            }
            None => return Err(syntax_error(&c.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = tokenize(r#"SELECT "a b".c FROM t WHERE x = 'it''s' AND y >= -1.5e3 AND s = <<?>>"#).unwrap();
        assert_eq!(t[1], Tok::Quoted("a b".into()));
        assert!(t.contains(&Tok::Str("it's".into())));
        assert!(t.contains(&Tok::Num("1.5e3".into())));
        assert!(t.contains(&Tok::Punct("<<")) && t.contains(&Tok::Param) && t.contains(&Tok::Punct(">=")));
        assert!(tokenize("SELECT 'open").is_err());
        assert!(tokenize("SELECT #").is_err());
    }
}
