//! A stream of large frames read the way the server reads a socket: each
//! read takes what fits in the buffer's spare capacity, and the reader only
//! grows the buffer itself when no frame is read in place (the decoder
//! reserves for those). With the reader's read size given to the decoder
//! (`Decoder::set_read_ahead`), a frame read in place no longer caps the
//! next read at the frame plus a fixed slack: the reads stay as large as
//! the reader's read size, so a stream of 64 KiB frames takes a few system
//! calls per megabyte, not one per frame or two.

#[allow(dead_code)]
mod support;

use bytes::BytesMut;
use ferrosocket_proto::{Decoder, Event};

const MASK: [u8; 4] = [0x5a, 0x01, 0xc3, 0x7e];

fn wire(count: usize, size: usize) -> Vec<u8> {
    support::stream::binary_frames(count, size, MASK)
}

/// Decode `wire` through reads of at most the spare capacity; the reader
/// reserves `read_size` when it may. Returns the number of reads and the
/// payloads.
fn read_stream(wire: &[u8], read_size: usize, tell_decoder: bool) -> (usize, Vec<Vec<u8>>) {
    let mut d = Decoder::default();
    if tell_decoder {
        d.set_read_ahead(read_size);
    }
    let mut buf = BytesMut::new();
    let (mut pos, mut reads, mut payloads) = (0, 0, Vec::new());
    loop {
        while let Some(event) = d.decode(&mut buf).unwrap() {
            match event {
                Event::Binary(b) => payloads.push(b.to_vec()),
                other => panic!("{other:?}"),
            }
        }
        if pos == wire.len() {
            break;
        }
        if d.in_place_missing(&buf) == 0 && buf.capacity() - buf.len() < read_size / 2 {
            buf.reserve(read_size);
        }
        let n = (buf.capacity() - buf.len()).min(wire.len() - pos);
        assert!(n > 0, "no room to read into");
        buf.extend_from_slice(&wire[pos..pos + n]);
        pos += n;
        reads += 1;
    }
    assert!(buf.is_empty());
    (reads, payloads)
}

#[test]
fn a_stream_of_64_kib_frames_is_read_a_read_size_at_a_time() {
    let (count, size, read_size) = (64, 64 << 10, 1 << 20);
    let w = wire(count, size);
    let (reads, payloads) = read_stream(&w, read_size, true);
    assert_eq!(payloads.len(), count);
    for (i, p) in payloads.iter().enumerate() {
        assert!(
            p.len() == size && p.iter().all(|&b| b == i as u8),
            "frame {i}"
        );
    }
    // 4 MiB in reads of up to 1 MiB: a few more than 4 (a read that starts
    // inside a frame has that frame's head in front of it).
    assert!(reads <= 8, "{reads} reads for {} bytes", w.len());
    // Without the read size, a reader whose reads are 256 KiB (the server's
    // old cap) settles into reads that end where the reservation of the
    // frame read in place does (the frame plus 128 KiB): about one read per
    // two frames, each ending inside a frame.
    let (untold, _) = read_stream(&w, 256 << 10, false);
    assert!(untold >= 24, "{untold} reads without the read size");
    let (told, _) = read_stream(&w, 256 << 10, true);
    assert!(told <= 24, "{told} reads of 256 KiB with the read size");
}

#[test]
fn the_read_size_does_not_shrink_the_reservation_of_a_large_frame() {
    // 3 MiB frames with a 256 KiB read size: each frame still gets its whole
    // length reserved at once (read in place, one buffer per frame).
    let (count, size) = (3, 3 << 20);
    let w = wire(count, size);
    let (reads, payloads) = read_stream(&w, 256 << 10, true);
    assert_eq!(payloads.len(), count);
    assert!(payloads
        .iter()
        .enumerate()
        .all(|(i, p)| p.len() == size && p[size - 1] == i as u8));
    assert!(reads <= 2 * count + 2, "{reads} reads");
}
