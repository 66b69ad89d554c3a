//! What a published message looks like on the broker.
//!
//! `\0fs1`, the publishing server's origin id (8 bytes, big-endian), one
//! flags byte (bit 0: binary, bit 1: may be compressed), then the payload
//! as is. Thirteen bytes of overhead and no copy of the payload beyond the
//! one the broker's client makes anyway.
//!
//! The origin lets a server recognise its own messages when the broker
//! echoes them back (Redis sends a PUBLISH to every subscriber of the
//! channel, the publisher included). A payload without the magic was
//! published by something else (`redis-cli PUBLISH ferrosocket:room hi`):
//! it is delivered as text when it is UTF-8, as binary otherwise. A text
//! message that is not UTF-8 is dropped: a client must never receive an
//! invalid text frame.

use std::hash::{BuildHasher, Hasher};

use ferrosocket_proto::OpCode;

use super::Outgoing;
use crate::topics::Published;

const MAGIC: &[u8; 4] = b"\0fs1";
const HEADER: usize = MAGIC.len() + 8 + 1;
const BINARY: u8 = 1;
const COMPRESS: u8 = 2;

/// A random 64-bit number (the std hasher's per-process random keys mixed
/// with the time and a counter): an origin id, or jitter.
pub(crate) fn new_origin() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

pub(crate) fn seal(origin: u64, out: &Outgoing) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + out.payload.len());
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&origin.to_be_bytes());
    let mut flags = 0;
    if out.opcode == OpCode::Binary {
        flags |= BINARY;
    }
    if out.compress {
        flags |= COMPRESS;
    }
    v.push(flags);
    v.extend_from_slice(&out.payload);
    v
}

/// The message to deliver, or None for our own echo or an invalid text.
pub(crate) fn open(origin: u64, data: &[u8]) -> Option<Published> {
    if data.len() >= HEADER && data.starts_with(MAGIC) {
        let from = u64::from_be_bytes(data[4..12].try_into().ok()?);
        if from == origin {
            return None;
        }
        let flags = data[12];
        let payload = &data[HEADER..];
        let opcode = if flags & BINARY != 0 {
            OpCode::Binary
        } else {
            std::str::from_utf8(payload).ok()?;
            OpCode::Text
        };
        return Some(Published::new(opcode, payload, flags & COMPRESS != 0));
    }
    let opcode = match std::str::from_utf8(data) {
        Ok(_) => OpCode::Text,
        Err(_) => OpCode::Binary,
    };
    Some(Published::new(opcode, data, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn out(opcode: OpCode, payload: &'static [u8]) -> Outgoing {
        Outgoing {
            topic: "t".into(),
            opcode,
            compress: false,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn own_messages_are_dropped_others_delivered() {
        let sealed = seal(7, &out(OpCode::Binary, b"\xff\x00"));
        assert!(open(7, &sealed).is_none());
        let msg = open(8, &sealed).unwrap();
        assert_eq!(msg.opcode(), OpCode::Binary);
        assert_eq!(&msg.payload()[..], b"\xff\x00");
        assert!(!msg.compress());
    }

    #[test]
    fn invalid_text_is_dropped_foreign_payloads_guess_their_type() {
        let bad = seal(1, &out(OpCode::Text, b"\xff"));
        assert!(open(2, &bad).is_none());
        assert_eq!(open(2, b"hello").unwrap().opcode(), OpCode::Text);
        assert_eq!(open(2, b"\xfe\xff").unwrap().opcode(), OpCode::Binary);
        assert_eq!(open(2, b"").unwrap().opcode(), OpCode::Text);
    }

    #[test]
    fn origins_differ() {
        assert_ne!(new_origin(), new_origin());
    }
}
