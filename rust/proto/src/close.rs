//! Close codes (RFC 6455 §7.4). The closing handshake itself is part of the
//! connection's lifecycle in [`crate::session`].

/// Whether `code` may appear in a close frame received from the wire:
/// 1000–1003, 1007–1014 and 3000–4999. 1004 is reserved, and 1005, 1006 and
/// 1015 are for local reporting only, never on the wire.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
