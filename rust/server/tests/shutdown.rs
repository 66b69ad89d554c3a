//! `Server::close` with arguments it cannot send: refused at once, before
//! anything is closed (regression: an invalid code used to stop the listener
//! and leave every connection open until the grace period ran out).

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

async fn assert_echoes(client: &mut Client, text: &str) {
    client.send(WsMessage::text(text)).await.unwrap();
    assert_eq!(next_msg(client).await, WsMessage::text(text));
}

#[tokio::test]
async fn server_close_with_an_invalid_code_or_reason_is_refused_before_anything_closes() {
    let server = serve("/echo", echo).await;
    let mut open = connect(&server, "/echo").await;
    assert_echoes(&mut open, "up").await;

    let bad_code = server.close(999, "");
    let long_reason = server.close(1001, &"r".repeat(124));
    assert!(bad_code.is_err(), "close(999) must be refused");
    assert!(
        long_reason.is_err(),
        "a reason over 123 bytes must be refused"
    );
    assert!(
        long_reason.unwrap_err().to_string().contains("123 bytes"),
        "the error must name the reason limit"
    );

    // Nothing was closed: the open connection still echoes and the listener
    // still accepts new connections.
    assert_echoes(&mut open, "still open").await;
    let mut later = connect(&server, "/echo").await;
    assert_echoes(&mut later, "accepted").await;

    // A valid close still works afterwards.
    server.close(1001, "bye").unwrap();
    for c in [&mut open, &mut later] {
        assert_eq!(next_close(c).await.code, WsCloseCode::Away);
        expect_end(c).await;
    }
    drop((open, later));
    let stragglers = within("wait_closed", server.wait_closed(Duration::from_secs(4))).await;
    assert_eq!(stragglers, 0);
}
