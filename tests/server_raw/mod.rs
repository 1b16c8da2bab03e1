//! Raw-socket helpers for the server tests: plain HTTP exchanges over a
//! bare `TcpStream`, opening handshakes done by hand, and frames written
//! and read by hand, so that a test asserts exactly what a client sees on
//! the wire. Use with `mod server_raw;`.
//!
//! Every socket has read and write timeouts of [`TIMEOUT`], and every loop
//! is bounded, so a misbehaving server fails a test instead of hanging it.

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

use syncws::protocol::frame::{FrameHeader, OpCode, write_frame};
use syncws::protocol::handshake::{ResponseHead, parse_response};
use syncws::{Message, ServerHandle, WebSocket};

#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)]
pub use common::{Peer, TIMEOUT, read_to_end};

/// A valid `Sec-WebSocket-Key` (the one of RFC 6455 §1.3).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The most frames [`RawClient::read_until_close`] reads.
const MAX_FRAMES: usize = 100_000;

/// `ws://` URL of `path` on `server`.
pub fn url(server: &ServerHandle, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

/// Connect a syncws client to `path`, with read and write timeouts.
#[track_caller]
pub fn connect(server: &ServerHandle, path: &str) -> WebSocket {
    with_timeouts(
        syncws::connect(&url(server, path)).unwrap_or_else(|e| panic!("connect to {path}: {e}")),
    )
}

/// Give a client read and write timeouts of [`TIMEOUT`].
pub fn with_timeouts(mut ws: WebSocket) -> WebSocket {
    ws.set_read_timeout(Some(TIMEOUT)).unwrap();
    ws.set_write_timeout(Some(TIMEOUT)).unwrap();
    ws
}

/// A handler: echo until the connection ends.
pub fn echo(mut ws: WebSocket) {
    let _ = ws.set_read_timeout(Some(TIMEOUT));
    let sender = ws.sender();
    let _ = ws.run_with(|message| sender.send_message(message));
}

/// Send `text` and expect it back.
#[track_caller]
pub fn assert_echoes(ws: &mut WebSocket, text: &str) {
    ws.send_text(text).unwrap();
    assert_eq!(ws.read_message().unwrap(), Message::from(text));
}

/// Read one text message.
#[track_caller]
pub fn read_text(ws: &mut WebSocket) -> String {
    match ws.read_message() {
        Ok(Message::Text(text)) => text,
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A whole HTTP answer: status, headers and body.
#[derive(Debug)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The head, as text (status line and headers).
    pub head_text: String,
    /// The parsed head.
    pub head: ResponseHead,
    /// The body: everything after the head until the server closed.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// The body as text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connect to `addr` with timeouts set.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("TCP connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Split `bytes` into a parsed head and what follows it.
fn split_head(bytes: &[u8]) -> Option<(ResponseHead, usize)> {
    parse_response(bytes, 64 << 10, 200).expect("a valid HTTP response head")
}

/// Send `request` as is, read the whole answer (the server closes after a
/// plain HTTP answer) and parse it.
#[track_caller]
pub fn http_exchange(addr: SocketAddr, request: &str) -> HttpAnswer {
    let mut stream = tcp(addr);
    stream.write_all(request.as_bytes()).expect("send request");
    let mut answer = Vec::new();
    // A reset after the answer (unread input on the server's side) is fine:
    // what arrived before it has been read.
    let _ = stream.read_to_end(&mut answer);
    let (head, len) = split_head(&answer).unwrap_or_else(|| {
        panic!(
            "no whole HTTP head in the answer to {request:?}: {:?}",
            String::from_utf8_lossy(&answer)
        )
    });
    HttpAnswer {
        status: head.status,
        head_text: String::from_utf8_lossy(&answer[..len]).into_owned(),
        head,
        body: answer[len..].to_vec(),
    }
}

/// A plain `GET path` without an upgrade.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str) -> HttpAnswer {
    http_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n"),
    )
}

/// An upgrade request for `path` with version 13 and a valid key, plus
/// `extra` header lines (each ending in `\r\n`).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// The close code carried by a close frame's payload (1005 if none).
pub fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1005,
    }
}

/// What a raw client saw when it read a connection to its end.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// A close frame with this code and reason.
    Close(u16, String),
    /// The connection ended (EOF or reset) without a close frame.
    Dropped,
}

/// A client that does the opening handshake by hand and then reads and
/// writes raw frames.
#[derive(Debug)]
pub struct RawClient {
    /// The socket.
    pub stream: TcpStream,
    /// Bytes read and not yet consumed as frames.
    buf: Vec<u8>,
}

impl RawClient {
    /// Send an upgrade request for `path` (with `extra` header lines) and
    /// read the answer's head. Panics unless it is a 101.
    #[track_caller]
    pub fn connect(addr: SocketAddr, path: &str, extra: &str) -> (RawClient, HttpAnswer) {
        let (client, head) = RawClient::try_connect(addr, path, extra);
        assert_eq!(head.status, 101, "upgrade refused: {}", head.head_text);
        (client, head)
    }

    /// As [`connect`](Self::connect), whatever the status (the body of a
    /// refusal is not read).
    #[track_caller]
    pub fn try_connect(addr: SocketAddr, path: &str, extra: &str) -> (RawClient, HttpAnswer) {
        let mut stream = tcp(addr);
        stream
            .write_all(upgrade_request(path, extra).as_bytes())
            .expect("send the upgrade request");
        let mut client = RawClient::from_stream(stream);
        let head = client.read_head();
        (client, head)
    }

    /// A client on a stream whose upgrade request the caller has sent.
    pub fn from_stream(stream: TcpStream) -> RawClient {
        RawClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// Read the head of the server's answer (the bytes after it are kept
    /// for [`read_frame`](Self::read_frame)).
    #[track_caller]
    pub fn read_head(&mut self) -> HttpAnswer {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some((head, len)) = split_head(&self.buf) {
                let head_text = String::from_utf8_lossy(&self.buf[..len]).into_owned();
                self.buf.drain(..len);
                return HttpAnswer {
                    status: head.status,
                    head_text,
                    head,
                    body: Vec::new(),
                };
            }
            assert!(self.buf.len() < 64 << 10, "no end of head in 64 KiB");
            let n = self
                .stream
                .read(&mut chunk)
                .expect("read the handshake answer");
            assert!(n > 0, "the server hung up during the handshake");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Write one frame; `masked` as a client must (a random-enough key).
    pub fn send_frame(&mut self, opcode: OpCode, payload: &[u8], masked: bool) -> io::Result<()> {
        let mut frame = Vec::new();
        let mask = masked.then_some([0x12, 0x34, 0x56, 0x78]);
        write_frame(&mut frame, true, opcode, payload, mask);
        self.stream.write_all(&frame)
    }

    /// Send a masked close frame with `code`.
    pub fn send_close(&mut self, code: u16) -> io::Result<()> {
        self.send_frame(OpCode::Close, &code.to_be_bytes(), true)
    }

    /// Read the next whole frame: `Ok(None)` when the server closed the
    /// connection (EOF) before one arrived.
    pub fn read_frame(&mut self) -> io::Result<Option<(OpCode, Vec<u8>)>> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            if let Some((header, len)) = FrameHeader::parse(&self.buf)
                .map_err(|v| io::Error::new(io::ErrorKind::InvalidData, v.to_string()))?
            {
                assert!(header.mask.is_none(), "the server masked a frame");
                let total = len + usize::try_from(header.payload_len).unwrap();
                if self.buf.len() >= total {
                    let payload = self.buf[len..total].to_vec();
                    self.buf.drain(..total);
                    return Ok(Some((header.opcode, payload)));
                }
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Read frames, skipping data and pings, until a close frame arrives
    /// or the connection ends. A read timeout is a failure.
    #[track_caller]
    pub fn read_until_close(&mut self) -> End {
        for _ in 0..MAX_FRAMES {
            match self.read_frame() {
                Ok(Some((OpCode::Close, payload))) => {
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                    return End::Close(close_code(&payload), reason.into_owned());
                }
                Ok(Some(_)) => {}
                Ok(None) => return End::Dropped,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("no close and no end within {TIMEOUT:?}")
                }
                Err(_) => return End::Dropped,
            }
        }
        panic!("more than {MAX_FRAMES} frames before a close");
    }
}

/// Poll `condition` until it holds, for at most [`TIMEOUT`].
#[track_caller]
pub fn eventually(what: &str, condition: impl FnMut() -> bool) {
    common::eventually(what, TIMEOUT, condition);
}
