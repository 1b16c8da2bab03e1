//! The decisions of a connection, tested with bytes and virtual time, in
//! the manner of python-websockets' `test_protocol.py`: frames in, events
//! and frames out, one test per rule, each named after the section of RFC
//! 6455 it checks. No socket, no sleep.

use std::time::{Duration, Instant};

use super::*;
use crate::protocol::error::{CapacityError, ProtocolViolation};
use crate::protocol::frame::{FrameHeader, write_frame};
use crate::protocol::mask::apply_mask;

const ROLES: [Role; 2] = [Role::Client, Role::Server];
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

fn config() -> Config {
    Config::default().close_timeout(CLOSE_TIMEOUT)
}

fn connection(role: Role, t0: Instant) -> Connection {
    Connection::new(role, &config(), t0)
}

/// A frame as the peer sends it to `role` (§5.1: a client masks, a
/// server does not).
fn from_peer(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mask = (role == Role::Server).then_some([0x37, 0xfa, 0x21, 0x3d]);
    let mut out = Vec::new();
    write_frame(&mut out, fin, opcode, payload, mask);
    out
}

fn close_frame_from_peer(role: Role, code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    from_peer(role, true, OpCode::Close, &payload)
}

/// The frames `connection` has queued, unmasked: (opcode, payload) each.
/// Checks that a client masked every frame and a server none (§5.1).
fn frames_sent(connection: &mut Connection, role: Role) -> Vec<(OpCode, Vec<u8>)> {
    let bytes = connection.data_to_send();
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (header, len) = FrameHeader::parse(&bytes[at..])
            .expect("a valid frame")
            .expect("a whole frame");
        assert_eq!(header.mask.is_some(), role == Role::Client, "§5.1 masking");
        at += len;
        let mut payload = bytes[at..at + header.payload_len as usize].to_vec();
        at += payload.len();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        frames.push((header.opcode, payload));
    }
    frames
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    payload
}

fn closed(code: u16, reason: &str) -> Event {
    Event::Closed(CloseFrame::new(CloseCode::from(code), reason))
}

// ---------------------------------------------------------------------------
// §5.5.1 Close: answering the peer's close frame, and not sending after ours
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_5_5_1_a_close_frame_from_the_peer_is_answered_with_its_code() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&close_frame_from_peer(role, 4001, "bye"));
        assert_eq!(c.next_event(t0), Some(closed(4001, "bye")));
        assert_eq!(
            frames_sent(&mut c, role),
            [(OpCode::Close, close_payload(4001, ""))]
        );
        assert_eq!(
            c.state(),
            &State::Closed {
                received: CloseFrame::new(CloseCode::Other(4001), "bye")
            }
        );
        assert_eq!(c.next_event(t0), None);
    }
}

#[test]
fn rfc6455_5_5_1_a_close_frame_without_a_code_is_answered_without_one() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&from_peer(role, true, OpCode::Close, b""));
        // 1005 reports "no code"; it is never sent (§7.4.1).
        assert_eq!(c.next_event(t0), Some(closed(1005, "")));
        assert_eq!(frames_sent(&mut c, role), [(OpCode::Close, Vec::new())]);
    }
}

#[test]
fn rfc6455_5_5_1_no_data_frame_is_sent_after_our_close_frame() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_close(CloseCode::Normal, "done", t0).unwrap();
        assert!(matches!(c.state(), State::Closing { since, .. } if *since == t0));
        assert_eq!(c.send_text("late"), Err(Error::AlreadyClosed));
        assert_eq!(c.send_binary(b"late"), Err(Error::AlreadyClosed));
        assert_eq!(c.send_ping(b""), Err(Error::AlreadyClosed));
        assert_eq!(c.send_pong(b""), Err(Error::AlreadyClosed));
        assert_eq!(
            c.send_close(CloseCode::Normal, "twice", t0),
            Err(Error::AlreadyClosed)
        );
        assert_eq!(
            frames_sent(&mut c, role),
            [(OpCode::Close, close_payload(1000, "done"))]
        );
    }
}

#[test]
fn rfc6455_5_5_1_the_peer_answering_our_close_completes_the_handshake_without_a_second_close() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_close(CloseCode::GoingAway, "", t0).unwrap();
        frames_sent(&mut c, role);
        c.receive_data(&close_frame_from_peer(role, 1001, ""));
        assert_eq!(c.next_event(t0), Some(closed(1001, "")));
        assert_eq!(frames_sent(&mut c, role), []);
        assert!(matches!(c.state(), State::Closed { .. }));
    }
}

#[test]
fn rfc6455_5_5_1_messages_still_arrive_while_our_close_waits_for_its_answer() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_close(CloseCode::Normal, "", t0).unwrap();
        c.receive_data(&from_peer(role, true, OpCode::Text, b"in flight"));
        assert_eq!(
            c.next_event(t0),
            Some(Event::Message(Message::from("in flight")))
        );
    }
}

#[test]
fn rfc6455_5_5_1_nothing_after_the_peer_close_frame_is_parsed() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        let mut input = close_frame_from_peer(role, 1000, "");
        input.extend(from_peer(role, true, OpCode::Text, b"after close"));
        input.extend(from_peer(role, true, OpCode::Ping, b"after close"));
        c.receive_data(&input);
        assert_eq!(c.next_event(t0), Some(closed(1000, "")));
        assert_eq!(c.next_event(t0), None);
        // Neither a pong nor a second close.
        assert_eq!(frames_sent(&mut c, role).len(), 1);
        c.receive_data(&from_peer(role, true, OpCode::Text, b"later still"));
        assert_eq!(c.next_event(t0), None);
    }
}

/// What was sent before the peer's close frame arrived goes out before the
/// reply, in order: a close never overtakes a message.
#[test]
fn rfc6455_5_5_1_messages_queued_before_the_close_reply_go_out_before_it() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_text("one").unwrap();
        c.send_binary(b"two").unwrap();
        c.receive_data(&close_frame_from_peer(role, 1000, ""));
        assert_eq!(c.next_event(t0), Some(closed(1000, "")));
        assert_eq!(
            frames_sent(&mut c, role),
            [
                (OpCode::Text, b"one".to_vec()),
                (OpCode::Binary, b"two".to_vec()),
                (OpCode::Close, close_payload(1000, "")),
            ]
        );
    }
}

#[test]
fn rfc6455_5_5_1_a_long_reason_is_cut_at_a_character_boundary() {
    let t0 = Instant::now();
    let mut c = connection(Role::Server, t0);
    let reason = "é".repeat(100);
    c.send_close(CloseCode::Normal, &reason, t0).unwrap();
    let sent = frames_sent(&mut c, Role::Server);
    assert_eq!(sent[0].1.len(), 2 + 122);
    assert!(matches!(c.state(), State::Closing { sent, .. } if sent.reason == "é".repeat(61)));
}

// ---------------------------------------------------------------------------
// §5.5.2 Ping, §5.5.3 Pong
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_5_5_2_a_ping_is_answered_with_a_pong_of_the_same_payload() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&from_peer(role, true, OpCode::Ping, b"are you there"));
        assert_eq!(
            c.next_event(t0),
            Some(Event::Ping(b"are you there".to_vec()))
        );
        assert_eq!(
            frames_sent(&mut c, role),
            [(OpCode::Pong, b"are you there".to_vec())]
        );
    }
}

#[test]
fn rfc6455_5_5_2_no_pong_once_our_close_frame_is_out() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_close(CloseCode::Normal, "", t0).unwrap();
        frames_sent(&mut c, role);
        c.receive_data(&from_peer(role, true, OpCode::Ping, b"x"));
        assert_eq!(c.next_event(t0), Some(Event::Ping(b"x".to_vec())));
        assert_eq!(frames_sent(&mut c, role), []);
    }
}

#[test]
fn rfc6455_5_5_3_a_pong_is_reported_and_not_answered() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&from_peer(role, true, OpCode::Pong, b"beat"));
        assert_eq!(c.next_event(t0), Some(Event::Pong(b"beat".to_vec())));
        assert_eq!(frames_sent(&mut c, role), []);
    }
}

#[test]
fn rfc6455_5_5_control_frames_to_send_are_at_most_125_bytes() {
    let t0 = Instant::now();
    let mut c = connection(Role::Client, t0);
    let too_long = Error::Capacity(CapacityError::FrameTooLong {
        size: 126,
        max_size: 125,
    });
    assert_eq!(c.send_ping(&[0; 126]), Err(too_long.clone()));
    assert_eq!(c.send_pong(&[0; 126]), Err(too_long));
    c.send_ping(&[7; 125]).unwrap();
    assert_eq!(
        frames_sent(&mut c, Role::Client),
        [(OpCode::Ping, vec![7; 125])]
    );
}

// ---------------------------------------------------------------------------
// §7.1.7 Fail the WebSocket Connection
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_7_1_7_a_protocol_error_fails_the_connection_with_its_close_code() {
    let cases: [(u8, &[u8], ProtocolViolation, u16); 3] = [
        (0x83, b"", ProtocolViolation::ReservedOpcode(3), 1002),
        (0xc1, b"", ProtocolViolation::ReservedBits(0b100), 1002),
        (0x81, b"\xff", ProtocolViolation::InvalidUtf8, 1007),
    ];
    for role in ROLES {
        for (first_byte, payload, violation, code) in cases.clone() {
            let t0 = Instant::now();
            let mut c = connection(role, t0);
            let mut input = from_peer(role, true, OpCode::Text, payload);
            input[0] = first_byte;
            c.receive_data(&input);
            let error = Error::Protocol(violation.clone());
            assert_eq!(
                c.next_event(t0),
                Some(Event::Failed(Failure::Protocol(error.clone())))
            );
            assert_eq!(
                frames_sent(&mut c, role),
                [(OpCode::Close, close_payload(code, &violation.to_string()))]
            );
            assert_eq!(c.state(), &State::Failed(Failure::Protocol(error)));
            assert_eq!(c.send_text("after"), Err(Error::AlreadyClosed));
            assert_eq!(c.next_event(t0), None);
        }
    }
}

#[test]
fn rfc6455_7_1_7_a_frame_over_the_limit_fails_the_connection_with_1009() {
    let t0 = Instant::now();
    let limits = config().max_frame_size(10);
    let mut c = Connection::new(Role::Server, &limits, t0);
    c.receive_data(&from_peer(Role::Server, true, OpCode::Binary, &[0; 11]));
    let Some(Event::Failed(Failure::Protocol(error))) = c.next_event(t0) else {
        panic!("not failed");
    };
    assert_eq!(error.close_code(), Some(CloseCode::TooBig));
    let sent = frames_sent(&mut c, Role::Server);
    assert_eq!(sent[0].0, OpCode::Close);
    assert_eq!(sent[0].1[..2], 1009u16.to_be_bytes());
}

#[test]
fn rfc6455_7_1_7_after_our_close_frame_a_protocol_error_sends_no_second_one() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.send_close(CloseCode::Normal, "", t0).unwrap();
        frames_sent(&mut c, role);
        let mut input = from_peer(role, true, OpCode::Text, b"");
        input[0] = 0x83;
        c.receive_data(&input);
        assert!(matches!(c.next_event(t0), Some(Event::Failed(_))));
        assert_eq!(frames_sent(&mut c, role), []);
    }
}

// ---------------------------------------------------------------------------
// §7.1.5: the end of the stream
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_7_1_5_the_stream_ending_before_the_close_handshake_fails_the_connection() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        // Half a frame, then the end.
        c.receive_data(&from_peer(role, true, OpCode::Text, b"cut short")[..4]);
        assert_eq!(c.next_event(t0), None);
        c.receive_eof();
        assert!(matches!(
            c.next_event(t0),
            Some(Event::Failed(Failure::Transport(_)))
        ));
        assert_eq!(c.next_event(t0), None);
        assert_eq!(c.tcp_close(false), Some(TcpClose::Now));
        // Nothing can be sent, and bytes arriving later are ignored.
        assert_eq!(frames_sent(&mut c, role), []);
        c.receive_data(&from_peer(role, true, OpCode::Text, b"ghost"));
        assert_eq!(c.next_event(t0), None);
    }
}

#[test]
fn rfc6455_7_1_5_the_stream_ending_after_the_close_handshake_is_the_normal_end() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&close_frame_from_peer(role, 1000, ""));
        assert_eq!(c.next_event(t0), Some(closed(1000, "")));
        c.receive_eof();
        assert_eq!(c.next_event(t0), None);
        assert!(matches!(c.state(), State::Closed { .. }));
    }
}

#[test]
fn rfc6455_7_1_5_the_stream_ending_while_our_close_waits_fails_the_connection() {
    let t0 = Instant::now();
    let mut c = connection(Role::Client, t0);
    c.send_close(CloseCode::Normal, "", t0).unwrap();
    c.receive_eof();
    assert!(matches!(c.next_event(t0), Some(Event::Failed(_))));
}

// ---------------------------------------------------------------------------
// §7.1.1: who closes the TCP connection
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_7_1_1_the_tcp_connection_is_closed_only_once_the_connection_is_over() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        assert_eq!(c.tcp_close(false), None);
        c.send_close(CloseCode::Normal, "", t0).unwrap();
        assert_eq!(c.tcp_close(false), None, "{role:?} while closing");
    }
}

/// (role, how the connection ended, bytes after the close frame, TLS) →
/// how the TCP connection is closed.
#[test]
fn rfc6455_7_1_1_the_server_closes_first_and_the_client_waits_for_it() {
    let clean = |role, unread: bool| {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        let mut input = close_frame_from_peer(role, 1000, "");
        if unread {
            input.extend_from_slice(b"trailing");
        }
        c.receive_data(&input);
        c.next_event(t0);
        c
    };
    let failed = |role| {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        c.receive_data(&[0x83, 0x80, 0, 0, 0, 0]);
        c.next_event(t0);
        c
    };
    let cases = [
        // A clean close over plain TCP with nothing unread: the server's
        // shutdown is all; nothing can be reset.
        (clean(Role::Server, false), false, TcpClose::ShutdownWrite),
        // Bytes after the close frame, or TLS (whose close_notify may
        // follow): drain them first, or closing would reset the connection.
        (
            clean(Role::Server, true),
            false,
            TcpClose::ShutdownWriteThenDrain,
        ),
        (
            clean(Role::Server, false),
            true,
            TcpClose::ShutdownWriteThenDrain,
        ),
        (
            failed(Role::Server),
            false,
            TcpClose::ShutdownWriteThenDrain,
        ),
        // "the client SHOULD wait for the server to close the connection".
        (clean(Role::Client, false), false, TcpClose::DrainThenClose),
        (clean(Role::Client, false), true, TcpClose::DrainThenClose),
        (failed(Role::Client), false, TcpClose::DrainThenClose),
    ];
    for (i, (c, secure, expected)) in cases.into_iter().enumerate() {
        assert_eq!(c.tcp_close(secure), Some(expected), "case {i}");
    }
}

#[test]
fn rfc6455_7_1_1_a_close_frame_that_could_not_be_written_closes_at_once() {
    for role in ROLES {
        let mut session = Session::new(role);
        session.close_received(None);
        assert_eq!(session.tcp_close(false, false, false), Some(TcpClose::Now));
        let mut session = Session::new(role);
        session.fail(Failure::Transport("reset".into()));
        assert_eq!(session.tcp_close(true, false, false), Some(TcpClose::Now));
    }
}

/// Once failed or closed, the first end stays the one reported.
#[test]
fn rfc6455_7_1_7_the_first_end_of_a_connection_is_the_one_it_keeps() {
    let mut session = Session::new(Role::Server);
    session.close_received(None);
    assert_eq!(session.fail(Failure::Aborted), 0);
    assert!(matches!(session.state(), State::Closed { .. }));
    let mut session = Session::new(Role::Server);
    session.fail(Failure::Timeout(Timeout::Write));
    session.fail(Failure::Transport("later".into()));
    assert_eq!(
        session.state(),
        &State::Failed(Failure::Timeout(Timeout::Write))
    );
    // A broken stream carries nothing more: what was queued is dropped.
    assert!(session.nothing_to_send());
}

// ---------------------------------------------------------------------------
// Deadlines: keep-alive and the close timeout, on virtual time
// ---------------------------------------------------------------------------

#[test]
fn rfc6455_5_5_2_keep_alive_pings_a_quiet_peer_and_fails_one_that_does_not_answer() {
    let t0 = Instant::now();
    let mut c = connection(Role::Client, t0);
    assert_eq!(c.poll_timeout(), None);
    let keep_alive = KeepAlive::new(Duration::from_secs(30), Duration::from_secs(10));
    c.set_keep_alive(Some(keep_alive), t0);
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    // Nothing is due early.
    c.handle_timeout(t0 + Duration::from_secs(29));
    assert_eq!(frames_sent(&mut c, Role::Client), []);
    c.handle_timeout(t0 + Duration::from_secs(30));
    assert_eq!(
        frames_sent(&mut c, Role::Client),
        [(OpCode::Ping, Vec::new())]
    );
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(40)));
    c.handle_timeout(t0 + Duration::from_secs(40));
    assert_eq!(
        c.next_event(t0 + Duration::from_secs(40)),
        Some(Event::Failed(Failure::Timeout(Timeout::PongOverdue)))
    );
    assert_eq!(c.tcp_close(false), Some(TcpClose::Now));
    assert_eq!(c.poll_timeout(), None);
}

/// Half a frame is enough: a long message arriving slowly is not a dead
/// peer.
#[test]
fn rfc6455_5_5_2_part_of_a_frame_answers_for_the_peer_too() {
    let t0 = Instant::now();
    let mut c = connection(Role::Client, t0);
    c.set_keep_alive(
        Some(KeepAlive::new(
            Duration::from_secs(30),
            Duration::from_secs(10),
        )),
        t0,
    );
    let t1 = t0 + Duration::from_secs(25);
    c.receive_data(&from_peer(Role::Client, true, OpCode::Binary, &[0; 1000])[..100]);
    assert_eq!(c.next_event(t1), None);
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(30)));
}

#[test]
fn rfc6455_5_5_2_anything_arriving_answers_for_the_peer() {
    let t0 = Instant::now();
    let mut c = connection(Role::Server, t0);
    c.set_keep_alive(
        Some(KeepAlive::new(
            Duration::from_secs(30),
            Duration::from_secs(10),
        )),
        t0,
    );
    c.handle_timeout(t0 + Duration::from_secs(30));
    frames_sent(&mut c, Role::Server);
    let t1 = t0 + Duration::from_secs(35);
    c.receive_data(&from_peer(Role::Server, true, OpCode::Text, b"here"));
    assert!(matches!(c.next_event(t1), Some(Event::Message(_))));
    assert_eq!(c.poll_timeout(), Some(t1 + Duration::from_secs(30)));
}

#[test]
fn rfc6455_7_1_2_a_close_frame_unanswered_within_the_close_timeout_fails_the_connection() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut c = connection(role, t0);
        // Keep-alive stops once our close frame is out.
        c.set_keep_alive(
            Some(KeepAlive::new(
                Duration::from_secs(1),
                Duration::from_secs(1),
            )),
            t0,
        );
        c.send_close(CloseCode::Normal, "", t0).unwrap();
        frames_sent(&mut c, role);
        assert_eq!(c.poll_timeout(), Some(t0 + CLOSE_TIMEOUT));
        c.handle_timeout(t0 + CLOSE_TIMEOUT - Duration::from_millis(1));
        assert_eq!(c.next_event(t0), None);
        assert_eq!(frames_sent(&mut c, role), [], "no keep-alive ping");
        c.handle_timeout(t0 + CLOSE_TIMEOUT);
        assert_eq!(
            c.next_event(t0 + CLOSE_TIMEOUT),
            Some(Event::Failed(Failure::Timeout(Timeout::CloseOverdue)))
        );
        assert_eq!(c.tcp_close(false), Some(TcpClose::Now));
    }
}

/// RFC 7692: two connections that agreed to permessage-deflate exchange
/// compressed messages (RSV1, smaller than the message, context takeover
/// making the second smaller still), short ones go as they are, and both
/// ends hibernate after the idle time, by `handle_timeout`, and go on.
#[cfg(feature = "deflate")]
#[test]
fn rfc7692_compressed_messages_flow_and_idle_ends_hibernate() {
    use crate::protocol::extension::permessage_deflate::{DeflateConfig, Negotiated};
    use crate::protocol::extension::{self, permessage_deflate};

    let t0 = Instant::now();
    let config = DeflateConfig::default().hibernate_after(Duration::from_secs(5));
    let offers = extension::parse(["permessage-deflate; client_max_window_bits"]).unwrap();
    let params = permessage_deflate::negotiate(&config, &offers)
        .unwrap()
        .params;
    let negotiated = Negotiated::new(params, config);
    let mut client = connection(Role::Client, t0);
    let mut server = connection(Role::Server, t0);
    client.enable_deflate(&negotiated);
    server.enable_deflate(&negotiated);
    let chat = r#"{"type":"chat","room":"general","text":"hello there, everyone in the room"}"#;

    let mut sizes = Vec::new();
    for _ in 0..2 {
        client.send_text(chat).unwrap();
        let bytes = client.data_to_send();
        let (header, _) = FrameHeader::parse(&bytes).unwrap().unwrap();
        assert_eq!(header.rsv, 0b100, "RSV1: compressed");
        sizes.push(header.payload_len as usize);
        server.receive_data(&bytes);
        assert_eq!(
            server.next_event(t0),
            Some(Event::Message(Message::Text(chat.into())))
        );
    }
    assert!(
        sizes[0] < chat.len() && sizes[1] < sizes[0] / 2,
        "{sizes:?}"
    );
    // Under the threshold (32 bytes): as it is.
    server.send_text("short").unwrap();
    let bytes = server.data_to_send();
    assert_eq!(bytes[0], 0x81);
    client.receive_data(&bytes);
    assert_eq!(
        client.next_event(t0),
        Some(Event::Message(Message::Text("short".into())))
    );

    // Idle: both sides look, and hibernate, then go on as before.
    let due = server.poll_timeout().expect("a look at hibernation is due");
    assert!(due <= t0 + Duration::from_secs(5));
    for end in [&mut client, &mut server] {
        end.handle_timeout(t0 + Duration::from_secs(5));
        end.handle_timeout(t0 + Duration::from_secs(11));
    }
    assert!(!server.receiver.inflate_has_context());
    assert_eq!(server.session.hibernation_due(), None);
    assert_eq!(client.session.hibernation_due(), None);
    client.send_text(chat).unwrap();
    let bytes = client.data_to_send();
    let (header, _) = FrameHeader::parse(&bytes).unwrap().unwrap();
    assert!(
        (header.payload_len as usize) <= sizes[1] + 2,
        "the window was kept"
    );
    server.receive_data(&bytes);
    assert_eq!(
        server.next_event(t0 + Duration::from_secs(12)),
        Some(Event::Message(Message::Text(chat.into())))
    );
}
