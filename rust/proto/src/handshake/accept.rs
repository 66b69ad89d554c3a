//! `Sec-WebSocket-Accept` (RFC 6455 §1.3, §4.2.2): the proof that the server
//! read the client's key, so a non-WebSocket server cannot be tricked into
//! accepting.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §1.3).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    BASE64.encode(h.finalize())
}
