//! RESP framing: requests (multibulk arrays of bulk strings, or inline lines for telnet/nc) and the
//! reply encoder for RESP2 and RESP3.

use bytes::{BufMut, Bytes, BytesMut};

/// Largest bulk string a client may send (Redis's `proto-max-bulk-len`).
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// Most arguments in one command.
pub const MAX_MULTIBULK: usize = 1024 * 1024;
/// Longest inline command line (Redis: PROTO_INLINE_MAX_SIZE).
pub const MAX_INLINE: usize = 64 * 1024;

/// A framing error: the connection gets `-ERR Protocol error: …` and is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub &'static str, pub Option<u8>);

impl ProtocolError {
    const fn new(msg: &'static str) -> Self {
        ProtocolError(msg, None)
    }

    /// The error line Redis sends, `-ERR Protocol error: …\r\n` (an offending byte as is, CR and
    /// LF as spaces, the way `addReplyErrorFormat` cleans them).
    pub fn reply(&self) -> Vec<u8> {
        let mut line = format!("-ERR Protocol error: {}", self.0).into_bytes();
        if let Some(c) = self.1 {
            line.extend_from_slice(b", got '");
            line.push(if c == b'\r' || c == b'\n' { b' ' } else { c });
            line.push(b'\'');
        }
        line.extend_from_slice(b"\r\n");
        line
    }
}

/// What the ranges-only inline splitter returns for a line with escapes or quotes it cannot express
/// as ranges of the buffer; [`parse_inline_unescaped`] parses such a line.
pub const NEEDS_UNESCAPING: ProtocolError = ProtocolError::new("inline request needs unescaping");

/// Parses one request from the front of `buf`. `Ok(None)` means "need more bytes".
/// On success returns the arguments as ranges into `buf` and the number of bytes consumed.
/// An inline line whose arguments are not ranges of it (escapes, quotes inside a word) yields
/// [`NEEDS_UNESCAPING`]: [`parse_inline_unescaped`] answers for it.
pub fn parse_request(buf: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, args);
    }
    let Some((count, mut pos)) = read_int_line::<false>(buf, 1)? else { return Ok(None) };
    if count > MAX_MULTIBULK as i64 {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    if count <= 0 {
        return Ok(Some(pos));
    }
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return not_a_bulk(buf, pos);
        }
        let Some((len, after)) = read_int_line::<true>(buf, pos + 1)? else { return Ok(None) };
        if len < 0 || len as usize > MAX_BULK_LEN {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        let len = len as usize;
        if buf.len() < after + len + 2 {
            return Ok(None);
        }
        // Like Redis, the two bytes after the data are skipped unchecked.
        args.push(after..after + len);
        pos = after + len + 2;
    }
    Ok(Some(pos))
}

/// A multibulk element that does not start with `$`: Redis reports it once the element's line is
/// in (a CR and one more byte), naming the byte.
#[cold]
fn not_a_bulk(buf: &[u8], pos: usize) -> Result<Option<usize>, ProtocolError> {
    match memchr::memchr(b'\r', &buf[pos..]) {
        Some(cr) if pos + cr + 1 < buf.len() => Err(ProtocolError("expected '$'", Some(buf[pos]))),
        Some(_) => Ok(None),
        None if buf.len() - pos > MAX_INLINE => Err(ProtocolError::new("too big bulk count string")),
        None => Ok(None),
    }
}

/// Reads a decimal integer terminated by CRLF starting at `start` (a bulk length if `BULK`, else
/// a multibulk count: they differ only in their error messages).
fn read_int_line<const BULK: bool>(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    // Counts and lengths are a few digits: read them up to the CRLF in one pass. Only what the
    // general path (`read_int_line_general`) accepts is taken here (no sign, no leading zero, at most 18 digits so no
    // overflow), with the same value; everything else, incomplete input included, goes there.
    let mut i = start;
    let mut n: i64 = 0;
    while i < buf.len() && i - start < 18 && buf[i].is_ascii_digit() {
        n = n * 10 + i64::from(buf[i] - b'0');
        i += 1;
    }
    if i > start && (i == start + 1 || buf[start] != b'0') && buf.get(i..i + 2) == Some(b"\r\n") {
        return Ok(Some((n, i + 2)));
    }
    read_int_line_general::<BULK>(buf, start)
}

/// The whole rule for a count or length line, as Redis reads it: strict i64 up to the first CR,
/// which must have one more byte after it (skipped unchecked); `None` while incomplete.
fn read_int_line_general<const BULK: bool>(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let (too_big, invalid) = if BULK {
        ("too big bulk count string", "invalid bulk length")
    } else {
        ("too big mbulk count string", "invalid multibulk length")
    };
    let start = start.min(buf.len());
    let Some(cr) = memchr::memchr(b'\r', &buf[start..]) else {
        // Redis measures from the line's `*` or `$`.
        if buf.len() - start + 1 > MAX_INLINE {
            return Err(ProtocolError::new(too_big));
        }
        return Ok(None);
    };
    let end = start + cr;
    if end + 2 > buf.len() {
        return Ok(None);
    }
    let n = parse_i64(&buf[start..end]).ok_or(ProtocolError::new(invalid))?;
    Ok(Some((n, end + 2)))
}
/// Strict decimal i64 (no spaces, no '+', no leading zeros except "0").
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || (neg && digits == b"0") {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = (c - b'0') as i64;
        v = if neg { v.checked_mul(10)?.checked_sub(d)? } else { v.checked_mul(10)?.checked_add(d)? };
    }
    Some(v)
}

/// The inline request at the front of `buf`: where its line ends (CR LF or LF stripped) and how
/// many bytes it takes; `None` while the line is incomplete.
fn inline_line(buf: &[u8]) -> Result<Option<(usize, usize)>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    if nl > MAX_INLINE {
        return Err(ProtocolError::new("too big inline request"));
    }
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Ok(Some((line_end, nl + 1)))
}

fn parse_inline(buf: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    let Some((line_end, used)) = inline_line(buf)? else { return Ok(None) };
    split_inline(&buf[..line_end], args)?;
    Ok(Some(used))
}

/// The arguments of an inline request, unescaped.
pub type InlineArgs = Vec<Vec<u8>>;

/// Parses the inline request at the front of `buf` with Redis's `sdssplitargs` rules, escapes
/// included; for the lines [`parse_request`] refuses with [`NEEDS_UNESCAPING`]. Returns the bytes
/// consumed and the arguments.
pub fn parse_inline_unescaped(buf: &[u8]) -> Result<Option<(usize, InlineArgs)>, ProtocolError> {
    let Some((line_end, used)) = inline_line(buf)? else { return Ok(None) };
    Ok(Some((used, split_args(&buf[..line_end])?)))
}

/// C `isspace`: the blanks skipped between arguments, and what may follow a closing quote.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// What ends an unquoted word in `sdssplitargs` (fewer bytes than `isspace`).
fn ends_word(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Splits a plain inline line into ranges of it: words, and quoted words without backslashes.
/// Anything else (escapes, quotes inside a word, unbalanced quotes) is [`NEEDS_UNESCAPING`], for
/// [`split_args`] to parse or reject.
fn split_inline(line: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<(), ProtocolError> {
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        if line[i] == b'"' || line[i] == b'\'' {
            let quote = line[i];
            let start = i + 1;
            let Some(close) = memchr::memchr(quote, &line[start..]) else { return Err(NEEDS_UNESCAPING) };
            let end = start + close;
            i = end + 1;
            if memchr::memchr(b'\\', &line[start..end]).is_some() || (i < line.len() && !is_space(line[i])) {
                return Err(NEEDS_UNESCAPING);
            }
            args.push(start..end);
        } else {
            let start = i;
            while i < line.len() && !ends_word(line[i]) {
                if line[i] == b'"' || line[i] == b'\'' {
                    return Err(NEEDS_UNESCAPING);
                }
                i += 1;
            }
            args.push(start..i);
        }
    }
}

/// Redis's `sdssplitargs`: words separated by blanks; a quote inside or at the start of a word
/// opens a quoted part. In double quotes `\xHH`, `\n \r \t \b \a` and `\<any>` (that character)
/// are escapes; in single quotes only `\'` is. A closing quote must be followed by a blank or the
/// end of the line.
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    const UNBALANCED: ProtocolError = ProtocolError::new("unbalanced quotes in request");
    let at = |i: usize| line.get(i).copied();
    let hex = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16)).map(|d| d as u8);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while at(i).is_some_and(is_space) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(i);
            if in_double {
                match c {
                    None => return Err(UNBALANCED),
                    Some(b'\\') if at(i + 1) == Some(b'x') && hex(at(i + 2)).is_some() && hex(at(i + 3)).is_some() => {
                        current.push(hex(at(i + 2)).unwrap_or(0) * 16 + hex(at(i + 3)).unwrap_or(0));
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        current.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if at(i + 1).is_some_and(|n| !is_space(n)) {
                            return Err(UNBALANCED);
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => current.push(c),
                }
            } else if in_single {
                match c {
                    None => return Err(UNBALANCED),
                    Some(b'\\') if at(i + 1) == Some(b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if at(i + 1).is_some_and(|n| !is_space(n)) {
                            return Err(UNBALANCED);
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => current.push(c),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if ends_word(c) => {
                        i += 1;
                        break;
                    }
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(c) => current.push(c),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// Reply encoder writing straight into the connection's output buffer.
pub struct Out {
    pub buf: BytesMut,
    pub resp3: bool,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Self { buf: BytesMut::with_capacity(16 * 1024), resp3 }
    }

    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.buf.reserve(body.len() + 3);
        self.buf.put_u8(prefix);
        self.buf.put_slice(body);
        self.buf.put_slice(b"\r\n");
    }
    fn num_line(&mut self, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        self.line(prefix, b.format(n).as_bytes());
    }

    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }
    pub fn simple(&mut self, s: &str) {
        self.line(b'+', s.as_bytes());
    }
    /// `msg` is the full error text including its code (`ERR …`, `WRONGTYPE …`).
    pub fn error(&mut self, msg: &str) {
        let clean: String = msg.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect();
        self.line(b'-', clean.as_bytes());
    }
    pub fn int(&mut self, n: i64) {
        self.num_line(b':', n);
    }
    pub fn bulk(&mut self, data: &[u8]) {
        self.buf.reserve(data.len() + 16);
        self.num_line(b'$', data.len() as i64);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }
    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }
    pub fn bulk_int(&mut self, n: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(n).as_bytes());
    }
    pub fn opt_bulk(&mut self, data: Option<&[u8]>) {
        match data {
            Some(d) => self.bulk(d),
            None => self.null(),
        }
    }
    /// A null bulk string (RESP2 `$-1`) / RESP3 null.
    pub fn null(&mut self) {
        self.buf.put_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }
    /// A null array (RESP2 `*-1`) / RESP3 null.
    pub fn null_array(&mut self) {
        self.buf.put_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }
    pub fn array(&mut self, n: usize) {
        self.num_line(b'*', n as i64);
    }
    pub fn map(&mut self, pairs: usize) {
        if self.resp3 { self.num_line(b'%', pairs as i64) } else { self.num_line(b'*', 2 * pairs as i64) }
    }
    pub fn set(&mut self, n: usize) {
        if self.resp3 { self.num_line(b'~', n as i64) } else { self.num_line(b'*', n as i64) }
    }
    pub fn push(&mut self, n: usize) {
        if self.resp3 { self.num_line(b'>', n as i64) } else { self.num_line(b'*', n as i64) }
    }
    pub fn double(&mut self, v: f64) {
        let s = format_double(v);
        if self.resp3 { self.line(b',', s.as_bytes()) } else { self.bulk(s.as_bytes()) }
    }
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 { self.line(b'#', if v { b"t" } else { b"f" }) } else { self.int(v as i64) }
    }
    /// Text meant for humans (INFO, CLIENT LIST): RESP3 verbatim string, RESP2 bulk.
    pub fn verbatim(&mut self, text: &str) {
        if self.resp3 {
            self.num_line(b'=', (text.len() + 4) as i64);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(text.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
    }
    pub fn take(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// Formats a double the way Redis 7.0 prints scores: C's `%.17g` (so 0.1 is
/// `0.10000000000000001` and -0 is `-0`), with `inf`/`-inf` spelled out.
pub fn format_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e17 {
        // Integral and at most 17 digits: `%.17g` prints it exactly, without a fraction.
        return if v == 0.0 && v.is_sign_negative() { "-0".into() } else { format!("{}", v as i64) };
    }
    // 17 significant digits, as `%.17e` would round them; `%g` then picks the notation from
    // the exponent and drops trailing zeros.
    let sci = format!("{v:.16e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let trim = |s: &str| -> String {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.unsigned_abs())
    } else {
        trim(&format!("{v:.*}", (16 - exp) as usize))
    }
}

#[cfg(test)]
mod tests;
