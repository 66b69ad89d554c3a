//! A [`Conn`] in the client role: made by [`crate::client`] once the
//! server's 101 has been checked, so it starts open, with nothing to answer.
//!
//! Everything else is the server's machinery unchanged; the role only
//! decides that every frame encoded here is masked with a key from the OS
//! CSPRNG, that the decoder refuses masked frames, and (in `io.rs`) that the
//! server closes TCP first.

use ferrosocket_proto::{DeflateParams, MaskKeys, Role};

use super::{Conn, State};
use std::sync::Arc;

use crate::config::WebSocketConfig;
use crate::request::Request;

impl Conn {
    /// An open client connection. `request` is what we sent; `deflate` the
    /// agreed permessage-deflate parameters *mirrored* (see
    /// [`DeflateParams::mirrored`]: `server_*` is this endpoint), so the
    /// writer compresses with our window and the reader inflates with the
    /// server's.
    pub(crate) fn new_client(
        request: Request,
        config: impl Into<Arc<WebSocketConfig>>,
        deflate: Option<DeflateParams>,
    ) -> Conn {
        let mut conn = Conn::new(request, config);
        conn.role = Role::Client;
        let inner = conn.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        // A fresh session is Connecting, so accept() cannot fail.
        let _ = inner.session.accept();
        inner.out.deflate = deflate;
        inner.out.masks = Some(Box::new(MaskKeys::new()));
        conn.state.store(
            State::of(&inner.session) as u8,
            std::sync::atomic::Ordering::Release,
        );
        conn
    }
}
