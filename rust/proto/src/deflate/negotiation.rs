//! Negotiating permessage-deflate in the opening handshake (RFC 7692 §5, §7.1):
//! our settings ([`DeflateConfig`]), what was agreed ([`DeflateParams`]), and
//! the offer parser ([`negotiate`]). The decisions are listed in the
//! [module docs](super).

use super::Deflater;

/// The extension token.
pub(super) const EXTENSION_NAME: &str = "permessage-deflate";

/// Server-side permessage-deflate settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Negotiate the extension at all. Default `true`: browsers offer it on
    /// every connection and it cuts JSON traffic 3–10×.
    pub enabled: bool,
    /// Largest LZ77 window (log2) we compress with, 8..=15. Default 12:
    /// with memLevel 5 the compressor's state is 32 KiB instead of 256 KiB
    /// at 15 / 8, for about 3% of the ratio on JSON traffic and less CPU
    /// (smaller tables stay in cache); bench/README.md has the table
    /// ("Memory per connection"). A connection's compressor is the largest
    /// thing it owns, so this is what decides memory per connection.
    pub server_max_window_bits: u8,
    /// Largest window (log2) we let the client compress with, 8..=15. Only
    /// sent when the client offered `client_max_window_bits` (browsers
    /// do). Default 12, for the same reason: our inflater's window is this
    /// size.
    pub client_max_window_bits: u8,
    /// Reset our compressor after every message: worse ratio, but no
    /// compression state has to be reasoned about across messages. Default
    /// `false`.
    pub server_no_context_takeover: bool,
    /// Ask the client to reset its compressor after every message. Default
    /// `false`.
    pub client_no_context_takeover: bool,
    /// zlib level 0..=9. Default 6 (zlib's own, and what websockets uses
    /// with the same 12 / 5 window and memory level). Measured with
    /// `bench/deflate.py` (~1.6 KB JSON messages, context takeover) at
    /// 12 / 5: level 6 compresses them 6.79×, level 3 5.66×, level 1 5.28×
    /// (zlib needs level 6 to match websockets' 6.79×; 5 gives 6.49), and
    /// level 6 cost 0.77× websockets' server CPU per message in the same
    /// run (bench/README.md, "Memory per connection"). Pick 1 or 3 when
    /// CPU matters more than bytes.
    pub level: u32,
    /// zlib memory level 1..=9 (deflate state is about 2^(mem_level+9)
    /// bytes plus the window). Default 5 (zlib's own is 8), chosen with
    /// `server_max_window_bits` above.
    pub mem_level: u8,
    /// Messages shorter than this go out uncompressed. Default 0: every
    /// message is compressed once the extension is agreed, as websockets
    /// and uvicorn do, because with context takeover even a short message
    /// can shrink to a back-reference into earlier ones, and some clients
    /// handle a mix of compressed and plain messages badly. Raise it (64 is
    /// a good value) when CPU matters more than bytes for tiny messages:
    /// below that size deflate's few bytes of block overhead eat most of
    /// the gain without context takeover.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            server_max_window_bits: 12,
            client_max_window_bits: 12,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            level: 6,
            mem_level: 5,
            threshold: 0,
        }
    }
}

impl DeflateConfig {
    /// A client's settings (read from its side, see [`super::client`]):
    /// the server defaults except for the windows and memory level, which
    /// stay at the RFC's 15 bits and zlib's 8, so that the offer asks
    /// nothing of the server beyond `client_max_window_bits` (which lets it
    /// lower ours). A client holds one or a few connections, so the
    /// per-connection memory that decides the server's defaults does not
    /// matter there.
    pub fn client() -> DeflateConfig {
        DeflateConfig {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            mem_level: 8,
            ..DeflateConfig::default()
        }
    }

    /// Whether a message of `len` bytes should be compressed (at or above
    /// `threshold`).
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// A compressor for the server → client direction of `params`.
    pub fn deflater(&self, params: DeflateParams) -> Deflater {
        Deflater::new(params, self.level, self.mem_level)
    }
}

/// What was agreed in the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so we reset
    /// our inflater too).
    pub client_no_context_takeover: bool,
    /// Our compression window (log2), 8..=15.
    pub server_max_window_bits: u8,
    /// The client's compression window (log2), 8..=15.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    /// RFC 7692 defaults: context takeover both ways, 15-bit windows.
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// The same agreement seen from the other end: `server_*` and `client_*`
    /// swapped. The engine keeps a client's parameters mirrored, so that
    /// `server_*` always means "this endpoint" and one writer and one reader
    /// ([`DeflateConfig::deflater`], [`Inflater::new`](super::Inflater::new))
    /// serve both roles.
    pub fn mirrored(self) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: self.client_no_context_takeover,
            client_no_context_takeover: self.server_no_context_takeover,
            server_max_window_bits: self.client_max_window_bits,
            client_max_window_bits: self.server_max_window_bits,
        }
    }

    /// The `Sec-WebSocket-Extensions` response value announcing these
    /// parameters (window sizes only when below 15).
    pub fn response_header(&self) -> String {
        let mut s = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if self.client_max_window_bits < 15 {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

/// Split `s` on `sep` outside double quotes (with `\` escapes inside them).
pub(super) fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut in_quote, mut escaped) = (0, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == sep {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A parameter value: a token, or a quoted string whose content is a token
/// (§7.1). `None` when malformed.
fn param_value(raw: &str) -> Option<String> {
    let v = raw.trim();
    let v = if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        out
    } else {
        v.to_owned()
    };
    is_token(&v).then_some(v)
}

/// 8..=15, decimal, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

/// One offer's parameters.
#[derive(Default)]
pub(super) struct Offer {
    pub(super) server_no_context_takeover: bool,
    pub(super) client_no_context_takeover: bool,
    pub(super) server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    pub(super) client_max_window_bits: Option<Option<u8>>,
}

/// Parse the parameters of one permessage-deflate offer; `None` declines it.
pub(super) fn parse_offer(params: &[&str]) -> Option<Offer> {
    let mut offer = Offer::default();
    let mut seen = [false; 4];
    for p in params {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(param_value(v)?)),
            None => (p.trim(), None),
        };
        if !is_token(name) {
            return None;
        }
        let idx = [
            "server_no_context_takeover",
            "client_no_context_takeover",
            "server_max_window_bits",
            "client_max_window_bits",
        ]
        .iter()
        .position(|k| k.eq_ignore_ascii_case(name))?; // unknown → decline
        if std::mem::replace(&mut seen[idx], true) {
            return None; // duplicate → decline (§7)
        }
        match (idx, value) {
            (0, None) => offer.server_no_context_takeover = true,
            (1, None) => offer.client_no_context_takeover = true,
            (2, Some(v)) => offer.server_max_window_bits = Some(window_bits(&v)?),
            (3, None) => offer.client_max_window_bits = Some(None),
            (3, Some(v)) => offer.client_max_window_bits = Some(Some(window_bits(&v)?)),
            _ => return None, // a flag with a value, or a window size without one
        }
    }
    Some(offer)
}

/// Accept the first `permessage-deflate` offer in `offers` (the raw
/// `Sec-WebSocket-Extensions` header values, in order) that we can honour;
/// return the agreed parameters and the response header value. `None`: no
/// acceptable offer (or `config.enabled` is false) — answer without the
/// extension. See the module docs for every decision.
pub fn negotiate(offers: &[String], config: &DeflateConfig) -> Option<(DeflateParams, String)> {
    if !config.enabled {
        return None;
    }
    let our_server_bits = config.server_max_window_bits.clamp(8, 15);
    let our_client_bits = config.client_max_window_bits.clamp(8, 15);
    for header in offers {
        for element in split_outside_quotes(header, b',') {
            let mut parts = split_outside_quotes(element, b';').into_iter();
            let name = parts.next().unwrap_or("").trim();
            if !name.eq_ignore_ascii_case(EXTENSION_NAME) {
                continue; // another extension, or an empty list element
            }
            let rest: Vec<&str> = parts.collect();
            let Some(offer) = parse_offer(&rest) else {
                continue;
            };
            let client_bits = match offer.client_max_window_bits {
                // Not offered: the client may not understand the parameter,
                // so we cannot limit it (§7.1.2.2).
                None => 15,
                Some(v) => v.unwrap_or(15).min(our_client_bits),
            };
            let params = DeflateParams {
                server_no_context_takeover: offer.server_no_context_takeover
                    || config.server_no_context_takeover,
                client_no_context_takeover: offer.client_no_context_takeover
                    || config.client_no_context_takeover,
                server_max_window_bits: offer
                    .server_max_window_bits
                    .unwrap_or(15)
                    .min(our_server_bits),
                client_max_window_bits: client_bits,
            };
            return Some((params, params.response_header()));
        }
    }
    None
}
