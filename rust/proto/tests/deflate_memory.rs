//! Memory the deflate leaf holds per connection, seen as the process's RSS
//! (Linux): no zlib state before the first compressed message in a
//! direction, and a 12-bit / memLevel 5 compressor that stays near zlib's
//! own formula once used, and none between messages without context
//! takeover. A test binary of its own, with one test, so that
//! nothing else allocates while it measures.

#![cfg(target_os = "linux")]

use bytes::BytesMut;
use ferrosocket_proto::{Deflater, Inflater};

const STREAMS: usize = 1000;

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

fn message(i: usize) -> Vec<u8> {
    let mut s = format!("{{\"type\": \"book\", \"seq\": {i}, \"rows\": [");
    for r in 0..16 {
        s += &format!(
            "{{\"id\": {}, \"price\": {}.{:02}, \"side\": \"{}\"}}, ",
            (i * 7919 + r * 104_729) % 1_000_000,
            (i * 31 + r * 17) % 1000,
            (i + r) % 100,
            ["buy", "sell"][(i * r) % 2]
        );
    }
    s += "{}]}";
    s.into_bytes()
}

/// What a client would send: `messages` compressed by a peer's deflater.
fn compressed_by_peer(messages: &[Vec<u8>], no_context_takeover: bool) -> Vec<Vec<u8>> {
    let mut peer = Deflater::with_window(12, no_context_takeover, 6, 8);
    messages
        .iter()
        .map(|m| {
            let mut b = BytesMut::new();
            peer.compress(m, &mut b);
            b.to_vec()
        })
        .collect()
}

/// `STREAMS` server-side pairs at the 12 / 5 / 6 defaults.
fn pairs(no_context_takeover: bool) -> Vec<(Deflater, Inflater)> {
    (0..STREAMS)
        .map(|_| {
            (
                Deflater::with_window(12, no_context_takeover, 6, 5),
                Inflater::with_window(12, no_context_takeover),
            )
        })
        .collect()
}

/// Every pair compresses each message and inflates the peer's form of it.
fn exchange(streams: &mut [(Deflater, Inflater)], messages: &[Vec<u8>], compressed: &[Vec<u8>]) {
    let mut out = BytesMut::new();
    let mut text = Vec::new();
    for (deflater, inflater) in streams {
        for (m, c) in messages.iter().zip(compressed) {
            out.clear();
            deflater.compress(m, &mut out);
            text.clear();
            inflater.inflate(c, &mut text, 1 << 20).unwrap();
            inflater.finish(&mut text, 1 << 20).unwrap();
            assert_eq!(&text, m);
        }
    }
}

#[test]
fn state_is_allocated_on_first_message_and_sized_by_mem_level() {
    let messages: Vec<Vec<u8>> = (0..3).map(message).collect();
    let compressed = compressed_by_peer(&messages, false);

    let before = rss_kib();
    let mut streams = pairs(false);
    let idle = rss_kib() - before;
    // Two small structs per stream: far below one zlib state (deflate's
    // alone is over 5 KiB, plus 8 KiB of hash it clears at setup).
    assert!(
        idle < STREAMS / 2,
        "{idle} KiB for {STREAMS} idle deflater/inflater pairs"
    );

    exchange(&mut streams, &messages, &compressed);
    let active = (rss_kib() - before) / STREAMS;
    // zlib's formula for 12 / 5: 8 KiB window + 8 KiB prev + 8 KiB hash +
    // 8 KiB pending + ~6 KiB state; inflate ~7 KiB state + 4 KiB window.
    // A hash table that ignored memLevel (128 KiB) would fail this.
    assert!(
        (20..72).contains(&active),
        "{active} KiB per active deflater/inflater pair"
    );
    drop(streams);

    // With no context takeover both ways, nothing is kept between messages:
    // each stream's state is released after its message, and the next
    // stream reuses that memory.
    let before = rss_kib();
    let mut streams = pairs(true);
    let compressed = compressed_by_peer(&messages, true);
    exchange(&mut streams, &messages, &compressed);
    let between = rss_kib().saturating_sub(before);
    assert!(
        between < STREAMS * 2,
        "{between} KiB for {STREAMS} no-context-takeover pairs between messages"
    );
}
