//! `ferrosocket-proto`: the sans-IO, server-role core of RFC 6455.
//!
//! "Sans-IO" means this crate never touches a socket, a timer or a runtime:
//! it turns bytes into events ([`Decoder`], [`parse_request`]) and events
//! into bytes ([`encode_frame`], [`build_accept_response`]). The tokio server
//! owns all IO and calls in here with whatever it has read. That split
//! buys three things:
//!
//! * **Testability.** Every protocol rule is tested with byte vectors and
//!   property tests, including arbitrary TCP chunking, without a network.
//! * **Fuzzability.** The same functions are fuzz targets (see
//!   `rust/fuzz` and the hidden [`fuzzing`] module, whose bodies also run as
//!   bounded property tests under `cargo test`).
//! * **Reuse.** No tokio and no pyo3 here: the server, load tools and tests
//!   share one implementation of the protocol.
//!
//! Layout: [`handshake`] (HTTP upgrade), [`frame`] (codec), [`deflate`]
//! (permessage-deflate, RFC 7692: negotiation, compression, bounded
//! inflation), [`mask`],
//! [`utf8`] (streaming fail-fast validation), [`close`] (close codes),
//! [`session`] (the connection's lifecycle as a state machine), [`error`] (one enum, each variant mapped to its
//! close code).

pub mod close;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod session;
pub mod utf8;

#[doc(hidden)]
pub mod fuzzing;

pub use close::is_valid_close_code;
pub use deflate::{negotiate, DeflateConfig, DeflateParams, Deflater, Inflater};
pub use error::ProtocolError;
pub use frame::{
    encode_close, encode_frame, encode_frame_masked, encode_frame_masked_rsv1, encode_frame_rsv1,
    max_header_len, CloseFrame, Decoder, DecoderConfig, Event, OpCode,
};
pub use handshake::{
    accept_key, build_accept_response, build_response, parse_request, HandshakeError,
    HandshakeRequest, HttpLimits, ParsedRequest,
};
pub use mask::apply_mask;
pub use utf8::Utf8Validator;
