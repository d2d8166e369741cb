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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub &'static str);

/// Parses one request from the front of `buf`. `Ok(None)` means "need more bytes".
/// On success returns the arguments as ranges into `buf` and the number of bytes consumed.
pub fn parse_request(buf: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    args.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, args);
    }
    let Some((count, mut pos)) = read_int_line(buf, 1)? else { return Ok(None) };
    if count > MAX_MULTIBULK as i64 {
        return Err(ProtocolError("invalid multibulk length"));
    }
    if count <= 0 {
        return Ok(Some(pos));
    }
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(ProtocolError("expected '$'"));
        }
        let Some((len, after)) = read_int_line(buf, pos + 1)? else { return Ok(None) };
        if len < 0 || len as usize > MAX_BULK_LEN {
            return Err(ProtocolError("invalid bulk length"));
        }
        let len = len as usize;
        if buf.len() < after + len + 2 {
            return Ok(None);
        }
        if &buf[after + len..after + len + 2] != b"\r\n" {
            return Err(ProtocolError("invalid bulk terminator"));
        }
        args.push(after..after + len);
        pos = after + len + 2;
    }
    Ok(Some(pos))
}

/// Reads a decimal integer terminated by CRLF starting at `start`.
fn read_int_line(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
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
    read_int_line_general(buf, start)
}

/// The whole rule for a count or length line: strict i64 up to CRLF; `None` while incomplete.
fn read_int_line_general(buf: &[u8], start: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', &buf[start.min(buf.len())..]) else {
        if buf.len() - start > 32 {
            return Err(ProtocolError("invalid multibulk length"));
        }
        return Ok(None);
    };
    let end = start + nl;
    if end == start || buf[end - 1] != b'\r' {
        return Err(ProtocolError("invalid multibulk length"));
    }
    let digits = &buf[start..end - 1];
    let n = parse_i64(digits).ok_or(ProtocolError("invalid multibulk length"))?;
    Ok(Some((n, end + 1)))
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

fn parse_inline(buf: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<Option<usize>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > MAX_INLINE {
            return Err(ProtocolError("too big inline request"));
        }
        return Ok(None);
    };
    if nl > MAX_INLINE {
        return Err(ProtocolError("too big inline request"));
    }
    let line_end = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    split_inline(&buf[..line_end], args)?;
    Ok(Some(nl + 1))
}

/// Splits an inline line into arguments. Quoted arguments (with escapes) are not representable as
/// ranges, so they are rejected unless plain; telnet users type plain words.
fn split_inline(line: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> Result<(), ProtocolError> {
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        if line[i] == b'"' || line[i] == b'\'' {
            let quote = line[i];
            let start = i + 1;
            let Some(close) = memchr::memchr(quote, &line[start..]) else {
                return Err(ProtocolError("unbalanced quotes in request"));
            };
            let end = start + close;
            if line[start..end].contains(&b'\\') {
                return Err(ProtocolError("unbalanced quotes in request"));
            }
            args.push(start..end);
            i = end + 1;
            if i < line.len() && !line[i].is_ascii_whitespace() {
                return Err(ProtocolError("unbalanced quotes in request"));
            }
        } else {
            let start = i;
            while i < line.len() && !line[i].is_ascii_whitespace() {
                i += 1;
            }
            args.push(start..i);
        }
    }
    Ok(())
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

/// Formats a double the way Redis 7 prints scores: shortest round-trip, `inf`/`-inf`, integers
/// without a fraction.
pub fn format_double(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    let s = format!("{v}");
    if s.len() > 24 { format!("{v:e}").replace("e", "e+").replace("e+-", "e-") } else { s }
}

#[cfg(test)]
mod tests;
