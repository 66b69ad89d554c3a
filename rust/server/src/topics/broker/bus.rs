//! The local bus: the client side, and the framing both sides share.
//!
//! Workers on one machine need no Redis: one [`super::BusHub`] listens on a
//! Unix socket and every worker's broker task connects to it. A frame is
//! `u32 length (big-endian) | kind | body`, the length counting kind and
//! body, at most [`MAX_FRAME`]:
//!
//! - `SUB channel`, `UNSUB channel` (worker to hub): the channel's name in
//!   UTF-8;
//! - `PUB u16 len | channel | envelope` (both ways): a message; the hub
//!   forwards a worker's PUB unchanged to every other worker subscribed to
//!   the channel.
//!
//! A length prefix rather than a delimiter, because payloads are binary;
//! one stream per worker, so each worker's messages stay in its order.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::{Outcome, Session};

pub(crate) const SUB: u8 = 1;
pub(crate) const UNSUB: u8 = 2;
pub(crate) const PUB: u8 = 3;

/// The largest frame either side accepts (a bigger one ends the
/// connection): published messages are bounded by the servers' own
/// `max_message_size` long before this.
pub(crate) const MAX_FRAME: usize = 256 << 20;

/// Append a frame to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, kind: u8, channel: &str, data: Option<&[u8]>) {
    let body = match data {
        Some(d) => 2 + channel.len() + d.len(),
        None => channel.len(),
    };
    out.extend_from_slice(&((1 + body) as u32).to_be_bytes());
    out.push(kind);
    if let Some(d) = data {
        out.extend_from_slice(&(channel.len() as u16).to_be_bytes());
        out.extend_from_slice(channel.as_bytes());
        out.extend_from_slice(d);
    } else {
        out.extend_from_slice(channel.as_bytes());
    }
}

/// Read one frame: `(kind, body)` with the whole frame (length included)
/// in `buf`; `None` at a clean end of stream.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u8>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bus frame of {n} bytes (1 to {MAX_FRAME} allowed)"),
        ));
    }
    buf.clear();
    buf.extend_from_slice(&len);
    buf.resize(4 + n, 0);
    r.read_exact(&mut buf[4..]).await?;
    Ok(Some(buf[4]))
}

/// The channel and envelope of a PUB body.
pub(crate) fn parse_pub(body: &[u8]) -> Option<(&str, &[u8])> {
    let n = u16::from_be_bytes(body.get(..2)?.try_into().ok()?) as usize;
    let channel = std::str::from_utf8(body.get(2..2 + n)?).ok()?;
    Some((channel, &body[2 + n..]))
}

fn lost(error: impl ToString) -> Outcome {
    Outcome {
        connected: true,
        error: error.to_string(),
    }
}

/// One connection to the hub, until it fails.
pub(crate) async fn session(
    path: &str,
    prefix: &str,
    s: &mut Session<'_>,
    connected: impl FnOnce(),
) -> Outcome {
    let stream = match UnixStream::connect(path).await {
        Ok(stream) => stream,
        Err(e) => {
            return Outcome {
                connected: false,
                error: e.to_string(),
            }
        }
    };
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::with_capacity(64 << 10, rd);
    let mut out = Vec::new();
    let (add, _) = s.diff();
    for topic in add {
        frame(&mut out, SUB, &format!("{prefix}{topic}"), None);
    }
    if let Err(e) = send(&mut wr, &mut out).await {
        return Outcome {
            connected: false,
            error: e.to_string(),
        };
    }
    connected();
    let inbox = s.inbox();
    let reader = async move {
        let mut buf = Vec::new();
        loop {
            match read_frame(&mut rd, &mut buf).await {
                Ok(Some(PUB)) => {
                    if let Some((channel, data)) = parse_pub(&buf[5..]) {
                        if let Some(topic) = channel.strip_prefix(prefix) {
                            inbox.deliver(topic, data);
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return "the hub closed the connection".to_owned(),
                Err(e) => return e.to_string(),
            }
        }
    };
    tokio::pin!(reader);
    let changed = &s.link.changed;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            why = &mut reader => return lost(why),
            _ = changed.notified() => {
                let (add, remove) = s.diff();
                for topic in add {
                    frame(&mut out, SUB, &format!("{prefix}{topic}"), None);
                }
                for topic in remove {
                    frame(&mut out, UNSUB, &format!("{prefix}{topic}"), None);
                }
                if let Err(e) = send(&mut wr, &mut out).await {
                    return lost(e);
                }
            }
            n = s.queue.recv_many(&mut batch, 256) => {
                if n == 0 {
                    return lost("the server stopped");
                }
                inbox.taken(&batch);
                for msg in batch.drain(..) {
                    let sealed = inbox.seal(&msg);
                    frame(&mut out, PUB, &format!("{prefix}{}", msg.topic), Some(&sealed));
                }
                match send(&mut wr, &mut out).await {
                    Ok(()) => inbox.sent(n),
                    Err(e) => {
                        inbox.unsent(n);
                        return lost(e);
                    }
                }
            }
        }
    }
}

async fn send(wr: &mut tokio::net::unix::OwnedWriteHalf, out: &mut Vec<u8>) -> io::Result<()> {
    let result = wr.write_all(out).await;
    out.clear();
    result
}
