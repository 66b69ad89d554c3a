//! A stream of 1 MiB frames, read the way the server reads a socket, while
//! the application holds the latest payloads for a while (messages waiting
//! in its queue): the decoder cycles through a few allocations instead of
//! allocating a fresh megabyte per message. Fresh allocations are what cost
//! a page fault per 4 KiB on the next read, so they are counted here with a
//! counting global allocator (this test binary's only test).

#[allow(dead_code)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use ferrosocket_proto::{Decoder, Event};

struct Counting;

/// Allocations of at least `LARGE` bytes made so far.
static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
const LARGE: usize = 256 << 10;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MASK: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

fn wire(count: usize, size: usize) -> Vec<u8> {
    support::stream::binary_frames(count, size, MASK)
}

const COUNT: usize = 40;

/// Decode `COUNT` frames of `size` bytes through reads of at most `arrives`
/// bytes (what the socket has ready) and the spare capacity, the reader
/// reserving 1 MiB when it may; returns the large allocations made.
fn large_allocations(size: usize, arrives: usize) -> usize {
    let (count, read_size) = (COUNT, 1 << 20);
    let w = wire(count, size);
    let mut d = Decoder::default();
    d.set_read_ahead(read_size);
    let mut buf = BytesMut::new();
    // The application's queue: it drops a payload once two newer ones wait.
    let mut held: VecDeque<Bytes> = VecDeque::new();
    let mut received = 0;
    let before = LARGE_ALLOCATIONS.load(Ordering::Relaxed);
    let mut pos = 0;
    loop {
        while let Some(event) = d.decode(&mut buf).unwrap() {
            let Event::Binary(p) = event else {
                panic!("{event:?}")
            };
            assert!(p.len() == size && p[0] == received as u8 && p[size - 1] == received as u8);
            received += 1;
            held.push_back(p);
            if held.len() > 2 {
                held.pop_front();
            }
        }
        if pos == w.len() {
            break;
        }
        if d.in_place_missing(&buf) == 0 && buf.capacity() - buf.len() < read_size / 2 {
            d.reserve_for_read(&mut buf, read_size);
        }
        // The socket has at most `arrives` bytes ready per read.
        let n = (buf.capacity() - buf.len()).min(w.len() - pos).min(arrives);
        assert!(n > 0, "no room to read into");
        buf.extend_from_slice(&w[pos..pos + n]);
        pos += n;
    }
    assert_eq!(received, count);
    LARGE_ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn a_stream_of_megabyte_frames_reuses_a_few_allocations() {
    // The payloads in the queue, the kept spares and the buffer being read
    // into: a handful of allocations for 40 MiB, not one per message.
    // 1 MiB frames through reads that end inside frames (each frame is read
    // in place, its head moved to a kept allocation), then 256 KiB frames
    // through reads that end where frames do (whole frames split out, the
    // reader's own reservation made while the latest payloads are held).
    for (size, arrives) in [(1 << 20, 300 << 10), (256 << 10, (256 << 10) + 14)] {
        let large = large_allocations(size, arrives);
        assert!(
            large <= 8,
            "{large} allocations of 256 KiB or more for {COUNT} messages of {size} bytes arriving {arrives} bytes at a time"
        );
    }
}
