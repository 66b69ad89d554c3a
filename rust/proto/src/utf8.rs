//! Streaming UTF-8 validation that fails fast.
//!
//! A text message may arrive in many fragments, and a fragment's payload in
//! many TCP reads. RFC 6455 §8.1 lets (and Autobahn 6.4.x expects) the
//! endpoint to fail the connection as soon as the bytes seen so far can no
//! longer be the prefix of valid UTF-8, not when the message completes. So the
//! validator is fed each chunk as it arrives; it keeps at most 3 bytes of a
//! code point that is split across chunks.
//!
//! `simdutf8::compat` gives SIMD speed with std's error detail: `error_len()`
//! is `None` exactly when the input ends in an incomplete (but so far valid)
//! sequence, which is what tells "carry these bytes" from "invalid now".

use crate::error::ProtocolError;
use simdutf8::compat::from_utf8;

/// Incremental UTF-8 validator; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    partial: [u8; 4],
    partial_len: usize,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validate the next chunk. Fails on the first byte that can never be
    /// part of valid UTF-8; an incomplete sequence at the end is carried.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), ProtocolError> {
        let mut rest = chunk;
        if self.partial_len > 0 {
            // Complete the carried code point one byte at a time.
            loop {
                let Some((&b, tail)) = rest.split_first() else {
                    return Ok(()); // still incomplete, still plausible
                };
                rest = tail;
                self.partial[self.partial_len] = b;
                self.partial_len += 1;
                match from_utf8(&self.partial[..self.partial_len]) {
                    Ok(_) => {
                        self.partial_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_some() => return Err(ProtocolError::InvalidUtf8),
                    // A 4-byte sequence is always complete or invalid, so
                    // partial_len stays below 4 here.
                    Err(_) => {}
                }
            }
        }
        match from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(ProtocolError::InvalidUtf8),
            Err(e) => {
                let tail = &rest[e.valid_up_to()..];
                debug_assert!(tail.len() < 4);
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len();
                Ok(())
            }
        }
    }

    /// End of message: fails if a code point was left incomplete.
    pub fn finish(&mut self) -> Result<(), ProtocolError> {
        let incomplete = self.partial_len != 0;
        self.reset();
        if incomplete {
            Err(ProtocolError::InvalidUtf8)
        } else {
            Ok(())
        }
    }

    /// Forget any carried bytes, ready for a new message.
    fn reset(&mut self) {
        self.partial_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_code_points_are_carried() {
        let s = "a€𝄞é".as_bytes();
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let mut v = Utf8Validator::new();
                v.feed(&s[..i]).unwrap();
                v.feed(&s[i..j]).unwrap();
                v.feed(&s[j..]).unwrap();
                v.finish().unwrap();
            }
        }
    }

    #[test]
    fn fails_on_first_impossible_byte() {
        // Autobahn 6.4.1-like: U+10FFFF is fine, 0xF4 0x90 is never valid.
        let mut v = Utf8Validator::new();
        v.feed(&[0xce, 0xba, 0xe1, 0xbd, 0xb9]).unwrap();
        v.feed(&[0xf4]).unwrap(); // could still be U+10xxxx
        assert_eq!(v.feed(&[0x90]), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn invalid_in_carried_sequence_fails_immediately() {
        let mut v = Utf8Validator::new();
        v.feed(&[b'x', 0xe2]).unwrap();
        assert_eq!(v.feed(b"ab"), Err(ProtocolError::InvalidUtf8));
    }

    #[test]
    fn lone_byte_invalid_and_overlong() {
        assert!(Utf8Validator::new().feed(&[0xff]).is_err());
        assert!(Utf8Validator::new().feed(&[0xc0, 0x80]).is_err());
        // Surrogate U+D800 encoded.
        assert!(Utf8Validator::new().feed(&[0xed, 0xa0]).is_err());
    }

    #[test]
    fn finish_rejects_truncated_then_reset_clears() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xf0, 0x9d]).unwrap();
        assert_eq!(v.finish(), Err(ProtocolError::InvalidUtf8));
        // finish reset the state: a fresh message validates.
        v.feed(b"ok").unwrap();
        v.finish().unwrap();
        v.feed(&[0xe2, 0x82]).unwrap();
        v.reset();
        v.feed(b"fresh").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }
}
