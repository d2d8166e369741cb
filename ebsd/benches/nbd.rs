//! Micro-benchmark of NBD request decoding (issue #10): every block I/O a kernel/qemu/fio client
//! issues arrives as a 28-byte transmission-phase header that the connection loop parses before
//! anything else, and a 4 KiB random-I/O workload at qd32 does that hundreds of thousands of times a
//! second, so its cost bounds the per-request overhead. A read (no payload) and a write header
//! followed by its 4 KiB payload are decoded from a pipelined buffer, as the connection loop sees
//! them; the simple reply header that answers each one is measured alongside.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ebsd::protocol::nbd::wire::{REQUEST_MAGIC, Request, simple_reply_header};

const CMD_READ: u16 = 0;
const CMD_WRITE: u16 = 1;

fn header(kind: u16, cookie: u64, offset: u64, length: u32) -> [u8; Request::LEN] {
    let mut b = [0u8; Request::LEN];
    b[0..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    b[6..8].copy_from_slice(&kind.to_be_bytes());
    b[8..16].copy_from_slice(&cookie.to_be_bytes());
    b[16..24].copy_from_slice(&offset.to_be_bytes());
    b[24..28].copy_from_slice(&length.to_be_bytes());
    b
}

/// 32 requests in flight (qd32), alternating 4 KiB reads and writes, as one receive buffer.
fn pipelined_batch() -> Vec<u8> {
    let mut buf = Vec::new();
    for i in 0..32u64 {
        let offset = (i * 7919 % 262_144) * 4096;
        if i % 2 == 0 {
            buf.extend_from_slice(&header(CMD_READ, i, offset, 4096));
        } else {
            buf.extend_from_slice(&header(CMD_WRITE, i, offset, 4096));
            buf.extend(std::iter::repeat_n(0xA5, 4096));
        }
    }
    buf
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("nbd");
    let read = header(CMD_READ, 1, 1 << 30, 4096);
    let write = header(CMD_WRITE, 2, 4096 * 12_345, 4096);
    g.bench_function("decode read header", |b| b.iter(|| Request::parse(black_box(&read)).expect("valid")));
    g.bench_function("decode write header", |b| b.iter(|| Request::parse(black_box(&write)).expect("valid")));
    g.bench_function("encode simple reply", |b| b.iter(|| simple_reply_header(black_box(0), black_box(42))));

    let batch = pipelined_batch();
    g.throughput(Throughput::Elements(32));
    g.bench_function("decode qd32 batch (16 reads + 16 writes of 4 KiB)", |b| {
        b.iter(|| {
            let buf = black_box(&batch[..]);
            let mut pos = 0;
            let mut bytes = 0u64;
            while pos < buf.len() {
                let hdr: &[u8; Request::LEN] = buf[pos..pos + Request::LEN].try_into().expect("28 bytes");
                let req = Request::parse(hdr).expect("valid");
                pos += Request::LEN;
                if req.kind == CMD_WRITE {
                    pos += req.length as usize;
                }
                bytes += u64::from(req.length);
            }
            bytes
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
