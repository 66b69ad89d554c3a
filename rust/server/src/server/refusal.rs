//! Why a handshake was refused before the application saw it.
//!
//! One enum instead of reason strings: the server counts refusals by it
//! ([`crate::Server::stats`]), hands it to [`crate::App::refused`] for
//! logging, and the Python binding exposes the same names in `stats()`, so
//! a new reason cannot be counted under one name and logged under another.

use std::fmt;

/// The reason of a refused handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The request was not a valid HTTP/WebSocket upgrade (400, 431, …).
    BadRequest,
    /// No complete request (or TLS handshake) within the handshake timeout.
    Timeout,
    /// Nothing is served at the path (404).
    NotFound,
    /// The browser `Origin` is not allowed (403).
    Origin,
    /// `max_connections` reached (503).
    Overloaded,
    /// The TLS handshake failed.
    Tls,
    /// A plain HTTP request at a WebSocket endpoint (426).
    PlainHttp,
    /// The server is shutting down (503).
    ShuttingDown,
    /// The application refused it (`reject`, or `close` before `accept`).
    Handler,
}

impl Refusal {
    /// Every reason, in the order [`crate::ServerStats::refused`] lists them.
    pub const ALL: [Refusal; 9] = [
        Refusal::BadRequest,
        Refusal::Timeout,
        Refusal::NotFound,
        Refusal::Origin,
        Refusal::Overloaded,
        Refusal::Tls,
        Refusal::PlainHttp,
        Refusal::ShuttingDown,
        Refusal::Handler,
    ];

    /// The reason's name in stats and logs (`"bad_request"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadRequest => "bad_request",
            Refusal::Timeout => "timeout",
            Refusal::NotFound => "not_found",
            Refusal::Origin => "origin",
            Refusal::Overloaded => "overloaded",
            Refusal::Tls => "tls",
            Refusal::PlainHttp => "plain_http",
            Refusal::ShuttingDown => "shutting_down",
            Refusal::Handler => "handler",
        }
    }

    /// Position in [`Refusal::ALL`], the index of its counter.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;

    #[test]
    fn all_is_in_index_order() {
        for (i, r) in Refusal::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }
}
