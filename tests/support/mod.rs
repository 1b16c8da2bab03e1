//! Helpers shared by the integration tests. Use them with `mod support;`.
//!
//! Every socket is bound to `127.0.0.1:0` (never a fixed port), and every
//! blocking call is bounded by [`TIMEOUT`], so that a broken peer fails a
//! test within seconds instead of hanging it.
//!
//! - syncws servers: [`start_server`], [`start_echo_server`];
//!   a syncws client: [`connect`].
//! - tungstenite as an independent peer: [`spawn_tungstenite_server`],
//!   [`tungstenite_connect`], [`tungstenite_echo`], [`tungstenite_drain`].
//! - Threads whose result is awaited within a deadline: [`Peer`], [`Deadline`].
//! - Payloads: [`pattern`], [`multibyte_text`], [`assert_same_bytes`].

// Each test file uses only some of the helpers.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use syncws::{Server, ServerHandle, WebSocket};
use tungstenite::protocol::WebSocketConfig;

#[path = "../common/mod.rs"]
pub mod common;
#[allow(unused_imports)]
pub use common::{Peer, TIMEOUT, read_to_end};

/// The most messages a test peer reads from one connection (bounds loops).
pub const MAX_MESSAGES: usize = 1000;

/// A tungstenite WebSocket over plain TCP.
pub type TWebSocket = tungstenite::WebSocket<TcpStream>;

/// A point in time that a test must not run past.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    /// The deadline `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Panic, naming `what`, if the deadline has passed.
    #[track_caller]
    pub fn check(&self, what: &str) {
        assert!(!self.expired(), "deadline passed while {what}");
    }
}

/// Start a syncws server on an ephemeral port running `handler` for each
/// connection. Returns the handle (dropping it stops the server) and the
/// URL `ws://127.0.0.1:PORT/`.
pub fn start_server<H>(handler: H) -> (ServerHandle, String)
where
    H: Fn(WebSocket) + Send + Sync + 'static,
{
    let server = Server::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .start(handler)
        .expect("start the server");
    let url = format!("ws://{}/", server.local_addr());
    (server, url)
}

/// Start a syncws server that echoes every message until the peer closes.
pub fn start_echo_server() -> (ServerHandle, String) {
    start_server(|mut ws| {
        let _ = ws.set_read_timeout(Some(TIMEOUT));
        let sender = ws.sender();
        let _ = ws.run_with(|message| sender.send_message(message));
    })
}

/// Connect a syncws client to `url`, with a read timeout of [`TIMEOUT`].
#[track_caller]
pub fn connect(url: &str) -> WebSocket {
    let mut ws = syncws::connect(url).unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    ws.set_read_timeout(Some(TIMEOUT))
        .expect("set read timeout");
    ws.set_write_timeout(Some(TIMEOUT))
        .expect("set write timeout");
    ws
}

/// tungstenite's limits, raised so that 16 MiB messages in one frame pass.
pub fn tungstenite_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(64 << 20))
        .max_message_size(Some(64 << 20))
}

fn set_timeouts(stream: &TcpStream) {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("set read timeout");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("set write timeout");
}

/// Accept one connection with a tungstenite server on an ephemeral port, in
/// a thread that hands the upgraded socket to `handler`. Returns the URL to
/// connect to (`ws://127.0.0.1:PORT/`) and the thread, whose result is what
/// `handler` returns.
pub fn spawn_tungstenite_server<T, F>(handler: F) -> (String, Peer<T>)
where
    T: Send + 'static,
    F: FnOnce(TWebSocket) -> T + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().expect("local address");
    let peer = Peer::spawn("tungstenite-server", move || {
        let (stream, _) = listener.accept().expect("accept a connection");
        set_timeouts(&stream);
        let ws = tungstenite::accept_with_config(stream, Some(tungstenite_config()))
            .expect("tungstenite server handshake");
        handler(ws)
    });
    (format!("ws://{addr}/"), peer)
}

/// Connect a tungstenite client to `url` (`ws://host:port/path`), over a
/// TCP stream with read and write timeouts of [`TIMEOUT`].
#[track_caller]
pub fn tungstenite_connect(url: &str) -> TWebSocket {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("not a ws:// URL: {url}"));
    let stream = TcpStream::connect(authority).expect("TCP connect");
    set_timeouts(&stream);
    let (ws, _response) =
        tungstenite::client::client_with_config(url, stream, Some(tungstenite_config()))
            .expect("tungstenite client handshake");
    ws
}

/// What a tungstenite peer saw on a connection.
#[derive(Debug)]
pub struct TungsteniteLog {
    /// Every message read, in order: data messages, pings, pongs and the
    /// peer's close frame (`Message::Close`).
    pub received: Vec<tungstenite::Message>,
    /// The error that ended reading: `ConnectionClosed` after a clean close.
    pub end: tungstenite::Error,
}

impl TungsteniteLog {
    /// True when the connection ended with a completed close handshake.
    pub fn closed_cleanly(&self) -> bool {
        matches!(self.end, tungstenite::Error::ConnectionClosed)
    }
}

/// Echo every text and binary message (pings are answered by tungstenite
/// itself) until the connection ends, recording what arrived. Bounded by
/// [`MAX_MESSAGES`] and the socket timeouts.
pub fn tungstenite_echo(ws: TWebSocket) -> TungsteniteLog {
    tungstenite_read_all(ws, true)
}

/// Read (without echoing) until the connection ends, recording what
/// arrived; completes a close handshake the test started with
/// `ws.close(..)`. Bounded like [`tungstenite_echo`].
pub fn tungstenite_drain(ws: TWebSocket) -> TungsteniteLog {
    tungstenite_read_all(ws, false)
}

fn tungstenite_read_all(mut ws: TWebSocket, echo: bool) -> TungsteniteLog {
    let mut received = Vec::new();
    for _ in 0..MAX_MESSAGES {
        let message = match ws.read() {
            Ok(message) => message,
            Err(end) => return TungsteniteLog { received, end },
        };
        received.push(message.clone());
        if echo && (message.is_text() || message.is_binary()) {
            if let Err(end) = ws.send(message) {
                return TungsteniteLog { received, end };
            }
        }
    }
    panic!("tungstenite peer read more than {MAX_MESSAGES} messages");
}

/// `len` bytes of a position-dependent pseudo-random pattern, so that a
/// lost, duplicated or moved chunk shows up.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i as u8))
        .collect()
}

/// Exactly `len` bytes of UTF-8 mixing 1-, 2-, 3- and 4-byte characters.
pub fn multibyte_text(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in ['a', 'é', '€', '😀', 'ß', '中', '🦀', 'z']
        .into_iter()
        .cycle()
    {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('.');
    }
    text
}

/// Assert that `actual` equals `expected`, naming the first difference
/// instead of printing megabytes.
#[track_caller]
pub fn assert_same_bytes(actual: &[u8], expected: &[u8], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    if let Some(at) = actual.iter().zip(expected).position(|(a, b)| a != b) {
        panic!(
            "{what}: first difference at byte {at}: got {:#04x}, expected {:#04x}",
            actual[at], expected[at]
        );
    }
}
