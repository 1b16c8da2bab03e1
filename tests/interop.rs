//! Interoperability with tungstenite, an independent implementation of
//! RFC 6455, in both directions:
//!
//! - `client_*`: a syncws client against a tungstenite server;
//! - `server_*`: a tungstenite client against a syncws server.
//!
//! Each test asserts on what users of both libraries see: the messages
//! each side reads, and the close codes and reasons. Nothing waits on a
//! sleep; every blocking step is bounded by `support::TIMEOUT`.

mod support;

use std::sync::mpsc;

use syncws::{CloseCode, CloseFrame, Error, Message, ServerHandle, WebSocket};
use tungstenite::Bytes;
use tungstenite::Message as TMessage;
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::protocol::frame::coding::{CloseCode as TCloseCode, Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameSocket};
use tungstenite::protocol::{Role as TRole, WebSocket as TungsteniteSocket};

use support::{
    MAX_MESSAGES, TIMEOUT, TWebSocket, assert_same_bytes, connect, multibyte_text, pattern,
    spawn_tungstenite_server, start_server, tungstenite_connect, tungstenite_drain,
    tungstenite_echo,
};

// ---------------------------------------------------------------------------
// Helpers

/// Text, binary, empty text and empty binary.
fn small_messages() -> Vec<Message> {
    vec![
        Message::from("hello, wörld ✓"),
        Message::Binary(vec![0, 1, 2, 0x7f, 0x80, 0xff]),
        Message::Text(String::new()),
        Message::Binary(Vec::new()),
    ]
}

/// The tungstenite message with the same kind and payload.
fn to_tungstenite(message: &Message) -> TMessage {
    match message {
        Message::Text(text) => TMessage::text(text.as_str()),
        Message::Binary(data) => TMessage::binary(data.clone()),
    }
}

fn t_close(code: u16, reason: &str) -> TCloseFrame {
    TCloseFrame {
        code: TCloseCode::from(code),
        reason: reason.into(),
    }
}

/// One raw data frame, for sending a message in fragments with tungstenite.
fn t_frame(kind: Data, payload: &[u8], fin: bool) -> TMessage {
    TMessage::Frame(Frame::message(payload.to_vec(), OpCode::Data(kind), fin))
}

/// Kind and length of a message, for failure messages (never megabytes).
fn describe(result: &syncws::Result<Message>) -> String {
    match result {
        Ok(Message::Text(t)) => format!("Ok(Text of {} bytes)", t.len()),
        Ok(Message::Binary(b)) => format!("Ok(Binary of {} bytes)", b.len()),
        Err(e) => format!("Err({e:?})"),
    }
}

fn describe_t(message: &TMessage) -> String {
    match message {
        TMessage::Text(t) => format!("Text of {} bytes", t.len()),
        TMessage::Binary(b) => format!("Binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

/// A frame as it was on the wire: opcode, FIN bit, whether it was masked,
/// and its payload (unmasked).
#[derive(Debug, PartialEq)]
struct WireFrame {
    opcode: OpCode,
    fin: bool,
    masked: bool,
    payload: Vec<u8>,
}

fn wire(kind: Data, fin: bool, masked: bool, payload: &[u8]) -> WireFrame {
    WireFrame {
        opcode: OpCode::Data(kind),
        fin,
        masked,
        payload: payload.to_vec(),
    }
}

/// Read `count` frames straight off the wire, below tungstenite's message
/// layer, then hand the connection (and any bytes read past those frames)
/// back to tungstenite. `ws` must have no bytes buffered yet.
fn read_wire_frames(ws: TWebSocket, role: TRole, count: usize) -> (Vec<WireFrame>, TWebSocket) {
    let config = *ws.get_config();
    let mut socket = FrameSocket::new(ws.into_inner());
    let mut frames = Vec::new();
    for _ in 0..count {
        let frame = socket
            .read(None)
            .expect("read a frame")
            .expect("a frame, not the end of the stream");
        let mask = frame.header().mask;
        let mut payload = frame.payload().to_vec();
        if let Some(mask) = mask {
            for (i, byte) in payload.iter_mut().enumerate() {
                *byte ^= mask[i % 4];
            }
        }
        frames.push(WireFrame {
            opcode: frame.header().opcode,
            fin: frame.header().is_final,
            masked: mask.is_some(),
            payload,
        });
    }
    let (stream, rest) = socket.into_inner();
    let ws = TungsteniteSocket::from_partially_read(stream, rest.to_vec(), role, Some(config));
    (frames, ws)
}

#[track_caller]
fn t_read(ws: &mut TWebSocket) -> TMessage {
    ws.read().expect("tungstenite read")
}

/// The close frame our side must report after the peer closed.
#[track_caller]
fn expect_closed(result: syncws::Result<Message>, code: CloseCode, reason: &str) {
    match result {
        Err(Error::Closed(frame)) => assert_eq!(frame, CloseFrame::new(code, reason)),
        other => panic!(
            "expected Err(Closed({} {reason:?})), got {}",
            u16::from(code),
            describe(&other)
        ),
    }
}

/// What the syncws server sends back for each message it reads.
type Reply = fn(&WebSocket, Message) -> syncws::Result<()>;

fn echo(ws: &WebSocket, message: Message) -> syncws::Result<()> {
    ws.send_message(&message)
}

/// Echo as three frames or more, with an empty one in the middle.
fn echo_in_frames(ws: &WebSocket, message: Message) -> syncws::Result<()> {
    match message {
        Message::Text(text) => {
            // Cut on character boundaries near a third and two thirds.
            let cut = |at: usize| {
                (at..=text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap()
            };
            let (a, b) = (cut(text.len() / 3), cut(2 * text.len() / 3));
            ws.send_text_frames([&text[..a], "", &text[a..b], &text[b..]])
        }
        Message::Binary(data) => {
            let (a, b) = (data.len() / 3, 2 * data.len() / 3);
            ws.send_binary_frames([&data[..a], &[][..], &data[a..b], &data[b..]])
        }
    }
}

/// A syncws server that answers each message with `reply` and reports every
/// result of `read_message` (the last one being the error that ended the
/// connection).
fn start_recording_server(
    reply: Reply,
) -> (
    ServerHandle,
    String,
    mpsc::Receiver<syncws::Result<Message>>,
) {
    let (tx, rx) = mpsc::channel();
    let (server, url) = start_server(move |mut ws| {
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        for _ in 0..MAX_MESSAGES {
            let result = ws.read_message();
            let message = result.as_ref().ok().cloned();
            let _ = tx.send(result);
            match message {
                Some(message) => {
                    if let Err(e) = reply(&ws, message) {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
                None => return,
            }
        }
    });
    (server, url, rx)
}

/// The next thing the recording server read.
#[track_caller]
fn seen(rx: &mpsc::Receiver<syncws::Result<Message>>) -> syncws::Result<Message> {
    rx.recv_timeout(TIMEOUT)
        .expect("the syncws server reported nothing in time")
}

// ---------------------------------------------------------------------------
// (a) syncws client, tungstenite server

#[test]
fn client_small_messages_round_trip_through_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    for message in small_messages() {
        ws.send_message(&message).unwrap();
        assert_eq!(ws.read_message().unwrap(), message, "echo of {message:?}");
    }
    ws.close(CloseCode::Normal, "done").unwrap();

    let log = peer.join();
    let mut expected: Vec<TMessage> = small_messages().iter().map(to_tungstenite).collect();
    expected.push(TMessage::Close(Some(t_close(1000, "done"))));
    assert_eq!(log.received, expected);
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_fragmented_messages_reach_tungstenite_whole() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    let big = pattern(1 << 20);

    ws.send_text_frames(["Hel", "lo, ", "", "wörld"]).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from("Hello, wörld"));
    ws.send_binary_frames([&[1u8, 2][..], &[], &[3, 4, 5]])
        .unwrap();
    assert_eq!(
        ws.read_message().unwrap(),
        Message::Binary(vec![1, 2, 3, 4, 5])
    );
    ws.send_binary_frames(big.chunks(100_000)).unwrap();
    match ws.read_message() {
        Ok(Message::Binary(echo)) => assert_same_bytes(&echo, &big, "echo of 11 frames"),
        other => panic!("expected the binary echo, got {}", describe(&other)),
    }
    ws.close(CloseCode::Normal, "").unwrap();

    // tungstenite saw each message whole, once.
    let log = peer.join();
    assert_eq!(
        log.received.len(),
        4,
        "{:?}",
        log.received.iter().map(describe_t).collect::<Vec<_>>()
    );
    assert_eq!(log.received[0], TMessage::text("Hello, wörld"));
    assert_eq!(log.received[1], TMessage::binary(vec![1, 2, 3, 4, 5]));
    match &log.received[2] {
        TMessage::Binary(data) => assert_same_bytes(data, &big, "what tungstenite read"),
        other => panic!("expected one binary message, got {}", describe_t(other)),
    }
    assert_eq!(log.received[3], TMessage::Close(Some(t_close(1000, ""))));
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_send_frames_puts_one_frame_per_piece_on_the_wire() {
    let (url, peer) = spawn_tungstenite_server(|ws| {
        let (frames, ws) = read_wire_frames(ws, TRole::Server, 7);
        (frames, tungstenite_echo(ws))
    });
    let mut ws = connect(&url);
    ws.send_text_frames(["Hel", "lo, ", "", "wörld"]).unwrap();
    ws.send_binary_frames([&[1u8, 2][..], &[], &[3]]).unwrap();
    ws.close(CloseCode::Normal, "").unwrap();

    let (frames, log) = peer.join();
    assert_eq!(
        frames,
        vec![
            wire(Data::Text, false, true, b"Hel"),
            wire(Data::Continue, false, true, b"lo, "),
            wire(Data::Continue, false, true, b""),
            wire(Data::Continue, true, true, "wörld".as_bytes()),
            wire(Data::Binary, false, true, &[1, 2]),
            wire(Data::Continue, false, true, &[]),
            wire(Data::Continue, true, true, &[3]),
        ]
    );
    assert_eq!(log.received, vec![TMessage::Close(Some(t_close(1000, "")))]);
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_joins_fragments_sent_by_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(|mut ws| {
        // "Hello wörld", the two bytes of 'ö' in different frames.
        let text = "Hello wörld".as_bytes();
        let mid = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
        ws.write(t_frame(Data::Text, &text[..3], false)).unwrap();
        ws.write(t_frame(Data::Continue, &text[3..mid], false))
            .unwrap();
        ws.write(t_frame(Data::Continue, &text[mid..], true))
            .unwrap();
        // A binary message with an empty fragment and a ping in between.
        ws.write(t_frame(Data::Binary, &[1, 2], false)).unwrap();
        ws.write(TMessage::Ping(Bytes::from_static(b"between")))
            .unwrap();
        ws.write(t_frame(Data::Continue, &[], false)).unwrap();
        ws.write(t_frame(Data::Continue, &[3], true)).unwrap();
        ws.flush().unwrap();
        tungstenite_echo(ws)
    });
    let mut ws = connect(&url);
    assert_eq!(ws.read_message().unwrap(), Message::from("Hello wörld"));
    assert_eq!(ws.read_message().unwrap(), Message::Binary(vec![1, 2, 3]));
    ws.close(CloseCode::Normal, "bye").unwrap();

    let log = peer.join();
    assert_eq!(
        log.received,
        vec![
            TMessage::Pong(Bytes::from_static(b"between")),
            TMessage::Close(Some(t_close(1000, "bye"))),
        ]
    );
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_16_mib_binary_round_trips_through_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    let data = pattern(16 << 20);
    ws.send_binary(&data).unwrap();
    match ws.read_message() {
        Ok(Message::Binary(echo)) => assert_same_bytes(&echo, &data, "echo"),
        other => panic!("expected the binary echo, got {}", describe(&other)),
    }
    ws.close(CloseCode::Normal, "").unwrap();

    let log = peer.join();
    assert_eq!(log.received.len(), 2);
    match &log.received[0] {
        TMessage::Binary(received) => assert_same_bytes(received, &data, "what tungstenite read"),
        other => panic!("expected a binary message, got {}", describe_t(other)),
    }
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_1_mib_multibyte_text_round_trips_through_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    let text = multibyte_text(1 << 20);
    ws.send_text(&text).unwrap();
    match ws.read_message() {
        Ok(Message::Text(echo)) => assert_same_bytes(echo.as_bytes(), text.as_bytes(), "echo"),
        other => panic!("expected the text echo, got {}", describe(&other)),
    }
    ws.close(CloseCode::Normal, "").unwrap();

    let log = peer.join();
    assert_eq!(log.received.len(), 2);
    match &log.received[0] {
        TMessage::Text(received) => {
            assert_same_bytes(
                received.as_bytes(),
                text.as_bytes(),
                "what tungstenite read",
            );
        }
        other => panic!("expected a text message, got {}", describe_t(other)),
    }
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_answers_a_tungstenite_ping_with_the_same_payload() {
    let (url, peer) = spawn_tungstenite_server(|mut ws| {
        ws.send(TMessage::Ping(Bytes::from_static(b"are you there?")))
            .unwrap();
        // The client answers while it reads.
        let answer = t_read(&mut ws);
        ws.send(TMessage::text("after the ping")).unwrap();
        (answer, tungstenite_echo(ws))
    });
    let mut ws = connect(&url);
    assert_eq!(ws.read_message().unwrap(), Message::from("after the ping"));
    ws.close(CloseCode::Normal, "").unwrap();

    let (answer, log) = peer.join();
    assert_eq!(
        answer,
        TMessage::Pong(Bytes::from_static(b"are you there?"))
    );
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_ping_reaches_tungstenite_and_its_pong_is_consumed() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    ws.ping(b"knock").unwrap();
    ws.send_text("after the ping").unwrap();
    // The pong tungstenite sent first is consumed, not returned.
    assert_eq!(ws.read_message().unwrap(), Message::from("after the ping"));
    ws.close(CloseCode::Normal, "").unwrap();

    let log = peer.join();
    assert_eq!(
        log.received,
        vec![
            TMessage::Ping(Bytes::from_static(b"knock")),
            TMessage::text("after the ping"),
            TMessage::Close(Some(t_close(1000, ""))),
        ]
    );
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_close_code_and_reason_reach_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(tungstenite_echo);
    let mut ws = connect(&url);
    ws.close(CloseCode::Other(4000), "custom").unwrap();
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));
    assert!(matches!(ws.send_text("late"), Err(Error::AlreadyClosed)));

    let log = peer.join();
    assert_eq!(
        log.received,
        vec![TMessage::Close(Some(t_close(4000, "custom")))]
    );
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn client_sees_the_close_code_and_reason_of_tungstenite() {
    let (url, peer) = spawn_tungstenite_server(|mut ws| {
        ws.close(Some(t_close(1001, "going"))).unwrap();
        tungstenite_drain(ws)
    });
    let mut ws = connect(&url);
    expect_closed(ws.read_message(), CloseCode::GoingAway, "going");
    assert!(matches!(ws.read_message(), Err(Error::AlreadyClosed)));

    // Our answer echoes the code (RFC 6455 §5.5.1).
    let log = peer.join();
    assert_eq!(log.received.len(), 1, "{:?}", log.received);
    match &log.received[0] {
        TMessage::Close(Some(frame)) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected the close answer, got {other:?}"),
    }
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

// ---------------------------------------------------------------------------
// (b) tungstenite client, syncws server

#[test]
fn server_small_messages_round_trip_with_a_tungstenite_client() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    for message in small_messages() {
        client.send(to_tungstenite(&message)).unwrap();
        assert_eq!(
            t_read(&mut client),
            to_tungstenite(&message),
            "echo of {message:?}"
        );
        assert_eq!(seen(&seen_rx).unwrap(), message);
    }
    client.close(Some(t_close(1000, "done"))).unwrap();
    let log = tungstenite_drain(client);

    expect_closed(seen(&seen_rx), CloseCode::Normal, "done");
    assert_eq!(log.received.len(), 1, "{:?}", log.received);
    match &log.received[0] {
        TMessage::Close(Some(frame)) => assert_eq!(frame.code, TCloseCode::Normal),
        other => panic!("expected the close answer, got {other:?}"),
    }
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_joins_fragments_sent_by_tungstenite() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    // "Hello wörld", the two bytes of 'ö' in different frames.
    let text = "Hello wörld".as_bytes();
    let mid = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
    client
        .write(t_frame(Data::Text, &text[..3], false))
        .unwrap();
    client
        .write(t_frame(Data::Continue, &text[3..mid], false))
        .unwrap();
    client
        .write(t_frame(Data::Continue, &text[mid..], true))
        .unwrap();
    // A binary message with an empty fragment and a ping in between.
    client.write(t_frame(Data::Binary, &[1, 2], false)).unwrap();
    client
        .write(TMessage::Ping(Bytes::from_static(b"between")))
        .unwrap();
    client.write(t_frame(Data::Continue, &[], false)).unwrap();
    client.write(t_frame(Data::Continue, &[3], true)).unwrap();
    client.flush().unwrap();

    // The server reads (and echoes) each message whole; the ping between
    // the binary fragments is answered before the binary echo.
    assert_eq!(seen(&seen_rx).unwrap(), Message::from("Hello wörld"));
    assert_eq!(seen(&seen_rx).unwrap(), Message::Binary(vec![1, 2, 3]));
    assert_eq!(t_read(&mut client), TMessage::text("Hello wörld"));
    assert_eq!(
        t_read(&mut client),
        TMessage::Pong(Bytes::from_static(b"between"))
    );
    assert_eq!(t_read(&mut client), TMessage::binary(vec![1, 2, 3]));

    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    expect_closed(seen(&seen_rx), CloseCode::NoStatus, "");
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_fragmented_messages_reach_tungstenite_whole() {
    let (_server, url, seen_rx) = start_recording_server(echo_in_frames);
    let mut client = tungstenite_connect(&url);
    let big = pattern(1 << 20);
    let sent = [
        TMessage::text("Hello, wörld"),
        TMessage::binary(vec![1, 2, 3, 4, 5, 6, 7]),
        TMessage::binary(big.clone()),
    ];
    for message in &sent {
        client.send(message.clone()).unwrap();
        // The server echoes it in 4 frames; tungstenite reads it whole.
        let echo = t_read(&mut client);
        match (&echo, message) {
            (TMessage::Binary(got), TMessage::Binary(want)) => {
                assert_same_bytes(got, want, "echo read by tungstenite");
            }
            _ => assert_eq!(echo, *message),
        }
        assert!(seen(&seen_rx).is_ok());
    }
    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    expect_closed(seen(&seen_rx), CloseCode::NoStatus, "");
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_send_frames_puts_one_frame_per_piece_on_the_wire() {
    let (_server, url, seen_rx) = start_recording_server(echo_in_frames);
    let mut client = tungstenite_connect(&url);
    // Nothing arrives before this message, so tungstenite has buffered
    // nothing when the raw frames are read.
    client.send(TMessage::text("Hello, wörld")).unwrap();
    let (frames, mut client) = read_wire_frames(client, TRole::Client, 4);
    assert_eq!(
        frames,
        vec![
            wire(Data::Text, false, false, b"Hell"),
            wire(Data::Continue, false, false, b""),
            wire(Data::Continue, false, false, b"o, w"),
            wire(Data::Continue, true, false, "örld".as_bytes()),
        ]
    );
    assert_eq!(seen(&seen_rx).unwrap(), Message::from("Hello, wörld"));
    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    expect_closed(seen(&seen_rx), CloseCode::NoStatus, "");
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_16_mib_binary_round_trips_with_a_tungstenite_client() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    let data = pattern(16 << 20);
    client.send(TMessage::binary(data.clone())).unwrap();
    match seen(&seen_rx) {
        Ok(Message::Binary(received)) => assert_same_bytes(&received, &data, "what syncws read"),
        other => panic!("expected a binary message, got {}", describe(&other)),
    }
    match t_read(&mut client) {
        TMessage::Binary(echo) => assert_same_bytes(&echo, &data, "echo read by tungstenite"),
        other => panic!("expected the binary echo, got {}", describe_t(&other)),
    }
    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_1_mib_multibyte_text_round_trips_with_a_tungstenite_client() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    let text = multibyte_text(1 << 20);
    client.send(TMessage::text(text.as_str())).unwrap();
    match seen(&seen_rx) {
        Ok(Message::Text(received)) => {
            assert_same_bytes(received.as_bytes(), text.as_bytes(), "what syncws read");
        }
        other => panic!("expected a text message, got {}", describe(&other)),
    }
    match t_read(&mut client) {
        TMessage::Text(echo) => {
            assert_same_bytes(echo.as_bytes(), text.as_bytes(), "echo read by tungstenite");
        }
        other => panic!("expected the text echo, got {}", describe_t(&other)),
    }
    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_answers_a_tungstenite_ping_with_the_same_payload() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    client
        .send(TMessage::Ping(Bytes::from_static(b"are you there?")))
        .unwrap();
    assert_eq!(
        t_read(&mut client),
        TMessage::Pong(Bytes::from_static(b"are you there?"))
    );
    // Pings are not messages: the first thing the server reads is this.
    client.send(TMessage::text("after the ping")).unwrap();
    assert_eq!(t_read(&mut client), TMessage::text("after the ping"));
    assert_eq!(seen(&seen_rx).unwrap(), Message::from("after the ping"));
    client.close(None).unwrap();
    let log = tungstenite_drain(client);
    assert!(log.closed_cleanly(), "{:?}", log.end);
}

#[test]
fn server_close_code_and_reason_reach_tungstenite() {
    let (tx, rx) = mpsc::channel();
    let (_server, url) = start_server(move |mut ws| {
        ws.set_read_timeout(Some(TIMEOUT)).unwrap();
        let closed = ws.close(CloseCode::Other(4000), "custom");
        let after = ws.read_message();
        let _ = tx.send((closed, after));
    });
    let client = tungstenite_connect(&url);
    let log = tungstenite_drain(client);
    assert_eq!(
        log.received,
        vec![TMessage::Close(Some(t_close(4000, "custom")))]
    );
    assert!(log.closed_cleanly(), "{:?}", log.end);

    let (closed, after) = rx.recv_timeout(TIMEOUT).expect("the server's report");
    assert!(closed.is_ok(), "close: {closed:?}");
    assert!(
        matches!(after, Err(Error::AlreadyClosed)),
        "{}",
        describe(&after)
    );
}

#[test]
fn server_sees_the_close_code_and_reason_of_tungstenite() {
    let (_server, url, seen_rx) = start_recording_server(echo);
    let mut client = tungstenite_connect(&url);
    client.close(Some(t_close(1001, "going"))).unwrap();
    let log = tungstenite_drain(client);

    expect_closed(seen(&seen_rx), CloseCode::GoingAway, "going");
    // Our answer echoes the code (RFC 6455 §5.5.1).
    assert_eq!(log.received.len(), 1, "{:?}", log.received);
    match &log.received[0] {
        TMessage::Close(Some(frame)) => assert_eq!(frame.code, TCloseCode::Away),
        other => panic!("expected the close answer, got {other:?}"),
    }
    assert!(log.closed_cleanly(), "{:?}", log.end);
}
