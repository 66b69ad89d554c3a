//! Frames read in place (see the decoder's module docs): the room a frame
//! that has not fully arrived gets in the caller's buffer, and the
//! allocations kept so that a stream of large frames reuses a few buffers
//! instead of faulting in fresh pages for every message.

use bytes::{Buf, BytesMut};

use super::{Event, Kind};
use crate::error::ProtocolError;
use crate::mask::apply_mask;

/// Most of a frame read in place that is reserved ahead of the bytes that
/// have arrived (beyond it the buffer doubles with what arrived): a frame up
/// to this size lands in one allocation, and a peer declaring the maximum
/// frame size gets this much address space, not the declared length.
pub(super) const EAGER_RESERVE: usize = 4 << 20;

/// The frame read in place.
#[derive(Debug)]
pub(super) struct InPlace {
    pub(super) kind: Kind,
    pub(super) header_len: usize,
    pub(super) len: usize,
    pub(super) mask: [u8; 4],
    /// Payload bytes already unmasked and validated.
    pub(super) done: usize,
}

impl InPlace {
    /// Unmask and validate what arrived since the last call; the event once
    /// the whole payload is there.
    pub(super) fn advance(
        &mut self,
        buf: &mut BytesMut,
        read_ahead: usize,
    ) -> Result<Option<Event>, ProtocolError> {
        let arrived = (buf.len() - self.header_len).min(self.len);
        if arrived > self.done {
            let piece = &mut buf[self.header_len + self.done..self.header_len + arrived];
            apply_mask(piece, self.mask, self.done);
            if let Kind::Text(utf8) = &mut self.kind {
                utf8.feed(piece)?;
            }
            self.done = arrived;
        }
        if self.done < self.len {
            reserve_in_place(buf, self.header_len + self.len, read_ahead);
            return Ok(None);
        }
        buf.advance(self.header_len);
        let payload = buf.split_to(self.len).freeze();
        Ok(Some(match &mut self.kind {
            Kind::Text(utf8) => {
                utf8.finish()?;
                Event::Text(payload)
            }
            Kind::Binary => Event::Binary(payload),
        }))
    }
}

/// Make room in `buf` for a frame of `total` bytes (header included) read in
/// place: all of it up to `EAGER_RESERVE` ahead of what arrived, doubling
/// beyond. `total` has been bounded by the limits.
///
/// A frame that fits in the eager bound gets room after it too (see
/// [`in_place_room`]): the bytes that follow it (the next frames) then land
/// in the same allocation and the same read, so once the application has
/// dropped the payloads, the next frame's reservation reclaims that
/// allocation instead of faulting in fresh pages (a megabyte message per
/// allocation otherwise costs a page fault per 4 KiB, in both directions of
/// the allocator).
fn reserve_in_place(buf: &mut BytesMut, total: usize, read_ahead: usize) {
    let eager = buf.len().saturating_mul(2).max(buf.len() + EAGER_RESERVE);
    let target = if total <= eager {
        in_place_room(total, read_ahead)
    } else {
        eager
    };
    if buf.capacity() < target {
        buf.reserve(target - buf.len());
    }
}

/// The capacity a frame of `total` bytes read in place gets: the frame plus
/// `REUSE_SLACK`, and never less than the reader's own read size
/// (`read_ahead`). Without the second term a stream of frames that straddle
/// reads would be read a frame or two per system call, each read ending
/// where the reservation does whatever the reader's adaptive read size has
/// grown to, and every read would end inside a frame whose head then has
/// to be moved. The room does not depend on how much of the frame has
/// arrived, so a stream of equal frames asks for equal allocations and
/// reclaims its spares.
fn in_place_room(total: usize, read_ahead: usize) -> usize {
    (total + REUSE_SLACK).max(read_ahead)
}

/// Handles on the allocations of recent frames read in place and of the
/// caller's read buffer (see [`Spares::regrow`]).
#[derive(Debug, Default)]
pub(super) struct Spares {
    kept: Vec<BytesMut>,
    /// The largest room asked for since the spares were last released. New
    /// allocations get this size, so a stream asks for one size and every
    /// allocation it kept can serve any of its later requests.
    size: usize,
}

/// Allocations kept for reuse: enough for the messages a fast peer has in
/// flight while the application still holds the previous ones.
const MAX_SPARES: usize = 3;

impl Spares {
    /// Before a frame of `total` bytes is read in place: make the room of
    /// [`in_place_room`] for it, unless `buf` has it already. Frames beyond
    /// `EAGER_RESERVE` grow by doubling instead (see [`reserve_in_place`]).
    pub(super) fn place(&mut self, buf: &mut BytesMut, total: usize, read_ahead: usize) {
        let want = in_place_room(total, read_ahead);
        if buf.capacity() >= want || total > EAGER_RESERVE {
            return;
        }
        self.regrow(buf, want);
    }

    /// Give `buf` a capacity of at least `want`: move its bytes (a header
    /// and what arrived of a frame, or the start of the next one) into a
    /// kept allocation whose payloads have all been dropped, if one is big
    /// enough, and keep `buf`'s own allocation for later. A stream of large
    /// messages then cycles through a few allocations instead of faulting in
    /// fresh pages for every one, which cost more than the copies saved by
    /// reading in place. `want` is at most `EAGER_RESERVE` (callers check).
    pub(super) fn regrow(&mut self, buf: &mut BytesMut, want: usize) {
        self.size = self.size.max(want);
        let reused = match self.kept.iter_mut().position(|s| s.try_reclaim(want)) {
            Some(i) => self.kept.swap_remove(i),
            None => BytesMut::with_capacity(self.size),
        };
        let mut old = std::mem::replace(buf, reused);
        buf.extend_from_slice(&old);
        old.clear();
        // The oldest handle goes first: it is the one least likely to be
        // reclaimed (a small read buffer, or a payload the application keeps).
        if self.kept.len() == MAX_SPARES {
            self.kept.remove(0);
        }
        self.kept.push(old);
    }
}

/// See [`in_place_room`]: the least room after a frame read in place, for a
/// reader that has not said how much it reads ([`Decoder::set_read_ahead`]).
const REUSE_SLACK: usize = 128 << 10;
