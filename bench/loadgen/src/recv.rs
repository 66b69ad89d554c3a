//! A receive-only WebSocket reader that counts data frames in bulk.
//!
//! The broadcast scenarios need the client to take millions of small frames
//! per second on one core. fastwebsockets hands out one frame per call
//! (a poll, checks, a `Frame` per message), which capped the loadgen near
//! 250k deliveries/s. Server frames are unmasked, so counting them needs
//! no copy and no per-frame call: read up to 64 KiB, walk the headers, count
//! whole data frames, keep a partial one for the next read. Messages are
//! unfragmented in these scenarios; continuation frames with FIN count as the
//! message's end so a fragmenting server is still counted per message.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ws::Masked;

const READ: usize = 64 << 10;

/// Digits of the sequence number a broadcast message starts with.
pub const SEQ_DIGITS: usize = 10;

/// What one read produced.
pub struct Batch {
    /// Data messages completed.
    pub messages: u64,
    /// Messages skipped (a sequence number jumped ahead) and messages that
    /// came back in time (a sequence number at or below one already seen).
    pub missing: u64,
    pub out_of_order: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// A close frame arrived (or EOF): stop reading.
    pub closed: bool,
}

pub struct Reader {
    sock: TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` holding an unparsed tail.
    len: usize,
    /// The sequence number expected next (None before the first message).
    next_seq: Option<u64>,
}

impl Reader {
    pub fn new(sock: TcpStream) -> Reader {
        Reader {
            sock,
            buf: vec![0; READ],
            len: 0,
            next_seq: None,
        }
    }

    /// Read once (waiting for data) and count the frames completed.
    pub async fn next(&mut self) -> io::Result<Batch> {
        if self.buf.len() - self.len < READ / 2 {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.sock.read(&mut self.buf[self.len..]).await?;
        let mut batch = Batch {
            messages: 0,
            missing: 0,
            out_of_order: 0,
            bytes: 0,
            closed: n == 0,
        };
        self.len += n;
        let mut at = 0;
        let mut pings = Vec::new();
        while let Some((fin, opcode, header, payload)) = parse(&self.buf[at..self.len]) {
            let end = at + header + payload;
            match opcode {
                0x0..=0x2 if fin => {
                    batch.messages += 1;
                    batch.bytes += payload as u64;
                    let body = &self.buf[at + header..end];
                    if let Some(seq) = sequence(body) {
                        match self.next_seq {
                            Some(want) if seq > want => batch.missing += seq - want,
                            Some(want) if seq < want => batch.out_of_order += 1,
                            _ => {}
                        }
                        self.next_seq = Some(self.next_seq.map_or(seq, |w| w.max(seq)) + 1);
                    }
                }
                0x8 => batch.closed = true,
                0x9 => pings.push(self.buf[at + header..end].to_vec()),
                _ => {}
            }
            at = end;
        }
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
        // Keepalive is off in the benchmarks; answer pings all the same.
        for p in pings {
            let pong = Masked::new(fastwebsockets::OpCode::Pong, &p);
            let mut frame = vec![0x8A, 0x80 | p.len() as u8];
            frame.extend_from_slice(&pong.key());
            frame.extend_from_slice(pong.masked());
            self.sock.write_all(&frame).await?;
        }
        Ok(batch)
    }
}

/// The decimal sequence number at the start of a broadcast message.
fn sequence(body: &[u8]) -> Option<u64> {
    let digits = body.get(..SEQ_DIGITS)?;
    let mut n = 0u64;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

/// `(fin, opcode, header length, payload length)` of the complete frame at
/// the start of `b`, or None if it is not all there yet.
fn parse(b: &[u8]) -> Option<(bool, u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
    let mask = if b[1] & 0x80 != 0 { 4 } else { 0 };
    let (header, payload) = match b[1] & 0x7F {
        126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() >= 10 => (10, u64::from_be_bytes(b[2..10].try_into().ok()?) as usize),
        126 | 127 => return None,
        n => (2, n as usize),
    };
    let header = header + mask;
    (b.len() >= header + payload).then_some((fin, opcode, header, payload))
}
