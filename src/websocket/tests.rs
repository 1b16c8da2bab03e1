//! The reading end of a `WebSocket` on a real socket: what a read leaves
//! on the socket, and what `run_with` hands its handler.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use super::reader::STALE_TIMEOUT_READS;
use super::*;
use crate::ProtocolViolation;
use crate::protocol::frame::OpCode;
use crate::protocol::frame::write_frame;

/// A server-side WebSocket on a loopback socket whose read timeout was
/// left by the handshake, and the client's end of the socket.
fn server_with_handshake_timeout(timeout: Duration) -> (WebSocket, TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(timeout)).unwrap();
    let observer = server.try_clone().unwrap();
    let opened = Opened {
        transport: Transport::Plain(Arc::new(server.into())),
        peer: None,
        leftover: Vec::new(),
        socket_timeout: Some(timeout),
        write_timeout_set: false,
        protocol: None,
        request: None,
        budget: None,
        deflate: None,
    };
    let ws = WebSocket::open(opened, Role::Server, &Config::default(), None).unwrap();
    (ws, client, observer)
}

fn send_masked(client: &mut TcpStream, payload: &[u8]) {
    let mut frame = Vec::new();
    write_frame(
        &mut frame,
        true,
        OpCode::Binary,
        payload,
        Some([1, 2, 3, 4]),
    );
    client.write_all(&frame).unwrap();
}

/// The handshake's read timeout arms a kernel timer on every read that
/// blocks: a connection that keeps reading takes it off after a few
/// reads, and one that reads little keeps it (no system call spent).
#[test]
fn the_handshake_read_timeout_is_taken_off_after_a_few_reads() {
    let timeout = Duration::from_secs(30);
    let (mut ws, mut client, observer) = server_with_handshake_timeout(timeout);
    for i in 0..=STALE_TIMEOUT_READS {
        // One message per read: the next is sent once this one arrived.
        send_masked(&mut client, &[i]);
        assert_eq!(ws.read_message().unwrap(), Message::Binary(vec![i]));
        let expected = if i < STALE_TIMEOUT_READS {
            Some(timeout)
        } else {
            None
        };
        assert_eq!(
            observer.read_timeout().unwrap(),
            expected,
            "after read {}",
            i + 1
        );
    }
    // A read timeout the caller asks for is still set when needed.
    ws.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert!(matches!(
        ws.read_message(),
        Err(Error::Timeout(Timeout::Read))
    ));
    assert!(observer.read_timeout().unwrap().is_some());
}

fn masked_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::new();
    write_frame(&mut frame, fin, opcode, payload, Some([9, 8, 7, 6]));
    frame
}

/// `run_with` lends each message of a burst that arrived in one read,
/// whole and in order, and one assembled from fragments in between;
/// the handler sees exactly what the peer sent.
#[test]
fn run_with_lends_the_messages_of_a_burst_in_order() {
    let (mut ws, mut client, _observer) = server_with_handshake_timeout(Duration::from_secs(5));
    let mut burst = Vec::new();
    burst.extend(masked_frame(true, OpCode::Text, "héllo".as_bytes()));
    burst.extend(masked_frame(
        true,
        OpCode::Binary,
        &[0, 1, 2, 3, 4, 5, 6, 7, 8],
    ));
    burst.extend(masked_frame(false, OpCode::Text, b"frag"));
    burst.extend(masked_frame(true, OpCode::Continuation, b"ments"));
    burst.extend(masked_frame(true, OpCode::Binary, b""));
    burst.extend(masked_frame(true, OpCode::Close, &[0x03, 0xe8]));
    client.write_all(&burst).unwrap();
    let mut seen = Vec::new();
    ws.run_with(|message| {
        seen.push(message.to_message());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        seen,
        [
            Message::from("héllo"),
            Message::from(vec![0u8, 1, 2, 3, 4, 5, 6, 7, 8]),
            Message::from("fragments"),
            Message::from(Vec::new()),
        ]
    );
}

/// A text message that arrived whole is validated where it lies: invalid
/// UTF-8 fails the connection with 1007 (RFC 6455 §8.1) and the handler
/// never sees it.
#[test]
fn run_with_fails_a_whole_text_message_with_invalid_utf8_with_1007() {
    let (mut ws, mut client, _observer) = server_with_handshake_timeout(Duration::from_secs(5));
    let mut burst = masked_frame(true, OpCode::Text, b"fine");
    burst.extend(masked_frame(true, OpCode::Text, &[b'a', 0xff, b'b']));
    client.write_all(&burst).unwrap();
    // The peer reads the close frame, then closes: the server's wait
    // for that (§7.1.1) ends at once.
    let peer = std::thread::spawn(move || {
        let mut head = [0u8; 2];
        client.read_exact(&mut head).unwrap();
        let mut payload = vec![0u8; usize::from(head[1])];
        client.read_exact(&mut payload).unwrap();
        (head[0], payload)
    });
    let mut seen = Vec::new();
    let result = ws.run_with(|message| {
        seen.push(message.to_message());
        Ok(())
    });
    assert!(
        matches!(result, Err(Error::Protocol(ProtocolViolation::InvalidUtf8))),
        "{result:?}"
    );
    assert_eq!(seen, [Message::from("fine")]);
    let (first_byte, payload) = peer.join().unwrap();
    assert_eq!(first_byte, 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1007);
}
