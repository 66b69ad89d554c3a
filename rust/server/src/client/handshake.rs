//! The client's opening handshake on a stream, then the hand-over to the
//! connection tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use ferrosocket_proto::{
    build_request, client_offer, generate_key, ClientRequest, HandshakeRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{agree, parse, ClientConfig, ConnectError, Handshake, WsUri};
use crate::conn::Conn;
use crate::io::Transport;
use crate::request::Request;

/// The most of a refusal's body that is kept.
const MAX_BODY: usize = 64 << 10;

pub(super) async fn run<T: Transport>(
    mut stream: T,
    uri: &WsUri,
    config: &ClientConfig,
    peer: Option<SocketAddr>,
) -> Result<(Arc<Conn>, Handshake), ConnectError> {
    let key = generate_key();
    let request = ClientRequest {
        host: uri.host_header(),
        target: uri.target.clone(),
        subprotocols: config.subprotocols.clone(),
        extensions: config
            .compression
            .then(|| client_offer(&config.websocket.deflate)),
        headers: config.headers.clone(),
    };
    let bytes = build_request(&request, &key)?;
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(4096);
    let (response, used) = loop {
        if let Some(done) = parse(&buf)? {
            break done;
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(ConnectError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection during the handshake",
            )));
        }
    };
    let _ = buf.split_to(used);
    if response.status != 101 {
        // Read the body: its declared length, or up to EOF; at most MAX_BODY.
        let want = response.content_length().unwrap_or(MAX_BODY).min(MAX_BODY);
        while buf.len() < want {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        buf.truncate(want);
        return Err(ConnectError::Refused {
            status: response.status,
            headers: response.headers,
            body: buf.to_vec(),
        });
    }
    let (handshake, deflate) = match agree(response, &key, config) {
        Ok(agreed) => agreed,
        Err(e) => {
            // RFC 6455 §4.1: fail the connection; nothing more to say to it.
            let _ = stream.shutdown().await;
            return Err(e);
        }
    };
    let head = HandshakeRequest {
        method: "GET".into(),
        target: request.target,
        headers: request.headers,
        key,
        subprotocols: request.subprotocols,
        extensions: request.extensions.into_iter().collect(),
    };
    let request = Request::new(head, peer, None).secure(T::SECURE);
    let conn = Arc::new(Conn::new_client(
        request,
        config.websocket.clone(),
        deflate.map(|p| p.mirrored()),
    ));
    tokio::spawn(crate::io::drive(conn.clone(), stream, buf));
    Ok((conn, handshake))
}
