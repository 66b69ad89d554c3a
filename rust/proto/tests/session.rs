//! Every transition of the connection lifecycle (`session`), without sockets.

use ferrosocket_proto::session::{Action, Ending, Session, SessionError, State};

fn open() -> Session {
    let mut s = Session::new();
    s.accept().unwrap();
    s
}

fn close(code: Option<u16>, reason: &str) -> Action {
    Action::SendClose(code, reason.to_owned())
}

fn deliver(code: u16, reason: &str) -> Action {
    Action::Deliver(code, reason.to_owned())
}

#[test]
fn new_session_is_connecting() {
    let s = Session::new();
    assert_eq!(s.state(), &State::Connecting);
    assert!(!s.accepted());
    assert!(!s.can_send());
    assert!(s.outcome().is_none());
}

#[test]
fn accept_opens_once() {
    let mut s = Session::new();
    assert_eq!(s.accept(), Ok(()));
    assert_eq!(s.state(), &State::Open);
    assert_eq!(s.refused(), None);
    assert!(s.can_send() && s.accepts_data());
    assert_eq!(s.accept(), Err(SessionError::AlreadyAnswered));
    assert_eq!(s.reject(403), Err(SessionError::AlreadyAnswered));
}

#[test]
fn reject_finishes_without_delivering() {
    let mut s = Session::new();
    assert_eq!(s.reject(401).unwrap(), vec![Action::Finish]);
    assert_eq!(s.state(), &State::Finishing);
    assert!(!s.accepted() && !s.delivered());
    assert_eq!(s.refused(), Some(401));
    assert_eq!(s.outcome().unwrap().0, 1006);
    assert!(s.outcome().unwrap().1.contains("401"));
    assert_eq!(s.accept(), Err(SessionError::AlreadyAnswered));
    assert_eq!(s.on_io_done(), vec![]);
    assert_eq!(s.state(), &State::Closed);
}

#[test]
fn app_close_before_accept_refuses() {
    let mut s = Session::new();
    assert_eq!(s.on_app_close(1000, ""), vec![Action::Refuse]);
    assert_eq!(s.state(), &State::Connecting);
}

#[test]
fn app_close_sends_once_then_peer_answer_finishes() {
    let mut s = open();
    assert_eq!(s.on_app_close(1000, "bye"), vec![close(Some(1000), "bye")]);
    assert_eq!(s.state(), &State::CloseSent);
    assert!(!s.can_send() && !s.accepts_data() && s.closing_started());
    assert_eq!(s.on_app_close(1001, ""), vec![], "close is idempotent");
    // The peer's answer completes the handshake: nothing more is sent.
    let out = s.on_peer_close(Some(1000), "ok", false);
    assert_eq!(out, vec![deliver(1000, "ok"), Action::Finish]);
    assert_eq!(s.state(), &State::Finishing);
    // The outcome is what we decided first.
    assert_eq!(s.outcome(), Some(&(1000, "bye".to_owned())));
}

#[test]
fn peer_close_with_nothing_queued_echoes_its_code() {
    let mut s = open();
    let out = s.on_peer_close(Some(1001), "going", false);
    assert_eq!(
        out,
        vec![
            close(Some(1001), ""),
            deliver(1001, "going"),
            Action::Finish
        ]
    );
    assert_eq!(s.outcome(), Some(&(1001, "going".to_owned())));
    assert!(s.is_finishing());
}

#[test]
fn peer_close_without_code_is_1005_and_echoed_empty() {
    let mut s = open();
    let out = s.on_peer_close(None, "", false);
    assert_eq!(
        out,
        vec![close(None, ""), deliver(1005, ""), Action::Finish]
    );
}

#[test]
fn protocol_error_with_nothing_queued_fails_with_its_code() {
    let mut s = open();
    let out = s.on_protocol_error(1002, "bad opcode", false);
    assert_eq!(
        out,
        vec![
            close(Some(1002), ""),
            deliver(1002, "bad opcode"),
            Action::Finish
        ]
    );
}

#[test]
fn peer_close_behind_queue_drains_until_the_app_reaches_it() {
    let mut s = open();
    let out = s.on_peer_close(Some(1000), "done", true);
    assert_eq!(out, vec![deliver(1000, "done")]);
    assert_eq!(
        s.state(),
        &State::Draining(Ending::PeerClosed(Some(1000), "done".to_owned()))
    );
    // Replies to the queued messages still go out.
    assert!(s.can_send() && !s.closing_started());
    let out = s.on_close_received();
    assert_eq!(out, vec![close(Some(1000), ""), Action::Finish]);
    assert!(s.is_finishing());
}

#[test]
fn drain_timeout_ends_like_reaching_the_close() {
    let mut s = open();
    s.on_protocol_error(1009, "too big", true);
    assert_eq!(
        s.on_drain_timeout(),
        vec![close(Some(1009), ""), Action::Finish]
    );
    assert_eq!(s.on_drain_timeout(), vec![]);
    assert_eq!(s.on_close_received(), vec![]);
}

/// The defect behind this machine: invalid UTF-8 after "hello" while the
/// handler is not receiving, then the handler's `close(1000)`. The peer must
/// be told 1007 (RFC 6455 §7.1.7, §8.1), as the logs say.
#[test]
fn app_close_while_a_failure_drains_sends_the_failure_code() {
    for code in [1002, 1007, 1009] {
        let mut s = open();
        s.on_protocol_error(code, "bad", true);
        let out = s.on_app_close(1000, "normal");
        assert_eq!(
            out,
            vec![close(Some(code), ""), Action::Finish],
            "code {code}"
        );
        assert_eq!(s.outcome().unwrap().0, code);
    }
}

#[test]
fn app_close_while_a_peer_close_drains_answers_with_the_app_code() {
    let mut s = open();
    s.on_peer_close(Some(1001), "away", true);
    let out = s.on_app_close(1000, "bye");
    assert_eq!(out, vec![close(Some(1000), "bye"), Action::Finish]);
    assert_eq!(s.outcome(), Some(&(1001, "away".to_owned())));
    assert!(s.delivered());
}

#[test]
fn a_second_ending_changes_nothing() {
    let mut s = open();
    s.on_peer_close(Some(1000), "", true);
    assert_eq!(s.on_protocol_error(1002, "x", true), vec![]);
    s.on_close_received();
    assert_eq!(s.on_peer_close(Some(1000), "", false), vec![]);
}

#[test]
fn error_after_our_close_finishes_without_a_second_frame() {
    let mut s = open();
    s.on_app_close(1000, "");
    let out = s.on_protocol_error(1007, "utf8", false);
    assert_eq!(out, vec![deliver(1007, "utf8"), Action::Finish]);
    assert_eq!(s.outcome().unwrap().0, 1000);
}

#[test]
fn socket_gone_is_1006() {
    let mut s = open();
    assert_eq!(s.on_socket_gone(), vec![deliver(1006, ""), Action::Finish]);
    assert_eq!(s.outcome(), Some(&(1006, String::new())));
    assert_eq!(s.on_socket_gone(), vec![]);
}

#[test]
fn close_timeout_after_our_close_keeps_our_outcome() {
    let mut s = open();
    s.on_app_close(4000, "app");
    assert_eq!(s.on_socket_gone(), vec![deliver(1006, ""), Action::Finish]);
    assert_eq!(s.outcome(), Some(&(4000, "app".to_owned())));
}

#[test]
fn give_up_sends_its_code_and_aborts() {
    let mut s = open();
    let out = s.on_give_up(1011, "keepalive ping timeout");
    assert_eq!(
        out,
        vec![
            close(Some(1011), ""),
            deliver(1011, "keepalive ping timeout"),
            Action::Finish,
            Action::Abort
        ]
    );
    assert!(s.aborted());
    assert_eq!(s.on_give_up(1008, "x"), vec![]);
}

#[test]
fn give_up_while_finishing_only_aborts() {
    let mut s = open();
    s.on_peer_close(Some(1000), "", false);
    assert_eq!(
        s.on_give_up(1008, "peer stopped reading"),
        vec![Action::Abort]
    );
    assert_eq!(s.outcome().unwrap().0, 1000);
}

#[test]
fn give_up_while_draining_sends_its_code() {
    let mut s = open();
    s.on_protocol_error(1007, "utf8", true);
    let out = s.on_give_up(1008, "stalled");
    assert_eq!(
        out,
        vec![close(Some(1008), ""), Action::Finish, Action::Abort]
    );
}

#[test]
fn abort_keeps_the_outcome_and_stops() {
    let mut s = open();
    s.on_app_close(1001, "shutdown");
    assert_eq!(
        s.on_abort(),
        vec![deliver(1001, "shutdown"), Action::Finish, Action::Abort]
    );
    assert_eq!(s.on_abort(), vec![]);
}

#[test]
fn abort_before_accept_delivers_nothing() {
    let mut s = Session::new();
    assert_eq!(s.on_abort(), vec![Action::Finish, Action::Abort]);
    assert!(!s.accepted());
}

#[test]
fn io_done_closes_from_any_state() {
    let mut s = Session::new();
    assert_eq!(s.on_io_done(), vec![Action::Finish]);
    assert_eq!(s.state(), &State::Closed);

    let mut s = open();
    assert_eq!(s.on_io_done(), vec![deliver(1006, ""), Action::Finish]);
    assert_eq!(s.state(), &State::Closed);

    let mut s = open();
    s.on_peer_close(Some(1000), "", false);
    assert_eq!(s.on_io_done(), vec![]);
    assert_eq!(s.state(), &State::Closed);
    assert_eq!(s.on_app_close(1000, ""), vec![]);
}

#[test]
fn draining_then_io_done_keeps_the_single_delivery() {
    let mut s = open();
    s.on_peer_close(Some(1000), "", true);
    assert_eq!(s.on_io_done(), vec![Action::Finish]);
    assert!(s.delivered());
}
