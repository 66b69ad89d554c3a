//! [`FrameHeader`]: the one value that describes a frame header (RFC 6455
//! §5.2), its one encoder, and the parser (for either role: see [`Role`]).
//!
//! Every frame this crate writes, plain or compressed, masked (client role,
//! tests) or not (server role), goes through [`FrameHeader::encode`] (or the
//! same `to_bytes` underneath it, where a compressed payload is written before
//! its header is known): the length forms and bit layout exist once.
//!
//! The parser does the checks that need only the header, as early as the
//! bytes allow: most protocol errors are known from the first two bytes, so a
//! bad frame fails before the rest of its header (or any payload) arrives.

use bytes::BytesMut;

use super::OpCode;
use crate::error::ProtocolError;

/// Which end of the connection we are: it decides the masking rules
/// (RFC 6455 §5.1). A server must refuse unmasked frames and never masks its
/// own; a client must refuse masked frames and masks every frame it sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// The accepting end: peer frames are masked, ours are not.
    #[default]
    Server,
    /// The connecting end: peer frames are unmasked, ours are masked.
    Client,
}

/// The longest possible frame header: 2 + 8 (length) + 4 (mask).
pub(crate) const MAX_LEN: usize = 14;

/// A frame header: what precedes every payload on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message (always set on control frames).
    pub fin: bool,
    /// RSV1: set on the first frame of a permessage-deflate message only.
    pub rsv1: bool,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key: `Some` on client frames, `None` on server frames.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub len: u64,
}

impl FrameHeader {
    /// The header of a server frame: final, unmasked, RSV1 clear, carrying
    /// `len` payload bytes. Other frames adjust fields from here, e.g.
    /// `FrameHeader { fin: false, ..FrameHeader::new(OpCode::Text, 3) }`.
    pub fn new(opcode: OpCode, len: usize) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            opcode,
            mask: None,
            len: len as u64,
        }
    }

    /// Append the header's wire bytes (2 to 14 of them) to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let (bytes, n) = self.to_bytes();
        dst.extend_from_slice(&bytes[..n]);
    }

    /// The wire bytes and how many of them are used: the encoder itself
    /// (for a header written next to its payload, as in a vectored write).
    pub fn to_bytes(self) -> ([u8; MAX_LEN], usize) {
        let mut h = [0u8; MAX_LEN];
        h[0] = (u8::from(self.fin) << 7) | (u8::from(self.rsv1) << 6) | self.opcode as u8;
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        let mut n = if self.len < 126 {
            h[1] = m | self.len as u8;
            2
        } else if self.len <= u64::from(u16::MAX) {
            h[1] = m | 126;
            h[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
            4
        } else {
            h[1] = m | 127;
            h[2..10].copy_from_slice(&self.len.to_be_bytes());
            10
        };
        if let Some(mask) = self.mask {
            h[n..n + 4].copy_from_slice(&mask);
            n += 4;
        }
        (h, n)
    }

    /// Parse the header of a frame sent by the peer of `role` from the start
    /// of `buf`: the header and its length in bytes, or `Ok(None)` when more
    /// bytes are needed. Checks that need only the first two bytes are done
    /// before waiting for more. `rsv1_ok`: an extension owns RSV1 (it is
    /// still refused on control and continuation frames). As a server the
    /// returned header always has a mask; as a client, never.
    pub(crate) fn parse(
        buf: &[u8],
        rsv1_ok: bool,
        role: Role,
    ) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let b0 = buf[0];
        let b1 = buf[1];
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 || (rsv1 && !rsv1_ok) {
            return Err(ProtocolError::ReservedBits);
        }
        let raw_op = b0 & 0x0f;
        let opcode = OpCode::from_u8(raw_op).ok_or(ProtocolError::UnknownOpcode(raw_op))?;
        if rsv1 && !matches!(opcode, OpCode::Text | OpCode::Binary) {
            // RFC 7692 §6.1: only the first frame of a data message.
            return Err(ProtocolError::ReservedBits);
        }
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        match (role, masked) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if len7 > 125 {
                return Err(ProtocolError::ControlFrameTooLong);
            }
        }
        let (len, ext) = match len7 {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 2)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (len, 8)
            }
            n => (u64::from(n), 0),
        };
        let header_len = 2 + ext + if masked { 4 } else { 0 };
        if buf.len() < header_len {
            return Ok(None);
        }
        let mask = masked.then(|| {
            let mut mask = [0u8; 4];
            mask.copy_from_slice(&buf[2 + ext..header_len]);
            mask
        });
        let header = FrameHeader {
            fin,
            rsv1,
            opcode,
            mask,
            len,
        };
        Ok(Some((header, header_len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_forms_and_bits() {
        let enc = |h: FrameHeader| {
            let (b, n) = h.to_bytes();
            b[..n].to_vec()
        };
        assert_eq!(enc(FrameHeader::new(OpCode::Text, 5)), [0x81, 0x05]);
        assert_eq!(enc(FrameHeader::new(OpCode::Binary, 125)), [0x82, 125]);
        assert_eq!(
            enc(FrameHeader::new(OpCode::Binary, 126)),
            [0x82, 0x7e, 0x00, 0x7e]
        );
        assert_eq!(
            enc(FrameHeader::new(OpCode::Binary, 65535)),
            [0x82, 0x7e, 0xff, 0xff]
        );
        assert_eq!(
            enc(FrameHeader::new(OpCode::Binary, 65536)),
            [0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0, 0]
        );
        let h = FrameHeader {
            fin: false,
            rsv1: true,
            mask: Some([1, 2, 3, 4]),
            ..FrameHeader::new(OpCode::Text, 70_000)
        };
        let b = enc(h);
        assert_eq!(b.len(), MAX_LEN);
        assert_eq!(&b[..2], &[0x41, 0xff]);
        assert_eq!(&b[10..], &[1, 2, 3, 4]);
        // The parser reads back what the encoder wrote.
        assert_eq!(
            FrameHeader::parse(&b, true, Role::Server),
            Ok(Some((h, MAX_LEN)))
        );
        assert_eq!(
            FrameHeader::parse(&b[..MAX_LEN - 1], true, Role::Server),
            Ok(None)
        );
        // The masking rules by role.
        assert_eq!(
            FrameHeader::parse(&b, true, Role::Client),
            Err(ProtocolError::MaskedFrame)
        );
        let server = enc(FrameHeader::new(OpCode::Binary, 65536));
        assert_eq!(
            FrameHeader::parse(&server, false, Role::Server),
            Err(ProtocolError::UnmaskedFrame)
        );
        assert_eq!(
            FrameHeader::parse(&server, false, Role::Client),
            Ok(Some((FrameHeader::new(OpCode::Binary, 65536), 10)))
        );
    }
}
