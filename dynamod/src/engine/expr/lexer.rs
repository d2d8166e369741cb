//! Tokens of DynamoDB's expression language.

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A bare word: attribute name, keyword or function name.
    Word(String),
    /// `#name` placeholder.
    Name(String),
    /// `:value` placeholder.
    Value(String),
    /// A decimal integer (list index).
    Int(String),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        if self.tok == Tok::Eof { "<EOF>" } else { &src[self.start..self.end] }
    }
}

/// Splits `src` into tokens; on an unknown character returns its byte offset.
pub fn tokenize(src: &str) -> Result<Vec<Token>, usize> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match b {
            b'#' | b':' => {
                i += 1;
                while i < bytes.len() && word_char(bytes[i]) {
                    i += 1;
                }
                if i == start + 1 {
                    return Err(start);
                }
                let name = src[start..i].to_string();
                if b == b'#' { Tok::Name(name) } else { Tok::Value(name) }
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                Tok::Int(src[start..i].to_string())
            }
            b if word_char(b) => {
                while i < bytes.len() && word_char(bytes[i]) {
                    i += 1;
                }
                Tok::Word(src[start..i].to_string())
            }
            _ => {
                let two = bytes.get(i + 1).copied();
                let (tok, len) = match (b, two) {
                    (b'<', Some(b'>')) => (Tok::Ne, 2),
                    (b'<', Some(b'=')) => (Tok::Le, 2),
                    (b'>', Some(b'=')) => (Tok::Ge, 2),
                    (b'<', _) => (Tok::Lt, 1),
                    (b'>', _) => (Tok::Gt, 1),
                    (b'=', _) => (Tok::Eq, 1),
                    (b'(', _) => (Tok::LParen, 1),
                    (b')', _) => (Tok::RParen, 1),
                    (b'[', _) => (Tok::LBracket, 1),
                    (b']', _) => (Tok::RBracket, 1),
                    (b',', _) => (Tok::Comma, 1),
                    (b'.', _) => (Tok::Dot, 1),
                    (b'+', _) => (Tok::Plus, 1),
                    (b'-', _) => (Tok::Minus, 1),
                    _ => return Err(start),
                };
                i += len;
                tok
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token { tok: Tok::Eof, start: src.len(), end: src.len() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let toks: Vec<Tok> = tokenize("#a.b[2] <= :v AND size(c)<>:w").unwrap().into_iter().map(|t| t.tok).collect();
        assert_eq!(
            toks,
            vec![
                Tok::Name("#a".into()),
                Tok::Dot,
                Tok::Word("b".into()),
                Tok::LBracket,
                Tok::Int("2".into()),
                Tok::RBracket,
                Tok::Le,
                Tok::Value(":v".into()),
                Tok::Word("AND".into()),
                Tok::Word("size".into()),
                Tok::LParen,
                Tok::Word("c".into()),
                Tok::RParen,
                Tok::Ne,
                Tok::Value(":w".into()),
                Tok::Eof
            ]
        );
        assert_eq!(tokenize("a = $").unwrap_err(), 4);
    }
}
