//! The application's answer to the upgrade request: accept (101) or a plain
//! HTTP refusal. The connection's read side waits for it before reading frames.

use std::task::{Context, Poll};

use ferrosocket_proto::{build_accept_response, build_response, negotiate};

use super::{Conn, Wakes};
use crate::error::WebSocketError;

/// How the application answered the upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Accepted,
    Rejected,
}

impl Conn {
    /// Queue the 101 response; frames may be sent right after.
    pub fn accept(
        &self,
        subprotocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(), WebSocketError> {
        check_headers(headers)?;
        if let Some(p) = subprotocol {
            if p.is_empty() || p.bytes().any(|b| !(0x21..0x7f).contains(&b) || b == b',') {
                return Err(WebSocketError::InvalidArgument(format!(
                    "invalid subprotocol token {p:?}"
                )));
            }
        }
        let agreed = if self.config.deflate.enabled {
            negotiate(&self.request.head().extensions, &self.config.deflate)
        } else {
            None
        };
        let extension = agreed.as_ref().map(|(_, header)| header.as_str());
        let response = build_accept_response(self.request.key(), subprotocol, extension, headers);
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            if inner.session.accept().is_err() {
                return Err(WebSocketError::AlreadyAccepted);
            }
            inner.out.raw.extend_from_slice(&response);
            inner.out.deflate = agreed.map(|(params, _)| params);
            self.apply(&mut inner, &mut wakes, Vec::new());
        }
        wakes.wake();
        Ok(())
    }

    /// Answer the upgrade request with a plain HTTP response and close.
    pub fn reject(
        &self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(), WebSocketError> {
        crate::error::check_refusal_status(status)?;
        check_headers(headers)?;
        let response = build_response(status, headers, body);
        let mut wakes = Wakes::default();
        {
            let mut inner = self.lock();
            let Ok(actions) = inner.session.reject(status) else {
                return Err(WebSocketError::AlreadyAccepted);
            };
            inner.out.raw.extend_from_slice(&response);
            self.apply(&mut inner, &mut wakes, actions);
        }
        wakes.wake();
        Ok(())
    }

    /// The HTTP status the application refused the upgrade with (`reject`,
    /// or `close` before `accept`), if it did.
    pub fn refused_with(&self) -> Option<u16> {
        self.lock().session.refused()
    }

    pub(crate) fn poll_decision(&self, cx: &mut Context<'_>) -> Poll<Decision> {
        let mut inner = self.lock();
        if inner.session.accepted() {
            return Poll::Ready(Decision::Accepted);
        }
        if inner.session.state() != &ferrosocket_proto::session::State::Connecting {
            return Poll::Ready(Decision::Rejected);
        }
        inner.inbound.reader_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Refuse a response header that would be dropped or split the response: a
/// name that is not an HTTP token, or a value with CR, LF or NUL. Refused
/// with an error rather than dropped, so a mistake is seen where it is made.
fn check_headers(headers: &[(String, String)]) -> Result<(), WebSocketError> {
    const SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={} \t";
    for (name, value) in headers {
        let bad_name = name.is_empty()
            || name
                .bytes()
                .any(|b| !(0x21..0x7f).contains(&b) || SEPARATORS.contains(&b));
        if bad_name {
            return Err(WebSocketError::InvalidArgument(format!(
                "invalid response header name {name:?}: use an HTTP token such as \"x-server\""
            )));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(WebSocketError::InvalidArgument(format!(
                "response header {name:?} has CR, LF or NUL in its value {value:?}"
            )));
        }
    }
    Ok(())
}
