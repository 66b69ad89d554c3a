//! Codec micro-benchmarks (criterion): decode and encode of a small and a
//! 64 KiB frame, and permessage-deflate compression of ~1.6 KB JSON messages
//! at the levels worth choosing between (the numbers behind
//! `DeflateConfig::level`'s default). Run in release with
//! `cargo bench -p ferrosocket-proto`; each deflate level also prints its
//! compression ratio once, as that is the other half of the trade-off.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ferrosocket_proto::{encode_frame, Decoder, DeflateParams, Deflater, FrameHeader, OpCode};

const SIZES: [usize; 2] = [16, 64 * 1024];

/// A text payload of `n` ASCII bytes (text, so decoding includes UTF-8
/// validation, as for most traffic).
fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A client (masked) text frame carrying `payload`.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        mask: Some([0x37, 0xfa, 0x21, 0x3d]),
        ..FrameHeader::new(OpCode::Text, payload.len())
    };
    let mut b = BytesMut::new();
    encode_frame(&mut b, header, payload);
    b.to_vec()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for n in SIZES {
        let wire = client_frame(&text(n));
        group.throughput(Throughput::Bytes(n as u64));
        // The whole frame already read: the zero-copy fast path.
        group.bench_with_input(BenchmarkId::new("whole", n), &wire, |b, wire| {
            let mut decoder = Decoder::default();
            b.iter_batched_ref(
                || BytesMut::from(&wire[..]),
                |buf| decoder.decode(buf).unwrap().unwrap(),
                BatchSize::SmallInput,
            );
        });
        // The frame arriving in 4 KiB reads: the incremental path.
        group.bench_with_input(BenchmarkId::new("4k_reads", n), &wire, |b, wire| {
            let mut decoder = Decoder::default();
            b.iter(|| {
                let mut buf = BytesMut::with_capacity(4096);
                let mut event = None;
                for read in wire.chunks(4096) {
                    buf.extend_from_slice(read);
                    if let Some(e) = decoder.decode(&mut buf).unwrap() {
                        event = Some(e);
                    }
                }
                event.unwrap()
            });
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for n in SIZES {
        let payload = text(n);
        group.throughput(Throughput::Bytes(n as u64));
        group.bench_with_input(BenchmarkId::new("server", n), &payload, |b, payload| {
            let mut out = BytesMut::with_capacity(n + 14);
            b.iter(|| {
                out.clear();
                encode_frame(
                    &mut out,
                    FrameHeader::new(OpCode::Text, payload.len()),
                    black_box(payload),
                );
                out.len()
            });
        });
    }
    group.finish();
}

/// `count` JSON messages of about 1.6 KB: repeated keys, varied values
/// (xorshift, so the run is reproducible). Distinct messages, because with
/// context takeover a repeated message compresses to a back-reference.
fn json_messages(count: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    ];
    (0..count)
        .map(|i| {
            let ts = 1_700_000_000_000u64 + rnd() % 10_000_000;
            let mut m = format!("{{\"seq\":{i},\"ts\":{ts},\"items\":[");
            while m.len() < 1550 {
                m.push_str(&format!(
                    "{{\"id\":\"{:x}\",\"name\":\"{} {}\",\"price\":{}.{:02},\"qty\":{},\"active\":{}}},",
                    rnd() % (1 << 40),
                    words[(rnd() % 16) as usize],
                    words[(rnd() % 16) as usize],
                    rnd() % 10_000,
                    rnd() % 100,
                    rnd() % 50,
                    rnd() % 2 == 0
                ));
            }
            m.pop();
            m.push_str("]}");
            m.into_bytes()
        })
        .collect()
}

fn deflate(c: &mut Criterion) {
    let messages = json_messages(256);
    let raw: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("deflate_json");
    group.throughput(Throughput::Bytes((raw / messages.len()) as u64));
    for level in [1u32, 3, 6] {
        // The compression ratio with context takeover, over all messages.
        let mut d = Deflater::new(DeflateParams::default(), level, 8);
        let mut out = BytesMut::new();
        for m in &messages {
            d.compress(m, &mut out);
        }
        eprintln!(
            "deflate_json level {level}: {:.3} of the raw size ({} bytes/message)",
            out.len() as f64 / raw as f64,
            raw / messages.len()
        );
        group.bench_function(BenchmarkId::new("level", level), |b| {
            let mut d = Deflater::new(DeflateParams::default(), level, 8);
            let mut out = BytesMut::with_capacity(4096);
            let mut next = messages.iter().cycle();
            b.iter(|| {
                out.clear();
                d.compress(black_box(next.next().unwrap()), &mut out);
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode, deflate);
criterion_main!(benches);
