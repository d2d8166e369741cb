//! Micro-benchmark of RESP request parsing (issue #10): every Redis command goes through
//! `protocol::resp::parse_request` before it reaches the engine, and with pipelining
//! (redis-benchmark -P 16, client pipelines) one read can hold many commands, so parse cost per
//! command is a floor on the server's per-command CPU. Measures a pipelined batch of 16 RESP2 SETs
//! (16-byte keys, 100-byte values), a single GET, and the inline form telnet/nc users send.

use std::hint::black_box;

use cache::protocol::resp::parse_request;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn multibulk(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses every command in `buf`, returning how many there were.
fn parse_all(buf: &[u8], args: &mut Vec<std::ops::Range<usize>>) -> usize {
    let mut pos = 0;
    let mut commands = 0;
    while let Some(used) = parse_request(&buf[pos..], args).expect("valid RESP") {
        pos += used;
        commands += 1;
        if pos == buf.len() {
            break;
        }
    }
    commands
}

fn resp(c: &mut Criterion) {
    let mut g = c.benchmark_group("resp");
    let value = vec![b'v'; 100];
    let mut batch = Vec::new();
    for i in 0..16 {
        let key = format!("key:{i:012}");
        multibulk(&[b"SET", key.as_bytes(), &value], &mut batch);
    }
    let mut args = Vec::with_capacity(8);
    assert_eq!(parse_all(&batch, &mut args), 16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("pipelined 16x SET (RESP2)", |b| b.iter(|| parse_all(black_box(&batch), &mut args)));

    let mut get = Vec::new();
    multibulk(&[b"GET", b"key:000000000042"], &mut get);
    g.throughput(Throughput::Elements(1));
    g.bench_function("single GET", |b| b.iter(|| parse_all(black_box(&get), &mut args)));
    let inline = b"SET key:000000000042 hello\r\n".to_vec();
    g.bench_function("inline SET", |b| b.iter(|| parse_all(black_box(&inline), &mut args)));
    g.finish();
}

criterion_group!(benches, resp);
criterion_main!(benches);
