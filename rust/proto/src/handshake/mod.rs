//! The HTTP/1.1 opening handshake (RFC 6455 §4): the server side here and
//! in [`request`]/[`response`], the client side in [`client`].
//!
//! [`parse_request`] takes the bytes read so far and either asks for more,
//! refuses the request with an HTTP status ([`HandshakeError`], whose
//! `response()` is ready to write), or returns the parsed head and how many
//! bytes it used. Bytes after the head (a client may pipeline its first frames
//! right behind the request) are left for the frame decoder.
//!
//! Layout: [`request`] parses and checks the request head, [`response`]
//! builds the 101 and every refusal, [`accept`] computes
//! `Sec-WebSocket-Accept`.
//!
//! Decisions, with reasons:
//! * A request without `Upgrade: websocket` is returned as
//!   [`ParsedRequest::Http`], not refused, so the server can serve a page on
//!   the same port or answer 426 itself.
//! * Once `Upgrade: websocket` is present, every RFC 6455 §4.2.1 rule is
//!   checked here: a non-GET method is 405 (with `Allow: GET`), a missing
//!   `Host`, `Connection` without the `upgrade` token, or a bad key is 400,
//!   and a version other than 13 (or none) is 426 with
//!   `Sec-WebSocket-Version: 13`.
//! * Request smuggling: an upgrade carries no body, so any `Transfer-Encoding`
//!   or a `Content-Length` other than 0 is 400; two `Content-Length` headers
//!   are 400 on any request.
//! * Oversize input is 431 in every case (request line, header block, header
//!   count), even for a long request line where 414 would also fit: one status
//!   for "your request head is too big" keeps the server and tests simple.
//!   The limits are checked on incomplete input too, so a slow client cannot
//!   make us buffer without bound.

pub mod accept;
pub mod client;
pub mod request;
pub mod response;

pub use accept::accept_key;
pub use client::{
    build_request, check_response, generate_key, parse_response, Accepted, ClientHandshakeError,
    ClientRequest, HandshakeResponse,
};
pub use request::{parse_request, HandshakeRequest, HttpLimits, ParsedRequest};
pub use response::{build_accept_response, build_response, HandshakeError};
