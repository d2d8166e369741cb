use super::*;
use proptest::prelude::*;

fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

type Commands = Vec<Vec<Vec<u8>>>;

fn parse_all(mut buf: &[u8]) -> Result<(Commands, usize), ProtocolError> {
    let mut ranges = Vec::new();
    let mut cmds = Vec::new();
    let total = buf.len();
    while let Some(n) = parse_request(buf, &mut ranges)? {
        cmds.push(ranges.iter().map(|r| buf[r.clone()].to_vec()).collect());
        buf = &buf[n..];
    }
    Ok((cmds, total - buf.len()))
}

proptest! {
    /// Any pipeline of commands parses back to the same arguments, and every strict prefix of it
    /// yields only the complete commands (never an error, never a partial command).
    #[test]
    fn pipelines_round_trip(cmds in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..8), cut in any::<prop::sample::Index>()) {
        let mut wire = Vec::new();
        for c in &cmds { wire.extend(encode(c)); }
        let (parsed, used) = parse_all(&wire).unwrap();
        prop_assert_eq!(&parsed, &cmds);
        prop_assert_eq!(used, wire.len());
        let cut = cut.index(wire.len());
        let (partial, used) = parse_all(&wire[..cut]).unwrap();
        prop_assert!(partial.len() <= cmds.len());
        prop_assert_eq!(&partial[..], &cmds[..partial.len()]);
        prop_assert!(used <= cut);
    }

    /// The digit fast path of `read_int_line` answers exactly as the general reader (memchr for the
    /// line end, strict i64) does, on valid, malformed and incomplete lines alike.
    #[test]
    fn int_lines_read_as_the_general_reader_does(
        sign in prop::sample::select(vec![&b""[..], b"", b"-", b"+"]),
        digits in prop::collection::vec(prop::sample::select(b"000123456789".to_vec()), 0..22),
        end in prop::sample::select(vec![&b"\r\n"[..], b"\n", b"\r", b"", b" \r\n", b"\r\r\n"]),
        rest in prop::collection::vec(prop::sample::select(b"0123456789\r\n$*".to_vec()), 0..40),
        start in 0usize..3,
    ) {
        let line = [sign, &digits[..], end, &rest[..]].concat();
        let start = start.min(line.len());
        let got = read_int_line(&line, start).map_err(|e| e.0);
        prop_assert_eq!(got, read_int_line_general(&line, start).map_err(|e| e.0));
    }

    /// Integers encoded by the reply writer parse back with the request parser's integer reader.
    #[test]
    fn integers_round_trip(n in any::<i64>()) {
        let mut out = Out::new(false);
        out.int(n);
        let s = std::str::from_utf8(&out.buf[1..out.buf.len() - 2]).unwrap();
        prop_assert_eq!(parse_i64(s.as_bytes()), Some(n));
    }

    /// Bulk replies carry any bytes unchanged.
    #[test]
    fn bulk_replies_round_trip(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let mut out = Out::new(false);
        out.bulk(&data);
        // A bulk reply is a one-element request body minus the array header.
        let mut wire = b"*1\r\n".to_vec();
        wire.extend_from_slice(&out.buf);
        let (parsed, _) = parse_all(&wire).unwrap();
        prop_assert_eq!(&parsed[0][0], &data);
    }
}

#[test]
fn inline_commands() {
    let (cmds, _) = parse_all(b"SET k \"hello world\"\r\nGET k\n").unwrap();
    assert_eq!(
        cmds,
        vec![vec![b"SET".to_vec(), b"k".to_vec(), b"hello world".to_vec()], vec![b"GET".to_vec(), b"k".to_vec()]]
    );
    assert!(parse_all(b"SET k \"open\r\n").is_err());
}

#[test]
fn malformed_frames_are_errors() {
    assert!(parse_all(b"*2\r\n$3\r\nGET\r\n:1\r\n").is_err());
    assert!(parse_all(b"*1\r\n$-5\r\n").is_err());
    assert!(parse_all(b"*abc\r\n").is_err());
    assert!(parse_all(b"*1\r\n$999999999999\r\n").is_err());
    assert!(parse_all(b"*1\r\n$3\r\nGETXX").is_err());
    // Leading zeros are refused in counts and lengths, as Redis does.
    assert!(parse_all(b"*01\r\n$3\r\nGET\r\n").is_err());
    assert!(parse_all(b"*1\r\n$03\r\nGET\r\n").is_err());
}

#[test]
fn resp3_shapes() {
    let mut o = Out::new(true);
    o.null();
    o.map(1);
    o.double(1.5);
    o.boolean(true);
    assert_eq!(&o.buf[..], b"_\r\n%1\r\n,1.5\r\n#t\r\n");
    let mut o = Out::new(false);
    o.null();
    o.map(1);
    o.double(1.5);
    assert_eq!(&o.buf[..], b"$-1\r\n*2\r\n$3\r\n1.5\r\n");
}
