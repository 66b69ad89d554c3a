//! Close codes and the closing handshake state (RFC 6455 §5.5.1, §7).
//!
//! The state machine is deliberately tiny and IO-free: the server calls
//! `on_send_close` when it queues a close frame and `on_recv_close` when the
//! decoder yields `Event::Close`; the return values tell it whether to send
//! (or echo) a close frame, so a close is never sent twice and the TCP
//! connection can be dropped once both sides have closed.

/// Whether `code` may appear in a close frame received from the wire:
/// 1000–1003, 1007–1014 and 3000–4999. 1004 is reserved, and 1005, 1006 and
/// 1015 are for local reporting only, never on the wire.
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The closing handshake: `Open → CloseSent | CloseReceived → Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseState {
    /// Neither side has sent a close frame.
    #[default]
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// The peer sent a close frame; we must answer with ours.
    CloseReceived,
    /// Both close frames have been exchanged: drop the connection.
    Closed,
}

impl CloseState {
    /// Call when about to send a close frame. Returns `true` if the frame
    /// should be sent (state was `Open` → `CloseSent`, or `CloseReceived` →
    /// `Closed`), `false` if we already sent one (state unchanged).
    pub fn on_send_close(&mut self) -> bool {
        match *self {
            CloseState::Open => {
                *self = CloseState::CloseSent;
                true
            }
            CloseState::CloseReceived => {
                *self = CloseState::Closed;
                true
            }
            CloseState::CloseSent | CloseState::Closed => false,
        }
    }

    /// Call when the peer's close frame arrives. Returns `true` if this is the
    /// first close of the connection (`Open` → `CloseReceived`): the caller
    /// must echo a close frame (then call `on_send_close`). Returns `false`
    /// when it answers our close (`CloseSent` → `Closed`) or comes too late.
    pub fn on_recv_close(&mut self) -> bool {
        match *self {
            CloseState::Open => {
                *self = CloseState::CloseReceived;
                true
            }
            CloseState::CloseSent => {
                *self = CloseState::Closed;
                false
            }
            CloseState::CloseReceived | CloseState::Closed => false,
        }
    }

    /// Data frames may still be sent (no close frame sent yet).
    pub fn can_send(&self) -> bool {
        matches!(self, CloseState::Open | CloseState::CloseReceived)
    }

    /// Data frames may still be received (peer has not closed).
    pub fn can_receive(&self) -> bool {
        matches!(self, CloseState::Open | CloseState::CloseSent)
    }

    /// Both close frames have been exchanged.
    pub fn is_closed(&self) -> bool {
        *self == CloseState::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes() {
        let valid: Vec<u16> = (0..=u16::MAX).filter(|&c| is_valid_close_code(c)).collect();
        assert_eq!(valid.len(), 4 + 8 + 2000);
        for c in [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(is_valid_close_code(c), "{c}");
        }
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert!(!is_valid_close_code(c), "{c}");
        }
    }

    #[test]
    fn server_initiated() {
        let mut s = CloseState::default();
        assert!(s.can_send() && s.can_receive());
        assert!(s.on_send_close());
        assert_eq!(s, CloseState::CloseSent);
        assert!(!s.can_send() && s.can_receive());
        assert!(!s.on_send_close(), "never send close twice");
        assert!(!s.on_recv_close(), "peer's close answers ours");
        assert!(s.is_closed());
    }

    #[test]
    fn peer_initiated() {
        let mut s = CloseState::Open;
        assert!(s.on_recv_close(), "first close must be echoed");
        assert_eq!(s, CloseState::CloseReceived);
        assert!(s.can_send() && !s.can_receive());
        assert!(!s.on_recv_close());
        assert!(s.on_send_close());
        assert_eq!(s, CloseState::Closed);
        assert!(!s.on_send_close());
        assert!(!s.can_send() && !s.can_receive());
    }
}
