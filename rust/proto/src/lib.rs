//! `ferrosocket-proto`: the sans-IO core of RFC 6455, for both roles (the
//! client side: [`handshake::client`], [`deflate::client`], [`Role`], [`mask::MaskKeys`]).
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
//! * **Reuse.** No tokio and no pyo3 here: the server, the Python bridge
//!   (through the server) and the tests share one implementation of the
//!   protocol.
//!
//! Layout, one concept per module: [`handshake`] (HTTP upgrade: request,
//! response, accept key), [`frame`] (the codec: one [`FrameHeader`] with one
//! encoder, and the streaming [`Decoder`]), [`deflate`] (permessage-deflate,
//! RFC 7692: negotiation, compression, bounded inflation — a leaf that the
//! frame codec uses and that knows nothing of frames), [`mask`], [`utf8`]
//! (streaming fail-fast validation), [`close`] (close codes), [`session`] (the
//! connection's lifecycle as a state machine: how a connection ends),
//! [`error`] (one enum, each variant mapped to its close code).

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
pub use deflate::{
    accept_response, client_offer, negotiate, DeflateConfig, DeflateParams, Deflater, Inflater,
};
pub use error::ProtocolError;
pub use frame::{
    encode_close, encode_close_masked, encode_compressed, encode_frame, CloseFrame, Decoder,
    DecoderConfig, Event, FrameHeader, OpCode, Role,
};
pub use handshake::{
    accept_key, build_accept_response, build_request, build_response, check_response, generate_key,
    parse_request, parse_response, Accepted, ClientHandshakeError, ClientRequest, HandshakeError,
    HandshakeRequest, HandshakeResponse, HttpLimits, ParsedRequest,
};
pub use mask::{apply_mask, MaskKeys};
pub use utf8::Utf8Validator;
