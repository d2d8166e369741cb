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
        let got = read_int_line::<false>(&line, start);
        prop_assert_eq!(got, read_int_line_general::<false>(&line, start));
        let got = read_int_line::<true>(&line, start);
        prop_assert_eq!(got, read_int_line_general::<true>(&line, start));
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

proptest! {
    /// Wherever the ranges-only inline splitter answers, `sdssplitargs` (`split_args`) gives the
    /// same arguments; where it declines, `split_args` parses or rejects the line.
    #[test]
    fn inline_fast_path_agrees_with_split_args(
        line in prop::collection::vec(prop::sample::select(b"ab \t\"'\\x4F\x0b\x0c\r".to_vec()), 0..24),
    ) {
        let mut ranges = Vec::new();
        match split_inline(&line, &mut ranges) {
            Ok(()) => {
                let fast: Vec<Vec<u8>> = ranges.iter().map(|r| line[r.clone()].to_vec()).collect();
                prop_assert_eq!(Ok(fast), split_args(&line));
            }
            Err(e) => prop_assert_eq!(e, NEEDS_UNESCAPING),
        }
    }
}

/// Inline lines as `parse_request` and then `parse_inline_unescaped` (the connection's fallback)
/// read them.
fn inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut ranges = Vec::new();
    match parse_request(line, &mut ranges) {
        Ok(Some(_)) => Ok(ranges.iter().map(|r| line[r.clone()].to_vec()).collect()),
        Err(e) if e == NEEDS_UNESCAPING => Ok(parse_inline_unescaped(line)?.expect("a complete line").1),
        other => panic!("{other:?}"),
    }
}

fn words(w: &[&[u8]]) -> Vec<Vec<u8>> {
    w.iter().map(|w| w.to_vec()).collect()
}

#[test]
fn inline_escapes_follow_sdssplitargs() {
    assert_eq!(inline(b"ECHO \"a\\x41b\"\r\n"), Ok(words(&[b"ECHO", b"aAb"])));
    assert_eq!(inline(b"ECHO \"tab\\there\"\r\n"), Ok(words(&[b"ECHO", b"tab\there"])));
    assert_eq!(inline(b"SET k 'it\\'s'\r\n"), Ok(words(&[b"SET", b"k", b"it's"])));
    assert_eq!(inline(b"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"), Ok(words(&[b"ECHO", b"\n\r\t\x08\x07\\\"q"])));
    // `\x` without two hex digits is the letter x; hex escapes make any byte.
    assert_eq!(inline(b"ECHO \"\\x4g\\xZZ\\x\"\n"), Ok(words(&[b"ECHO", b"x4gxZZx"])));
    assert_eq!(inline(b"ECHO \"\\xff\\x00\"\n"), Ok(words(&[b"ECHO", b"\xff\x00"])));
    // Single quotes keep backslashes, except before a quote.
    assert_eq!(inline(b"ECHO 'a\\\\b\\n'\n"), Ok(words(&[b"ECHO", b"a\\\\b\\n"])));
    // A quote inside a word opens a quoted part of it.
    assert_eq!(inline(b"ECHO a\"b c\"\n"), Ok(words(&[b"ECHO", b"ab c"])));
    assert_eq!(inline(b"ECHO \"\" ''\n"), Ok(words(&[b"ECHO", b"", b""])));
    // Vertical tab and form feed are blanks between words, not word ends.
    assert_eq!(inline(b"\x0bECHO x\x0cy \"q\"\x0b\n"), Ok(words(&[b"ECHO", b"x\x0cy", b"q"])));
    let unbalanced = Err(ProtocolError("unbalanced quotes in request", None));
    for line in [
        &b"ECHO \"abc\"def\n"[..],
        b"ECHO 'abc'def\n",
        b"ECHO \"abc\n",
        b"ECHO \"abc\\\n",
        b"ECHO a'b c'd\n",
        b"ECHO 'x'\"y\"\n",
    ] {
        assert_eq!(inline(line), unbalanced, "{}", String::from_utf8_lossy(line));
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
    // As in Redis, the two bytes after a bulk are skipped, not checked.
    assert_eq!(parse_all(b"*1\r\n$3\r\nGETXX").unwrap().0, vec![vec![b"GET".to_vec()]]);
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

#[test]
fn protocol_errors_read_as_redis_words_them() {
    let reply = |wire: &[u8]| parse_all(wire).map(|_| ()).map_err(|e| String::from_utf8(e.reply()).unwrap());
    let err = |s: &str| Err(format!("-ERR Protocol error: {s}\r\n"));
    assert_eq!(reply(b"*abc\r\n"), err("invalid multibulk length"));
    assert_eq!(reply(b"*1\r\n$-5\r\n"), err("invalid bulk length"));
    assert_eq!(reply(b"*1\r\n$abc\r\n"), err("invalid bulk length"));
    assert_eq!(reply(b"*1\r\n$04\r\nPING\r\n"), err("invalid bulk length"));
    assert_eq!(reply(b"*1\r\n$536870913\r\n"), err("invalid bulk length"));
    assert_eq!(reply(b"*1\r\n:1\r\n"), err("expected '$', got ':'"));
    assert_eq!(reply(b"*2\r\n$3\r\nGET\r\n*1\r\n"), err("expected '$', got '*'"));
    // CR and LF are shown as spaces, as Redis's error replies do.
    assert_eq!(reply(b"*1\r\n\r\n"), err("expected '$', got ' '"));
    // Not a `$`, but the line is not complete yet: Redis waits for it.
    assert_eq!(reply(b"*1\r\n:1"), Ok(()));
    // Long count lines are waited for up to the inline limit.
    assert_eq!(reply(&[&b"*"[..], &[b'1'; 40]].concat()), Ok(()));
    let mut long = b"*".to_vec();
    long.resize(MAX_INLINE + 2, b'1');
    assert_eq!(reply(&long), err("too big mbulk count string"));
    let mut long = b"*1\r\n$".to_vec();
    long.resize(MAX_INLINE + 8, b'1');
    assert_eq!(reply(&long), err("too big bulk count string"));
    assert_eq!(reply(&[b'x'; MAX_INLINE + 1]), err("too big inline request"));
    // parse_request declines lines with escapes; the connection then parses them with
    // parse_inline_unescaped.
    assert_eq!(parse_all(b"ECHO \"a\\x41\"\n"), Err(NEEDS_UNESCAPING));
}

#[test]
fn doubles_print_as_redis_7_0_percent_17g() {
    // Reference values: C's printf("%.17g"), which redis-server 7.0 uses for every double reply.
    let cases = [
        (0.1_f64, "0.10000000000000001"),
        (-0.0_f64, "-0"),
        (1.5_f64, "1.5"),
        (1e17_f64, "1e+17"),
        (123456789012345678.0_f64, "1.2345678901234568e+17"),
        (1e-5_f64, "1.0000000000000001e-05"),
        (0.0001_f64, "0.0001"),
        (0.00012345_f64, "0.00012344999999999999"),
        (1e308_f64, "1e+308"),
        (5e-324_f64, "4.9406564584124654e-324"),
        (2.5_f64, "2.5"),
        (-3.75_f64, "-3.75"),
        (1.0 / 3.0, "0.33333333333333331"),
        (1e21_f64, "1e+21"),
        (100.5_f64, "100.5"),
        (-1e16_f64, "-10000000000000000"),
        (0.3_f64, "0.29999999999999999"),
        (12345678901234567.5_f64, "12345678901234568"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (3.0, "3"),
    ];
    for (v, want) in cases {
        assert_eq!(format_double(v), want, "{v:e}");
    }
    let mut o = Out::new(true);
    o.double(0.1);
    assert_eq!(&o.take()[..], b",0.10000000000000001\r\n");
}
